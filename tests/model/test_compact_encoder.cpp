// The compact encoder, the normalisation modules and the heads' score convention.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "model/siamese.h"

namespace oneshot {
namespace {

ModelConfig compact(int width = 8, int dim = 16) {
  ModelConfig c;
  c.arch = "compact";
  c.width = width;
  c.embedding_dim = dim;
  return c;
}

TEST(CompactEncoder, ShapesAndFlopsAtTheDefaultSize) {
  const ModelConfig c;  // the defaults: compact, width 32, 128-d
  const auto stages = compact_stages(c, 128, 431);
  ASSERT_EQ(stages.size(), 7u);
  EXPECT_EQ(stages[1].shape, (std::vector<int64_t>{32, 32, 107}));
  EXPECT_EQ(stages[2].shape, (std::vector<int64_t>{64, 16, 53}));
  EXPECT_EQ(stages[3].shape, (std::vector<int64_t>{128, 8, 26}));
  EXPECT_EQ(stages[4].shape, (std::vector<int64_t>{128, 8, 26}));
  EXPECT_EQ(stages.back().shape, (std::vector<int64_t>{128}));
  // conv1 2*1*32*9*128*431, conv2 2*32*64*9*32*107, conv3 2*64*128*9*16*53,
  // conv4 2*128*128*9*8*26, linear 2*256*128.
  const double expected = 2.0 * 9 * (32.0 * 128 * 431 + 32.0 * 64 * 32 * 107 + 64.0 * 128 * 16 * 53 +
                                     128.0 * 128 * 8 * 26) + 2.0 * 256 * 128;
  EXPECT_DOUBLE_EQ(model_forward_flops(c, 128, 431), expected);
  // The bound: at most a fifth of the original's 3.2 GFLOP.
  EXPECT_LT(model_forward_flops(c, 128, 431), model_forward_flops(original_model(), 128, 431) / 5);

  torch::manual_seed(1);
  Siamese model(c, 128, 431);
  model->eval();
  torch::NoGradGuard no_grad;
  // The learned 128 and, by default, the 3 x 128 band statistics appended (model/band_statistics.h).
  EXPECT_EQ(model->embed(torch::randn({2, 1, 128, 431})).sizes(), (std::vector<int64_t>{2, 128 + 3 * 128}));
  // Global pooling: any clip length from 32 frames.
  EXPECT_EQ(model->embed(torch::randn({3, 1, 128, 40})).sizes(), (std::vector<int64_t>{3, 128 + 3 * 128}));
}

TEST(CompactEncoder, AttentiveStatisticsAgainstHandComputedValues) {
  // One clip, one channel, two time steps holding 1 and 3.
  const auto x = torch::tensor({1.0f, 3.0f}).view({1, 1, 2});
  // Equal scores: weights 1/2 each, mean 2, E[x^2] = 5, std sqrt(5 - 4) = 1.
  auto out = attentive_statistics(x, torch::zeros({1, 2}));
  EXPECT_NEAR(out[0][0].item<float>(), 2.0f, 1e-6);
  EXPECT_NEAR(out[0][1].item<float>(), 1.0f, 1e-6);
  // Scores 0 and ln 3: weights 1/4, 3/4; mean 2.5, E[x^2] = 1/4 + 27/4 = 7, std sqrt(0.75).
  out = attentive_statistics(x, torch::tensor({0.0f, std::log(3.0f)}).view({1, 2, 1}));
  EXPECT_NEAR(out[0][0].item<float>(), 2.5f, 1e-6);
  EXPECT_NEAR(out[0][1].item<float>(), std::sqrt(0.75f), 1e-6);
  // A constant channel: the variance is clamped, so the root stays finite with a finite gradient.
  const auto flat = torch::ones({1, 1, 4}).requires_grad_(true);
  out = attentive_statistics(flat, torch::zeros({1, 4}));
  EXPECT_NEAR(out[0][1].item<float>(), std::sqrt(1e-5f), 1e-7);
  out.sum().backward();
  EXPECT_TRUE(torch::isfinite(flat.grad()).all().item<bool>());
}

TEST(CompactEncoder, AttentionPoolingEmbedsAnyLengthAndCountsItsFlops) {
  ModelConfig c = compact();
  c.pooling = "attention";
  const double plain = model_forward_flops(compact(), 64, 100);
  EXPECT_GT(model_forward_flops(c, 64, 100), plain);
  torch::manual_seed(2);
  Siamese model(c, 64, 100);
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->embed(torch::randn({2, 1, 64, 100})).sizes(), (std::vector<int64_t>{2, 16 + 3 * 64}));
  EXPECT_EQ(model->embed(torch::randn({1, 1, 64, 37})).sizes(), (std::vector<int64_t>{1, 16 + 3 * 64}));
  // The attention's parameters are the model's (saved with it, trained by it).
  bool found = false;
  for (const auto& p : model->named_parameters()) found |= p.key().find("attention_hidden") != std::string::npos;
  EXPECT_TRUE(found);
}

TEST(CompactEncoder, DepthAddsOrRemovesUnpooledBlocksOnTheSameTimeGrid) {
  // Depth 3 leaves out the 4th block; 5 and 6 add 4w blocks without pooling.
  for (int depth : {3, 4, 5, 6}) {
    ModelConfig c = compact(8, 16);
    c.depth = depth;
    const auto stages = compact_stages(c, 128, 431);
    ASSERT_EQ(stages.size(), static_cast<std::size_t>(depth + 3)) << depth;  // input, blocks, pool, embedding
    EXPECT_EQ(stages[static_cast<std::size_t>(depth)].shape, (std::vector<int64_t>{32, 8, 26})) << depth;
    const double extra_block = 2.0 * 32 * 32 * 9 * 8 * 26;
    ModelConfig shallower = c;
    if (depth > 3) {
      shallower.depth = depth - 1;
      EXPECT_DOUBLE_EQ(model_forward_flops(c, 128, 431) - model_forward_flops(shallower, 128, 431), extra_block);
    }
    torch::manual_seed(1);
    Siamese model(c, 128, 431);
    model->eval();
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->embed(torch::randn({2, 1, 128, 431})).sizes(), (std::vector<int64_t>{2, 16 + 3 * 128})) << depth;
    std::size_t convs = 0;
    for (const auto& m : model->modules(false)) convs += m->as<torch::nn::Conv2d>() != nullptr;
    EXPECT_EQ(convs, static_cast<std::size_t>(depth));
  }
  for (int depth : {2, 7}) {
    ModelConfig c = compact();
    c.depth = depth;
    try {
      c.validate();
      ADD_FAILURE() << "depth " << depth << " taken";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("model.depth must be in [3, 6]"), std::string::npos) << e.what();
    }
  }
}

TEST(CompactEncoder, TooSmallInputIsAnErrorNamingTheShape) {
  try {
    Siamese model(compact(), 16, 100);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("16x100"), std::string::npos) << e.what();
  }
}

TEST(InputNorm, BandStatisticsStandardiseTheTrainingClips) {
  ModelConfig c = compact();
  c.clip_norm = "none";
  InputNorm norm(c, 4);
  auto x = torch::randn({10, 1, 4, 50}) * torch::tensor({1.0, 2.0, 3.0, 4.0}).view({1, 1, 4, 1}) +
           torch::tensor({-5.0, 0.0, 5.0, 10.0}).view({1, 1, 4, 1});
  x = x.to(torch::kFloat);
  norm->fit(x);
  EXPECT_TRUE(norm->fitted());
  const auto y = norm->forward(x);
  EXPECT_TRUE(torch::allclose(y.mean({0, 1, 3}), torch::zeros({4}), 0, 1e-4));
  EXPECT_TRUE(torch::allclose(y.std({0, 1, 3}, /*unbiased=*/false), torch::ones({4}), 0, 1e-3));
}

TEST(InputNorm, ClipMeanRemovesAGain) {
  ModelConfig c = compact();
  c.input_norm = "none";
  InputNorm norm(c, 4);
  const auto x = torch::randn({2, 1, 4, 40});
  EXPECT_TRUE(torch::allclose(norm->forward(x), norm->forward(x + 3.7f), 1e-5, 1e-5));
}

TEST(EmbeddingNorm, L2AndCenteredL2GiveUnitVectors) {
  for (const char* mode : {"l2", "centered_l2"}) {
    EmbeddingNorm norm(mode, 5);
    norm->train();
    const auto x = torch::randn({6, 5}) + 4;
    const auto y = norm->forward(x);
    EXPECT_TRUE(torch::allclose(y.norm(2, 1), torch::ones({6}), 1e-5, 1e-5)) << mode;
  }
  EmbeddingNorm centred("centered_l2", 3);
  centred->momentum = 1.0;  // the running mean becomes this batch's mean
  centred->train();
  const auto batch = torch::tensor({{1.0f, 2.0f, 3.0f}, {3.0f, 2.0f, 1.0f}});
  centred->forward(batch);
  centred->eval();
  // (2, 2, 2) is the mean: the centred vector of (3, 2, 2) is (1, 0, 0).
  EXPECT_TRUE(torch::allclose(centred->forward(torch::tensor({{3.0f, 2.0f, 2.0f}})), torch::tensor({{1.0f, 0.0f, 0.0f}})));
}

// The score convention: higher = more similar. For the monotone and distance
// heads a larger difference in any dimension can never raise the score,
// whatever the weights (random, negative raw values included).
TEST(Heads, MonotoneAndDistanceScoresNeverRiseWithDistance) {
  for (const char* head : {"monotone", "distance"})
    for (const char* dist : {"l1", "l2"}) {
      ModelConfig c = compact();
      c.head = head;
      c.dist = dist;
      c.descriptor = "none";  // the head on hand-made 16-d embeddings
      Siamese model(c, 32, 32);
      torch::NoGradGuard no_grad;
      for (int trial = 0; trial < 20; ++trial) {
        torch::manual_seed(trial);
        for (auto& p : model->output->parameters()) p.normal_(0, 3);  // any sign
        const auto a = torch::randn({64, 16});
        const auto b = torch::randn({64, 16});
        // Move b further from a along the difference in a random subset of dimensions.
        const auto mask = (torch::rand({64, 16}) < 0.5).to(torch::kFloat);
        const auto farther = b + (b - a) * mask * torch::rand({64, 16}) * 2;
        const auto near_score = model->head(a, b), far_score = model->head(a, farther);
        EXPECT_TRUE((far_score <= near_score + 1e-4).all().item<bool>()) << head << " " << dist;
        EXPECT_TRUE((model->head(a, a) >= near_score - 1e-4).all().item<bool>()) << head << " " << dist;
      }
    }
}

TEST(Heads, ScoreMatrixEqualsTheHeadOnEveryPair) {
  for (const char* head : {"linear", "monotone", "distance"})
    for (const char* dist : {"l1", "l2"}) {
      ModelConfig c = compact();
      c.head = head;
      c.dist = dist;
      c.descriptor = "none";  // the head on hand-made 16-d embeddings
      torch::manual_seed(4);
      Siamese model(c, 32, 32);
      torch::NoGradGuard no_grad;
      const auto q = torch::randn({5, 16}), r = torch::randn({3, 16});
      const auto m = model->score_matrix(q, r);
      ASSERT_EQ(m.sizes(), (std::vector<int64_t>{5, 3}));
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 3; ++j)
          EXPECT_NEAR(m[i][j].item<float>(), model->head(q[i].unsqueeze(0), r[j].unsqueeze(0)).item<float>(), 1e-3)
              << head << " " << dist;
    }
}

TEST(Heads, OriginalConfigKeepsTheOriginalParameters) {
  ModelConfig c = original_model();
  c.n_conv_layers = 2;
  Siamese model(c, 32, 40);
  EXPECT_FALSE(model->input_norm);
  EXPECT_FALSE(model->embedding_norm);
  EXPECT_TRUE(model->encoder);
  EXPECT_FALSE(model->compact);
  EXPECT_EQ(model->output->weight.sizes(), (std::vector<int64_t>{1, model->embedding_dim()}));
}

}  // namespace
}  // namespace oneshot
