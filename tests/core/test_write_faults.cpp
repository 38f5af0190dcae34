// I/O faults of AtomicWriter: a full disk at every write step leaves the old
// file and no temporary, with an error that says the disk is full and names
// the file; a kill at every step leaves the old or the new file, never a mix,
// and the next successful write removes the temporaries killed writers left.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/npy.h"
#include "support/test_support.h"

using namespace oneshot;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

const std::string kOld = "the old contents, complete\n";
const std::string kNew = std::string(3000, 'n') + std::string(3000, 'e') + std::string(3000, 'w');

// The new contents in three writes and a header patch: 4 write steps, the fsync, the rename.
void write_new(const fs::path& path) {
  AtomicWriter w(path);
  w.write(kNew.data(), 3000);
  w.write(kNew.data() + 3000, 3000);
  w.write(kNew.data() + 6000, 3000);
  w.write_at(0, kNew.data(), 10);
  w.commit();
}

std::size_t steps_of_write_new(const fs::path& dir) {
  const std::size_t before = write_faults::steps();
  write_new(dir / "count.txt");
  fs::remove(dir / "count.txt");
  return write_faults::steps() - before;
}

struct FaultOff {
  ~FaultOff() { write_faults::inject(0, write_faults::Action::none); }
};

}  // namespace

TEST(WriteFaults, FullDiskAtEveryStepKeepsTheOldFileAndNoTemporary) {
  test::TempDir dir;
  FaultOff off;
  const std::size_t steps = steps_of_write_new(dir.path());
  ASSERT_GE(steps, 6u);  // 4 writes, fsync, rename (and the kill point after it)
  for (std::size_t n = 1; n <= steps; ++n) {
    write_file_atomic(dir / "data.txt", kOld);
    write_faults::inject(n, write_faults::Action::fail, ENOSPC);
    std::string error;
    try {
      write_new(dir / "data.txt");
    } catch (const Error& e) {
      error = e.what();
    }
    write_faults::inject(0, write_faults::Action::none);
    const std::string now = read_file(dir / "data.txt");
    if (error.empty()) {  // the step after the rename: nothing is left to fail there
      EXPECT_EQ(now, kNew) << "step " << n;
      continue;
    }
    EXPECT_TRUE(contains(error, "disk is full")) << "step " << n << ": " << error;
    EXPECT_TRUE(contains(error, (dir / "data.txt").string())) << "step " << n << ": " << error;
    EXPECT_EQ(now, kOld) << "step " << n;
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"data.txt"}) << "step " << n;
  }
}

TEST(WriteFaults, OtherErrorsAreNamedInWords) {
  test::TempDir dir;
  FaultOff off;
  write_faults::inject(1, write_faults::Action::fail, EIO);
  const std::string e = test::error_of([&] { write_file_atomic(dir / "x.txt", "abc"); });
  EXPECT_TRUE(contains(e, (dir / "x.txt").string()) && contains(e, std::strerror(EIO))) << e;
  EXPECT_TRUE(names_in(dir.path()).empty());
}

TEST(WriteFaults, FullDiskWhileStreamingRowsOfAnNpy) {
  test::TempDir dir;
  FaultOff off;
  const float row[4] = {1, 2, 3, 4};
  {
    NpyRowWriter w(dir / "rows.npy", 4);
    w.append(row, 1);
    w.commit();
  }
  for (std::size_t n = 1; n <= 4; ++n) {
    write_faults::inject(n, write_faults::Action::fail, ENOSPC);
    const std::string e = test::error_of([&] {
      NpyRowWriter w(dir / "rows.npy", 4);
      w.append(row, 1);
      w.append(row, 1);
      w.commit();
    });
    write_faults::inject(0, write_faults::Action::none);
    EXPECT_TRUE(contains(e, "disk is full") && contains(e, "rows.npy")) << n << ": " << e;
    EXPECT_EQ(read_npy(dir / "rows.npy").shape, (std::vector<std::size_t>{1, 4}));
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"rows.npy"});
  }
}

// A real full disk: a 64 KiB tmpfs (skipped where mount is not permitted).
TEST(WriteFaults, RealFullDiskOnASmallTmpfs) {
  test::TempDir dir;
  test::SmallDisk mnt(dir / "small", "64k");
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  std::string e, old_now;
  std::vector<std::string> names;
  {
    write_file_atomic(mnt / "cache.bin", std::string(20000, 'o'));
    e = test::error_of([&] { write_file_atomic(mnt / "cache.bin", std::string(200000, 'n')); });
    old_now = read_file(mnt / "cache.bin");
    names = names_in(mnt.path());
  }
  mnt.unmount();
  EXPECT_TRUE(contains(e, "disk is full") && contains(e, (mnt / "cache.bin").string())) << e;
  EXPECT_EQ(old_now, std::string(20000, 'o'));
  EXPECT_EQ(names, std::vector<std::string>{"cache.bin"});
}

// A child killed (SIGKILL) at each step of a write: the file is the old or the
// new one, whole; temporaries of killed writers go at the next successful commit.
TEST(WriteFaults, KillAtEveryStepLeavesOldOrNewAndStaleTemporariesAreRemoved) {
  test::TempDir dir;
  FaultOff off;
  const std::size_t steps = steps_of_write_new(dir.path());
  write_file_atomic(dir / "data.txt", kOld);
  write_file_atomic(dir / "other.txt", "another file's");
  // Another file's temporary of a live writer (this process) must stay.
  AtomicWriter live(dir / "data.txt");
  live.write("in progress");
  std::size_t killed = 0, completed = 0;
  for (std::size_t n = 1; n <= steps + 1; ++n) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      write_faults::inject(n, write_faults::Action::kill);
      try {
        write_new(dir / "data.txt");
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    const std::string now = read_file(dir / "data.txt");
    EXPECT_TRUE(now == kOld || now == kNew) << "step " << n << ": a mix of " << now.size() << " bytes";
    if (WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), SIGKILL);
      ++killed;
    } else {
      EXPECT_EQ(WEXITSTATUS(status), 0) << "step " << n;
      EXPECT_EQ(now, kNew);
      ++completed;
    }
    if (n <= steps - 1) EXPECT_EQ(now, kOld) << "killed before the rename, at step " << n;
    write_file_atomic(dir / "data.txt", kOld);  // the next step starts from the old file again
  }
  EXPECT_EQ(killed, steps);
  EXPECT_EQ(completed, 1u);
  // Every killed child's temporary was removed by the next successful commit;
  // the live writer's temporary and other files stay.
  EXPECT_EQ(names_in(dir.path()),
            (std::vector<std::string>{"data.txt", live.temp_path().filename().string(), "other.txt"}));
}

TEST(WriteFaults, KillAtEveryStepWhenTheWriterNeverCommitsAgainLeavesNoMix) {
  // Without a later write, a killed writer's temporary stays (nobody ran to
  // remove it) but the target is whole; the next commit removes it.
  test::TempDir dir;
  FaultOff off;
  write_file_atomic(dir / "data.txt", kOld);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    write_faults::inject(2, write_faults::Action::kill);
    write_new(dir / "data.txt");
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(read_file(dir / "data.txt"), kOld);
  EXPECT_EQ(names_in(dir.path()).size(), 2u);  // data.txt and the killed child's temporary
  write_file_atomic(dir / "data.txt", "next");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"data.txt"});
}
