// Data-parallel training with Gloo on localhost: two ranks (this test
// program started again by the --nproc launcher, each rank a process) end N
// steps with the parameters of one process that averages the two ranks'
// losses over the same sub-batches; one rank's stop stops both, and the run
// continues on one process with its step count and optimizer state.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/launcher.h"
#include "train/objectives.h"
#include "train/pairs.h"
#include "train/split.h"
#include "train/trainer.h"
#include "train/validation.h"
#include "train_fixtures.h"

using namespace oneshot;
namespace fs = std::filesystem;

namespace {

constexpr const char* kWorkerDir = "ONESHOT_TEST_DIST_DIR";    // set: this process is a rank
constexpr const char* kWorkerMode = "ONESHOT_TEST_DIST_MODE";  // "train" or "stop" (rank 1 stops at step 3)
constexpr int kSteps = 5;

// Dropout off (its masks are random per rank); BatchNorm in training mode
// normalises each encoder call by its own batch, which is each rank's
// sub-batch here and in the reference alike.
Config dist_config() {
  Config c = test::tiny_config();
  c.model.dropout_conv = 0;
  c.model.dropout_dense = 0;
  c.train.epochs = 1;
  c.train.steps_per_epoch = kSteps;
  c.train.val_episodes = 50;
  c.train.bn_recalibration = 16;
  return c;
}

FeatureSet dist_features() { return test::separable_features(12, 8); }

// The AAM objective: its class weights are averaged and broadcast with the model's parameters.
Config aam_config() {
  Config c = dist_config();
  c.train.objective = "aam";
  c.train.pairs = "batch";
  c.train.classes_per_batch = 4;
  c.train.clips_per_class = 3;
  c.train.aam_subcentres = 2;
  return c;
}

// A rank: trains dist_config() into DIR/run; writes DIR/rank<R>.txt with
// its status and epochs; returns the exit status.
int run_rank(const fs::path& dir, const std::string& mode) {
  try {
    GlooOptions o;
    o.env = LaunchEnv::from_environment();
    o.rendezvous_timeout = std::chrono::seconds(60);
    auto dist = connect_gloo(o);
    Config config = mode == "aam" ? aam_config() : dist_config();
    if (mode == "stop") config.train.epochs = 2;
    const FeatureSet features = dist_features();
    TrainOptions options;
    options.run_dir = dir / "run";
    options.progress = false;
    options.distributed = dist.get();
    if (mode == "stop" && dist->rank() == 1)
      options.after_step = [](int epoch, std::int64_t step) { return !(epoch == 1 && step == 3); };
    const TrainResult result = train(config, features, options);
    dist->finish();
    std::ofstream(dir / ("rank" + std::to_string(dist->rank()) + ".txt"))
        << static_cast<int>(result.status) << " " << result.epochs_done << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank error: %s\n", e.what());
    return 1;
  }
}

// The ranks are this program run again: before any test, a process with
// kWorkerDir set does its rank's work and exits.
class RankEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* dir = std::getenv(kWorkerDir);
    if (!dir) return;
    const char* mode = std::getenv(kWorkerMode);
    const int code = run_rank(dir, mode ? mode : "train");
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
};
[[maybe_unused]] const auto* const kRankEnvironment = ::testing::AddGlobalTestEnvironment(new RankEnvironment);

// Two ranks of this program via the --nproc launcher; its exit status.
int launch_two_ranks(const fs::path& dir, const std::string& mode) {
  ::setenv(kWorkerDir, dir.c_str(), 1);
  ::setenv(kWorkerMode, mode.c_str(), 1);
  LaunchOptions o;
  o.nproc = 2;
  // Any one test: gtest sets environments up only when a test runs.
  o.argv = {fs::canonical("/proc/self/exe").string(), "--gtest_filter=Distributed.FeatureChecksumSeesOneValue"};
  std::ostringstream err;
  const int code = launch_local_ranks(o, err);
  ::unsetenv(kWorkerDir);
  ::unsetenv(kWorkerMode);
  if (!err.str().empty()) std::cerr << err.str();
  return code;
}

std::string rank_report(const fs::path& dir, int rank) {
  const fs::path p = dir / ("rank" + std::to_string(rank) + ".txt");
  return fs::exists(p) ? read_file(p) : std::string("(none)");
}

// Trainer::build's model for dist_config() (same seed, same layout).
Siamese initial_model(const Config& config, const FeatureSet& features) {
  torch::manual_seed(static_cast<std::uint64_t>(config.train.seed));
  Siamese model(config.model, static_cast<std::int64_t>(features.n_mels()),
                static_cast<std::int64_t>(features.n_frames()));
  convert_to_channels_last(*model);
  model->train();
  return model;
}

// One process, `ranks` sub-batches a step (the stream's consecutive steps),
// the mean of their losses; only the first `used` sub-batches count (a
// control: rank 0's alone must give other parameters).
Siamese reference(int ranks, int used) {
  const Config config = dist_config();
  const FeatureSet features = dist_features();
  const ClassSplit split = split_classes(features.class_names(), features.labels(), config.split);
  Siamese model = initial_model(config, features);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(config.train.learning_rate)
                                                   .eps(1e-7)
                                                   .weight_decay(config.train.weight_decay));
  auto pairs = make_pair_source(config.train, features.labels(), split.train);
  for (int it = 0; it < kSteps; ++it) {
    for (auto& group : adam.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(scheduled_learning_rate(config.train, it, 1.0));
    adam.zero_grad();
    for (int r = 0; r < ranks; ++r) {
      const TrainStep step = pairs->next();
      if (r >= used) continue;
      std::vector<int> labels;
      std::vector<torch::Tensor> parts;
      for (const auto& clips : step.inputs) {
        for (std::size_t c : clips) labels.push_back(features.labels()[c]);
        parts.push_back(model->embed(clips_tensor(features, clips)));
      }
      const StepLoss loss = pairs_loss(model, torch::cat(parts), step, config.train.loss, labels);
      // The mean of the losses, its gradient accumulated a loss at a time
      // (each halved exactly), in the ranks' order.
      (loss.loss / used).backward();
    }
    adam.step();
  }
  return model;
}

// reference(2, 2) for aam_config(): the class weights made after the model,
// as Trainer::build does, in the optimizer after the model's parameters.
std::pair<Siamese, ClassWeights> aam_reference(int used) {
  const Config config = aam_config();
  const FeatureSet features = dist_features();
  const ClassSplit split = split_classes(features.class_names(), features.labels(), config.split);
  Siamese model = initial_model(config, features);
  ClassWeights weights(static_cast<std::int64_t>(split.train.size()), config.train.aam_subcentres,
                       model->embedding_dim());
  std::vector<torch::Tensor> params = model->parameters();
  params.push_back(weights->weight);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(config.train.learning_rate).eps(1e-7));
  auto pairs = make_pair_source(config.train, features.labels(), split.train);
  for (int it = 0; it < kSteps; ++it) {
    for (auto& group : adam.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(scheduled_learning_rate(config.train, it, 1.0));
    adam.zero_grad();
    for (int r = 0; r < 2; ++r) {
      const TrainStep step = pairs->next();
      if (r >= used) continue;
      std::vector<int> labels;
      std::vector<torch::Tensor> parts;
      for (const auto& clips : step.inputs) {
        for (std::size_t c : clips) labels.push_back(features.labels()[c]);
        parts.push_back(model->embed(clips_tensor(features, clips)));
      }
      const StepLoss loss = aam_loss(weights, torch::cat(parts), class_indices(labels, split.train),
                                     config.train.aam_margin, config.train.aam_scale);
      (loss.loss / used).backward();
    }
    adam.step();
  }
  return {model, weights};
}

double max_difference(Siamese& a, Siamese& b) {
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  double worst = 0;
  for (const auto& item : pa) {
    const torch::Tensor other = pb[item.key()];
    worst = std::max(worst, (item.value() - other).abs().max().item<double>());
  }
  return worst;
}

TEST(Distributed, TwoRanksMatchOneProcessAveragingTheirLosses) {
  test::TempDir dir;
  ASSERT_EQ(launch_two_ranks(dir.path(), "train"), 0);
  EXPECT_EQ(rank_report(dir.path(), 0), "0 1\n");  // Finished, 1 epoch
  EXPECT_EQ(rank_report(dir.path(), 1), "0 1\n");

  const Config config = dist_config();
  const FeatureSet features = dist_features();
  Siamese trained = initial_model(config, features);
  load_best_weights(dir / "run" / "last.pt", trained);
  const auto history = read_metrics_csv(dir / "run" / "metrics.csv");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].steps, kSteps);

  Siamese both = reference(2, 2);
  // fp32 tolerance; in practice equal: the halves are exact and a + b is
  // one addition either way. (Halving the summed loss instead gives the same
  // gradient up to rounding, which Adam's first steps can blow up to ~lr on
  // weights whose gradient is near 0: hence the accumulation above.)
  EXPECT_LT(max_difference(trained, both), 1e-6);
  // The control: rank 0's sub-batches alone give clearly other weights.
  Siamese rank0 = reference(2, 1);
  EXPECT_GT(max_difference(trained, rank0), 1e-3);
  // And one sub-batch a step (the stream taken one step at a time) too.
  Siamese single = reference(1, 1);
  EXPECT_GT(max_difference(trained, single), 1e-3);
}

TEST(Distributed, TwoRanksAverageTheClassWeightsOfTheAamObjective) {
  test::TempDir dir;
  ASSERT_EQ(launch_two_ranks(dir.path(), "aam"), 0);
  EXPECT_EQ(rank_report(dir.path(), 0), "0 1\n");
  EXPECT_EQ(rank_report(dir.path(), 1), "0 1\n");
  const Config config = aam_config();
  const FeatureSet features = dist_features();
  Siamese trained = initial_model(config, features);
  const ClassSplit split = split_classes(features.class_names(), features.labels(), config.split);
  ClassWeights trained_weights(static_cast<std::int64_t>(split.train.size()), config.train.aam_subcentres,
                               trained->embedding_dim());
  std::vector<torch::Tensor> params = trained->parameters();
  params.push_back(trained_weights->weight);
  torch::optim::Adam adam(params);
  load_last_checkpoint(dir / "run" / "last.pt", trained, adam, trained_weights.get());

  auto [both, both_weights] = aam_reference(2);
  EXPECT_LT(max_difference(trained, both), 1e-6);
  EXPECT_LT((trained_weights->weight - both_weights->weight).abs().max().item<double>(), 1e-6);
  // The control: rank 0's sub-batches alone give other class weights.
  auto [rank0, rank0_weights] = aam_reference(1);
  EXPECT_GT((trained_weights->weight - rank0_weights->weight).abs().max().item<double>(), 1e-4);
}

TEST(Distributed, OneRankStopsBothAndOneProcessContinuesExactly) {
  test::TempDir dir;
  ASSERT_EQ(launch_two_ranks(dir.path(), "stop"), 0);
  const std::string interrupted = std::to_string(static_cast<int>(TrainStatus::Interrupted)) + " 0\n";
  EXPECT_EQ(rank_report(dir.path(), 0), interrupted);  // rank 1's stop reached rank 0
  EXPECT_EQ(rank_report(dir.path(), 1), interrupted);

  Config config = dist_config();
  config.train.epochs = 2;
  const FeatureSet features = dist_features();
  TrainOptions options;
  options.run_dir = dir / "run";
  options.progress = false;
  const TrainResult result = train(config, features, options);  // one process now
  ASSERT_TRUE(result.resumed);
  ASSERT_EQ(result.status, TrainStatus::Finished) << result.message;
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_EQ(result.history[0].steps, kSteps);
  EXPECT_EQ(result.history[1].steps, 2 * kSteps);

  // Adam's per-parameter step count went on from the two ranks' steps.
  Siamese model = initial_model(config, features);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  const TrainState state = load_last_checkpoint(dir / "run" / "last.pt", model, adam);
  EXPECT_EQ(state.iterations, 2 * kSteps);
  ASSERT_FALSE(adam.state().empty());
  for (const auto& entry : adam.state())
    EXPECT_EQ(static_cast<const torch::optim::AdamParamState&>(*entry.second).step(), 2 * kSteps);
}

TEST(Distributed, LaunchEnvironmentIsCheckedAndOneProcessIsANoOp) {
  auto one = single_process();
  EXPECT_EQ(one->world_size(), 1);
  EXPECT_TRUE(one->is_main());
  torch::Tensor w = torch::ones({3}, torch::requires_grad());
  (w * 2).sum().backward();
  one->average_gradients({w});
  EXPECT_TRUE(torch::equal(w.grad(), torch::full({3}, 2.0f)));

  ::setenv("RANK", "2", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  try {
    LaunchEnv::from_environment();
    ADD_FAILURE() << "RANK >= WORLD_SIZE accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RANK=2"), std::string::npos) << e.what();
  }
  ::setenv("RANK", "x", 1);
  EXPECT_THROW(LaunchEnv::from_environment(), Error);
  ::unsetenv("RANK");
  ::unsetenv("WORLD_SIZE");
  EXPECT_FALSE(LaunchEnv::from_environment().present);
}

TEST(Distributed, FeatureChecksumSeesOneValue) {
  const FeatureSet a = dist_features();
  const FeatureSet b = dist_features();
  EXPECT_EQ(feature_checksum(a), feature_checksum(b));
  std::vector<float> data(a.clip(0), a.clip(0) + a.n_clips() * a.clip_size());
  data[data.size() / 2] += 1e-3f;
  const FeatureSet c = FeatureSet::from_vectors(data, a.n_mels(), a.n_frames(), a.labels(), a.class_names(),
                                                a.file_names());
  EXPECT_NE(feature_checksum(a), feature_checksum(c));
}

}  // namespace
