// The front end (build/oneshot-audio) runs the model-free commands without
// loading LibTorch and hands every other command to oneshot-audio-model.
// Which shared objects a run loads is read from the dynamic linker's own
// trace (LD_DEBUG=libs, glibc), which also covers the executable it execs.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs `cli ARGS` with the loader's trace on; returns the exit status.
int traced(const fs::path& cli, const std::string& args, std::string* out) {
  return test::run_command("LD_DEBUG=libs " + quoted(cli) + " " + args, out);
}

// Whether the trace shows a library being loaded (glibc prints
// "calling init: /path/libname.so..." for every object it initialises).
bool loaded(const std::string& trace, const std::string& name) {
  return trace.find("calling init: ") != std::string::npos &&
         std::regex_search(trace, std::regex("calling init: [^\n]*/" + name + "[^/\n]*\n"));
}

TEST(CliFrontEnd, ModelFreeCommandsDoNotLoadLibTorch) {
  TempDir dir;
  const std::vector<std::string> commands = {
      "--version", "--help", "features --help", "logmel --help", "tune-report --help", "library --help",
      "score-events --help",
      "logmel " + quoted(test::fixture("librosa/tones_22k.wav")) + " " + quoted(dir / "tones.npy")};
  for (const std::string& args : commands) {
    std::string out;
    ASSERT_EQ(traced(test::cli_path(), args, &out), 0) << args << "\n" << out;
    // The trace is on: the C library itself shows up (else the check below would pass vacuously).
    ASSERT_TRUE(loaded(out, "libc.so")) << args << "\n" << out.substr(0, 2000);
    EXPECT_FALSE(loaded(out, "libtorch_cpu.so")) << args;
    EXPECT_FALSE(loaded(out, "libc10.so")) << args;
  }
  EXPECT_TRUE(fs::exists(dir / "tones.npy"));
}

TEST(CliFrontEnd, ModelCommandsAreHandedOverToTheModelExecutable) {
  std::string out;
  ASSERT_EQ(traced(test::cli_path(), "train --help", &out), 0) << out;
  EXPECT_TRUE(loaded(out, "libtorch_cpu.so"));
  EXPECT_NE(out.find("--run"), std::string::npos);  // train's own help, from the model executable
  // Errors of a model command come back unchanged (exit code and message).
  const int status = test::run_command(quoted(test::cli_path()) + " evaluate --run " + quoted("/nonexistent/run"), &out);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("/nonexistent/run"), std::string::npos) << out;
  // A model-free command's flag that needs the model hands over too (library --reembed).
  TempDir dir;
  const std::string library = quoted(dir / "none.db");
  EXPECT_NE(traced(test::cli_path(), "library " + library + " --reembed --run " + quoted(dir / "run"), &out), 0);
  EXPECT_TRUE(loaded(out, "libtorch_cpu.so"));
  EXPECT_NE(traced(test::cli_path(), "library " + library, &out), 0);  // the listing: no library there
  EXPECT_FALSE(loaded(out, "libtorch_cpu.so"));
  EXPECT_NE(out.find("none.db"), std::string::npos);
}

// The model executable's OMP_WAIT_POLICY as the front end started it ("" when unset): a model
// command is started reading its --config from a FIFO, so that it waits there while its
// environment is read from /proc.
std::string model_wait_policy(const std::string& env) {
  TempDir dir;
  std::string out;
  const std::string script =
      "cd " + quoted(dir.path()) + " && mkfifo cfg && { " + env + " " + quoted(test::cli_path()) +
      " train --run run --config cfg >/dev/null 2>&1 & pid=$!; "
      "for i in $(seq 1 400); do case $(readlink /proc/$pid/exe) in *oneshot-audio-model) break;; esac; sleep 0.05; done; "
      "readlink /proc/$pid/exe | grep -q 'oneshot-audio-model$' && echo started; "
      "tr '\\0' '\\n' < /proc/$pid/environ | grep '^OMP_WAIT_POLICY=' | cut -d= -f2-; "
      "timeout 20 sh -c 'echo x > cfg'; wait $pid; }";
  write_file_atomic(dir / "probe.sh", script);
  test::run_command("bash " + quoted(dir / "probe.sh"), &out);
  EXPECT_EQ(out.rfind("started\n", 0), 0u) << out;
  out = out.substr(out.find('\n') + 1);
  return out.substr(0, out.find('\n'));
}

// OpenMP's threads wait passively in every model command (they spun between parallel regions and
// took the cores from the work on a busy machine), unless the user chose a policy or a spin count.
TEST(CliFrontEnd, ModelCommandsWaitPassivelyUnlessTheUserChose) {
  EXPECT_EQ(model_wait_policy("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT"), "PASSIVE");
  EXPECT_EQ(model_wait_policy("env OMP_WAIT_POLICY=ACTIVE"), "ACTIVE");
  EXPECT_EQ(model_wait_policy("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000"), "");
}

// The subcommand lines of top-level --help: "  name   description".
std::set<std::string> listed_commands(const fs::path& cli) {
  std::string out;
  EXPECT_EQ(test::run_command(quoted(cli) + " --help", &out), 0) << out;
  std::set<std::string> lines;
  std::istringstream in(out.substr(out.find("Subcommands:") == std::string::npos ? out.size() : out.find("Subcommands:")));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line))
    if (line.size() > 2 && line.rfind("  ", 0) == 0) lines.insert(std::regex_replace(line, std::regex("\\s+"), " "));
  return lines;
}

TEST(CliFrontEnd, HelpListsEveryCommandOfTheModelExecutable) {
  const fs::path model = test::cli_path().parent_path() / "oneshot-audio-model";
  const auto front = listed_commands(test::cli_path());
  const auto full = listed_commands(model);
  EXPECT_GE(full.size(), 8u);
  // Same names and descriptions: a model command missing from the front end's
  // table (app/frontend.cpp) would still run, but --help would not list it.
  EXPECT_EQ(front, full);
}

TEST(CliFrontEnd, MissingModelExecutableIsAClearError) {
  TempDir dir;
  fs::copy_file(test::cli_path(), dir / "oneshot-audio");
  std::string out;
  EXPECT_EQ(test::run_command(quoted(dir / "oneshot-audio") + " --version", &out), 0) << out;  // runs alone
  EXPECT_EQ(test::run_command(quoted(dir / "oneshot-audio") + " train --help", &out), 1) << out;
  EXPECT_NE(out.find((dir / "oneshot-audio-model").string()), std::string::npos) << out;
  EXPECT_NE(out.find("cannot start"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
