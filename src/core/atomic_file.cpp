#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

namespace oneshot {
namespace fs = std::filesystem;

// ---- Fault injection ---------------------------------------------------------------

namespace write_faults {
namespace {
std::atomic<std::size_t> g_steps{0};
std::atomic<std::size_t> g_fault_at{0};  // absolute step number; 0: none
std::atomic<int> g_action{0};
std::atomic<int> g_errno{ENOSPC};
std::once_flag g_env_once;

void load_environment() {
  const char* spec = std::getenv("ONESHOT_WRITE_FAULT");
  if (!spec || !*spec) return;
  const std::string s(spec);
  const auto at = s.find('@');
  if (at == std::string::npos) return;
  const std::string what = s.substr(0, at);
  const std::size_t n = std::strtoull(s.c_str() + at + 1, nullptr, 10);
  if (what == "kill")
    inject(n, Action::kill);
  else if (what == "eio")
    inject(n, Action::fail, EIO);
  else if (what == "enospc")
    inject(n, Action::fail, ENOSPC);
}
}  // namespace

void inject(std::size_t nth_step, Action action, int err) {
  g_action = static_cast<int>(nth_step == 0 ? Action::none : action);
  g_errno = err;
  g_fault_at = nth_step == 0 ? 0 : g_steps.load() + nth_step;
}

std::size_t steps() { return g_steps.load(); }

// One write step: 0 to go on, or the errno it fails with. A KILL_ONLY step
// (after the rename, where nothing is left to fail) only counts and kills.
static int step(bool kill_only = false) {
  std::call_once(g_env_once, load_environment);
  const std::size_t n = ++g_steps;
  const std::size_t at = g_fault_at.load();
  if (at == 0 || n != at) return 0;
  if (static_cast<Action>(g_action.load()) == Action::kill) ::kill(::getpid(), SIGKILL);
  return kill_only ? 0 : g_errno.load();
}
}  // namespace write_faults

// ---- Errors and checks -------------------------------------------------------------

Error write_error(const fs::path& path, int err, std::string_view doing) {
  if (err == ENOSPC || err == EDQUOT)
    return file_error(path, std::string("the disk is full (") + std::strerror(err) +
                                ") while writing it; the previous file, if any, is unchanged: free some space and run again");
  if (err == EROFS) return file_error(path, "is on a read-only file system");
  return file_error(path, std::string(doing) + " failed: " + std::strerror(err));
}

namespace {
std::string errno_text(int err = errno) { return std::strerror(err); }

std::string kind_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode)) return "a block device (a disk: refusing to write over it)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISFIFO(mode)) return "a named pipe";
  return "not a regular file";
}

// Follows PATH's symbolic links to the final name (which need not exist).
// Whether the file starts with SQLite's header ("SQLite format 3" and a NUL:
// sqlite.org/fileformat.html, section 1.3); an unreadable file is not one here
// (the checks after name why it cannot be written).
bool is_sqlite_database(const fs::path& path) {
  static constexpr char kHeader[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  std::ifstream in(path, std::ios::binary);
  char head[sizeof kHeader] = {};
  return in.read(head, sizeof head) && std::memcmp(head, kHeader, sizeof head) == 0;
}

fs::path follow_links(const fs::path& path) {
  // A link the kernel resolves to a pipe or device (/dev/stdout ->
  // /proc/self/fd/1 -> "pipe:[N]", a name no directory holds) is written
  // through by its own name: following its text led to a temporary file in
  // /proc/self/fd ("cannot create").
  struct stat target {};
  if (::stat(path.c_str(), &target) == 0 && (S_ISCHR(target.st_mode) || S_ISFIFO(target.st_mode))) return path;
  fs::path p = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops >= 40) throw file_error(path, "too many levels of symbolic links");
    std::error_code ec;
    const fs::path next = fs::read_symlink(p, ec);
    if (ec) throw file_error(p, "cannot read the symbolic link: " + ec.message());
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
}

bool read_only_fs(const fs::path& dir) {
  struct statvfs vfs {};
  return ::statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

// DIR exists: a directory we may create files in. NAMED is what the error names.
void check_writable_directory(const fs::path& dir, const fs::path& named) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw file_error(dir, "cannot use the directory: " + errno_text());
  if (!S_ISDIR(st.st_mode)) throw file_error(dir, "is not a directory (needed for " + named.string() + ")");
  if (read_only_fs(dir)) throw file_error(dir, "is on a read-only file system (cannot write " + named.string() + ")");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    throw file_error(dir, err == EROFS ? "is on a read-only file system (cannot write " + named.string() + ")"
                                       : "directory is not writable (" + errno_text(err) + "; cannot write " +
                                             named.string() + ")");
  }
}

// The nearest existing ancestor of DIR (DIR itself when it exists).
fs::path nearest_existing(const fs::path& dir) {
  fs::path p = dir.empty() ? fs::path(".") : dir;
  std::error_code ec;
  while (!fs::exists(p, ec)) {
    if (!p.has_relative_path() || p.parent_path() == p) break;
    p = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  }
  return p;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "host";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == '-') c = '_';
  return h;
}

// Removes TARGET's temporaries left by processes of this host that no longer run.
void remove_stale_temporaries(const fs::path& target) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string prefix = target.filename().string() + ".tmp-" + host_name() + "-";
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // <pid>-<random>
    const auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    char* endp = nullptr;
    const long pid = std::strtol(rest.c_str(), &endp, 10);
    if (endp != rest.c_str() + dash || pid <= 0 || pid > INT_MAX) continue;
    if (pid == ::getpid()) continue;  // another writer of this process may be at work
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to know)
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::error_code ignored;
    fs::remove(it->path(), ignored);
  }
}
}  // namespace

void check_not_an_input(const fs::path& out, const std::vector<fs::path>& inputs, std::string_view command,
                        std::string_view option) {
  if (out.empty() || out == "-") return;
  for (const fs::path& input : inputs) {
    if (input.empty()) continue;
    std::error_code ec;
    bool same = fs::exists(out, ec) && fs::exists(input, ec) && fs::equivalent(out, input, ec) && !ec;
    if (!same) {
      ec.clear();
      const fs::path a = fs::weakly_canonical(out, ec);
      if (!ec) {
        const fs::path b = fs::weakly_canonical(input, ec);
        same = !ec && a == b;
      }
    }
    if (same)
      throw file_error(out, "is " + input.string() + ", which " + std::string(command) + " reads: give " +
                                std::string(option) + " another file name");
  }
}

OutputTarget check_output_path(const fs::path& path, OutputRules rules) {
  if (path.empty()) throw Error("an output path is empty");
  OutputTarget out{path, path, OutputKind::file};
  if (path == "-") {
    if (!rules.streaming)
      throw Error("-: this file cannot be written to standard output (it is patched after writing): give a file name");
    out.kind = OutputKind::stream;
    return out;
  }
  out.resolved = follow_links(path);
  const fs::path& r = out.resolved;
  struct stat st {};
  if (::stat(r.c_str(), &st) == 0) {
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
      if (!rules.streaming)
        throw file_error(path, "is " + kind_name(st.st_mode) +
                                   ": this file is patched after writing and needs a regular file (or a new name)");
      out.kind = OutputKind::stream;
      if (::access(r.c_str(), W_OK) != 0) throw file_error(path, "cannot be written: " + errno_text());
      return out;
    }
    if (!S_ISREG(st.st_mode)) throw file_error(path, "is " + kind_name(st.st_mode) + ", not a file: give a file name");
    if (!rules.database && is_sqlite_database(r))
      throw file_error(path, "is a SQLite database (a class library, an archive or a study?) that this output would "
                             "replace: give another file name (or remove it first)");
    check_writable_directory(r.parent_path().empty() ? fs::path(".") : r.parent_path(), path);
    if ((st.st_mode & 0222) == 0 || ::access(r.c_str(), W_OK) != 0)
      throw file_error(path, "is read-only (make it writable, or give another name)");
    return out;
  }
  const int err = errno;
  if (err != ENOENT) throw file_error(path, "cannot use as an output: " + errno_text(err));
  const fs::path dir = r.parent_path().empty() ? fs::path(".") : r.parent_path();
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    check_writable_directory(dir, path);
  } else if (!rules.create_parents) {
    throw file_error(dir, "no such directory (for " + path.string() + ")");
  } else {
    check_writable_directory(nearest_existing(dir), path);
  }
  return out;
}

void check_output_directory(const fs::path& dir) {
  if (dir.empty()) throw Error("an output directory is empty");
  // Standard output for every other output path: never a directory named "-" by surprise.
  if (dir == "-")
    throw Error("-: an output directory is needed here (this command writes several files into it), not standard "
                "output: give a directory (./- for one named \"-\")");
  std::error_code ec;
  const fs::path r = follow_links(dir);
  if (fs::exists(r, ec)) {
    if (!fs::is_directory(r, ec)) throw file_error(dir, "is not a directory (an output directory is needed here)");
    check_writable_directory(r, dir);
    return;
  }
  const fs::path base = nearest_existing(r.parent_path());
  if (!fs::is_directory(base, ec)) throw file_error(dir, "cannot be created: " + base.string() + " is not a directory");
  check_writable_directory(base, dir);
}

// ---- AtomicWriter ------------------------------------------------------------------

namespace {
void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse directory fds
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

AtomicWriter::AtomicWriter(fs::path target, OutputRules rules) : path_(std::move(target)) {
  const OutputTarget t = check_output_path(path_, rules);
  target_ = t.resolved;
  kind_ = t.kind;
  if (kind_ == OutputKind::stream) {
    if (path_ == "-") {
      std::fflush(stdout);  // what the program printed before comes first
      fd_ = STDOUT_FILENO;
      own_fd_ = false;
    } else {
      fd_ = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0) throw file_error(path_, "cannot open for writing: " + errno_text());
    }
    return;
  }
  fs::path dir = target_.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw file_error(dir, "cannot create directory: " + ec.message());
  }
  // Temporaries of killed writers go first: a cache's can be as large as the file being written.
  remove_stale_temporaries(target_);
  std::random_device rd;
  temp_ = target_;
  temp_ += ".tmp-" + host_name() + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOSPC || err == EDQUOT || err == EROFS) throw write_error(path_, err);
    throw file_error(temp_, "cannot create: " + errno_text(err));
  }
  // A replaced file keeps its permissions.
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::fchmod(fd_, st.st_mode & 07777);
}

AtomicWriter::~AtomicWriter() {
  if (fd_ >= 0 && own_fd_) ::close(fd_);
  if (!committed_ && !temp_.empty()) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicWriter::write(const void* data, std::size_t size) {
  if (fd_ < 0) throw file_error(path_, "write after commit");
  if (const int err = write_faults::step()) throw write_error(path_, err);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw write_error(path_, errno);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    written_ += static_cast<std::size_t>(n);
  }
}

void AtomicWriter::write_at(std::size_t offset, const void* data, std::size_t size) {
  if (streaming())
    throw file_error(path_, "is a stream: bytes already written cannot be patched (give a regular file)");
  if (offset > written_ || size > written_ - offset)
    throw file_error(temp_, "write_at past the bytes written (" + std::to_string(offset) + " + " +
                                std::to_string(size) + " > " + std::to_string(written_) + ")");
  pwrite(offset, data, size);
}

void AtomicWriter::pwrite(std::uint64_t offset, const void* data, std::size_t size) {
  if (streaming()) throw file_error(path_, "is a stream: it cannot be written at an offset (give a regular file)");
  if (fd_ < 0) throw file_error(path_, "write after commit");
  if (const int err = write_faults::step()) throw write_error(path_, err);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw write_error(path_, errno);
    }
    p += n;
    offset += static_cast<std::uint64_t>(n);
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicWriter::commit() {
  if (committed_) return;
  if (streaming()) {
    if (own_fd_ && ::close(fd_) != 0) {
      fd_ = -1;
      throw write_error(path_, errno, "close");
    }
    fd_ = -1;
    committed_ = true;
    return;
  }
  int err = write_faults::step();
  if (err == 0 && ::fsync(fd_) != 0) err = errno;
  if (err != 0) throw write_error(path_, err, "fsync");
  if (::close(fd_) != 0) {
    err = errno;
    fd_ = -1;
    throw write_error(path_, err, "close");
  }
  fd_ = -1;
  err = write_faults::step();
  if (err == 0 && ::rename(temp_.c_str(), target_.c_str()) != 0) err = errno;
  if (err != 0) {
    if (err == ENOSPC || err == EDQUOT) throw write_error(path_, err);
    throw file_error(path_, "cannot replace: " + errno_text(err));
  }
  committed_ = true;
  write_faults::step(/*kill_only=*/true);
  fsync_directory(target_.parent_path());
  remove_stale_temporaries(target_);
}

void write_file_atomic(const fs::path& path, std::string_view contents, OutputRules rules) {
  AtomicWriter writer(path, rules);
  writer.write(contents);
  writer.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw file_error(path, "cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace oneshot
