#pragma once
// What every fuzz target shares: the input as a file (the readers take
// paths), and the rule that bad input ends in oneshot::Error, a message
// naming the file, never in another exception (a library's, bare) or a crash.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include "core/error.h"

namespace oneshot::fuzz {

// A directory of this process's own, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      path = std::filesystem::temp_directory_path() / ("oneshot-fuzz-" + std::to_string(::getpid()));
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path;
}

// Writes the input to scratch_dir()/NAME (replacing what a previous input left).
inline std::filesystem::path write_input(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();
  return path;
}

// Runs F: an oneshot::Error is bad input handled; any other exception is a
// finding (a library's message reaching the user bare, a bad_alloc from a
// size the file made up), reported and turned into a crash.
template <class F> void expect_clean(const char* what, F&& f) {
  try {
    f();
  } catch (const oneshot::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s escaped as %s: %s\n", what, "an exception other than oneshot::Error",
                 typeid(e).name(), e.what());
    std::abort();
  }
}

// A property the reader promises; violated, the input is a finding.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace oneshot::fuzz
