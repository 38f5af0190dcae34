// What both executables share: the --config/--set options and the parse-run-report loop.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"

namespace oneshot::cli {

void ConfigOptions::add_to(CLI::App& cmd) {
  cmd.add_option("--config", file, "TOML configuration file")->check(CLI::ExistingFile);
  cmd.add_option("--set", overrides, "Override a configuration key: section.key=value (repeatable)");
}

Config ConfigOptions::load() const { return Config::load(file, overrides); }

namespace {
// A validator of numbers that must be finite and, unless `min` is -inf, at
// least `min` (or above it when `strict`), and at most `max`.
CLI::Validator finite_number(double min, bool strict, const char* what, double max = HUGE_VAL) {
  return CLI::Validator(
      [min, strict, what, max](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < min || (strict && v == min) || v > max)
          return std::string("must be ") + what + ", got " + text;
        return {};
      },
      "");
}
}  // namespace

const CLI::Validator FiniteNumber = finite_number(-HUGE_VAL, false, "a finite number");
const CLI::Validator FinitePositive = finite_number(0, true, "a finite number > 0");
const CLI::Validator ThreadCount(
    [](std::string& text) -> std::string {
      const long cores = std::max(1u, std::thread::hardware_concurrency());
      char* end = nullptr;
      errno = 0;
      const long value = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno == ERANGE || value < 0 || value > 4 * cores)
        return text + " is not a thread count from 0 (every core) to " + std::to_string(4 * cores) + " (4 x the " +
               std::to_string(cores) + " cores of this machine; more threads only wait for each other)";
      return "";
    },
    "THREADS");
const CLI::Validator FiniteNonNegative = finite_number(0, false, "a finite number >= 0");
const CLI::Validator FalseAcceptRate(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < 0 || v >= 1)
        return "must be a false-accept rate, a finite number >= 0 and below 1, got " + text;
      return {};
    },
    "RATE");

const CLI::Validator SecondsUpToADay =
    finite_number(0, false, "seconds from 0 to 86400 (a day)", 86400).description("SECONDS");

CLI::Validator WholeNumber(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long value = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE || value < min || value > max)
          return "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + text;
        return {};
      },
      "");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string shell_word(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                                       "_./-+=:,@%") == std::string::npos;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string one_line(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void create_output_directory(const std::string& dir) {
  if (dir.empty()) throw Error("--out is empty: give an output directory");
  check_output_directory(dir);  // not a directory, read-only: named before anything is created
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw file_error(dir, "cannot create the output directory: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) throw file_error(dir, "is not a directory (--out needs one)");
}

void check_cache_option(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  check_output_directory(dir);
}

void set_up_app(CLI::App& app) {
  app.description("oneshot-audio: learn to recognise environmental sounds from a single example");
  app.require_subcommand(1);
  app.set_version_flag("--version", "oneshot-audio 0.1.0");
}

namespace {

// Flushes standard output (std::cout and stdout) and returns 0, or names the
// failure on stderr and returns 1.
int finish_standard_output() {
  errno = 0;  // std::cout.flush() is stdout's fflush (synced with stdio): the error may come from either
  std::cout.flush();
  const bool flushed = std::fflush(stdout) == 0;
  int err = errno;
  if (flushed && !std::ferror(stdout) && std::cout.good()) return 0;
  // A write that failed while the command ran (more than a buffer's worth:
  // search, detect) left no errno by now: ask what standard output is.
  if (err == 0) {
    struct stat st {};
    struct statvfs fs {};
    if (::fstat(STDOUT_FILENO, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 7)) err = ENOSPC;  // /dev/full
    else if (::fstatvfs(STDOUT_FILENO, &fs) == 0 && S_ISREG(st.st_mode) && fs.f_bavail == 0) err = ENOSPC;
  }
  std::fprintf(stderr, "error: standard output: %s; what the command printed there is incomplete\n",
               err == ENOSPC || err == EDQUOT ? "the disk is full (No space left on device)"
               : err != 0                      ? (std::string("could not be written: ") + std::strerror(err)).c_str()
                                               : "could not be written");
  return 1;
}

}  // namespace

int run_app(CLI::App& app, int argc, char** argv) {
  // CLI11 answers a mistyped command with "A subcommand is required", which
  // does not say which word it did not know.
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;  // the top level has flags only
    bool known = false;
    std::string names;
    for (const CLI::App* cmd : app.get_subcommands({})) {
      known = known || cmd->check_name(argv[i]);
      names += (names.empty() ? "" : ", ") + cmd->get_name();
    }
    if (known) break;
    std::fprintf(stderr, "error: unknown command '%s' (commands: %s)\nRun with --help for more information.\n",
                 argv[i], names.c_str());
    return static_cast<int>(CLI::ExitCodes::ExtrasError);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const oneshot::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  // What a command prints on standard output (classify's answers, search's
  // hits, a library's listing, detect's events) is its product: a full disk
  // or a failed write there must not end in success with the file empty.
  return finish_standard_output();
}

}  // namespace oneshot::cli
