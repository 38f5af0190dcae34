// The objectives over all training classes (aam, aam+prototypical,
// meta-baseline), supcon, and the training-length keys (min_epochs,
// checkpoint = "last") in whole training runs: they learn, they resume
// exactly, best.pt stays a plain Siamese archive, and the rules hold.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "core/error.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train/objectives.h"
#include "train/resume_check.h"
#include "train/run_dir.h"
#include "train/train_fixtures.h"
#include "train/trainer.h"

using namespace oneshot;
using oneshot::test::TempDir;
namespace fs = std::filesystem;

namespace {

// 32 x 40 features: the compact encoder's smallest input is 32 x 32.
const FeatureSet& data() {
  static const FeatureSet f = test::separable_features(std::vector<int>(16, 8), 32, 40);
  return f;
}

// The defaults, made small (as test_recipe.cpp).
Config small_config(const std::string& objective) {
  Config c;
  c.model.width = 4;
  c.model.embedding_dim = 16;
  c.split.n_val = 5;
  c.split.n_test = 3;
  c.train.objective = objective;
  c.train.steps_per_epoch = 6;
  c.train.epochs = 4;
  c.train.threads = 1;
  c.train.val_episodes = 200;
  c.train.bn_recalibration = 64;
  c.train.pretrain_epochs = 2;  // meta-baseline: two intervals of each phase
  c.augment.mixup = 0.4;        // on, so that resume covers its random draws too
  return c;
}

TrainOptions quiet(const fs::path& dir = {}) {
  TrainOptions o;
  o.run_dir = dir;
  o.progress = false;
  return o;
}

std::string error_of(const Config& c) {
  try {
    c.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

const char* const kNewObjectives[] = {"aam", "aam+prototypical", "supcon", "meta-baseline"};

}  // namespace

TEST(ObjectiveTraining, EveryNewObjectiveLearnsAndKeepsBestPtAPlainModel) {
  for (const char* objective : kNewObjectives) {
    SCOPED_TRACE(objective);
    TempDir dir;
    const Config c = small_config(objective);
    const TrainResult r = train(c, data(), quiet(dir / "run"));
    ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
    EXPECT_GT(r.best_accuracy, 0.5);  // 5-way 1-shot on unseen classes: chance 0.2
    // The loss falls within each phase (meta-baseline's classification loss and
    // its episodes' loss are different losses; pretrain_epochs = 2 of the 4).
    ASSERT_EQ(r.history.size(), 4u);
    if (std::string(objective) == "meta-baseline") {
      EXPECT_LT(r.history[1].train_loss, r.history[0].train_loss);
      EXPECT_LT(r.history[3].train_loss, r.history[2].train_loss);
    } else {
      EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
    }
    // The class weights are training state: best.pt loads into the Siamese model alone.
    Siamese plain(c.model, 32, 40);
    EXPECT_NO_THROW(torch::load(plain, (dir / "run" / "best.pt").string()));
    Siamese model(c.model, 32, 40);
    EXPECT_NO_THROW(load_best_weights(dir / "run" / "last.pt", model));
  }
}

TEST(ObjectiveTraining, ResumeContinuesExactlyWithEveryNewObjective) {
  for (const char* objective : kNewObjectives) {
    SCOPED_TRACE(objective);
    Config c = small_config(objective);
    if (std::string(objective) == "aam") c.train.aam_subcentres = 2;
    const std::vector<EpochMetrics> reference = train(c, data(), quiet()).history;
    ASSERT_EQ(reference.size(), 4u);
    TempDir dir;
    // Mid-interval (interval 2, step 3); for meta-baseline within its classification phase, so
    // the resumed run carries the class weights and their Adam state across both phases.
    test::expect_resumes_exactly(c, data(), reference, dir / "run");
  }
}

// Without the class weights in last.pt (or with them reinitialised), the
// resumed losses differ: the test above would catch a resume that lost them.
TEST(ObjectiveTraining, ResumedClassWeightsAreTheSavedOnes) {
  TempDir dir;
  Config c = small_config("aam");
  c.train.epochs = 1;
  const TrainResult r = train(c, data(), quiet(dir / "run"));
  Siamese model(c.model, 32, 40);
  ClassWeights fresh(static_cast<int64_t>(r.split.train.size()), 1, 16);
  const torch::Tensor before = fresh->weight.clone();
  std::vector<torch::Tensor> params = model->parameters();
  params.push_back(fresh->weight);
  torch::optim::Adam adam(params);
  load_last_checkpoint(dir / "run" / "last.pt", model, adam, fresh.get());
  EXPECT_FALSE(torch::equal(before, fresh->weight)) << "the trained class weights were loaded";
  // A checkpoint of an objective without class weights cannot give them.
  TempDir other;
  Config proto = small_config("prototypical");
  proto.train.epochs = 1;
  train(proto, data(), quiet(other / "run"));
  Siamese model2(proto.model, 32, 40);
  torch::optim::Adam adam2(model2->parameters());
  EXPECT_THROW(load_last_checkpoint(other / "run" / "last.pt", model2, adam2, fresh.get()), Error);
}

TEST(ObjectiveTraining, MetaBaselineClassifiesThenRunsEpisodes) {
  Config c = small_config("meta-baseline");
  c.augment = no_augmentation();
  const TrainResult r = train(c, data(), quiet());
  ASSERT_EQ(r.history.size(), 4u);
  for (const auto& m : r.history) EXPECT_TRUE(std::isfinite(m.train_loss));
  // After the classification phase the steps are prototypical episodes: the
  // same as a prototypical run started from the phase's weights, which differ
  // from a prototypical run's from the start.
  Config proto = c;
  proto.train.objective = "prototypical";
  const TrainResult p = train(proto, data(), quiet());
  EXPECT_NE(r.history[0].train_loss, p.history[0].train_loss) << "interval 1 is classification";
  // pretrain_epochs = 0: episodes from the first step, exactly the prototypical
  // objective (the class weights are made after the model and get no gradient).
  Config zero = c;
  zero.train.pretrain_epochs = 0;
  const TrainResult z = train(zero, data(), quiet());
  ASSERT_EQ(z.history.size(), p.history.size());
  for (std::size_t i = 0; i < z.history.size(); ++i)
    EXPECT_DOUBLE_EQ(z.history[i].train_loss, p.history[i].train_loss) << "interval " << i + 1;
}

TEST(ObjectiveTraining, EarlyStoppingCannotHappenBeforeMinEpochs) {
  Config c = small_config("prototypical");
  c.augment = no_augmentation();
  c.train.learning_rate = 1e-9;  // nothing learns: validation stays flat after the first interval
  c.train.epochs = 20;
  c.train.patience = 0;
  c.train.min_epochs = 0;  // the control: patience counts from the first interval
  c.train.steps_per_epoch = 2;
  const TrainResult without = train(c, data(), quiet());
  ASSERT_EQ(without.status, TrainStatus::EarlyStopped) << without.message;
  ASSERT_LT(without.history.size(), 6u) << "the control stops early";
  c.train.min_epochs = 5;
  const TrainResult with = train(c, data(), quiet());
  EXPECT_EQ(with.status, TrainStatus::EarlyStopped) << with.message;
  // Patience counts from interval 6: patience 0 stops after interval 6 at the earliest.
  EXPECT_GE(with.history.size(), 6u);
}

TEST(ObjectiveTraining, PlateauScheduleWaitsForMinEpochs) {
  Config c = small_config("prototypical");
  c.augment = no_augmentation();
  c.train.learning_rate = 1e-9;
  c.train.lr_schedule = "plateau";
  c.train.epochs = 8;
  c.train.patience = 100;
  c.train.lr_patience = 1;
  c.train.steps_per_epoch = 2;
  c.train.min_epochs = 5;
  const TrainResult r = train(c, data(), quiet());
  ASSERT_EQ(r.history.size(), 8u);
  // Intervals 1..6 train at the full rate (the first drop can follow interval 6, the first that counts).
  for (std::size_t i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(r.history[i].learning_rate, 1e-9) << "interval " << i + 1;
  EXPECT_LT(r.history[7].learning_rate, 1e-9) << "the schedule counts after min_epochs";
}

TEST(ObjectiveTraining, CheckpointLastWritesBestPtEveryIntervalWithTheCurrentWeights) {
  TempDir dir;
  Config c = small_config("prototypical");
  c.augment = no_augmentation();
  c.train.learning_rate = 1e-9;  // validation flat: "best" would keep interval 1
  c.train.epochs = 3;
  c.train.steps_per_epoch = 2;
  c.train.checkpoint = "last";
  std::vector<int> best_pt_epochs;
  TrainOptions o = quiet(dir / "run");
  o.on_epoch = [&](const EpochMetrics& m) {
    Siamese model(c.model, 32, 40);
    best_pt_epochs.push_back(load_best_weights(dir / "run" / "best.pt", model).at("epoch").get<int>());
    EXPECT_EQ(best_pt_epochs.back(), m.epoch);
    return true;
  };
  const TrainResult r = train(c, data(), o);
  ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
  EXPECT_EQ(best_pt_epochs, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(r.best_epoch, 3);
  EXPECT_DOUBLE_EQ(r.best_accuracy, r.history.back().val_smoothed);
  // best.pt's weights are last.pt's.
  Siamese best(c.model, 32, 40), last(c.model, 32, 40);
  const auto meta = load_best_weights(dir / "run" / "best.pt", best);
  EXPECT_EQ(meta.at("checkpoint").get<std::string>(), "last");
  load_best_weights(dir / "run" / "last.pt", last);
  const auto a = best->named_parameters(), b = last->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  // The control: "best" keeps the first interval's weights when nothing improves.
  TempDir control;
  c.train.checkpoint = "best";
  const TrainResult kept = train(c, data(), quiet(control / "run"));
  EXPECT_LT(kept.best_epoch, 3);
}

TEST(ObjectiveTraining, ConfigErrorsNameTheKey) {
  struct Case {
    const char* key;
    std::function<void(TrainConfig&)> set;
  };
  const std::vector<Case> cases{
      {"train.objective", [](TrainConfig& t) { t.objective = "arcface"; }},
      {"train.aam_margin", [](TrainConfig& t) { t.aam_margin = 2.0; }},
      {"train.aam_margin", [](TrainConfig& t) { t.aam_margin = -0.1; }},
      {"train.aam_scale", [](TrainConfig& t) { t.aam_scale = 0; }},
      {"train.aam_subcentres", [](TrainConfig& t) { t.aam_subcentres = 0; }},
      {"train.aam_weight", [](TrainConfig& t) { t.aam_weight = -1; }},
      {"train.supcon_temperature", [](TrainConfig& t) { t.supcon_temperature = 0; }},
      {"train.pretrain_epochs", [](TrainConfig& t) { t.pretrain_epochs = -1; }},
      {"train.min_epochs", [](TrainConfig& t) { t.min_epochs = -2; }},
      {"train.checkpoint", [](TrainConfig& t) { t.checkpoint = "final"; }},
      {"train.average_last", [](TrainConfig& t) { t.average_last = -1; }},
      {"train.average_last", [](TrainConfig& t) { t.checkpoint = "best"; t.average_last = 3; }},
      {"train.pairs", [](TrainConfig& t) { t.objective = "aam"; t.pairs = "anchors"; }},
      {"train.clips_per_class", [](TrainConfig& t) { t.objective = "meta-baseline"; t.clips_per_class = 2; t.support_shots = 2; }},
  };
  for (const Case& k : cases) {
    Config c;
    k.set(c.train);
    const std::string what = error_of(c);
    EXPECT_NE(what.find(k.key), std::string::npos) << k.key << ": '" << what << "'";
  }
  Config ok;
  ok.train.objective = "supcon";
  ok.train.checkpoint = "last";
  ok.train.average_last = 3;
  EXPECT_EQ(error_of(ok), "");
  // Set from the command line, as a user would.
  EXPECT_NO_THROW(Config::load({}, {"train.objective=aam+prototypical", "train.aam_margin=0.3",
                                    "train.checkpoint=last", "train.min_epochs=20"}));
}

TEST(ObjectiveTraining, OriginalPresetPinsTheTrainingLengthKeys) {
  const Config c = Config::load(fs::path(ONESHOT_FIXTURES) / "../../configs/original.toml", {});
  EXPECT_EQ(c.train.min_epochs, 0);
  EXPECT_EQ(c.train.checkpoint, "best");
  EXPECT_EQ(c.train.average_last, 0);
  EXPECT_TRUE(c.was_set("train.checkpoint"));
  EXPECT_EQ(original_train().checkpoint, "best");
}

namespace {

// The named parameters of a checkpoint's model (best.pt or last.pt).
std::map<std::string, torch::Tensor> parameters_of(const Config& c, const fs::path& file) {
  Siamese model(c.model, 32, 40);
  load_best_weights(file, model);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model->named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

Config averaging_config() {
  Config c = small_config("aam");
  c.train.epochs = 3;
  c.train.steps_per_epoch = 4;
  c.train.checkpoint = "last";
  c.train.average_last = 2;
  return c;
}

}  // namespace

TEST(ObjectiveTraining, AverageLastPutsTheMeanOfTheLastIntervalsWeightsInBestPt) {
  TempDir dir;
  const Config c = averaging_config();
  std::vector<std::map<std::string, torch::Tensor>> after;  // each interval's weights, from last.pt
  TrainOptions o = quiet(dir / "run");
  o.on_epoch = [&](const EpochMetrics&) {
    after.push_back(parameters_of(c, dir / "run" / "last.pt"));
    return true;
  };
  const TrainResult r = train(c, data(), o);
  ASSERT_EQ(r.status, TrainStatus::Finished) << r.message;
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(r.best_epoch, 3);
  Siamese model(c.model, 32, 40);
  const auto meta = load_best_weights(dir / "run" / "best.pt", model);
  EXPECT_EQ(meta.at("averaged_epochs"), nlohmann::json({2, 3}));
  const auto best = parameters_of(c, dir / "run" / "best.pt");
  for (const auto& [name, value] : best) {
    // (interval 2 + interval 3) / 2; interval 1 left out.
    const torch::Tensor mean = (after[1].at(name) + after[2].at(name)) / 2;
    EXPECT_TRUE(torch::allclose(value, mean, 1e-5, 1e-6)) << name;
  }
  // The control: the mean is not the last weights (they moved between the intervals).
  double moved = 0;
  for (const auto& [name, value] : best) moved = std::max(moved, (value - after[2].at(name)).abs().max().item<double>());
  EXPECT_GT(moved, 1e-5);
  // last.pt keeps the last interval's weights.
  for (const auto& [name, value] : parameters_of(c, dir / "run" / "last.pt"))
    EXPECT_TRUE(torch::equal(value, after[2].at(name))) << name;
}

TEST(ObjectiveTraining, AverageLastSurvivesAResume) {
  const Config c = averaging_config();
  TempDir whole, resumed;
  train(c, data(), quiet(whole / "run"));
  TrainOptions o = quiet(resumed / "run");
  o.after_step = [](int epoch, std::int64_t step) { return !(epoch == 3 && step == 2); };  // after snapshot 2
  ASSERT_EQ(train(c, data(), o).status, TrainStatus::Interrupted);
  ASSERT_EQ(train(c, data(), quiet(resumed / "run")).status, TrainStatus::Finished);
  const auto a = parameters_of(c, whole / "run" / "best.pt"), b = parameters_of(c, resumed / "run" / "best.pt");
  for (const auto& [name, value] : a) EXPECT_TRUE(torch::equal(value, b.at(name))) << name;
}

// model.ensemble: each member trained on its own loss of the same episodes
// (model/encoder_ensemble.h) learns, and a resumed run continues exactly.
TEST(ObjectiveTraining, AnEnsembleLearnsAndResumesExactly) {
  Config c = small_config("prototypical");
  c.model.ensemble = 2;
  const TrainResult whole = train(c, data(), quiet());
  ASSERT_EQ(whole.status, TrainStatus::Finished) << whole.message;
  ASSERT_EQ(whole.history.size(), 4u);
  EXPECT_GT(whole.best_accuracy, 0.5);  // 5-way 1-shot on unseen classes: chance 0.2
  EXPECT_LT(whole.history.back().train_loss, whole.history.front().train_loss);
  TempDir dir;
  test::expect_resumes_exactly(c, data(), whole.history, dir / "run");
  Siamese model(c.model, 32, 40);
  EXPECT_NO_THROW(torch::load(model, (dir / "run" / "best.pt").string()));
  EXPECT_EQ(model->ensemble_members(), 2);
  // Each member drew its own stream of episodes (the checkpoint keeps both positions).
  torch::optim::Adam adam(model->parameters());
  const TrainState state = load_last_checkpoint(dir / "run" / "last.pt", model, adam);
  ASSERT_TRUE(state.pairs.contains("members")) << state.pairs.dump();
  ASSERT_EQ(state.pairs["members"].size(), 2u);
  EXPECT_NE(state.pairs["members"][0], state.pairs["members"][1]);
}

TEST(ObjectiveTraining, VerificationWeightLearnsChangesTheRunAndResumesExactly) {
  Config c = small_config("prototypical");
  c.train.verification_weight = 1.0;
  const TrainResult reference = train(c, data(), quiet());
  ASSERT_EQ(reference.status, TrainStatus::Finished) << reference.message;
  ASSERT_EQ(reference.history.size(), 4u);
  EXPECT_GT(reference.best_accuracy, 0.5);
  Config off = c;
  off.train.verification_weight = 0;
  EXPECT_NE(train(off, data(), quiet()).history[0].train_loss, reference.history[0].train_loss);
  TempDir dir;
  test::expect_resumes_exactly(c, data(), reference.history, dir / "run");
  Config pairs = small_config("pairs");
  pairs.train.verification_weight = 1.0;
  EXPECT_NE(error_of(pairs).find("train.verification_weight"), std::string::npos);
  c.train.verification_weight = -1;
  EXPECT_NE(error_of(c).find("train.verification_weight"), std::string::npos);
}
