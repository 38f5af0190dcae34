#pragma once
// A worker: claims trials from a study one after another, runs the objective
// on each, records what happens, and keeps best.toml up to date. Any number
// of workers, in threads, processes or on other machines, can share a study.
#include <atomic>
#include <filesystem>
#include <functional>
#include <string>

#include "tune/study.h"

namespace oneshot {
struct Config;
struct TuneConfig;
}

namespace oneshot::tune {

// What a trial reports back: a loss (lower is better), e.g. 1 - validation accuracy.
struct TrialOutcome {
  double value = 0;
};

// Handed to the objective for one trial.
class EpochReporter {
 public:
  virtual ~EpochReporter() = default;
  // Records the value (a loss) after `epoch` (1, 2, ...), beats the
  // heartbeat and returns true when the objective should stop now: the
  // pruner stopped the trial, or the trial was taken over by another worker.
  virtual bool report(int epoch, double value) = 0;
  virtual bool should_stop() const = 0;
  virtual int trial_number() const = 0;
};

// Throwing oneshot::Error (or any std::exception) marks the trial failed
// with the message as its reason; the worker goes on with the next trial.
using Objective = std::function<TrialOutcome(const Overrides& params, EpochReporter& reporter)>;

struct WorkerOptions {
  std::string worker;                 // empty: host:pid
  std::filesystem::path best_config;  // best.toml, rewritten after every trial; empty: none
  const Config* base_config = nullptr;  // best.toml = this config with the best trial's overrides
  // Trials left to all workers of one run (shared memory across processes);
  // when set, it, not n_trials, decides when to stop.
  std::atomic<int>* shared_budget = nullptr;
  std::function<void(const std::string&)> log;  // one line per event; empty: stderr
};

struct WorkerSummary {
  int claimed = 0, complete = 0, failed = 0, pruned = 0, lost = 0, reruns = 0;
};

// Runs n_trials trials (new ones, or runs of trials whose worker died).
WorkerSummary run_worker(Study& study, const TuneConfig& config, const Objective& objective, int n_trials,
                         const WorkerOptions& options = {});

// Writes best.toml atomically from the study's best complete trial; false
// when there is none yet.
bool write_best_config(Study& study, const std::filesystem::path& path, const Config* base);

}  // namespace oneshot::tune
