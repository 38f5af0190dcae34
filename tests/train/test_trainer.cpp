#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/siamese.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "train/validation.h"
#include "train_fixtures.h"

using namespace oneshot;
using oneshot::test::separable_features;
using oneshot::test::TempDir;
using oneshot::test::tiny_config;
namespace fs = std::filesystem;

namespace {

TrainOptions quiet(const fs::path& run_dir = {}) {
  TrainOptions o;
  o.run_dir = run_dir;
  o.progress = false;
  return o;
}

// Everything but wall-clock time must match.
void expect_same_metrics(const std::vector<EpochMetrics>& a, const std::vector<EpochMetrics>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(a[i].epoch));
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].train_loss, b[i].train_loss);
    EXPECT_EQ(a[i].train_accuracy, b[i].train_accuracy);
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy);
    EXPECT_EQ(a[i].val_ci95, b[i].val_ci95);
    EXPECT_EQ(a[i].learning_rate, b[i].learning_rate);
    EXPECT_EQ(a[i].steps, b[i].steps);
    EXPECT_EQ(a[i].pairs_seen, b[i].pairs_seen);
    EXPECT_EQ(a[i].clips_encoded, b[i].clips_encoded);
  }
}

// metrics.csv keeps 9 significant digits.
void expect_csv_matches(const std::vector<EpochMetrics>& csv, const std::vector<EpochMetrics>& exact) {
  ASSERT_EQ(csv.size(), exact.size());
  for (std::size_t i = 0; i < csv.size(); ++i) {
    EXPECT_EQ(csv[i].epoch, exact[i].epoch);
    EXPECT_NEAR(csv[i].train_loss, exact[i].train_loss, 1e-8);
    EXPECT_NEAR(csv[i].val_accuracy, exact[i].val_accuracy, 1e-8);
    EXPECT_EQ(csv[i].pairs_seen, exact[i].pairs_seen);
  }
}

const FeatureSet& data() {
  static const FeatureSet f = separable_features(20, 8);
  return f;
}

// The 4-epoch reference run, trained once for the tests that compare with it.
const std::vector<EpochMetrics>& reference_history() {
  static const std::vector<EpochMetrics> h = train(tiny_config(), data(), quiet()).history;
  return h;
}

}  // namespace

TEST(Trainer, LearnsSeparableClassesWellAboveChance) {
  const TrainResult r = train(tiny_config(), data(), quiet());
  ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
  ASSERT_EQ(r.history.size(), 4u);
  // 5-way 1-shot on 5 classes never trained on: chance is 0.2.
  EXPECT_GT(r.best_accuracy, 0.5);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  // The spread is reported with the accuracy: zero only when every episode scored the same,
  // which on these separable classes happens when all of them are right.
  const EpochMetrics& last = r.history.back();
  if (last.val_accuracy < 1.0) EXPECT_GT(last.val_ci95, 0.0) << "accuracy " << last.val_accuracy;
  else EXPECT_EQ(last.val_ci95, 0.0);
  EXPECT_EQ(r.split.val.size(), 5u);
}

TEST(Trainer, InBatchPairsLearnToo) {
  Config c = tiny_config();
  c.train.pairs = "batch";
  c.train.steps_per_epoch = 12;
  const TrainResult r = train(c, data(), quiet());
  ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
  EXPECT_GT(r.best_accuracy, 0.5);
  EXPECT_EQ(r.history.back().steps, 48);
}

TEST(Trainer, SameConfigSameMetrics) {
  expect_same_metrics(train(tiny_config(), data(), quiet()).history, reference_history());
}

TEST(Trainer, RunDirectoryHoldsEverythingAnEvaluationNeeds) {
  TempDir dir;
  TrainOptions o = quiet(dir / "run");
  o.info.data_dir = "/data/somewhere";
  o.info.layout = "esc50";
  Config c = tiny_config();
  c.train.epochs = 2;
  const TrainResult r = train(c, data(), o);
  const RunPaths p{dir / "run"};
  for (const auto& f : {p.config(), p.info(), p.split(), p.metrics(), p.best(), p.last()})
    EXPECT_TRUE(fs::exists(f)) << f;
  EXPECT_EQ(RunInfo::load(p.info()).data_dir, "/data/somewhere");
  const auto rows = read_metrics_csv(p.metrics());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NEAR(rows[1].val_accuracy, r.history[1].val_accuracy, 1e-8);
  EXPECT_EQ(rows[1].pairs_seen, r.history[1].pairs_seen);
  const ClassSplit s = ClassSplit::from_json(read_file(p.split()), data().class_names(), "split.json");
  EXPECT_EQ(s.val, r.split.val);
  // best.pt is a plain module archive plus meta.
  Siamese model(c.model, 24, 32);
  const auto meta = load_best_weights(p.best(), model);
  EXPECT_EQ(meta.at("epoch").get<int>(), r.best_epoch);
  Siamese plain(c.model, 24, 32);
  EXPECT_NO_THROW(torch::load(plain, p.best().string()));
}

TEST(Trainer, ResumeContinuesExactly) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 2;
  const TrainResult first = train(c, data(), quiet(dir / "run"));
  ASSERT_EQ(first.history.size(), 2u);
  c.train.epochs = 4;  // may change on resume
  const TrainResult second = train(c, data(), quiet(dir / "run"));
  EXPECT_TRUE(second.resumed);
  expect_same_metrics(second.history, reference_history());
  expect_csv_matches(read_metrics_csv(dir / "run" / "metrics.csv"), reference_history());
  // Done: a further call trains nothing.
  const TrainResult third = train(c, data(), quiet(dir / "run"));
  EXPECT_EQ(third.epochs_done, 4);
  EXPECT_EQ(third.history.size(), 4u);
}

TEST(Trainer, StopMidEpochThenResumeContinuesExactly) {
  TempDir dir;
  TrainOptions o = quiet(dir / "run");
  o.after_step = [](int epoch, std::int64_t step) { return !(epoch == 2 && step == 5); };
  const TrainResult stopped = train(tiny_config(), data(), o);
  EXPECT_EQ(stopped.status, TrainStatus::Interrupted);
  EXPECT_EQ(stopped.epochs_done, 1);
  EXPECT_NE(stopped.message.find("step 5"), std::string::npos) << stopped.message;
  const TrainResult resumed = train(tiny_config(), data(), quiet(dir / "run"));
  EXPECT_EQ(resumed.status, TrainStatus::Finished);
  expect_same_metrics(resumed.history, reference_history());
}

TEST(Trainer, CtrlCFinishesTheStepWritesLastAndReturns) {
  TempDir dir;
  TrainOptions o = quiet(dir / "run");
  o.handle_sigint = true;
  int steps_after_signal = -1;
  o.after_step = [&](int epoch, std::int64_t step) {
    if (steps_after_signal >= 0) ++steps_after_signal;
    if (epoch == 1 && step == 3) {
      std::raise(SIGINT);  // as a Ctrl-C during step 3
      steps_after_signal = 0;
    }
    return true;
  };
  const TrainResult r = train(tiny_config(), data(), o);
  EXPECT_EQ(r.status, TrainStatus::Interrupted);
  EXPECT_EQ(steps_after_signal, 0) << "no step after the one in progress";
  EXPECT_TRUE(fs::exists(dir / "run" / "last.pt"));
  const TrainResult resumed = train(tiny_config(), data(), quiet(dir / "run"));
  expect_same_metrics(resumed.history, reference_history());
}

TEST(Trainer, InterruptedCheckpointWriteKeepsThePreviousOne) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "run"));
  const std::string before = read_file(dir / "run" / "last.pt");
  c.train.epochs = 2;
  TrainOptions o = quiet(dir / "run");
  o.before_commit = [](const fs::path& target) {
    if (target.filename() == "last.pt") throw std::runtime_error("power cut while writing last.pt");
  };
  EXPECT_THROW(train(c, data(), o), std::runtime_error);
  EXPECT_EQ(read_file(dir / "run" / "last.pt"), before) << "the old checkpoint is untouched";
  for (const auto& e : fs::directory_iterator(dir / "run"))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "temporary left behind: " << e.path();
  Siamese model(c.model, 24, 32);
  torch::optim::Adam adam(model->parameters());
  const TrainState s = load_last_checkpoint(dir / "run" / "last.pt", model, adam);
  EXPECT_EQ(s.epoch, 1);
  // And training continues from it.
  const TrainResult r = train(c, data(), quiet(dir / "run"));
  EXPECT_EQ(r.epochs_done, 2);
}

TEST(Trainer, TruncatedCheckpointIsAClearError) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "run"));
  const std::string bytes = read_file(dir / "run" / "last.pt");
  write_file_atomic(dir / "run" / "last.pt", bytes.substr(0, bytes.size() / 2));
  try {
    train(c, data(), quiet(dir / "run"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("last.pt"), std::string::npos) << e.what();
  }
}

TEST(Trainer, IncompatibleConfigIsAnErrorNamingTheKey) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "run"));
  Config other = c;
  other.model.n_filters = 8;
  try {
    train(other, data(), quiet(dir / "run"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.n_filters"), std::string::npos) << e.what();
  }
  Config seed = c;
  seed.split.seed = 5;
  EXPECT_THROW(train(seed, data(), quiet(dir / "run")), Error);
  Config pairs = c;
  pairs.train.pairs = "batch";
  EXPECT_THROW(train(pairs, data(), quiet(dir / "run")), Error);
  Config longer = c;  // epochs, patience, threads and device may change
  longer.train.epochs = 2;
  longer.train.patience = 3;
  longer.train.threads = 2;
  EXPECT_EQ(train(longer, data(), quiet(dir / "run")).epochs_done, 2);
}

// A best.pt or last.pt copied from a run of another configuration whose
// tensors have the same shapes (only the dropout differs) is refused, naming
// the file and the key, by evaluate's loader and by a resumed train.
TEST(Trainer, CheckpointOfAnotherModelConfigurationIsRefused) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "a"));
  Config other = c;
  other.model.dropout_conv = 0.2;
  train(other, data(), quiet(dir / "b"));
  fs::copy_file(dir / "b" / "best.pt", dir / "a" / "best.pt", fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "b" / "last.pt", dir / "a" / "last.pt", fs::copy_options::overwrite_existing);
  Siamese model(c.model, 24, 32);
  for (const char* name : {"best.pt", "last.pt"}) {
    try {
      load_best_weights(dir / "a" / name, model);
      ADD_FAILURE() << name << " of another configuration loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("model.dropout_conv"), std::string::npos) << e.what();
    }
  }
  Config longer = c;
  longer.train.epochs = 2;
  try {
    train(longer, data(), quiet(dir / "a"));
    FAIL() << "train resumed another configuration's last.pt";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("last.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.dropout_conv"), std::string::npos) << e.what();
  }
  // Its own checkpoints still load.
  Siamese own(other.model, 24, 32);
  EXPECT_NO_THROW(load_best_weights(dir / "b" / "best.pt", own));
}

// A checkpoint written before checkpoints stored their configuration (only
// the weights): LibTorch's Module::load takes the stored shapes as they are,
// so weights of another size loaded silently; the shapes the run's
// configuration gives are checked instead, naming the file.
TEST(Trainer, OldCheckpointOfAnotherSizeIsRefusedByItsShapes) {
  TempDir dir;
  Config bigger = tiny_config();
  bigger.model.n_filters = 8;
  Siamese written(bigger.model, 24, 32);
  torch::serialize::OutputArchive archive;
  written->save(archive);
  archive.save_to((dir / "best.pt").string());
  Siamese model(tiny_config().model, 24, 32);
  try {
    load_best_weights(dir / "best.pt", model);
    FAIL() << "weights of 8 filters loaded into a model of 4";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("best.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("has shape"), std::string::npos) << e.what();
  }
  Siamese same(bigger.model, 24, 32);
  EXPECT_NO_THROW(load_best_weights(dir / "best.pt", same));
}

// One damaged byte of the weights (a bad sector; LibTorch does not check
// the archive's CRC-32) is an error naming the file, for best.pt and last.pt.
// A byte of the ZIP's alignment padding (LibTorch pads each entry to 64
// bytes, a large part of so tiny a model's file) holds no data: damaged, the
// file loads the same numbers, which is right; wrong numbers never load.
TEST(Trainer, DamagedCheckpointIsRefusedNotLoaded) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "run"));
  auto state = [](Siamese& m) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m->named_parameters()) out.push_back(p.value().detach().clone());
    for (const auto& b : m->named_buffers()) out.push_back(b.value().detach().clone());
    return out;
  };
  for (const char* name : {"best.pt", "last.pt"}) {
    std::string bytes = read_file(dir / "run" / name);
    Siamese reference(c.model, 24, 32);
    load_best_weights(dir / "run" / name, reference);
    const auto expected = state(reference);
    // Damage a byte in each of 8 places through the file's middle, each one a damaged copy of its own.
    int refused = 0;
    for (int k = 1; k <= 8; ++k) {
      std::string damaged = bytes;
      damaged[damaged.size() * (k + 4) / 16] ^= 0x40;
      write_file_atomic(dir / "run" / name, damaged);
      Siamese model(c.model, 24, 32);
      try {
        load_best_weights(dir / "run" / name, model);
        const auto got = state(model);
        ASSERT_EQ(got.size(), expected.size());
        for (std::size_t i = 0; i < got.size(); ++i)
          EXPECT_TRUE(torch::equal(got[i], expected[i])) << name << ": damage at place " << k << " loaded other numbers";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        ++refused;
      }
    }
    EXPECT_GE(refused, 3) << name << ": most places hold data, and damage there must be refused";
    write_file_atomic(dir / "run" / name, bytes);
  }
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  Config c = tiny_config();
  c.train.epochs = 1;
  const TrainResult good = train(c, data(), quiet(dir / "run"));
  const std::string last = read_file(dir / "run" / "last.pt");
  const std::string best = read_file(dir / "run" / "best.pt");
  // The same data with one training clip corrupted to NaN.
  std::vector<float> values(data().clip(0), data().clip(0) + data().n_clips() * data().clip_size());
  std::size_t bad = 0;
  while (std::find(good.split.train.begin(), good.split.train.end(), data().labels()[bad]) == good.split.train.end()) ++bad;
  values[bad * data().clip_size() + 3] = std::numeric_limits<float>::quiet_NaN();
  const FeatureSet corrupt = FeatureSet::from_vectors(values, 24, 32, data().labels(), data().class_names(),
                                                      data().file_names());
  c.train.epochs = 3;
  const TrainResult r = train(c, corrupt, quiet(dir / "run"));
  EXPECT_EQ(r.status, TrainStatus::NonFiniteLoss);
  EXPECT_NE(r.message.find("nan"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("epoch 2"), std::string::npos) << r.message;
  EXPECT_EQ(r.epochs_done, 1);
  EXPECT_EQ(read_file(dir / "run" / "last.pt"), last);
  EXPECT_EQ(read_file(dir / "run" / "best.pt"), best);
  EXPECT_EQ(read_metrics_csv(dir / "run" / "metrics.csv").size(), 1u);
}

TEST(Trainer, HugeLearningRateStopsWithoutACheckpointOfNaNs) {
  TempDir dir;
  Config c = tiny_config();
  c.train.learning_rate = 1e30;
  c.train.epochs = 3;
  const TrainResult r = train(c, data(), quiet(dir / "run"));
  if (r.status == TrainStatus::NonFiniteLoss) {
    EXPECT_EQ(static_cast<std::size_t>(r.epochs_done), read_metrics_csv(dir / "run" / "metrics.csv").size());
  } else {
    // Adam bounds each step by the learning rate, so the loss may stay finite;
    // then every recorded loss must be finite.
    for (const auto& m : r.history) EXPECT_TRUE(std::isfinite(m.train_loss));
  }
}

TEST(Trainer, ThreeClassesOfFourStillTrain) {
  const FeatureSet small = separable_features(std::vector<int>{4, 4, 4, 4, 4, 4});
  Config c = tiny_config();
  c.split.n_val = 2;
  c.split.n_test = 1;
  c.train.epochs = 2;
  for (const char* mode : {"anchors", "batch"}) {
    c.train.pairs = mode;
    const TrainResult r = train(c, small, quiet());
    EXPECT_EQ(r.status, TrainStatus::Finished) << mode << ": " << r.message;
    EXPECT_EQ(r.history.size(), 2u) << mode;
    EXPECT_EQ(r.split.train.size(), 3u);
    EXPECT_GT(r.history.back().steps, 0) << mode;
  }
}

TEST(Trainer, EarlyStoppingFollowsTheOriginal) {
  Config c = tiny_config();
  c.train.epochs = 20;
  c.train.patience = 0;
  c.train.learning_rate = 1e-9;  // nothing learnt: validation cannot keep improving
  const TrainResult r = train(c, data(), quiet());
  EXPECT_EQ(r.status, TrainStatus::EarlyStopped) << r.message;
  // Stops at the first epoch that does not beat the best (patience 0).
  ASSERT_GE(r.history.size(), 2u);
  ASSERT_LT(r.history.size(), 20u);
  EXPECT_LE(r.history.back().val_accuracy, r.best_accuracy);
  for (std::size_t i = 1; i + 1 < r.history.size(); ++i)
    EXPECT_GT(r.history[i].val_accuracy, r.history[i - 1].val_accuracy) << "every epoch before the last improved";
}

TEST(Trainer, KerasDecay) {
  EXPECT_DOUBLE_EQ(decayed_learning_rate(1e-3, 1e-6, 0), 1e-3);
  EXPECT_DOUBLE_EQ(decayed_learning_rate(1e-3, 1e-6, 1000000), 5e-4);
}

TEST(Validation, BatchNormRecalibrationUsesTheGivenClips) {
  Config c = tiny_config();
  torch::manual_seed(1);
  Siamese model(c.model, 24, 32);
  std::vector<std::size_t> clips;
  for (std::size_t i = 0; i < 64; ++i) clips.push_back(i);
  recalibrate_batchnorm(model, data(), clips, 16, torch::kCPU);
  // The input BatchNorm (1 channel) now holds the mean of those clips' values.
  torch::nn::BatchNorm2dImpl* input_norm = nullptr;
  for (auto& m : model->modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2d>(); bn && bn->options.num_features() == 1 && !input_norm) input_norm = bn;
  ASSERT_NE(input_norm, nullptr);
  const double mean = clips_tensor(data(), clips).mean().item<double>();
  EXPECT_NEAR(input_norm->running_mean.item<double>(), mean, 1e-4 * std::abs(mean));
  EXPECT_TRUE(model->is_training()) << "training mode restored";
  ASSERT_TRUE(input_norm->options.momentum().has_value());
  EXPECT_NEAR(*input_norm->options.momentum(), kBatchNormMomentum, 1e-12);
}
