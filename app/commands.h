#pragma once
// Each subcommand lives in its own cmd_*.cpp and registers itself here.
// The CLI is a thin layer: parse flags, build a Config, call the library.
//
// Two executables (see /README.md "Start-up" and CMakeLists.txt): oneshot-audio-model
// has every command (main.cpp); oneshot-audio (frontend.cpp) is linked without
// LibTorch, runs the model-free commands (the files in ONESHOT_FRONTEND_APP) and
// execs oneshot-audio-model for every other one. ONESHOT_FRONTEND is 1 when a
// file is compiled for the front end, 0 for oneshot-audio-model.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/atomic_file.h"  // check_output_path, check_output_directory: every output a user names
#include "core/config.h"

namespace oneshot {
class ClassLibrary;
class LibraryScorer;
}  // namespace oneshot

namespace oneshot::cli {

// --config FILE and --set section.key=value, shared by every command.
#ifndef ONESHOT_FRONTEND
#define ONESHOT_FRONTEND 0
#endif

struct ConfigOptions {
  std::string file;
  std::vector<std::string> overrides;
  void add_to(CLI::App& cmd);
  Config load() const;
};

// The flags of train, evaluate and run; run and demo call the same functions
// as the train and evaluate commands.
struct TrainArgs {
  ConfigOptions config;
  std::string data, run, layout, cache;
  bool esc10 = false, quiet = false;
  int threads = -1;
  std::string device;
  int nproc = 1;  // > 1: start that many local ranks (data-parallel)
};
int run_train(const TrainArgs& args);

struct EvaluateArgs {
  ConfigOptions config;
  std::string run, split = "test", protocol, aggregate, weights = "best", device;
  int ways = 0, shots = 0, queries = 0, episodes = 0, threads = -1;
  std::int64_t seed = -1;
  bool no_plots = false, quiet = false;
  // --protocol verification
  double far = 0.05;
  int enrol_classes = 0, draws = 1000;
  double threshold = 0;
  bool has_threshold = false;
  bool domain_split = false, as_norm = false;  // --domain split, --score-norm as-norm
  std::size_t cohort_top_k = 100;
};
int run_evaluate(const EvaluateArgs& args);

struct RunArgs {
  ConfigOptions config;
  std::string data, out, layout, cache;
  bool esc10 = false, quiet = false;
  int threads = -1;
  int nproc = 1;
};
int run_pipeline(const RunArgs& args);

// Both executables: name, description, version flag; then parse and run,
// turning errors into "error: ..." on stderr and exit code 1 (oneshot::Error)
// or 2 (anything else).
// Finite numbers (and > 0, >= 0): CLI11's number checks (Range,
// NonNegativeNumber) let "nan" and "inf" through, which options in seconds or
// scores must refuse.
extern const CLI::Validator FiniteNumber, FinitePositive, FiniteNonNegative;
// A false-accept rate (--far): a finite number in [0, 1), one message for every way it is not.
extern const CLI::Validator FalseAcceptRate;
// A duration in seconds from 0 to a day (detect's --min-duration, --merge-gap: 1e300 was accepted).
extern const CLI::Validator SecondsUpToADay;
// A whole number from MIN to MAX: "must be a whole number from 1 to 2147483647, got 0"
// (CLI11's PositiveNumber names its range as 0 to 1.8e308 written out in full,
// and lets "2.5" through to a conversion error).
CLI::Validator WholeNumber(long long min, long long max);
constexpr long long kIntMax = 2147483647;
// --threads and --jobs: 0 (every core) up to 4 x this machine's cores (more only spin-wait).
extern const CLI::Validator ThreadCount;

// S as one CSV field (RFC 4180): quoted, with its quotes doubled, when it holds a comma, quote or line break.
std::string csv_field(const std::string& s);
// S as one word of a POSIX shell command a note suggests: as it is when it
// holds only characters no shell reads specially, else in single quotes.
std::string shell_word(const std::string& s);
// `s` on one line of a table: a control character (a line break or tab in a
// file name) as its C escape (\n, \t, \r, else \xHH), so that one name cannot
// break the layout; other text as it is.
std::string one_line(const std::string& s);

// Creates DIR (an --out) and its parents; Error naming it and why when it cannot (a file there, no permission).
void create_output_directory(const std::string& dir);
// A --cache DIR before any work: an existing directory is taken as it is (a
// valid cache is only read, on read-only media too); anything else must be a
// directory that can be created (check_output_directory). Empty: the default.
void check_cache_option(const std::string& dir);

void set_up_app(CLI::App& app);
int run_app(CLI::App& app, int argc, char** argv);

// In the front end: replaces this process with oneshot-audio-model (found
// next to /proc/self/exe) on the same arguments; throws oneshot::Error naming
// the path if it cannot. For a model-free command's flag that needs the model
// (inside `#if ONESHOT_FRONTEND`). In oneshot-audio-model it throws: there is
// nothing to hand over to.
[[noreturn]] void hand_over_to_model();

void add_logmel_command(CLI::App& app);
void add_features_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_tune_command(CLI::App& app);
void add_tune_report_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_enroll_command(CLI::App& app);
void add_classify_command(CLI::App& app);
void add_detect_command(CLI::App& app);
void add_embed_command(CLI::App& app);
void add_library_command(CLI::App& app);
void add_score_events_command(CLI::App& app);  // model-free
// library --reembed: the model part of the model-free library command.
int run_library_reembed(const std::string& library, const std::string& run, int threads);
// Runs `attempt` again, with a note on stderr, while it throws PlanOutdated
// (another process changed the library between its plan and its change;
// enroll/library.h), at most three times; then an Error naming the library:
// nothing was written. `what` names one attempt ("enrolment", "re-embedding").
// (Model executable: cmd_enroll.cpp.)
int with_replanning(const std::string& library, const std::string& what, const std::function<int()>& attempt);

// Whether detect (--centre recording) and classify (--centre batch) may centre
// scores on what they score: not when the user asked for the library's scores
// (`asked` false: --centre library), for a library with a domain (centred on
// that), with --threshold (a number on the library's scores), or for a
// library calibrated before the recording calibration (`note` then says how to
// add it). `why_not`: the reason when not, for the user. (Model executable:
// cmd_detect.cpp.)
struct CentringChoice {
  bool centre = false;
  std::string why_not;
  std::string note;
};
CentringChoice choose_centring(bool asked, bool threshold_given, const ClassLibrary& library,
                               const LibraryScorer& scorer, const std::string& library_path,
                               const std::string& scored);

}  // namespace oneshot::cli
