#pragma once
// Fixtures made at test time with the ffmpeg and sox programs (scripts/test.sh
// installs them), never committed third-party files. Tests that need a
// program skip, naming it, where it is absent.
#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace oneshot::test {

inline bool have_program(const std::string& name) {
  return run_command("command -v " + name + " >/dev/null 2>&1") == 0;
}

// Runs `ffmpeg ARGS` quietly, overwriting outputs; the exit status.
inline int ffmpeg(const std::string& args, std::string* output = nullptr) {
  return run_command("ffmpeg -hide_banner -loglevel error -nostdin -y " + args, output);
}

// A lavfi source of a sine at `hz` for `seconds` at `rate`, for ffmpeg's -i.
inline std::string sine_source(double hz, double seconds, int rate) {
  return "-f lavfi -i \"sine=frequency=" + std::to_string(hz) + ":sample_rate=" + std::to_string(rate) +
         ":duration=" + std::to_string(seconds) + "\"";
}

}  // namespace oneshot::test

#define ONESHOT_REQUIRE_PROGRAM(name)                                                                  \
  if (!::oneshot::test::have_program(name))                                                            \
  GTEST_SKIP() << "the `" name "` program is not installed (scripts/test.sh installs ffmpeg and sox); " \
                  "this test makes its fixture with it"
