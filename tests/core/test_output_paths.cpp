// Writers that respect the path they are given (src/core/atomic_file.h): a
// symbolic link's target is replaced, a pipe, a character device or standard
// output is written through, anything else that is not a regular file is
// refused before any work; read-only places are named before any work.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
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

// Reads everything from the FIFO at PATH (blocks until a writer opens and closes it).
std::future<std::string> read_fifo(const fs::path& path) {
  return std::async(std::launch::async, [path] {
    const int fd = ::open(path.c_str(), O_RDONLY);
    std::string out;
    if (fd < 0) return out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
  });
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(OutputPaths, SymbolicLinkIsFollowedAndItsTargetReplaced) {
  test::TempDir dir;
  fs::create_directories(dir / "data");
  write_file_atomic(dir / "data" / "real.txt", "old contents");
  fs::create_symlink("data/real.txt", dir / "link.txt");
  write_file_atomic(dir / "link.txt", "new");
  EXPECT_TRUE(fs::is_symlink(dir / "link.txt"));
  EXPECT_EQ(read_file(dir / "data" / "real.txt"), "new");
  // The temporary lived beside the target, and nothing is left.
  EXPECT_EQ(names_in(dir / "data"), std::vector<std::string>{"real.txt"});
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"data", "link.txt"}));
}

// An existing SQLite database (a class library, an archive, a study) is
// refused as an output, not replaced (export --out LIB.db replaced a class
// library with an ONNX file), through a link too; only the stores themselves
// (OutputRules::database) may name one. Other files, short ones included, are
// replaced as before.
TEST(OutputPaths, ASqliteDatabaseIsRefusedUnlessTheOutputIsAStore) {
  test::TempDir dir;
  const std::string header("SQLite format 3\0", 16);
  const std::string database = header + std::string(4080, '\x01');
  write_file_atomic(dir / "lib.db", database);
  fs::create_symlink("lib.db", dir / "link.db");
  for (const fs::path& target : {dir / "lib.db", dir / "link.db"}) {
    const std::string e = test::error_of([&] { write_file_atomic(target, "an ONNX model"); });
    EXPECT_TRUE(contains(e, target.string())) << e;
    EXPECT_TRUE(contains(e, "is a SQLite database")) << e;
    EXPECT_TRUE(contains(e, "give another file name")) << e;
    EXPECT_EQ(read_file(dir / "lib.db"), database);  // untouched
  }
  EXPECT_EQ(check_output_path(dir / "lib.db", OutputRules{.streaming = false, .create_parents = false,
                                                          .database = true})
                .kind,
            OutputKind::file);
  // Not a database: the header's last byte differs, or the file is shorter than the header.
  write_file_atomic(dir / "almost.db", std::string("SQLite format 3!") + "rest");
  write_file_atomic(dir / "almost.db", "replaced");
  EXPECT_EQ(read_file(dir / "almost.db"), "replaced");
  write_file_atomic(dir / "short.db", header.substr(0, 10));
  write_file_atomic(dir / "short.db", "replaced");
  EXPECT_EQ(read_file(dir / "short.db"), "replaced");
}

TEST(OutputPaths, ChainOfLinksAndADanglingLinkCreateTheFinalTarget) {
  test::TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_symlink("a/second", dir / "first");
  fs::create_symlink("../target.npy", dir / "a" / "second");  // relative to a/
  const float values[] = {1, 2, 3};
  write_npy(dir / "first", values, {3});
  EXPECT_TRUE(fs::is_symlink(dir / "first"));
  EXPECT_TRUE(fs::is_symlink(dir / "a" / "second"));
  ASSERT_TRUE(fs::is_regular_file(fs::symlink_status(dir / "target.npy")));
  EXPECT_EQ(read_npy(dir / "target.npy").data, (std::vector<float>{1, 2, 3}));
}

TEST(OutputPaths, LinkLoopIsAnErrorNamingThePath) {
  test::TempDir dir;
  fs::create_symlink("b", dir / "a");
  fs::create_symlink("a", dir / "b");
  const std::string e = test::error_of([&] { check_output_path(dir / "a"); });
  EXPECT_TRUE(contains(e, (dir / "a").string())) << e;
  EXPECT_TRUE(contains(e, "symbolic links")) << e;
}

TEST(OutputPaths, ReplacedFileKeepsItsPermissions) {
  test::TempDir dir;
  write_file_atomic(dir / "private.txt", "old");
  fs::permissions(dir / "private.txt", fs::perms::owner_read | fs::perms::owner_write);
  write_file_atomic(dir / "private.txt", "new");
  EXPECT_EQ(fs::status(dir / "private.txt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST(OutputPaths, NamedPipeIsWrittenThrough) {
  test::TempDir dir;
  const fs::path fifo = dir / "out.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_EQ(check_output_path(fifo).kind, OutputKind::stream);
  auto got = read_fifo(fifo);
  write_file_atomic(fifo, "streamed bytes\n");
  EXPECT_EQ(got.get(), "streamed bytes\n");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the pipe was replaced by a file";
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.fifo"});
}

TEST(OutputPaths, SymbolicLinkToANamedPipeIsWrittenThrough) {
  test::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "p").c_str(), 0644), 0);
  fs::create_symlink("p", dir / "link");
  auto got = read_fifo(dir / "p");
  write_file_atomic(dir / "link", "via link");
  EXPECT_EQ(got.get(), "via link");
  EXPECT_TRUE(fs::is_symlink(dir / "link"));
}

// `logmel IN /dev/stdout | ...`: /dev/stdout -> /proc/self/fd/1 -> "pipe:[N]",
// a name only the kernel follows; following its text made a temporary in
// /proc/self/fd ("cannot create"). Here an anonymous pipe's /proc name.
TEST(OutputPaths, AProcLinkToAnAnonymousPipeIsWrittenThrough) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const fs::path link = "/proc/self/fd/" + std::to_string(fds[1]);
  EXPECT_EQ(check_output_path(link).kind, OutputKind::stream);
  write_file_atomic(link, "through the pipe");
  ::close(fds[1]);
  char buffer[64] = {};
  const ssize_t n = ::read(fds[0], buffer, sizeof buffer - 1);
  ::close(fds[0]);
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0), "through the pipe");
}

TEST(OutputPaths, CharacterDeviceIsWrittenThroughNotReplaced) {
  // A node of its own (the null device's numbers), so that the old behaviour
  // replaces this one rather than the machine's /dev/null.
  test::TempDir dir;
  const fs::path node = dir / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) GTEST_SKIP() << "mknod not permitted";
  write_file_atomic(node, "discarded");
  struct stat st {};
  ASSERT_EQ(::lstat(node.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node was replaced by a file";
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"null"});
  // The real one is written through too and stays what it is.
  write_file_atomic("/dev/null", "discarded");
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(OutputPaths, DashIsStandardOutput) {
  test::TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(pipe_fds[1], STDOUT_FILENO);
  ::close(pipe_fds[1]);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());  // a file named "-" would appear here
  std::string error;
  try {
    const float values[] = {0.5f, 1.5f};
    write_npy("-", values, {2});
  } catch (const std::exception& e) {
    error = e.what();
  }
  fs::current_path(cwd);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ASSERT_EQ(error, "");
  std::string bytes;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) bytes.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  EXPECT_FALSE(fs::exists(dir / "-"));
  write_file_atomic(dir / "copy.npy", bytes);
  EXPECT_EQ(read_npy(dir / "copy.npy").data, (std::vector<float>{0.5f, 1.5f}));
}

TEST(OutputPaths, DirectorySocketAndBlockDeviceAreRefusedBeforeAnyWork) {
  test::TempDir dir;
  fs::create_directories(dir / "adir");
  std::string e = test::error_of([&] { check_output_path(dir / "adir"); });
  EXPECT_TRUE(contains(e, (dir / "adir").string()) && contains(e, "is a directory")) << e;
  e = test::error_of([&] { AtomicWriter w(dir / "adir"); });
  EXPECT_TRUE(contains(e, "is a directory")) << e;
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"adir"});  // no temporary made

  const fs::path sock = dir / "s.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  e = test::error_of([&] { write_file_atomic(sock, "x"); });
  ::close(fd);
  EXPECT_TRUE(contains(e, sock.string()) && contains(e, "socket")) << e;
  struct stat st {};
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode)) << "the socket was replaced";

  const fs::path blk = dir / "disk";
  if (::mknod(blk.c_str(), S_IFBLK | 0600, makedev(7, 200)) == 0) {  // a loop device number; never opened
    e = test::error_of([&] { write_file_atomic(blk, "x"); });
    EXPECT_TRUE(contains(e, "block device")) << e;
    ASSERT_EQ(::lstat(blk.c_str(), &st), 0);
    EXPECT_TRUE(S_ISBLK(st.st_mode));
  }
}

TEST(OutputPaths, WriterThatPatchesItsHeaderRefusesAStream) {
  test::TempDir dir;
  const fs::path fifo = dir / "rows.npy";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // Refused at construction (no reader needed: the pipe is never opened).
  const std::string e = test::error_of([&] { NpyRowWriter w(fifo, 4); });
  EXPECT_TRUE(contains(e, fifo.string()) && contains(e, "named pipe") && contains(e, "regular file")) << e;
  EXPECT_TRUE(contains(test::error_of([&] { check_output_path("-", OutputRules{.streaming = false}); }),
                       "standard output"));
}

TEST(OutputPaths, MissingDirectoryIsNamedUnlessTheWriterCreatesIt) {
  test::TempDir dir;
  const std::string e =
      test::error_of([&] { check_output_path(dir / "nope" / "out.npy", OutputRules{.create_parents = false}); });
  EXPECT_TRUE(contains(e, (dir / "nope").string()) && contains(e, "no such directory")) << e;
  EXPECT_NO_THROW(check_output_path(dir / "nope" / "deeper" / "out.npy"));
  write_file_atomic(dir / "nope" / "deeper" / "out.npy", "x");
  EXPECT_EQ(read_file(dir / "nope" / "deeper" / "out.npy"), "x");
  // A file where a directory is needed.
  write_file_atomic(dir / "file", "x");
  EXPECT_TRUE(contains(test::error_of([&] { check_output_path(dir / "file" / "out.npy"); }), "file"));
  EXPECT_TRUE(contains(test::error_of([&] { check_output_directory(dir / "file"); }), "not a directory"));
  EXPECT_TRUE(contains(test::error_of([&] { check_output_directory(dir / "file" / "sub"); }), "not a directory"));
  EXPECT_NO_THROW(check_output_directory(dir / "new" / "run"));
  EXPECT_FALSE(fs::exists(dir / "new"));  // checking creates nothing
}

TEST(OutputPaths, ReadOnlyFileIsRefused) {
  test::TempDir dir;
  write_file_atomic(dir / "frozen.txt", "keep me");
  fs::permissions(dir / "frozen.txt", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const std::string e = test::error_of([&] { write_file_atomic(dir / "frozen.txt", "new"); });
  EXPECT_TRUE(contains(e, (dir / "frozen.txt").string()) && contains(e, "read-only")) << e;
  EXPECT_EQ(read_file(dir / "frozen.txt"), "keep me");
}

// A directory without write permission: as root, permission bits do not stop
// a write, so the check runs in a child that has dropped to an unprivileged user.
TEST(OutputPaths, DirectoryWithoutWritePermissionIsNamedBeforeAnyWork) {
  test::TempDir dir;
  fs::create_directories(dir / "locked");
  fs::permissions(dir / "locked", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                      fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  auto check = [&](std::string* out) {
    *out = test::error_of([&] { check_output_path(dir / "locked" / "out.npy"); }) + "|" +
           test::error_of([&] { check_output_directory(dir / "locked" / "sub"); }) + "|" +
           test::error_of([&] { check_output_directory(dir / "locked"); });
  };
  std::string message;
  if (::geteuid() != 0) {
    check(&message);
  } else {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      std::string m;
      check(&m);
      [[maybe_unused]] auto n = ::write(fds[1], m.data(), m.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot drop privileges";
  }
  EXPECT_EQ(std::count(message.begin(), message.end(), '|'), 2) << message;
  std::size_t parts = 0;
  for (std::size_t at = 0; (at = message.find("not writable", at)) != std::string::npos; ++at) ++parts;
  EXPECT_EQ(parts, 3u) << message;
  EXPECT_TRUE(contains(message, (dir / "locked").string())) << message;
}

// A read-only file system (a tmpfs mounted read-only; skipped where mount is not permitted).
TEST(OutputPaths, ReadOnlyFileSystemIsNamedBeforeAnyWork) {
  test::TempDir dir;
  test::SmallDisk mnt(dir / "ro", "64k", true);
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  const std::string e1 = test::error_of([&] { check_output_path(mnt / "out.npy"); });
  const std::string e2 = test::error_of([&] { check_output_directory(mnt / "run"); });
  const std::string e3 = test::error_of([&] { write_file_atomic(mnt / "out.npy", "x"); });
  mnt.unmount();
  for (const std::string& e : {e1, e2, e3})
    EXPECT_TRUE(contains(e, "read-only file system") && contains(e, mnt.path().string())) << e;
}
