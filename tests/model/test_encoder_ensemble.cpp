// An ensemble of compact encoders (model.ensemble): members side by side,
// each part normalised to its share, the pair score the mean of the members',
// each member's view what it alone would embed, the shared-window halves,
// the configuration rules (that a member's loss reaches only that member:
// tests/train/test_objectives.cpp; the exports: export_test_util.h's cases).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>

#include "core/error.h"
#include "model/siamese.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

ModelConfig ensemble_config(int members, const std::string& descriptor = "band_stats") {
  ModelConfig c;
  c.width = 4;
  c.embedding_dim = 8;
  c.ensemble = members;
  c.descriptor = descriptor;
  return c;
}

// A model whose normalisations have seen a batch of clips (eval mode uses
// the fitted statistics), in eval mode.
Siamese fitted(const ModelConfig& c, const torch::Tensor& clips) {
  torch::manual_seed(3);
  Siamese model(c, 32, 40);
  if (model->input_norm) {
    model->input_norm->accumulate(model->select_sound(clips));
    model->input_norm->finish_fit();
  }
  if (model->descriptor) {
    model->descriptor->accumulate(model->select_sound(clips));
    model->descriptor->finish_fit();
  }
  model->train();
  { torch::NoGradGuard no_grad; model->embed(clips); }  // the embedding mean and BatchNorm statistics
  model->eval();
  return model;
}

// Member k's view of an ensemble's embedding (B, K * part + stats): its part
// scaled back to unit length, then the band statistics. The reference that
// embed_member is checked against.
torch::Tensor member_view(const torch::Tensor& e, int64_t k, int64_t members, int64_t part) {
  const int64_t stats = e.size(1) - members * part;
  auto own = e.narrow(1, k * part, part) * std::sqrt(static_cast<double>(members));
  return stats > 0 ? torch::cat({own, e.narrow(1, members * part, stats)}, 1) : own;
}

TEST(EncoderEnsemble, MembersHaveTheirOwnWeightsUnderNumberedNames) {
  torch::manual_seed(1);
  Siamese model(ensemble_config(3), 32, 40);
  ASSERT_TRUE(model->ensemble);
  EXPECT_FALSE(model->compact);
  EXPECT_EQ(model->ensemble_members(), 3);
  EXPECT_EQ(model->embedding_dim(), 3 * 8 + 3 * 32);
  EXPECT_EQ(model->embedding_parts(), (std::vector<std::size_t>{8, 8, 8, 96}));
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const char* name : {"encoder.0.blocks.0.weight", "encoder.1.blocks.0.weight", "encoder.2.project.weight"})
    EXPECT_TRUE(names.count(name)) << name;
  const auto w0 = model->named_parameters()["encoder.0.blocks.0.weight"];
  const auto w1 = model->named_parameters()["encoder.1.blocks.0.weight"];
  EXPECT_FALSE(torch::equal(w0, w1));  // initialised independently
  // The work of K members.
  ModelConfig one = ensemble_config(1);
  EXPECT_DOUBLE_EQ(model_forward_flops(ensemble_config(3), 32, 40), 3 * model_forward_flops(one, 32, 40));
}

TEST(EncoderEnsemble, EachMemberPartHasItsShareAndTheScoreIsTheMeanOfTheMembers) {
  torch::manual_seed(2);
  const auto clips = torch::randn({6, 1, 32, 40});
  Siamese model = fitted(ensemble_config(2), clips);
  torch::NoGradGuard no_grad;
  const auto e = model->embed(clips);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{6, 2 * 8 + 96}));
  // Each member's learned part at length 1/sqrt(2), the band statistics at sqrt(0.2): unit length in all.
  for (int64_t k = 0; k < 2; ++k)
    EXPECT_TRUE(torch::allclose(e.narrow(1, 8 * k, 8).norm(2, 1), torch::full({6}, 1 / std::sqrt(2.0f)), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(e.norm(2, 1), torch::full({6}, std::sqrt(1.2f)), 1e-5, 1e-6));
  // A member's view: its part at unit length, then the band statistics.
  const auto v1 = member_view(e, 1, 2, 8);
  ASSERT_EQ(v1.sizes(), (std::vector<int64_t>{6, 8 + 96}));
  EXPECT_TRUE(torch::allclose(v1.narrow(1, 0, 8), e.narrow(1, 8, 8) * std::sqrt(2.0f)));
  EXPECT_TRUE(torch::allclose(v1.narrow(1, 8, 96), e.narrow(1, 16, 96)));
  // The ensemble's score of every pair is the mean of its members' scores.
  const auto whole = model->score_matrix(e, e);
  const auto v0 = member_view(e, 0, 2, 8);
  const auto mean = (model->score_matrix(v0, v0) +
                     model->score_matrix(v1, v1)) / 2;
  EXPECT_TRUE(torch::allclose(whole, mean, 1e-4, 1e-4)) << (whole - mean).abs().max().item<float>();
}

TEST(EncoderEnsemble, MemberViewIsWhatTheMemberAloneEmbeds) {
  // Member 0 of an ensemble alone and a one-encoder model with member 0's
  // weights (and the same fitted normalisations) embed a clip alike.
  torch::manual_seed(4);
  const auto clips = torch::randn({5, 1, 32, 40});
  Siamese ensemble = fitted(ensemble_config(2), clips);
  Siamese single(ensemble_config(1), 32, 40);
  {
    torch::NoGradGuard no_grad;
    auto from = ensemble->named_parameters(), to = single->named_parameters();
    auto from_b = ensemble->named_buffers(), to_b = single->named_buffers();
    for (auto& p : to) {
      const std::string key = p.key();
      const std::string source = key.rfind("encoder.", 0) == 0 ? "encoder.0." + key.substr(8) : key;
      p.value().copy_(from[source]);
    }
    for (auto& b : to_b) {
      const std::string key = b.key();
      if (key.rfind("encoder.", 0) == 0) b.value().copy_(from_b["encoder.0." + key.substr(8)]);
      else if (key == "embedding_norm.running_mean") b.value().copy_(from_b[key].narrow(0, 0, 8));
      else b.value().copy_(from_b[key]);
    }
  }
  single->eval();
  torch::NoGradGuard no_grad;
  const auto view = ensemble->embed_member(clips, 0);
  const auto alone = single->embed(clips);
  EXPECT_TRUE(torch::allclose(view, alone, 1e-5, 1e-5)) << (view - alone).abs().max().item<float>();
}

TEST(EncoderEnsemble, EmbedMemberIsTheMembersViewComputedByItAlone) {
  torch::manual_seed(7);
  const auto clips = torch::randn({6, 1, 32, 40});
  for (const std::string norm : {"l2", "centered_l2"}) {
    ModelConfig c = ensemble_config(3);
    c.embedding_norm = norm;
    Siamese model = fitted(c, clips);
    {
      torch::NoGradGuard no_grad;
      const auto whole = model->embed(clips);
      for (int64_t k = 0; k < 3; ++k) {
        const auto own = model->embed_member(clips, k);
        const auto view = member_view(whole, k, 3, 8);
        EXPECT_TRUE(torch::allclose(own, view, 1e-5, 1e-5)) << norm << " member " << k << ": "
                                                            << (own - view).abs().max().item<float>();
      }
    }
    // In training, only member 1's weights get gradients, and only its
    // columns of centered_l2's running mean move.
    model->train();
    model->zero_grad();
    const auto mean_before = model->embedding_norm->named_buffers()["running_mean"].clone();
    model->embed_member(clips, 1).square().sum().backward();
    const auto params = model->named_parameters();
    for (int64_t k = 0; k < 3; ++k) {
      const auto& g = params["encoder." + std::to_string(k) + ".blocks.0.weight"].grad();
      const bool reached = g.defined() && g.abs().sum().item<double>() > 0;
      EXPECT_EQ(reached, k == 1) << norm << " member " << k;
    }
    const auto mean_after = model->embedding_norm->named_buffers()["running_mean"];
    const auto moved = (mean_after - mean_before).abs().reshape({3, 8}).sum(1);
    EXPECT_EQ(moved[0].item<float>(), 0.0f) << norm;
    EXPECT_EQ(moved[2].item<float>(), 0.0f) << norm;
    EXPECT_EQ(moved[1].item<float>() > 0, norm == "centered_l2") << norm;
  }
  Siamese single(ensemble_config(1), 32, 40);
  EXPECT_THROW(single->embed_member(clips, 1), Error);
}

TEST(EncoderEnsemble, SharedWindowHalvesEqualTheWholeEncoder) {
  torch::manual_seed(6);
  Siamese model(ensemble_config(2, "none"), 32, 64);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 1, 32, 64});
  const auto columns = model->trunk(x);
  EXPECT_EQ(columns.size(1), 2 * 4 * 4);  // two members' last blocks of 4w channels
  const auto whole = model->ensemble->forward(x);
  EXPECT_TRUE(torch::allclose(model->pool_project(columns), whole, 1e-5, 1e-5));
}

TEST(EncoderEnsemble, ConfigurationRulesNameTheKey) {
  auto message = [](const std::function<void(Config&)>& change) {
    Config c;
    c.model.ensemble = 2;
    change(c);
    return test::error_of([&] { c.validate(); });
  };
  EXPECT_EQ(message([](Config&) {}), "");
  EXPECT_NE(message([](Config& c) { c.model.ensemble = 9; }).find("model.ensemble"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.model.ensemble = 0; }).find("model.ensemble"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.model.head = "monotone"; }).find("model.head"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.model.dist = "l1"; }).find("model.head"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.model.embedding_norm = "none"; }).find("model.embedding_norm"),
            std::string::npos);
  EXPECT_NE(message([](Config& c) { c.model.arch = "original"; }).find("model.arch"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.train.objective = "supcon"; }).find("train.objective"), std::string::npos);
}

}  // namespace
}  // namespace oneshot
