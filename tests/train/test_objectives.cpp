// The objectives against hand-computed values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
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
  c.descriptor = "none";      // the losses on hand-made embeddings of `dim`
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

TEST(Objectives, VerificationTermEqualsTheHandComputedValue) {
  Siamese model = distance_model(2);
  const auto e = torch::tensor({{0.0f, 0.0f}, {1.0f, 0.0f}, {4.0f, 0.0f}, {4.0f, 2.0f}, {3.0f, 1.0f}, {0.0f, 1.0f}},
                               torch::requires_grad());
  const std::vector<int> labels{0, 0, 1, 1, 1, 0};
  const double plain = prototypical_loss(model, e, labels, 2).loss.item<double>();
  const StepLoss out = prototypical_loss(model, e, labels, 2, {}, 0.5);
  // The scores of the test above (scale 1, bias 0): query (3, 1) -1 own, -7.25 other; query (0, 1) -1.25 own,
  // -16 other. Midpoint tau = 1/2 (-1.125 - 11.625) = -6.375. Per query 1/2 (softplus(-(own - tau)) +
  // softplus(other - tau)) (C - 1 = 1 other).
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const double tau = -6.375;
  const double v1 = 0.5 * (softplus(-(-1.0 - tau)) + softplus(-7.25 - tau));
  const double v0 = 0.5 * (softplus(-(-1.25 - tau)) + softplus(-16.0 - tau));
  EXPECT_NEAR(out.loss.item<double>(), plain + 0.5 * (v0 + v1) / 2, 1e-5);
  EXPECT_EQ(out.correct, 2);
  out.loss.backward();
  EXPECT_TRUE(e.grad().defined());
  // A larger weight, a larger loss for the same batch (the term is positive).
  EXPECT_GT(prototypical_loss(model, e, labels, 2, {}, 1.0).loss.item<double>(), out.loss.item<double>());
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

// Class weights with given rows (each L2-normalised when used).
ClassWeights weights_of(const std::vector<std::vector<float>>& rows, int64_t subcentres = 1) {
  const auto n = static_cast<int64_t>(rows.size());
  const auto d = static_cast<int64_t>(rows[0].size());
  ClassWeights w(n / subcentres, subcentres, d);
  torch::NoGradGuard no_grad;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < d; ++k) w->weight[r][k] = rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(k)];
  return w;
}

TEST(Objectives, AamLossEqualsTheHandComputedValue) {
  // Class 0 along x, class 1 along y.
  const ClassWeights w = weights_of({{1, 0}, {0, 1}});
  // Row 0 (class 0) at 45 degrees: theta_0 = pi/4, cos to class 1 = cos(pi/4).
  // Row 1 (class 1) on the y axis, length 3: theta_1 = 0, cos to class 0 = 0.
  const auto e = torch::tensor({{1.0f, 1.0f}, {0.0f, 3.0f}}, torch::requires_grad());
  const double m = 0.5, s = 2.0;
  const StepLoss out = aam_loss(w, e, {0, 1}, m, s);
  // Row 0: target logit s cos(pi/4 + m) = 2 cos(1.2854) = 0.5623; the other s cos(pi/4) = 1.4142.
  const double z_own0 = s * std::cos(M_PI / 4 + m), z_other0 = s * std::cos(M_PI / 4);
  const double l0 = -z_own0 + std::log(std::exp(z_own0) + std::exp(z_other0));
  // Row 1: target logit s cos(0 + m) = 2 cos(0.5) = 1.7552; the other s cos(pi/2) = 0.
  const double z_own1 = s * std::cos(m), z_other1 = 0.0;
  const double l1 = -z_own1 + std::log(std::exp(z_own1) + std::exp(z_other1));
  EXPECT_NEAR(out.loss.item<double>(), (l0 + l1) / 2, 1e-5);
  // Accuracy by the plain cosine: row 0 ties (argmax takes class 0), row 1 is right.
  EXPECT_EQ(out.weight, 2);
  out.loss.backward();
  EXPECT_TRUE(e.grad().defined());
  EXPECT_TRUE(w->weight.grad().defined()) << "the class weights learn";
  EXPECT_TRUE(torch::isfinite(w->weight.grad()).all().item<bool>());
}

TEST(Objectives, AamTargetLogitFallsBackBeyondPiMinusTheMargin) {
  // ArcFace's reference: where theta + m > pi, the target logit is s (cos - m sin m), not s cos(theta + m).
  const double m = 0.5, s = 10.0;
  const auto cosine = torch::tensor({{-0.9f, 0.2f}, {-0.8f, 0.3f}});
  const torch::Tensor logits = aam_logits(cosine, {0, 0}, m, s);
  // th = cos(pi - 0.5) = -0.87758: -0.9 is below it -> 10 x (-0.9 - 0.5 sin 0.5) = 10 x (-0.9 - 0.23971).
  EXPECT_NEAR(logits[0][0].item<double>(), 10 * (-0.9 - 0.5 * std::sin(0.5)), 1e-4);
  // -0.8 is above it -> 10 cos(acos(-0.8) + 0.5) = 10 cos(2.4981) = -7.9863.
  EXPECT_NEAR(logits[1][0].item<double>(), 10 * std::cos(std::acos(-0.8) + 0.5), 1e-4);
  // Other classes: s cos, no margin.
  EXPECT_NEAR(logits[0][1].item<double>(), 2.0, 1e-5);
  EXPECT_NEAR(logits[1][1].item<double>(), 3.0, 1e-5);
  // Margin 0 is the plain cosine softmax (meta-baseline's classifier).
  EXPECT_TRUE(torch::allclose(aam_logits(cosine, {0, 1}, 0.0, s), cosine * s, 1e-5, 1e-5));
}

TEST(Objectives, LargerMarginRaisesTheAamLossOfAFixedBatch) {
  torch::manual_seed(3);
  const ClassWeights w(5, 1, 8);
  const auto e = torch::randn({12, 8});
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < 12; ++i) targets.push_back(i % 5);
  double previous = -1;
  for (double m : {0.0, 0.1, 0.2, 0.35, 0.5}) {
    const double loss = aam_loss(w, e, targets, m, 30.0).loss.item<double>();
    EXPECT_GT(loss, previous) << "margin " << m;
    previous = loss;
  }
}

TEST(Objectives, SubCentresTakeTheLargestCosineOfEachClass) {
  // Class 0: sub-centres along +x and +y; class 1: along -x and -y.
  const ClassWeights w = weights_of({{1, 0}, {0, 1}, {-1, 0}, {0, -1}}, 2);
  ASSERT_EQ(w->classes(), 2);
  const auto cos = w->cosine(torch::tensor({{0.0f, 2.0f}, {-3.0f, 4.0f}}));
  // (0, 2): class 0 max(0, 1) = 1, class 1 max(0, -1) = 0.
  // (-3, 4)/5 = (-0.6, 0.8): class 0 max(-0.6, 0.8) = 0.8, class 1 max(0.6, -0.8) = 0.6.
  EXPECT_TRUE(torch::allclose(cos, torch::tensor({{1.0f, 0.0f}, {0.8f, 0.6f}}), 1e-6, 1e-6)) << cos;
  // The loss goes by those cosines: row (0, 2) of class 0 has theta 0.
  const StepLoss out = aam_loss(w, torch::tensor({{0.0f, 2.0f}}), {0}, 0.3, 4.0);
  const double z_own = 4 * std::cos(0.3), z_other = 0.0;
  EXPECT_NEAR(out.loss.item<double>(), -z_own + std::log(std::exp(z_own) + std::exp(z_other)), 1e-5);
  EXPECT_EQ(out.correct, 1);
}

TEST(Objectives, AamMixupGivesSoftTargetsWithTheMarginOnTheOwnClassOnly) {
  const ClassWeights w = weights_of({{1, 0}, {0, 1}});
  const auto e = torch::tensor({{1.0f, 1.0f}, {0.0f, 1.0f}});
  // Row 0 (class 0) was mixed with row 1 (class 1) at weight 0.7; row 1 left alone.
  const MixPlan mix{{1, 1}, {0.7f, 1.0f}};
  const double m = 0.4, s = 3.0;
  const StepLoss out = aam_loss(w, e, {0, 1}, m, s, mix);
  // Row 0: z_0 = 3 cos(pi/4 + 0.4) (margin: own class), z_1 = 3 cos(pi/4) (partner: no margin);
  // loss = -(0.7 log p_0 + 0.3 log p_1).
  const double z0 = s * std::cos(M_PI / 4 + m), z1 = s * std::cos(M_PI / 4);
  const double lse = std::log(std::exp(z0) + std::exp(z1));
  const double l0 = -(0.7 * (z0 - lse) + 0.3 * (z1 - lse));
  // Row 1: theta 0: z_1 = 3 cos(0.4), z_0 = 0.
  const double l1 = -s * std::cos(m) + std::log(std::exp(s * std::cos(m)) + 1.0);
  EXPECT_NEAR(out.loss.item<double>(), (l0 + l1) / 2, 1e-5);
}

TEST(Objectives, ClassIndicesMapTrainingClassesAndNameAStrayLabel) {
  EXPECT_EQ(class_indices({7, 3, 7, 12}, {3, 7, 12}), (std::vector<int64_t>{1, 0, 1, 2}));
  try {
    class_indices({4}, {3, 7});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 4"), std::string::npos) << e.what();
  }
}

TEST(Objectives, SupConEqualsTheHandComputedValue) {
  // Unit vectors: rows 0, 1 class 0 at (1, 0) and (0, 1); rows 2, 3 class 1 at (-1, 0) and (1, 0) (length 2).
  const auto e = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}, {-1.0f, 0.0f}, {2.0f, 0.0f}}, torch::requires_grad());
  const double t = 0.5;
  const StepLoss out = supcon_loss(e, {0, 0, 1, 1}, t);
  // Cosines: c01 = 0, c02 = -1, c03 = 1, c12 = 0, c13 = 0, c23 = -1; logits c / 0.5.
  // Row 0: positive 1 (logit 0); others 2 (-2), 3 (2): L0 = -(0 - log(e^0 + e^-2 + e^2)).
  const double l0 = std::log(1 + std::exp(-2.0) + std::exp(2.0));
  // Row 1: positive 0 (0); others 2 (0), 3 (0): L1 = log 3.
  const double l1 = std::log(3.0);
  // Row 2: positive 3 (-2); others 0 (-2), 1 (0): L2 = -(-2 - log(e^-2 + e^0 + e^-2)).
  const double l2 = 2 + std::log(2 * std::exp(-2.0) + 1);
  // Row 3: positive 2 (-2); others 0 (2), 1 (0): L3 = -(-2 - log(e^2 + e^0 + e^-2)).
  const double l3 = 2 + std::log(std::exp(2.0) + 1 + std::exp(-2.0));
  EXPECT_NEAR(out.loss.item<double>(), (l0 + l1 + l2 + l3) / 4, 1e-5);
  EXPECT_EQ(out.weight, 4);
  out.loss.backward();
  EXPECT_TRUE(torch::isfinite(e.grad()).all().item<bool>());
}

TEST(Objectives, SupConLeavesOutRowsWithoutAPositiveAndCountsNearestNeighbours) {
  // Two tight classes and a lone row of class 2: it is a negative for the others, no anchor itself.
  const auto e = torch::tensor({{1.0f, 0.1f}, {1.0f, -0.1f}, {-0.1f, 1.0f}, {0.1f, 1.0f}, {-1.0f, -1.0f}});
  const StepLoss out = supcon_loss(e, {0, 0, 1, 1, 2}, 0.1);
  EXPECT_EQ(out.weight, 4);
  EXPECT_EQ(out.correct, 4);  // each anchor's nearest other row is its positive
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
  EXPECT_THROW(supcon_loss(e, {0, 1, 2, 3, 4}, 0.1), Error);
}

TEST(Objectives, MixupRowsFollowTheObjective) {
  const std::vector<int> labels{4, 4, 4, 9, 9, 9};
  EXPECT_EQ(mixup_rows("aam", labels, 1), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(mixup_rows("classification", labels, 1), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(mixup_rows("prototypical", labels, 1), (std::vector<int64_t>{1, 2, 4, 5}));
  EXPECT_EQ(mixup_rows("aam+prototypical", labels, 2), (std::vector<int64_t>{2, 5}));
  EXPECT_TRUE(mixup_rows("supcon", labels, 1).empty());
  EXPECT_EQ(step_objective("meta-baseline", 2, 1), "classification");
  EXPECT_EQ(step_objective("meta-baseline", 2, 2), "classification");
  EXPECT_EQ(step_objective("meta-baseline", 2, 3), "prototypical");
  EXPECT_EQ(step_objective("aam", 2, 1), "aam");
}

// A small ensemble of two compact encoders (model/encoder_ensemble.h).
ModelConfig ensemble_config() {
  ModelConfig c;
  c.width = 4;
  c.embedding_dim = 8;
  c.ensemble = 2;
  return c;
}

TEST(Objectives, AnEnsembleMembersLossReachesOnlyThatMember) {
  torch::manual_seed(5);
  Siamese model(ensemble_config(), 32, 40);
  model->train();
  const auto e = model->embed_member(torch::randn({8, 1, 32, 40}), 0);
  const StepLoss loss = prototypical_loss(model, e, {0, 0, 1, 1, 2, 2, 3, 3}, 1);
  loss.loss.backward();
  const auto params = model->named_parameters();
  const auto& g0 = params["encoder.0.blocks.0.weight"].grad();
  const auto& g1 = params["encoder.1.blocks.0.weight"].grad();
  ASSERT_TRUE(g0.defined());
  EXPECT_GT(g0.abs().sum().item<double>(), 0);
  EXPECT_TRUE(!g1.defined() || g1.abs().sum().item<double>() == 0);
}

}  // namespace
}  // namespace oneshot
