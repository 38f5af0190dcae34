#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {
std::string errno_text() { return std::strerror(errno); }

void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse directory fds
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

AtomicWriter::AtomicWriter(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw file_error(dir, "cannot create directory: " + ec.message());
  }
  std::random_device rd;
  temp_ = target_;
  temp_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw file_error(temp_, "cannot create: " + errno_text());
}

AtomicWriter::~AtomicWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicWriter::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw file_error(temp_, "write failed: " + errno_text());
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    written_ += static_cast<std::size_t>(n);
  }
}

void AtomicWriter::write_at(std::size_t offset, const void* data, std::size_t size) {
  if (offset > written_ || size > written_ - offset)
    throw file_error(temp_, "write_at past the bytes written (" + std::to_string(offset) + " + " +
                                std::to_string(size) + " > " + std::to_string(written_) + ")");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw file_error(temp_, "write failed: " + errno_text());
    }
    p += n;
    offset += static_cast<std::size_t>(n);
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicWriter::commit() {
  if (::fsync(fd_) != 0) throw file_error(temp_, "fsync failed: " + errno_text());
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw file_error(temp_, "close failed: " + errno_text());
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    throw file_error(target_, "cannot replace: " + errno_text());
  committed_ = true;
  fsync_directory(target_.parent_path());
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  AtomicWriter writer(path);
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
