#include "support/test_support.h"

#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <random>

#include "core/error.h"

namespace oneshot::test {

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("oneshot-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

SmallDisk::SmallDisk(const fs::path& path, const std::string& size, bool read_only) : path_(path) {
  fs::create_directories(path_);
  if (::mount("tmpfs", path_.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, ("size=" + size).c_str()) == 0)
    mounted_ = true;
  else
    why_ = std::string("mount not permitted: ") + std::strerror(errno);
}

void SmallDisk::unmount() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  mounted_ = false;
}

fs::path fixture(const std::string& name) { return fs::path(ONESHOT_FIXTURES) / name; }

fs::path esc50_mini() {
  fs::path p = fs::path(ONESHOT_SHARED) / "data" / "esc50-mini";
  if (const char* env = std::getenv("ONESHOT_ESC50_MINI")) p = env;
  return fs::exists(p / "meta" / "esc50.csv") ? p : fs::path();
}

fs::path esc50_dev() {
  fs::path p = fs::path(ONESHOT_SHARED) / "data" / "esc50-dev";
  if (const char* env = std::getenv("ONESHOT_ESC50_DEV")) p = env;
  return fs::exists(p / "meta" / "esc50.csv") ? p : fs::path();
}

fs::path cli_path() { return fs::path(ONESHOT_CLI); }

int run_command(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf;
  std::string text;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) text.append(buf.data(), n);
  int status = ::pclose(pipe);
  if (output) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace oneshot::test
