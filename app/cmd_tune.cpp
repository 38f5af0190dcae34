// `tune`: run N more trials of a study with one or more worker processes.
// (`tune-report` is in cmd_tune_report.cpp: it needs no model.)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/store_location.h"
#include "tune/objectives.h"
#include "tune/study.h"
#include "tune/worker.h"
#include "tune_objective.h"

namespace oneshot::cli {
namespace {

struct TuneOptions {
  ConfigOptions config;
  std::string data, study, study_name = "default", space, objective = "train", best, layout = "auto", cache;
  bool esc10 = false;
  int trials = 0, workers = 1;
};

tune::ObjectiveContext objective_context(const TuneOptions& o, const Config& config) {
  return tune::ObjectiveContext{config, o.data, o.layout, o.esc10, o.cache};
}

// best.toml beside a SQLite study, else in the current directory.
std::filesystem::path default_best_path(const std::string& url) {
  const std::string file = sqlite_file_of(url, "study");
  if (file.empty()) return "best.toml";
  return std::filesystem::path(file).parent_path() / "best.toml";
}

// One worker: builds the objective in this process, then claims trials.
int run_one_worker(const TuneOptions& o, const tune::ObjectiveInfo& info, const Config& config,
                   std::atomic<int>* budget) {
  const tune::Objective objective = info.make(objective_context(o, config));
  tune::Study study(o.study, o.study_name, nullptr);
  tune::WorkerOptions options;
  options.best_config = o.best.empty() ? default_best_path(o.study) : std::filesystem::path(o.best);
  options.base_config = info.config_keys ? &config : nullptr;
  options.shared_budget = budget;
  const auto s = tune::run_worker(study, config.tune, objective, o.trials, options);
  std::fprintf(stderr, "[%s] done: %d trials (%d complete, %d pruned, %d failed, %d re-runs, %d taken over)\n",
               tune::default_worker_name().c_str(), s.claimed, s.complete, s.pruned, s.failed, s.reruns, s.lost);
  return 0;
}

// M processes sharing one budget of trials through shared memory. Each
// builds its own objective and database connections after the fork.
int run_worker_processes(const TuneOptions& o, const tune::ObjectiveInfo& info, const Config& config) {
  void* shared = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) throw Error("tune: cannot share the trial budget between workers");
  auto* budget = new (shared) std::atomic<int>(o.trials);
  std::vector<pid_t> children;
  for (int w = 0; w < o.workers; ++w) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw Error("tune: cannot start worker process " + std::to_string(w + 1));
    if (pid == 0) {
      int code = 0;
      try {
        code = run_one_worker(o, info, config, budget);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "error: worker %d: %s\n", w + 1, e.what());
        code = 1;
      }
      std::fflush(nullptr);
      _exit(code);
    }
    children.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  munmap(shared, sizeof(std::atomic<int>));
  if (failed) throw Error("tune: " + std::to_string(failed) + " of " + std::to_string(o.workers) + " workers failed");
  return 0;
}

void run_tune(const TuneOptions& o) {
  // A SQLite study is written in place (a journal beside it): its directory
  // must exist and be writable, and the file (when there) be a writable regular one.
  if (const std::string file = sqlite_file_of(o.study, "study"); !file.empty())
    check_output_path(file, OutputRules{.streaming = false, .create_parents = false, .database = true});
  // best.toml before any trial: a link's target is replaced, a pipe or "-" written through (after
  // every trial), a directory, a read-only file or a missing directory named now.
  check_output_path(o.best.empty() ? default_best_path(o.study) : std::filesystem::path(o.best),
                    OutputRules{.create_parents = o.best.empty()});
  check_cache_option(o.cache);
  tune::register_builtin_objectives();
  register_train_objective();
  const tune::ObjectiveInfo* info = tune::find_objective(o.objective);
  if (!info) {
    std::string names;
    for (const auto& n : tune::objective_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("tune: no objective \"" + o.objective + "\" in this build (available: " + names + ")");
  }
  if (info->needs_data && o.data.empty()) throw Error("tune: --data DIR is required by the \"" + o.objective + "\" objective");
  Config config = o.config.load();
  // Workers on one machine share its cores rather than each taking all of them.
  if (o.workers > 1 && config.train.threads == 0)
    config.train.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / o.workers);

  // The space: --space, else the stored one of an existing study, else the objective's default.
  const bool given = !o.space.empty();
  const tune::SearchSpace space =
      given ? tune::SearchSpace::load(o.space)
            : tune::SearchSpace::parse_toml(!info->default_space_toml.empty() ? info->default_space_toml
                                            : config.model.arch == "original" ? tune::original_space_toml()
                                                                              : tune::default_space_toml(),
                                            "the default search space");
  {
    tune::Study study(o.study, o.study_name, &space, /*adopt_stored_space=*/!given);
    if (info->config_keys) study.space().check_against_config(given ? o.space : "the search space", config);
    std::fprintf(stderr, "tune: study \"%s\" at %s, %zu trials so far; running %d more with %d worker%s\n",
                 o.study_name.c_str(), study.database().describe().c_str(), study.trials().size(), o.trials, o.workers,
                 o.workers == 1 ? "" : "s");
  }
  if (info->prepare) info->prepare(objective_context(o, config));
  if (o.workers == 1) run_one_worker(o, *info, config, nullptr);
  else run_worker_processes(o, *info, config);

  tune::Study study(o.study, o.study_name, nullptr);
  if (const auto best = study.best()) {
    std::printf("best: trial %d, value %.6g\n", best->number, *best->value);
    for (const auto& a : best->params.assignments()) std::printf("  %s\n", a.c_str());
    std::fflush(stdout);
    // The workers' writes after each trial only log a failure (the trials go
    // on): on a full disk stdout said "written to" and tune exited 0. A file
    // is written once more here, and a failure is the command's (exit 1); a
    // pipe or device was written through after every trial and is not again.
    const std::filesystem::path path = o.best.empty() ? default_best_path(o.study) : std::filesystem::path(o.best);
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status) || std::filesystem::is_regular_file(status))
      tune::write_best_config(study, path, info->config_keys ? &config : nullptr);
    std::printf("written to %s\n", path.string().c_str());
  } else {
    std::printf("no complete trial yet\n");
  }
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto o = std::make_shared<TuneOptions>();
  auto* tune = app.add_subcommand("tune", "Tune hyperparameters with TPE; resumable, shared by any number of workers");
  tune->add_option("--data", o->data, "Dataset directory (the training objective's data)");
  tune->add_option("--layout", o->layout, "Dataset layout: auto, esc50 or folders")
      ->check(CLI::IsMember({"auto", "esc50", "folders"}));
  tune->add_flag("--esc10", o->esc10, "ESC-50 layout: use the ESC-10 subset");
  tune->add_option("--cache", o->cache, "Feature cache directory (default: DATA/.oneshot-cache)");
  tune->add_option("--study", o->study, "Study database: FILE, sqlite:///FILE or postgresql://USER@HOST/DB")->required();
  tune->add_option("--study-name", o->study_name, "Study name within the database")->capture_default_str();
  tune->add_option("--trials", o->trials, "Number of trials to run now (added to the study's)")->required()->check(WholeNumber(1, 1000000));
  tune->add_option("--space", o->space, "Search space TOML (default: the study's, else configs/original-space.toml for model.arch = original, "
                  "else configs/default-space.toml)")->check(CLI::ExistingFile);
  tune->add_option("--workers", o->workers, "Worker processes on this machine")->capture_default_str()->check(CLI::Range(1, 256));
  tune->add_option("--objective", o->objective, "Objective: train, or branin (a cheap test function)")->capture_default_str();
  tune->add_option("--best", o->best, "Where to write the best configuration (default: best.toml beside a SQLite study)");
  o->config.add_to(*tune);
  tune->callback([o] { run_tune(*o); });
}

}  // namespace oneshot::cli
