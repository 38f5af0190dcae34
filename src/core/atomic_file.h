#pragma once
// Output files that respect the path they are given.
//
// A regular file (or a name not taken yet) is replaced atomically: written to
// a temporary file beside it, fsynced, renamed over it, its directory fsynced.
// A crash or kill at any point leaves either the old file or the new one,
// never a mix; a failed write (a full disk) leaves the old file and no
// temporary. A symbolic link is followed and its final target replaced the
// same way (the link stays a link). Standard output ("-"), a character device
// (/dev/null, a terminal) or a named pipe is written through, streaming: no
// temporary, no rename. Anything else (a directory, a socket, a block device)
// is refused, as are a read-only file, a directory that is read-only or on a
// read-only file system, and (unless the writer may create it) a missing
// directory: check_output_path finds all of these before any work.
//
// Temporaries are named "<name>.tmp-<host>-<pid>-<random>"; one left by a
// killed process (its pid no longer running on this host) is removed by the
// next successful commit of the same target.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace oneshot {

enum class OutputKind {
  file,    // a regular file, or nothing yet: replaced atomically
  stream,  // standard output, a character device or a named pipe: written through
};

struct OutputRules {
  // A stream target is written through; false: refused (the writer must seek
  // back, as an .npy whose row count is known only at the end).
  bool streaming = true;
  // Missing parent directories are created; false: Error naming the directory.
  bool create_parents = true;
  // The output is a SQLite store written in place (a class library, an
  // archive, a study), which an existing SQLite database may be; false: an
  // existing SQLite database is refused, not replaced (export --out LIB.db
  // replaced a class library with an ONNX file).
  bool database = false;
};

struct OutputTarget {
  std::filesystem::path path;      // as given
  std::filesystem::path resolved;  // symbolic links followed ("-" stays "-")
  OutputKind kind = OutputKind::file;
};

// Where PATH's bytes will go, checked before any work; Error naming PATH and
// what is wrong otherwise (see the top of this file; and OutputRules::database). Commands call it on every
// output file a user names, when they parse their options.
OutputTarget check_output_path(const std::filesystem::path& path, OutputRules rules = {});
// An output that would replace a file the command reads (search --out ARCHIVE
// replaced the archive with its hit table, export --out R/best.pt the
// weights): Error "OUT: is INPUT, which COMMAND reads: give ... another file
// name" when OUT is one of `inputs` (the same file through links, hard links
// included, or the same path when neither exists yet). `option` names the
// output's option ("--out").
void check_not_an_input(const std::filesystem::path& out, const std::vector<std::filesystem::path>& inputs,
                        std::string_view command, std::string_view option = "--out");
// An output directory (--out DIR, --cache DIR): an existing writable directory
// (through symbolic links), or one that can be created (its nearest existing
// ancestor is a writable directory). Error naming DIR otherwise.
void check_output_directory(const std::filesystem::path& dir);

// "PATH: the disk is full (no space left on device) while writing it; ..."
// for ENOSPC and EDQUOT, else "PATH: DOING failed: strerror(ERR)".
Error write_error(const std::filesystem::path& path, int err, std::string_view doing = "write");

class AtomicWriter {
 public:
  explicit AtomicWriter(std::filesystem::path target, OutputRules rules = {});
  ~AtomicWriter();  // removes the temporary file unless commit() ran
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Overwrites bytes already written at OFFSET (a header known only at the
  // end); Error when they were not written yet, or the target is a stream.
  void write_at(std::size_t offset, const void* data, std::size_t size);
  // Writes at any OFFSET of the temporary file, extending it (parts written in
  // any order, from any thread); Error on a stream target.
  void pwrite(std::uint64_t offset, const void* data, std::size_t size);
  std::size_t bytes_written() const { return written_; }
  // File: fsync, rename over the target, fsync the directory, remove stale
  // temporaries of the target. Stream: nothing left to do.
  void commit();
  const std::filesystem::path& temp_path() const { return temp_; }  // empty for a stream
  const std::filesystem::path& target() const { return target_; }   // symbolic links followed
  bool streaming() const { return kind_ == OutputKind::stream; }

 private:
  std::filesystem::path path_, target_, temp_;
  OutputKind kind_ = OutputKind::file;
  int fd_ = -1;
  bool own_fd_ = true;
  std::size_t written_ = 0;
  bool committed_ = false;
};

// Whole-file helpers on top of AtomicWriter.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents, OutputRules rules = {});
std::string read_file(const std::filesystem::path& path);

// Fault injection for the I/O-fault tests. Every write step of every
// AtomicWriter in the process is counted (each write, write_at, pwrite, the
// fsync, the rename, and a point just after the rename that only a kill hits);
// the Nth from now fails as set: with errno ERR (ENOSPC: a full disk), or by
// SIGKILL. N = 0 turns it off. The environment variable
// ONESHOT_WRITE_FAULT="enospc@N", "eio@N" or "kill@N" sets it at the first
// step, for tests of whole commands.
namespace write_faults {
enum class Action { none, fail, kill };
void inject(std::size_t nth_step, Action action, int err = 28 /* ENOSPC */);
std::size_t steps();  // steps counted so far
}  // namespace write_faults

}  // namespace oneshot
