#pragma once
// Atomic file replacement: write to a temporary file beside the target,
// fsync it, rename it over the target, fsync the directory. A crash at any
// point leaves either the old file or the new one, never a mix.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

namespace oneshot {

class AtomicWriter {
 public:
  explicit AtomicWriter(std::filesystem::path target);
  ~AtomicWriter();  // removes the temporary file unless commit() ran
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Overwrites bytes already written at OFFSET (a header known only at the
  // end); Error when they were not written yet.
  void write_at(std::size_t offset, const void* data, std::size_t size);
  std::size_t bytes_written() const { return written_; }
  // fsync, rename over the target, fsync the directory.
  void commit();
  const std::filesystem::path& temp_path() const { return temp_; }

 private:
  std::filesystem::path target_, temp_;
  int fd_ = -1;
  std::size_t written_ = 0;
  bool committed_ = false;
};

// Whole-file helpers on top of AtomicWriter.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);
std::string read_file(const std::filesystem::path& path);

}  // namespace oneshot
