#include "tune/worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "tune/pruner.h"

namespace oneshot::tune {
namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Beats a claimed trial's heartbeat from its own thread and connection, so
// a long epoch does not look like a dead worker.
class Heartbeat {
 public:
  Heartbeat(Study& study, const Claim& claim, const std::string& worker, double interval_seconds,
            std::atomic<bool>& lost)
      : thread_([this, &study, claim, worker, interval_seconds, &lost] {
          // At most an hour: beating early is harmless, and wait_for converts the
          // interval to integer nanoseconds (unchecked past about 3.7e10 s).
          const auto interval = std::chrono::duration<double>(std::min(interval_seconds, 3600.0));
          std::unique_lock lock(mutex_);
          while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
            try {
              if (!study.beat(claim, worker)) lost = true;
            } catch (const std::exception&) {
              // A busy or briefly unreachable database: try again next beat.
            }
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

class StudyReporter final : public EpochReporter {
 public:
  StudyReporter(Study& study, const Claim& claim, const std::string& worker, const TuneConfig& config,
                std::atomic<bool>& lost)
      : study_(study), claim_(claim), worker_(worker), config_(config), lost_(lost) {}

  bool report(int epoch, double value) override {
    if (lost_) return true;
    if (epoch < 1) throw Error("trial " + std::to_string(claim_.number) + ": epochs are counted from 1");
    if (!std::isfinite(value)) return pruned_ || lost_;  // recorded as failed by the worker if it ends so
    if (!study_.report(claim_, worker_, epoch, value)) {
      lost_ = true;
      return true;
    }
    best_ = std::min(best_, value);
    if (config_.pruner == "median" && !pruned_) {
      const MedianPruner pruner{config_.pruner_warmup_epochs, config_.pruner_startup_trials};
      const auto others = study_.values_at_epoch(epoch, claim_.number);
      if (pruner.should_prune(epoch, best_, others)) {
        pruned_ = true;
        prune_reason_ = "pruned after epoch " + std::to_string(epoch) + ": best " + fmt(best_) +
                        " worse than the median " + fmt(median(others)) + " of " + std::to_string(others.size()) +
                        " complete trials";
      }
    }
    return should_stop();
  }
  bool should_stop() const override { return pruned_ || lost_; }
  int trial_number() const override { return claim_.number; }

  bool pruned() const { return pruned_; }
  double best() const { return best_; }
  const std::string& prune_reason() const { return prune_reason_; }

 private:
  Study& study_;
  const Claim& claim_;
  const std::string& worker_;
  const TuneConfig& config_;
  std::atomic<bool>& lost_;
  bool pruned_ = false;
  double best_ = std::numeric_limits<double>::infinity();
  std::string prune_reason_;
};

std::string describe_params(const Overrides& o) {
  std::string s;
  for (const auto& a : o.assignments()) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

bool write_best_config(Study& study, const std::filesystem::path& path, const Config* base) {
  const auto best = study.best();
  if (!best) return false;
  std::ostringstream out;
  out << "# The best trial so far of study \"" << study.name() << "\" (" << study.database().describe()
      << "): trial " << best->number << ", value " << fmt(*best->value) << ".\n";
  out << "# Tuned: " << describe_params(best->params) << "\n";
  if (base) {
    Config config = *base;
    best->params.apply_to(config);
    config.validate();
    out << "# Use it with: oneshot-audio train --config " << path.filename().string() << "\n\n" << config.to_toml();
  } else {
    out << "\n" << best->params.to_toml();
  }
  write_file_atomic(path, out.str());
  return true;
}

WorkerSummary run_worker(Study& study, const TuneConfig& config, const Objective& objective, int n_trials,
                         const WorkerOptions& options) {
  config.validate();
  const std::string worker = options.worker.empty() ? default_worker_name() : options.worker;
  auto log = options.log ? options.log : [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  const auto sampler = make_sampler(config);
  // The heartbeat thread's own connection (a connection serves one thread).
  Study heartbeat_study(study.url(), study.name(), nullptr);
  WorkerSummary summary;

  auto take = [&] {
    if (options.shared_budget) return options.shared_budget->fetch_sub(1) > 0;
    return summary.claimed < n_trials;
  };
  while (take()) {
    const Claim claim = study.claim(*sampler, config, worker);
    ++summary.claimed;
    if (claim.rerun) ++summary.reruns;
    log("[" + worker + "] trial " + std::to_string(claim.number) + (claim.rerun ? " (re-run, attempt " + std::to_string(claim.attempt) + ")" : "") +
        ": " + describe_params(claim.params));

    std::atomic<bool> lost{false};
    StudyReporter reporter(study, claim, worker, config, lost);
    std::optional<TrialOutcome> outcome;
    std::string error;
    {
      Heartbeat heartbeat(heartbeat_study, claim, worker, config.heartbeat_seconds / 4, lost);
      try {
        outcome = objective(claim.params, reporter);
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "the objective threw an unknown exception";
      }
    }

    TrialState state;
    std::optional<double> value;
    std::string reason;
    if (!outcome) {
      state = TrialState::failed;
      reason = error;
    } else if (reporter.pruned()) {
      state = TrialState::pruned;
      value = reporter.best();
      reason = reporter.prune_reason();
    } else if (!std::isfinite(outcome->value)) {
      state = TrialState::failed;
      reason = "the objective returned " + fmt(outcome->value);
    } else {
      state = TrialState::complete;
      value = outcome->value;
    }
    if (lost || !study.finish(claim, worker, state, value, reason)) {
      ++summary.lost;
      log("[" + worker + "] trial " + std::to_string(claim.number) +
          ": taken over by another worker after this one's heartbeat expired; result dropped");
      continue;
    }
    switch (state) {
      case TrialState::complete: ++summary.complete; break;
      case TrialState::failed: ++summary.failed; break;
      case TrialState::pruned: ++summary.pruned; break;
      default: break;
    }
    std::string line = "[" + worker + "] trial " + std::to_string(claim.number) + " " + state_name(state);
    if (value) line += " value=" + fmt(*value);
    if (!reason.empty()) line += " (" + reason + ")";
    if (const auto best = study.best()) line += "; best " + fmt(*best->value) + " (trial " + std::to_string(best->number) + ")";
    log(line);
    if (!options.best_config.empty()) {
      try {
        write_best_config(study, options.best_config, options.base_config);
      } catch (const Error& e) {
        log("[" + worker + "] cannot write " + options.best_config.string() + ": " + e.what());
      }
    }
  }
  return summary;
}

}  // namespace oneshot::tune
