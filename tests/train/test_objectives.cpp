// The objectives against hand-computed values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/config.h"
#include "train/objectives.h"

namespace oneshot {
namespace {

// A model whose head is minus the squared Euclidean distance (scale 1, bias 0).
Siamese distance_model(int64_t dim) {
  ModelConfig c;
  c.embedding_dim = dim;
  c.width = 2;
  c.head = "distance";
  c.dist = "l2";
  c.embedding_norm = "none";  // the head's scale starts at 1 (10 for unit-length embeddings)
  return Siamese(c, 32, 32);
}

TEST(Objectives, EpisodeRolesTakeTheFirstShotsOfEachClassAsSupport) {
  const EpisodeRoles r = episode_roles({7, 7, 7, 2, 2, 9}, 1);
  EXPECT_EQ(r.classes, (std::vector<int>{7, 2, 9}));
  EXPECT_EQ(r.support, (std::vector<std::vector<int64_t>>{{0}, {3}, {5}}));
  EXPECT_EQ(r.queries, (std::vector<int64_t>{1, 2, 4}));      // class 9 has no query left
  EXPECT_EQ(r.query_class, (std::vector<int64_t>{0, 0, 1}));
}

TEST(Objectives, PrototypicalLossEqualsTheHandComputedValue) {
  Siamese model = distance_model(2);
  // Class 0: support (0, 0), query (1, 0). Class 1: support (4, 0), (4, 2) -> prototype (4, 1); query (3, 1).
  const auto e = torch::tensor({{0.0f, 0.0f}, {1.0f, 0.0f}, {4.0f, 0.0f}, {4.0f, 2.0f}, {3.0f, 1.0f}, {0.0f, 1.0f}},
                               torch::requires_grad());
  // shots = 2: class 0 = rows 0, 1 support (prototype (0.5, 0)), row 5 query.
  //            class 1 = rows 2, 3 support (prototype (4, 1)), row 4 query.
  const std::vector<int> labels{0, 0, 1, 1, 1, 0};
  const StepLoss out = prototypical_loss(model, e, labels, 2);
  // Query (3, 1): d2 to (0.5, 0) = 6.25 + 1 = 7.25, to (4, 1) = 1 -> -log softmax at class 1.
  // Query (0, 1): d2 to (0.5, 0) = 0.25 + 1 = 1.25, to (4, 1) = 16 -> class 0.
  const double l1 = -(-1.0) + std::log(std::exp(-7.25) + std::exp(-1.0));
  const double l0 = -(-1.25) + std::log(std::exp(-1.25) + std::exp(-16.0));
  EXPECT_NEAR(out.loss.item<double>(), (l0 + l1) / 2, 1e-5);
  EXPECT_EQ(out.correct, 2);
  EXPECT_EQ(out.weight, 2);
  out.loss.backward();
  EXPECT_TRUE(e.grad().defined());
}

TEST(Objectives, PrototypicalMixupMixesTheTargets) {
  Siamese model = distance_model(1);
  const auto e = torch::tensor({{0.0f}, {2.0f}, {1.0f}});
  // Row 2 (class 0 query) was mixed with row 1 (class 1) at weight 0.75.
  MixPlan mix{{0, 1, 1}, {1.0f, 1.0f, 0.75f}};
  const StepLoss out = prototypical_loss(model, e, {0, 1, 0}, 1, mix);
  // d2 = 1 to both prototypes: log-softmax = log 0.5 for each class.
  EXPECT_NEAR(out.loss.item<double>(), -(0.75 * std::log(0.5) + 0.25 * std::log(0.5)), 1e-6);
}

TEST(Objectives, PairsLossIsBceOnTheHeadAndMixupGivesTheProbabilityOfTheSameClass) {
  Siamese model = distance_model(1);
  const auto e = torch::tensor({{0.0f}, {1.0f}, {3.0f}});
  TrainStep step;
  step.inputs = {{0, 1, 2}};
  step.left = {0, 0};
  step.right = {1, 2};
  step.target = {1.0f, 0.0f};
  step.weight = {1.0f, 1.0f};
  const StepLoss plain = pairs_loss(model, e, step, "bce");
  auto bce = [](double logit, double y) { return -(y * std::log(1 / (1 + std::exp(-logit))) + (1 - y) * std::log(1 - 1 / (1 + std::exp(-logit)))); };
  EXPECT_NEAR(plain.loss.item<double>(), (bce(-1, 1) + bce(-9, 0)) / 2, 1e-5);
  EXPECT_EQ(plain.correct, 1);  // logit -1 says "different" for the positive pair

  // Row 1 (class 0) mixed with row 2 (class 1) at 0.6: pair (0, 1) is the same class with p = 0.6.
  const MixPlan mix{{0, 2, 2}, {1.0f, 0.6f, 1.0f}};
  const StepLoss mixed = pairs_loss(model, e, step, "bce", {0, 0, 1}, mix);
  EXPECT_NEAR(mixed.loss.item<double>(), (bce(-1, 0.6) + bce(-9, 0)) / 2, 1e-5);
}

}  // namespace
}  // namespace oneshot
