// The feature cache writer on a full disk and under kills: ENOSPC at each of
// its writes leaves the previous cache valid and no temporary, with an error
// that says the disk is full and names the cache file; SIGKILL at each step
// leaves the old cache or the new one, each passing its checksum.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/cache_file.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

CacheHeader header(std::uint64_t key) {
  CacheHeader h;
  h.key = key;
  h.n_clips = 3;
  h.n_mels = 4;
  h.n_frames = 5;
  h.features_toml = "n_mels = 4\n";
  h.class_names = {"a", "b"};
  h.file_names = {"1.wav", "2.wav", "3.wav"};
  h.class_ids = {0, 1, 1};
  return h;
}

std::vector<float> values(float base) {
  std::vector<float> v(3 * 4 * 5);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = base + static_cast<float>(i);
  return v;
}

void write_new(const fs::path& path) {
  const std::vector<float> v = values(100);
  CacheFileWriter w(path, header(2));
  for (std::size_t i = 0; i < 3; ++i) w.write_clip(i, v.data() + i * 20);
  w.commit();
}

std::uint64_t key_of(const fs::path& path) {
  std::string problem;
  const auto c = read_cache_file(path, &problem);
  return c ? c->header.key : 0;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(CacheWriteFaults, FullDiskAtEachWriteKeepsThePreviousCache) {
  test::TempDir dir;
  const fs::path path = dir / "features-x.bin";
  const std::vector<float> old = values(0);
  write_cache_file(path, header(1), old.data());
  ASSERT_EQ(key_of(path), 1u);
  const std::size_t before = write_faults::steps();
  write_new(dir / "count.bin");
  const std::size_t steps = write_faults::steps() - before;
  fs::remove(dir / "count.bin");
  ASSERT_GE(steps, 6u);  // 3 clips, header, checksum, fsync, rename
  for (std::size_t n = 1; n < steps; ++n) {  // the last step (after the rename) cannot fail
    write_faults::inject(n, write_faults::Action::fail, ENOSPC);
    const std::string e = test::error_of([&] { write_new(path); });
    write_faults::inject(0, write_faults::Action::none);
    EXPECT_NE(e.find("the disk is full"), std::string::npos) << n << ": " << e;
    EXPECT_NE(e.find(path.string()), std::string::npos) << n << ": " << e;
    EXPECT_EQ(key_of(path), 1u) << n;
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"features-x.bin"}) << n;
  }
}

TEST(CacheWriteFaults, KillAtEachStepLeavesAWholeCache) {
  test::TempDir dir;
  const fs::path path = dir / "features-x.bin";
  const std::vector<float> old = values(0);
  const std::size_t before = write_faults::steps();
  write_new(dir / "count.bin");
  const std::size_t steps = write_faults::steps() - before;
  fs::remove(dir / "count.bin");
  for (std::size_t n = 1; n <= steps; ++n) {
    write_cache_file(path, header(1), old.data());  // also removes the last child's temporary
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"features-x.bin"}) << n;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      write_faults::inject(n, write_faults::Action::kill);
      try {
        write_new(path);
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status)) << n;
    EXPECT_EQ(key_of(path), n < steps ? 1u : 2u) << "killed at step " << n;
  }
}

}  // namespace
}  // namespace oneshot
