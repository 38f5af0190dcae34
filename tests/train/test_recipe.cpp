// The default recipe (compact encoder, prototypical objective, normalisation,
// augmentation, plateau schedule, smoothed validation): it learns, it starts
// above chance, it resumes exactly, and the schedules follow their formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_support.h"
#include "eval/protocols.h"
#include "train/checkpoint.h"
#include "train/resume_check.h"
#include "train/train_fixtures.h"
#include "train/run_dir.h"
#include "train/trainer.h"

using namespace oneshot;
using oneshot::test::TempDir;

namespace {

// 32 x 40 features: the compact encoder's smallest input is 32 x 32.
const FeatureSet& data() {
  static const FeatureSet f = test::separable_features(std::vector<int>(16, 8), 32, 40);
  return f;
}

Config recipe_config() {
  Config c;  // the defaults, made small
  c.model.width = 4;
  c.model.embedding_dim = 16;
  c.split.n_val = 5;
  c.split.n_test = 3;
  c.train.steps_per_epoch = 8;
  c.train.epochs = 4;
  c.train.threads = 1;
  c.train.val_episodes = 200;
  c.train.bn_recalibration = 64;
  c.augment.mixup = 0.4;  // on, so that resume covers its random draws too
  return c;
}

TrainOptions quiet(const std::filesystem::path& dir = {}) {
  TrainOptions o;
  o.run_dir = dir;
  o.progress = false;
  return o;
}

}  // namespace

TEST(Recipe, DefaultsLearnSeparableClassesWellAboveChance) {
  const TrainResult r = train(recipe_config(), data(), quiet());
  ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
  EXPECT_GT(r.best_accuracy, 0.6);  // 5-way 1-shot on unseen classes: chance 0.2
}

// The below-chance start: with a head whose score cannot rise with distance,
// the first validation is above chance for every objective.
TEST(Recipe, FirstValidationIsAboveChanceForEveryObjectiveAndHead) {
  for (const char* objective : {"prototypical", "pairs"})
    for (const char* head : {"distance", "monotone"}) {
      Config c = recipe_config();
      c.train.objective = objective;
      c.model.head = head;
      c.train.epochs = 1;
      c.train.steps_per_epoch = 2;
      const TrainResult r = train(c, data(), quiet());
      ASSERT_EQ(r.history.size(), 1u);
      EXPECT_GT(r.history[0].val_accuracy, 0.3) << objective << " " << head;
    }
}

TEST(Recipe, SmoothedValidationIsTheMovingAverageThatPicksTheBest) {
  Config c = recipe_config();
  c.train.val_smoothing = 0.6;
  const TrainResult r = train(c, data(), quiet());
  ASSERT_EQ(r.history.size(), 4u);
  double s = r.history[0].val_accuracy, best = s;
  EXPECT_DOUBLE_EQ(r.history[0].val_smoothed, s);
  for (std::size_t i = 1; i < r.history.size(); ++i) {
    s = 0.6 * s + 0.4 * r.history[i].val_accuracy;
    EXPECT_NEAR(r.history[i].val_smoothed, s, 1e-12);
    best = std::max(best, s);
  }
  EXPECT_NEAR(r.best_accuracy, best, 1e-12);
}

TEST(Recipe, ResumeContinuesExactly) {
  const std::vector<EpochMetrics> reference = train(recipe_config(), data(), quiet()).history;
  TempDir dir;
  test::expect_resumes_exactly(recipe_config(), data(), reference, dir / "run");  // stopped mid-interval
}

TEST(Recipe, BandStatisticsAreFittedAndSavedWithTheModel) {
  TempDir dir;
  Config c = recipe_config();
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "run"));
  Siamese model(c.model, 32, 40);
  load_best_weights(dir / "run" / "best.pt", model);
  ASSERT_TRUE(model->input_norm);
  EXPECT_TRUE(model->input_norm->fitted());
  const auto std = model->named_buffers()["input_norm.band_std"];
  EXPECT_FALSE(torch::allclose(std, torch::ones_like(std)));
}

TEST(Recipe, LearningRateSchedules) {
  TrainConfig t;
  t.learning_rate = 0.01;
  t.decay = 0.5;
  t.lr_schedule = "keras";
  EXPECT_DOUBLE_EQ(scheduled_learning_rate(t, 4, 0.25), 0.01 / 3);
  t.lr_schedule = "plateau";
  EXPECT_DOUBLE_EQ(scheduled_learning_rate(t, 4, 0.25), 0.0025);
  t.lr_schedule = "cosine";
  t.epochs = 2;
  t.steps_per_epoch = 5;
  EXPECT_DOUBLE_EQ(scheduled_learning_rate(t, 0, 1), 0.01);
  EXPECT_NEAR(scheduled_learning_rate(t, 5, 1), 0.005, 1e-12);
  EXPECT_NEAR(scheduled_learning_rate(t, 10, 1), 0.0, 1e-12);
}

TEST(Recipe, PlateauHalvesTheRateAfterLrPatienceIntervalsWithoutImprovement) {
  Config c = recipe_config();
  c.train.epochs = 8;
  c.train.lr_patience = 1;
  c.train.learning_rate = 1e-9;  // nothing learns: validation stays flat after the first interval
  c.augment = no_augmentation();
  const TrainResult r = train(c, data(), quiet());
  // Interval 1 sets the best; each later one without improvement halves the rate (lr_patience 1).
  int drops = 0;
  for (std::size_t i = 1; i < r.history.size(); ++i)
    if (r.history[i].learning_rate < r.history[i - 1].learning_rate * 0.75) ++drops;
  EXPECT_GE(drops, 3);
}

TEST(Recipe, OriginalPresetStillGivesTheOriginalModelPairsAndFeatures) {
  const Config c = Config::load(std::filesystem::path(ONESHOT_FIXTURES) / "../../configs/original.toml", {});
  EXPECT_EQ(c.features.log, "nonzero");
  EXPECT_EQ(c.features.pad_mode, "reflect");
  EXPECT_EQ(c.features.n_mels, 128);
  EXPECT_EQ(c.train.objective, "pairs");
  EXPECT_EQ(c.train.pairs, "anchors");
  EXPECT_EQ(c.train.lr_schedule, "keras");
  EXPECT_EQ(c.train.steps_per_epoch, 0);
  EXPECT_EQ(c.train.val_smoothing, 0.0);
  EXPECT_FALSE(c.augment.any());
  Siamese model(c.model, 128, 431);
  EXPECT_TRUE(model->encoder);
  EXPECT_FALSE(model->compact);
  EXPECT_FALSE(model->input_norm);
  EXPECT_FALSE(model->embedding_norm);
  EXPECT_EQ(model->head_kind(), "linear");
  EXPECT_EQ(model->output->weight.sizes(), (std::vector<int64_t>{1, 500}));
  EXPECT_NEAR(model_forward_flops(c.model, 128, 431) / 1e9, 3.2, 0.05);
  // Every parameter is the original's: the encoder's and the Linear head's, nothing else.
  for (const auto& p : model->named_parameters())
    EXPECT_TRUE(p.key().rfind("encoder.", 0) == 0 || p.key().rfind("output.", 0) == 0) << p.key();
}

// One score convention for every objective and head: both evaluation
// protocols (grid; episodes 1-shot and 3-shot with each aggregate) work on
// what each objective trained, and score unseen classes well above chance.
TEST(Recipe, EveryObjectiveWorksWithBothProtocols) {
  struct Case {
    const char* objective;
    const char* head;
  };
  for (const Case& k : {Case{"prototypical", "distance"}, Case{"pairs", "monotone"}, Case{"pairs", "distance"},
                        Case{"pairs", "linear"}}) {
    Config c = recipe_config();
    c.train.objective = k.objective;
    c.model.head = k.head;
    if (std::string(k.head) != "distance") c.model.embedding_norm = "none";
    c.train.epochs = 3;
    // Three intervals of the default cosine decay train a third as far as the
    // full rate does, too little for the pairs objective's linear head in this
    // tiny model; this test is about the score convention, not the schedule.
    c.train.lr_schedule = "plateau";
    TempDir dir;
    const TrainResult r = train(c, data(), quiet(dir / "run"));
    ASSERT_NE(r.status, TrainStatus::NonFiniteLoss) << r.message;
    Siamese model(c.model, 32, 40);
    load_best_weights(dir / "run" / "best.pt", model);
    const EvalSubset subset = subset_of_classes(data(), r.split.test);
    const torch::Tensor embeddings = embed_subset(model, data(), subset);
    EvalConfig grid;
    grid.protocol = "grid";
    const EvalResult g = evaluate(model, embeddings, subset, grid);
    EXPECT_GT(g.mean_accuracy, 0.5) << k.objective << "/" << k.head << " grid (3 classes: chance 0.33)";
    for (const char* aggregate : {"mean", "max", "prototype"})
      for (int shots : {1, 3}) {
        EvalConfig e;
        e.protocol = "episodes";
        e.ways = 3;
        e.shots = shots;
        e.queries = 3;
        e.episodes = 300;
        e.aggregate = aggregate;
        const EvalResult ep = evaluate(model, embeddings, subset, e);
        EXPECT_GT(ep.mean_accuracy, 0.5) << k.objective << "/" << k.head << " " << shots << "-shot " << aggregate;
      }
  }
}

// A first start that fails before any checkpoint does not hold the run
// directory to its settings: the next start with other settings begins afresh.
TEST(Recipe, FailedFirstStartDoesNotLockTheRunDirectory) {
  TempDir dir;
  Config bad = recipe_config();
  bad.model.arch = "original";
  bad.model.n_conv_layers = 8;  // too deep for 32 x 40: fails after config.toml is written
  bad.train.learning_rate = 0.5;
  EXPECT_THROW(train(bad, data(), quiet(dir / "run")), Error);
  ASSERT_TRUE(std::filesystem::exists(dir / "run" / "config.toml"));
  ASSERT_FALSE(std::filesystem::exists(dir / "run" / "last.pt"));
  Config good = recipe_config();
  good.train.epochs = 1;
  testing::internal::CaptureStderr();
  const TrainResult r = train(good, data(), quiet(dir / "run"));
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.status, TrainStatus::Finished) << r.message;
  // Other settings than the directory's config.toml: said, not silent.
  EXPECT_NE(said.find("starting afresh with the settings given now"), std::string::npos) << said;
  EXPECT_NE(read_file(dir / "run" / "config.toml").find("learning_rate = 0.001"), std::string::npos);
}

TEST(Recipe, CosineRunCannotChangeItsLengthOnResume) {
  TempDir dir;
  Config c = recipe_config();
  c.train.lr_schedule = "cosine";
  c.train.epochs = 1;
  train(c, data(), quiet(dir / "run"));
  c.train.epochs = 2;
  try {
    train(c, data(), quiet(dir / "run"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.epochs"), std::string::npos) << e.what();
  }
}

TEST(Recipe, RunConfigWrittenBeforeTheRecipeReadsAsTheOriginal) {
  TempDir dir;
  write_file_atomic(dir / "config.toml", "[model]\nn_filters = 4\n");  // no model.arch: an older run
  const Config c = load_resumed_config(dir / "config.toml", {}, {});
  EXPECT_EQ(c.model.arch, "original");
  EXPECT_EQ(c.model.head, "linear");
  EXPECT_EQ(c.model.n_filters, 4);
  EXPECT_EQ(c.train.objective, "pairs");
  EXPECT_FALSE(c.augment.any());
}

// model.sound_span's default changed when it was added: a run written before
// it embedded whole clips and must go on doing so; a new run tiles.
TEST(Recipe, RunConfigWrittenBeforeTheSoundSpanKeyReadsAsWholeClips) {
  TempDir dir;
  write_file_atomic(dir / "config.toml", "[model]\narch = \"compact\"\nwidth = 4\n");
  EXPECT_EQ(load_resumed_config(dir / "config.toml", {}, {}).model.sound_span, "whole");
  write_file_atomic(dir / "config.toml", Config().to_toml());
  EXPECT_EQ(load_resumed_config(dir / "config.toml", {}, {}).model.sound_span, "tile");
  EXPECT_EQ(Config::load(std::filesystem::path(ONESHOT_FIXTURES) / "../../configs/original.toml", {}).model.sound_span,
            "whole");
}
