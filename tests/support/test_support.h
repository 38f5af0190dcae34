#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace oneshot::test {

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A small tmpfs mounted at `path` (made when missing): a real full disk of
// `size` (as mount(8) takes it: "64k"), or with `read_only` a read-only file
// system. Unmounted (detached) by unmount() or, whatever ends the test (an
// exception, a failed ASSERT), by the destructor, so that nothing stays
// mounted under a TempDir. Where mounting is not permitted mounted() is false
// and why() says why: the test skips with it.
class SmallDisk {
 public:
  SmallDisk(const std::filesystem::path& path, const std::string& size, bool read_only = false);
  ~SmallDisk() { unmount(); }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  void unmount();

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
  std::string why_;
};

// Fixtures copied into tests/fixtures.
std::filesystem::path fixture(const std::string& name);
// ../shared/data/esc50-mini, or an empty path when it is absent (tests skip).
std::filesystem::path esc50_mini();
// ../shared/data/esc50-dev (331 real clips of 40 classes), or an empty path when absent.
std::filesystem::path esc50_dev();
// The built oneshot-audio program.
std::filesystem::path cli_path();
// Writes `text` to `path` (binary), creating its directory.
void write_text(const std::filesystem::path& path, const std::string& text);
// The text of the oneshot::Error that `f` throws, or "" when it throws none.
std::string error_of(const std::function<void()>& f);
// A TCP port on 127.0.0.1 that was free a moment ago (for a test's rendezvous store).
int free_port();
// Runs a shell command, returns its exit status; output goes to `output` (stdout+stderr).
int run_command(const std::string& command, std::string* output = nullptr);

}  // namespace oneshot::test
