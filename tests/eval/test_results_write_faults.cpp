// Results and the report on a full disk and under a kill at each write step:
// every file of a result (NAME.json and its two CSV tables) and report.html
// is afterwards whole, the old or the new, never a mix and never a stray
// temporary once a later write has succeeded; a full disk says so and names
// the file. (The writers go through core/atomic_file.h, whose steps
// ONESHOT_WRITE_FAULT counts; these tests hold each writer of results to it.)
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/report.h"
#include "eval/results.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

struct FaultOff {
  ~FaultOff() { write_faults::inject(0, write_faults::Action::none); }
};

EvalResult result_with(int64_t correct) {
  EvalResult r;
  r.protocol = "grid";
  r.classes = {0, 1};
  r.confusion = {{correct, 100 - correct}, {10, 90}};
  r.class_accuracy = {correct / 100.0, 0.9};
  r.mean_accuracy = (correct / 100.0 + 0.9) / 2;
  r.decisions = 200;
  r.seconds = 1;
  return r;
}

// Every file under dir, by name, with its bytes.
std::map<std::string, std::string> files_in(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files[e.path().filename().string()] = read_file(e.path());
  return files;
}

const ResultContext kContext{"test", EvalConfig{}, {"dog", "rain"}};

void write_old(const fs::path& results) { write_result(results, "test_grid", result_with(50), kContext); }
void write_new(const fs::path& results) { write_result(results, "test_grid", result_with(80), kContext); }

// Each file equal to the old or the new one, and no other file.
void expect_whole(const std::map<std::string, std::string>& now, const std::map<std::string, std::string>& old_files,
                  const std::map<std::string, std::string>& new_files, const std::string& where) {
  ASSERT_EQ(now.size(), old_files.size()) << where;
  for (const auto& [name, bytes] : now) {
    ASSERT_TRUE(old_files.count(name)) << where << ": a stray file " << name;
    EXPECT_TRUE(bytes == old_files.at(name) || bytes == new_files.at(name)) << where << ": " << name << " is a mix";
  }
}

TEST(ResultsWriteFaults, FullDiskAtEveryStepLeavesEachFileWholeAndSaysSo) {
  test::TempDir dir;
  FaultOff off;
  const fs::path results = dir / "results";
  write_new(results);
  const auto new_files = files_in(results);
  write_old(results);
  const auto old_files = files_in(results);
  ASSERT_EQ(old_files.size(), 3u);
  const std::size_t before = write_faults::steps();
  write_new(results);
  const std::size_t steps = write_faults::steps() - before;
  ASSERT_GE(steps, 9u);  // three files, each writes, fsync, rename
  for (std::size_t n = 1; n <= steps; ++n) {
    write_old(results);
    write_faults::inject(n, write_faults::Action::fail, ENOSPC);
    const std::string e = test::error_of([&] { write_new(results); });
    write_faults::inject(0, write_faults::Action::none);
    const auto now = files_in(results);
    expect_whole(now, old_files, new_files, "step " + std::to_string(n));
    if (e.empty()) continue;  // a step after the last rename
    EXPECT_NE(e.find("the disk is full"), std::string::npos) << "step " << n << ": " << e;
    EXPECT_NE(e.find(results.string()), std::string::npos) << "step " << n << ": " << e;
  }
}

TEST(ResultsWriteFaults, KillAtEveryStepLeavesEachFileWholeAndTheNextWriteClearsTemporaries) {
  test::TempDir dir;
  FaultOff off;
  const fs::path results = dir / "results";
  write_new(results);
  const auto new_files = files_in(results);
  write_old(results);
  const auto old_files = files_in(results);
  const std::size_t before = write_faults::steps();
  write_new(results);
  const std::size_t steps = write_faults::steps() - before;
  std::size_t killed = 0;
  for (std::size_t n = 1; n <= steps; ++n) {
    write_old(results);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      write_faults::inject(n, write_faults::Action::kill);
      try {
        write_new(results);
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), SIGKILL) << "step " << n;
      ++killed;
    }
    // Each result file whole; the killed writer's temporary may stand beside
    // them until the next write, which removes it.
    auto now = files_in(results);
    std::erase_if(now, [&](const auto& file) { return !old_files.count(file.first); });
    expect_whole(now, old_files, new_files, "after a kill at step " + std::to_string(n));
    write_old(results);
    EXPECT_EQ(files_in(results), old_files) << "step " << n;
  }
  EXPECT_EQ(killed, steps);
}

TEST(ResultsWriteFaults, TheReportOnAFullDiskKeepsThePreviousPage) {
  test::TempDir dir;
  FaultOff off;
  const fs::path run = dir.path();
  write_old(run / "results");
  const fs::path page = write_report(run);
  const std::string old_page = read_file(page);
  write_new(run / "results");
  const std::size_t before = write_faults::steps();
  write_report(run);
  const std::size_t steps = write_faults::steps() - before;
  ASSERT_GE(steps, 2u);
  const std::string new_page = read_file(page);
  ASSERT_NE(new_page, old_page);
  for (std::size_t n = 1; n < steps; ++n) {  // the last step is after the rename
    write_file_atomic(page, old_page);
    write_faults::inject(n, write_faults::Action::fail, ENOSPC);
    const std::string e = test::error_of([&] { write_report(run); });
    write_faults::inject(0, write_faults::Action::none);
    EXPECT_NE(e.find("the disk is full"), std::string::npos) << "step " << n << ": " << e;
    EXPECT_NE(e.find(page.string()), std::string::npos) << "step " << n << ": " << e;
    EXPECT_EQ(read_file(page), old_page) << "step " << n;
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(run)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"report.html", "results"}));
}

}  // namespace
}  // namespace oneshot
