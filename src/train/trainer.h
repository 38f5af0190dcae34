#pragma once
// The training loop: pairs -> siamese network -> loss -> Adam, then one-shot
// validation on the validation classes every epoch, best weights kept, early
// stopping, and a run directory that a later call continues exactly.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/run_dir.h"
#include "train/split.h"

namespace oneshot {

struct TrainOptions {
  // Empty: nothing is written and nothing resumed (tuning trials, tests).
  // A directory holding last.pt continues from it.
  std::filesystem::path run_dir;
  RunInfo info;                  // written to run.json
  bool progress = true;          // a bar per epoch on stderr
  std::ostream* log = nullptr;   // one line per epoch and notes; null = quiet
  bool handle_sigint = false;    // Ctrl-C finishes the step, writes last.pt, returns
  // After each epoch's metrics are recorded; false stops training (pruning).
  std::function<bool(const EpochMetrics&)> on_epoch;
  // After each optimizer step (epoch from 1, step from 1 within it); false
  // stops as Ctrl-C does: last.pt is written mid-epoch.
  std::function<bool(int epoch, std::int64_t step)> after_step;
  BeforeCommit before_commit;    // tests: interrupted checkpoint writes
  // The split to use instead of split_classes(config.split) (tuning carves
  // validation classes its own way). Ignored when the run has split.json.
  const ClassSplit* split = nullptr;
  // Data-parallel training (train/distributed.h); null = one process. Every
  // rank calls train() with the same config and features. Each global step
  // takes world_size consecutive steps of the one seeded pair stream, rank r
  // the r-th (so the global batch is world_size x the configured batch);
  // gradients are averaged over the ranks; BatchNorm statistics stay local
  // to each rank's sub-batch (DDP's default). Rank 0 alone reads and writes
  // run_dir, validates, logs and shows progress; its split, checkpoint and
  // early-stopping decisions are broadcast. Ctrl-C or after_step on any rank
  // stops every rank after the same step.
  Distributed* distributed = nullptr;
};

enum class TrainStatus {
  Finished,        // train.epochs done
  EarlyStopped,    // no validation improvement for more than train.patience epochs
  Interrupted,     // Ctrl-C or after_step: last.pt written, rerun to continue
  Stopped,         // on_epoch returned false
  NonFiniteLoss,   // stopped before the bad step; last.pt / best.pt are the last good ones
};

struct TrainResult {
  TrainStatus status = TrainStatus::Finished;
  std::string message;          // one line: why training ended
  bool resumed = false;
  int epochs_done = 0;
  int best_epoch = 0;            // the interval best.pt holds (train.checkpoint = "last": the last one)
  double best_accuracy = 0;     // smoothed validation accuracy of best_epoch
  ClassSplit split;
  std::vector<EpochMetrics> history;
};

// Trains `config` on `features`. With options.run_dir: an existing run
// directory must have a compatible config.toml (else an Error naming the key)
// and continues from last.pt; a new one gets config.toml, run.json and
// split.json first. Throws oneshot::Error for bad configurations or data.
TrainResult train(const Config& config, const FeatureSet& features, const TrainOptions& options);

// The learning rate of optimizer step `iteration` (0-based), Keras-style.
double decayed_learning_rate(double learning_rate, double decay, std::int64_t iteration);
// The learning rate of step `iteration` under train.lr_schedule: "keras" as
// above; "cosine" lr (1 + cos(pi t / (epochs x steps_per_epoch))) / 2;
// "plateau" lr x lr_scale (the product of the drops so far).
double scheduled_learning_rate(const TrainConfig& config, std::int64_t iteration, double lr_scale);

}  // namespace oneshot
