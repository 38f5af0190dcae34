// End to end: a dataset on disk -> feature cache -> split -> training, in
// process and through the `oneshot-audio train` program.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "support/synthetic_dataset.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

using namespace oneshot;
using oneshot::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Short clips and small spectrograms keep the cache build and training fast.
const std::vector<std::string> kSmallRun = {
    "features.sample_rate=22050", "features.duration=1.0", "features.n_fft=1024", "features.n_mels=32",
    "model.n_filters=4",          "model.n_dense=16",      "model.n_conv_layers=2", "train.threads=1",
    "model.dropout_conv=0.05",    "model.dropout_dense=0.05", "train.learning_rate=0.005", "train.pairs=anchors",
    "train.val_episodes=300",     "train.bn_recalibration=64",
    // The original recipe, which these end-to-end tests were written for.
    "model.arch=original", "model.head=linear", "model.input_norm=none", "model.clip_norm=none",
    "train.objective=pairs", "train.lr_schedule=keras", "train.steps_per_epoch=0", "augment.time_shift=0",
    "augment.time_masks=0", "augment.freq_masks=0"};

Config small_config(const std::vector<std::string>& extra) {
  Config c;
  for (const auto& s : kSmallRun) c.set(s);
  for (const auto& s : extra) c.set(s);
  c.validate();
  return c;
}

std::string set_flags(const std::vector<std::string>& extra) {
  std::string flags;
  for (const auto& s : kSmallRun) flags += " --set " + s;
  for (const auto& s : extra) flags += " --set " + s;
  return flags;
}

const fs::path& synthetic_root() { return oneshot::test::shared_small_dataset(16, 8, 22050, 1.0); }

bool cli_built() { return fs::exists(oneshot::test::cli_path()); }

}  // namespace

TEST(TrainPipeline, SyntheticDatasetTrainsWellAboveChance) {
  TempDir tmp;
  const Config c = small_config({"split.n_val=4", "split.n_test=2", "train.epochs=4"});
  const Dataset dataset = load_dataset(synthetic_root());
  CacheOptions cache;
  cache.cache_dir = tmp / "cache";
  cache.progress = false;
  const FeatureSet features = FeatureCache::load_or_build(dataset, c.features, cache);
  TrainOptions o;
  o.run_dir = tmp / "run";
  o.progress = false;
  const TrainResult r = train(c, features, o);
  ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
  // 4-way 1-shot on unseen synthetic sound classes: chance is 0.25.
  EXPECT_GT(r.best_accuracy, 0.5);
}

TEST(TrainPipeline, CommandTrainsAndResumesFromTheRunDirectoryAlone) {
  if (!cli_built()) GTEST_SKIP() << "oneshot-audio not built";
  TempDir tmp;
  const std::string cli = oneshot::test::cli_path().string();
  const std::string run = (tmp / "run").string();
  std::string out;
  int rc = oneshot::test::run_command(cli + " train --quiet --data " + synthetic_root().string() + " --run " + run +
                                          " --cache " + (tmp / "cache").string() +
                                          set_flags({"split.n_val=4", "split.n_test=2", "train.epochs=2"}),
                                      &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("epoch 2/2"), std::string::npos) << out;
  EXPECT_EQ(read_metrics_csv(tmp / "run" / "metrics.csv").size(), 2u);
  const RunInfo info = RunInfo::load(tmp / "run" / "run.json");
  EXPECT_EQ(fs::path(info.data_dir), fs::absolute(synthetic_root()).lexically_normal());
  EXPECT_EQ(info.layout, "esc50");
  EXPECT_EQ(info.n_mels, 32);
  // Continue with nothing but the run directory and a longer schedule.
  rc = oneshot::test::run_command(cli + " train --quiet --run " + run + " --set train.epochs=3", &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("continuing"), std::string::npos) << out;
  EXPECT_EQ(read_metrics_csv(tmp / "run" / "metrics.csv").size(), 3u);
  // An incompatible change names the key.
  rc = oneshot::test::run_command(cli + " train --quiet --run " + run + " --set model.n_dense=32", &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("model.n_dense"), std::string::npos) << out;
}

TEST(TrainPipeline, SigkillLosesAtMostTheEpochInProgress) {
  if (!cli_built()) GTEST_SKIP() << "oneshot-audio not built";
  TempDir tmp;
  const std::string cli = oneshot::test::cli_path().string();
  const std::string common = " train --quiet --data " + synthetic_root().string() + " --cache " +
                             (tmp / "cache").string() +
                             set_flags({"split.n_val=4", "split.n_test=2", "train.epochs=5"});
  std::string out;
  ASSERT_EQ(oneshot::test::run_command(cli + common + " --run " + (tmp / "reference").string(), &out), 0) << out;
  // Kill -9 once the first epoch is recorded, then continue.
  const fs::path metrics = tmp / "killed" / "metrics.csv";
  const std::string script = cli + common + " --run " + (tmp / "killed").string() + " & pid=$!; " +
                             "while [ \"$(wc -l < " + metrics.string() + " 2>/dev/null || echo 0)\" -lt 2 ]; do " +
                             "sleep 0.02; done; kill -9 $pid; wait $pid; true";
  oneshot::test::run_command("bash -c '" + script + "'", &out);
  const auto partial = read_metrics_csv(metrics);
  ASSERT_GE(partial.size(), 1u);
  ASSERT_LT(partial.size(), 5u) << "killed before the end";
  ASSERT_EQ(oneshot::test::run_command(cli + common + " --run " + (tmp / "killed").string(), &out), 0) << out;
  const auto a = read_metrics_csv(tmp / "reference" / "metrics.csv");
  const auto b = read_metrics_csv(metrics);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].train_loss, b[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy) << "epoch " << i + 1;
    EXPECT_EQ(a[i].pairs_seen, b[i].pairs_seen) << "epoch " << i + 1;
  }
}

TEST(TrainPipeline, Esc50MiniTrainsTwoEpochs) {
  const fs::path mini = oneshot::test::esc50_mini();
  if (mini.empty()) GTEST_SKIP() << "../shared/data/esc50-mini is absent";
  if (!cli_built()) GTEST_SKIP() << "oneshot-audio not built";
  TempDir tmp;
  std::string out;
  // 6 classes of 4 clips: 3 train, 2 validation, 1 test; full-size 128 x 431 features, tiny model.
  const int rc = oneshot::test::run_command(
      oneshot::test::cli_path().string() + " train --quiet --data " + mini.string() + " --run " +
          (tmp / "run").string() + " --cache " + (tmp / "cache").string() +
          " --set model.n_filters=4 --set model.n_dense=16 --set model.n_conv_layers=2 --set split.n_val=2"
          " --set model.dropout_conv=0.05 --set model.dropout_dense=0.05"
          " --set split.n_test=1 --set train.epochs=2 --set train.val_episodes=100 --threads 1",
      &out);
  ASSERT_EQ(rc, 0) << out;
  const auto rows = read_metrics_csv(tmp / "run" / "metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(std::isfinite(rows[1].train_loss));
  EXPECT_GE(rows[1].val_accuracy, 0.0);
  EXPECT_TRUE(fs::exists(tmp / "run" / "best.pt"));
}
