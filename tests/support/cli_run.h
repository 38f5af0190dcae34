#pragma once
// Running the oneshot-audio CLI from a test: the exit status and what it
// printed. Shared by the CLI tests of the archive, search and review.
#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace oneshot::test {

// A path quoted for the shell (paths in tests hold no single quote).
inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

struct CliResult {
  int status = 0;
  std::string out;  // stdout and stderr, or stdout alone (run_cli_stdout)
};

// `oneshot-audio ARGS`, with `env` ("NAME=value ...") set for it when given.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  CliResult r;
  r.status = run_command(env + (env.empty() ? "" : " ") + cli_path().string() + " " + args, &r.out);
  return r;
}

// The same, its stdout alone (stderr's notes and summary dropped): for answers parsed as JSON or tables.
inline CliResult run_cli_stdout(const std::string& args) {
  CliResult r;
  r.status = run_command("{ " + cli_path().string() + " " + args + " 2>/dev/null; }", &r.out);
  return r;
}

}  // namespace oneshot::test
