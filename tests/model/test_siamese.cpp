#include <gtest/gtest.h>

#include "core/error.h"
#include "model/siamese.h"
#include "model_test_util.h"

namespace oneshot {
namespace {

using test::kFrames;
using test::kMels;
using test::random_clips;
using test::tiny_config;

int64_t count_values(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

TEST(Siamese, OneParameterSetSharedByBothBranches) {
  Siamese model(tiny_config(), kMels, kFrames);
  const auto all = model->parameters();
  const auto encoder = model->encoder->parameters();
  const auto output = model->output->parameters();
  EXPECT_EQ(all.size(), encoder.size() + output.size());
  EXPECT_EQ(count_values(all), count_values(encoder) + count_values(output));
  // Output layer: D weights + 1 bias.
  EXPECT_EQ(count_values(output), model->encoder->embedding_dim() + 1);
  // Conv weights: 4x1x5x5 + 4x4x5x5 (+ biases), once, not per branch.
  int64_t conv_weights = 0;
  for (const auto& p : model->named_parameters())
    if (p.key().find("conv") != std::string::npos && p.value().dim() == 4) conv_weights += p.value().numel();
  EXPECT_EQ(conv_weights, 4 * 1 * 25 + 4 * 4 * 25);
}

// Gradient of the first conv weight from a loss on the pair logits, with
// gradient flowing through branch 1, branch 2, or both.
torch::Tensor conv1_grad(Siamese& model, const torch::Tensor& x1, const torch::Tensor& x2, int branches) {
  model->zero_grad();
  torch::Tensor e1 = model->embed(x1), e2 = model->embed(x2);
  if (branches == 1) e2 = e2.detach();
  if (branches == 2) e1 = e1.detach();
  torch::Tensor target = torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f});
  auto loss = torch::binary_cross_entropy_with_logits(model->head(e1, e2), target);
  loss.backward();
  return model->encoder->named_parameters()["conv.0.weight"].grad().clone();
}

TEST(Siamese, GradientsFlowFromBothBranchesIntoTheSharedEncoder) {
  auto config = tiny_config();
  config.dropout_conv = config.dropout_dense = 0;  // deterministic passes
  torch::manual_seed(3);
  Siamese model(config, kMels, kFrames);
  model->train();
  const auto x1 = random_clips(6, 1), x2 = random_clips(6, 2);
  const auto g1 = conv1_grad(model, x1, x2, 1);
  const auto g2 = conv1_grad(model, x1, x2, 2);
  const auto both = conv1_grad(model, x1, x2, 0);
  EXPECT_GT(g1.abs().sum().item<double>(), 0);
  EXPECT_GT(g2.abs().sum().item<double>(), 0);
  EXPECT_FALSE(torch::allclose(g1, g2));
  // The shared weights receive the sum of both branches' gradients.
  EXPECT_TRUE(torch::allclose(both, g1 + g2, 1e-4, 1e-6));
  // And forward() is exactly this two-branch computation.
  model->zero_grad();
  torch::binary_cross_entropy_with_logits(model->forward(x1, x2), torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f}))
      .backward();
  EXPECT_TRUE(torch::allclose(model->encoder->named_parameters()["conv.0.weight"].grad(), both, 1e-5, 1e-7));
}

TEST(Siamese, IdenticalInputsGiveTheOutputBiasInEvalMode) {
  for (const char* dist : {"l1", "l2"}) {
    Siamese model(tiny_config(dist), kMels, kFrames);
    model->eval();
    torch::NoGradGuard no_grad;
    const auto x = random_clips(3, 5);
    const auto logits = model->forward(x, x);
    ASSERT_EQ(logits.sizes(), torch::IntArrayRef({3}));
    EXPECT_TRUE(torch::allclose(logits, model->output->bias.expand({3})));
  }
}

TEST(Siamese, HeadOnEmbeddingsEqualsForwardInEvalMode) {
  Siamese model(tiny_config(), kMels, kFrames);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto a = random_clips(5, 7), b = random_clips(5, 8);
  const auto direct = model->forward(a, b);
  const auto via_embeddings = model->head(model->embed(a), model->embed(b));
  EXPECT_TRUE(torch::allclose(direct, via_embeddings));
  // Batch composition does not matter in eval mode: one clip at a time agrees.
  const auto single = model->forward(a.slice(0, 2, 3), b.slice(0, 2, 3));
  EXPECT_NEAR(single.item<float>(), direct[2].item<float>(), 1e-5);
}

TEST(Siamese, L1AndL2Merges) {
  const auto a = torch::tensor({{1.f, -2.f, 0.5f, 0.f, 3.f, 1.f, 1.f, 2.f}});
  const auto b = torch::tensor({{0.f, 1.f, 0.5f, 2.f, 1.f, 1.f, -1.f, 2.f}});
  for (const char* dist : {"l1", "l2"}) {
    Siamese model(tiny_config(dist), kMels, kFrames);
    ASSERT_EQ(model->encoder->embedding_dim(), 8);
    {
      torch::NoGradGuard no_grad;
      model->output->weight.fill_(1);
      model->output->bias.fill_(0.5);
    }
    const double expected = std::string(dist) == "l1" ? (1 + 3 + 0 + 2 + 2 + 0 + 2 + 0) + 0.5
                                                      : (1 + 9 + 0 + 4 + 4 + 0 + 4 + 0) + 0.5;
    EXPECT_NEAR(model->head(a, b).item<double>(), expected, 1e-5) << dist;
    // Symmetric in its inputs.
    EXPECT_NEAR(model->head(b, a).item<double>(), expected, 1e-5) << dist;
  }
}

TEST(Siamese, UnknownDistIsAnError) {
  auto config = tiny_config();
  config.dist = "cosine";
  EXPECT_THROW(Siamese(config, kMels, kFrames), Error);
}

TEST(Siamese, InputTooSmallForTheLayersIsAClearError) {
  auto config = tiny_config();
  config.n_conv_layers = 3;
  try {
    Siamese model(config, 20, 30);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("20x30"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3 convolution layers"), std::string::npos) << msg;
  }
  // The same shape works with fewer layers: 20x30 -> 8x13 -> 2x4.
  config.n_conv_layers = 2;
  EXPECT_NO_THROW(Siamese(config, 20, 30));
}

TEST(Siamese, WrongInputShapeAtForwardIsAnError) {
  Siamese model(tiny_config(), kMels, kFrames);
  model->eval();
  EXPECT_THROW(model->embed(torch::zeros({2, 1, kMels, kFrames + 1})), Error);
  EXPECT_THROW(model->embed(torch::zeros({2, 2, kMels, kFrames})), Error);
  // (B, M, T) is accepted as one channel.
  EXPECT_EQ(model->embed(torch::zeros({2, kMels, kFrames})).sizes(), torch::IntArrayRef({2, 8}));
  EXPECT_THROW(model->head(torch::zeros({2, 8}), torch::zeros({3, 8})), Error);
}

TEST(Siamese, StageShapesMatchTheActualActivations) {
  auto config = tiny_config();
  Encoder encoder(config, kMels, kFrames);
  encoder->eval();
  std::vector<torch::Tensor> acts;
  encoder->forward_traced(random_clips(2, 1), &acts);
  const auto stages = encoder_stages(config, kMels, kFrames);
  // Layers: input norm, 5 per conv block, flatten, 4 per dense block.
  ASSERT_EQ(acts.size(), 1u + 5 * config.n_conv_layers + 1 + 4 * config.n_dense_layers);
  for (int layer = 1; layer <= config.n_conv_layers; ++layer) {
    const auto& after_block = acts[5 * layer];
    std::vector<int64_t> shape(after_block.sizes().begin() + 1, after_block.sizes().end());
    EXPECT_EQ(shape, stages[layer].shape) << stages[layer].name;
  }
  EXPECT_EQ(acts[5 * config.n_conv_layers + 1].size(1), stages[config.n_conv_layers + 1].shape[0]);
  EXPECT_EQ(acts.back().size(1), encoder->embedding_dim());
}

TEST(Siamese, DefaultModelFlopsAtFullInput) {
  // The figures: 3.2 GFLOP per forward at 128x431, conv2 alone 2.5.
  ModelConfig config = original_model();
  const auto stages = encoder_stages(config, 128, 431);
  ASSERT_EQ(stages.size(), 6u);
  EXPECT_EQ(stages[1].shape, (std::vector<int64_t>{64, 62, 213}));
  EXPECT_EQ(stages[3].shape, (std::vector<int64_t>{64, 12, 50}));
  EXPECT_EQ(stages[4].shape, (std::vector<int64_t>{38400}));
  EXPECT_NEAR(stages[2].forward_flops / 1e9, 2.48, 0.01);
  EXPECT_NEAR(encoder_forward_flops(config, 128, 431) / 1e9, 3.2, 0.05);
}

TEST(Siamese, BatchNormUsesKerasMomentumAndEpsilon) {
  auto config = tiny_config();
  config.n_dense_layers = 2;
  Encoder encoder(config, kMels, kFrames);
  int n_bn = 0;
  for (const auto& m : encoder->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.01);
      EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-3);
      ++n_bn;
    }
    if (auto* bn = m->as<torch::nn::BatchNorm1dImpl>()) {
      EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.01);
      EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-3);
      ++n_bn;
    }
  }
  EXPECT_EQ(n_bn, 1 + config.n_conv_layers + config.n_dense_layers);
  // Keras momentum 0.99: the moving mean moves 1% towards the batch mean.
  encoder->train();
  const auto x = random_clips(4, 9) + 3.0;
  encoder->forward(x);
  const auto running = encoder->named_buffers()["input_norm.running_mean"];
  EXPECT_NEAR(running.item<double>(), 0.01 * x.mean().item<double>(), 1e-5);
}

TEST(Siamese, KerasInitialisation) {
  Siamese model(tiny_config(), kMels, kFrames);
  // Every bias is zero (torch's Conv2d/Linear defaults are not; BatchNorm's beta is).
  for (const auto& p : model->named_parameters())
    if (p.key().find("bias") != std::string::npos) EXPECT_EQ(p.value().abs().max().item<float>(), 0.f) << p.key();
  // glorot_uniform on the first dense layer: fan_in = 4 * 5 * 7 = 140, fan_out = 8.
  const auto w = model->encoder->named_parameters()["dense.1.weight"];
  ASSERT_EQ(w.sizes(), torch::IntArrayRef({8, 140}));
  const double limit = std::sqrt(6.0 / (140 + 8));
  EXPECT_LE(w.abs().max().item<double>(), limit);
  EXPECT_GT(w.abs().max().item<double>(), 0.9 * limit);
  EXPECT_NEAR(w.var().item<double>(), limit * limit / 3, 0.2 * limit * limit / 3);
  // Conv: fans include the 5x5 receptive field: (1 * 25, 4 * 25).
  const auto c = model->encoder->named_parameters()["conv.0.weight"];
  EXPECT_LE(c.abs().max().item<double>(), std::sqrt(6.0 / (25 + 100)));
}

TEST(Siamese, SeededConstructionIsReproducible) {
  torch::manual_seed(11);
  Siamese a(tiny_config(), kMels, kFrames);
  torch::manual_seed(11);
  Siamese b(tiny_config(), kMels, kFrames);
  Siamese c(tiny_config(), kMels, kFrames);
  auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  bool all_equal_c = true;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i]));
    all_equal_c = all_equal_c && torch::equal(pa[i], pc[i]);
  }
  EXPECT_FALSE(all_equal_c);
  // An explicit generator gives the same weights whatever the global state.
  keras_initialize(*a, at::make_generator<at::CPUGeneratorImpl>(5));
  torch::manual_seed(99);
  keras_initialize(*b, at::make_generator<at::CPUGeneratorImpl>(5));
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

}  // namespace
}  // namespace oneshot

namespace oneshot {
namespace {

// forward() folds the input BatchNorm into the first convolution; it must
// give the layer-by-layer network's values, gradients and running statistics.
TEST(Siamese, FoldedInputNormMatchesTheLayerByLayerNetwork) {
  auto config = test::tiny_config();
  config.dropout_conv = config.dropout_dense = 0;
  torch::manual_seed(4);
  Encoder folded(config, test::kMels, test::kFrames);
  torch::manual_seed(4);
  Encoder plain(config, test::kMels, test::kFrames);
  {
    torch::NoGradGuard no_grad;  // non-trivial input BatchNorm affine parameters
    for (auto* e : {&folded, &plain}) {
      (*e)->named_parameters()["input_norm.weight"].fill_(1.7);
      (*e)->named_parameters()["input_norm.bias"].fill_(-0.3);
    }
  }
  const auto x = test::random_clips(5, 3) * 2 + 1;
  for (bool training : {true, false}) {
    folded->train(training);
    plain->train(training);
    folded->zero_grad();
    plain->zero_grad();
    const auto a = folded->forward(x), b = plain->forward_unfolded(x);
    EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max();
    (a * torch::arange(a.numel()).view_as(a)).sum().backward();
    (b * torch::arange(b.numel()).view_as(b)).sum().backward();
    auto pa = folded->named_parameters(), pb = plain->named_parameters();
    // Parameters followed by a BatchNorm in training (conv biases, the input
    // scale) have gradients that vanish up to rounding: compare every gradient
    // on the scale of the largest one.
    double largest = 0;
    for (const auto& p : pb) largest = std::max(largest, p.value().grad().abs().max().item<double>());
    ASSERT_GT(largest, 0);
    for (const auto& p : pa) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      const auto& expected = pb[p.key()].grad();
      EXPECT_TRUE(torch::allclose(p.value().grad(), expected, 1e-3, 1e-5 * largest))
          << p.key() << " training " << training << ": " << (p.value().grad() - expected).abs().max();
    }
    for (const auto& buf : folded->named_buffers())
      EXPECT_TRUE(torch::allclose(buf.value(), plain->named_buffers()[buf.key()])) << buf.key();
  }
}

}  // namespace
}  // namespace oneshot
