// model/band_statistics.h: the band-statistics descriptor against hand-worked
// values, its fit, and the model's use of it (model.descriptor).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "model/band_statistics.h"
#include "model/export_plan.h"
#include "model/siamese.h"
#include "model/sound_span.h"
#include "model_test_util.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

TEST(BandStatistics, MeanDeviationAndFluxOfEachBandAgainstHandWorkedValues) {
  // One clip of 2 bands x 3 frames: band 0 = 1, 2, 4; band 1 = 0, 0, 3.
  const auto x = torch::tensor({1.f, 2.f, 4.f, 0.f, 0.f, 3.f}).view({1, 1, 2, 3});
  BandStatistics d(2, 0.2);
  const auto s = d->statistics(x);
  ASSERT_EQ(s.sizes(), (torch::IntArrayRef{1, 6}));
  // clip mean 10 / 6; band means 7/3 and 1
  EXPECT_NEAR(s[0][0].item<float>(), 7.0 / 3 - 10.0 / 6, 1e-6);
  EXPECT_NEAR(s[0][1].item<float>(), 1.0 - 10.0 / 6, 1e-6);
  // population deviations: band 0 sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 3), band 1 sqrt((1 + 1 + 4) / 3)
  EXPECT_NEAR(s[0][2].item<float>(), std::sqrt((16.0 + 1 + 25) / 9 / 3), 1e-6);
  EXPECT_NEAR(s[0][3].item<float>(), std::sqrt(2.0), 1e-6);
  // mean |frame-to-frame change|: (1 + 2) / 2 and (0 + 3) / 2
  EXPECT_NEAR(s[0][4].item<float>(), 1.5, 1e-6);
  EXPECT_NEAR(s[0][5].item<float>(), 1.5, 1e-6);
  // A gain (a constant added in the log domain) changes none of them.
  EXPECT_TRUE(torch::allclose(d->statistics(x + 7), s, 1e-5, 1e-5));
  // One frame: no change, no deviation; the wrong number of bands is refused.
  const auto one = d->statistics(torch::tensor({2.f, 5.f}).view({1, 1, 2, 1}));
  EXPECT_NEAR(one[0][4].item<float>(), 0, 1e-7);
  EXPECT_NEAR(one[0][2].item<float>(), 0, 1e-7);
  EXPECT_THROW(d->statistics(torch::zeros({1, 1, 3, 4})), Error);
}

TEST(BandStatistics, StandardisedOnTheFittedClipsThenScaledToTheSquareRootOfTheWeight) {
  torch::manual_seed(5);
  const auto clips = torch::randn({40, 1, 4, 9}) * torch::linspace(0.5, 3, 4).view({1, 1, 4, 1});
  BandStatistics d(4, 0.25);
  EXPECT_FALSE(d->fitted());
  EXPECT_THROW(d->finish_fit(), Error);  // nothing accumulated
  d->accumulate(clips.narrow(0, 0, 25));
  d->accumulate(clips.narrow(0, 25, 15));
  d->finish_fit();
  EXPECT_TRUE(d->fitted());
  const auto s = d->statistics(clips).to(torch::kDouble);
  const auto mean = s.mean(0), std = s.std(0, /*unbiased=*/false);
  const auto z = (s - mean) / std;
  const auto expected = z / z.norm(2, 1, true) * 0.5;  // sqrt(0.25)
  const auto y = d->forward(clips).to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-4, 1e-5)) << (y - expected).abs().max();
  EXPECT_NEAR(y.norm(2, 1).min().item<double>(), 0.5, 1e-5);
  EXPECT_THROW(BandStatistics(4, 0.0), Error);
  EXPECT_THROW(BandStatistics(4, -1.0), Error);
}

TEST(BandStatistics, TheModelAppendsThemToTheLearnedEmbedding) {
  ModelConfig with;
  with.width = 4;
  with.embedding_dim = 8;
  with.descriptor = "band_stats";
  with.descriptor_weight = 0.3;
  ModelConfig without = with;
  without.descriptor = "none";
  torch::manual_seed(3);
  Siamese a(with, test::kMels, test::kFrames);
  torch::manual_seed(3);
  Siamese b(without, test::kMels, test::kFrames);
  EXPECT_EQ(a->embedding_dim(), 8 + 3 * test::kMels);
  EXPECT_EQ(b->embedding_dim(), 8);
  auto x = torch::randn({3, 1, test::kMels, test::kFrames}) - 8;
  x[1].narrow(2, 25, test::kFrames - 25).fill_(std::log(1e-10f));  // clip 1 ends in silence: tiled first
  a->descriptor->accumulate(a->select_sound(x));
  a->descriptor->finish_fit();
  a->eval();
  b->eval();
  torch::NoGradGuard no_grad;
  const auto ea = a->embed(x), eb = b->embed(x);
  EXPECT_TRUE(torch::allclose(ea.narrow(1, 0, 8), eb, 1e-6, 1e-6));
  const auto tail = ea.narrow(1, 8, 3 * test::kMels);
  EXPECT_TRUE(torch::allclose(tail, a->descriptor->forward(tile_sound_span(x, 40)), 1e-6, 1e-6));
  EXPECT_NEAR(tail.norm(2, 1).max().item<float>(), std::sqrt(0.3f), 1e-5);
  // The distance head scores |e_a - e_b|^2 + weight |z_a - z_b|^2 (squared L2 over every dimension).
  const auto s = a->head(ea.narrow(0, 0, 1), ea.narrow(0, 2, 1));
  const double d2 = (ea[0] - ea[2]).square().sum().item<double>();
  EXPECT_NEAR(s.item<double>(), a->output->bias.item<double>() - std::abs(a->output->weight.item<double>()) * d2, 1e-4);
}

TEST(BandStatistics, ConfigValuesAreCheckedAndEarlierRunsReadAsNone) {
  ModelConfig c;
  EXPECT_EQ(original_model().descriptor, "none");
  EXPECT_EQ(stored_model_defaults().descriptor, "none");
  c.descriptor = "mfcc";
  EXPECT_THROW(c.validate(), Error);
  c.descriptor = "band_stats";
  for (double w : {0.0, -0.5, 101.0}) {
    c.descriptor_weight = w;
    const std::string message = test::error_of([&] { c.validate(); });  // "" when accepted
    EXPECT_NE(message.find("model.descriptor_weight"), std::string::npos) << w << ": " << message;
  }
}

// The exporters' plan (model/export_plan.h) takes the descriptor's input
// after the sound span and appends the fitted statistics last; the exporters'
// agreement with embed() is in test_export_onnx.cpp and test_export_torchscript.cpp.
TEST(BandStatistics, ExportPlanKeepsTheTiledClipAndAppendsTheFittedStatisticsLast) {
  ModelConfig c;
  c.width = 4;
  c.embedding_dim = 8;
  c.sound_span = "tile";
  c.descriptor = "band_stats";
  c.descriptor_weight = 0.3;
  Siamese m(c, test::kMels, test::kFrames);
  m->descriptor->accumulate(test::random_clips(6, 2) * 2 - 5);
  m->descriptor->finish_fit();
  m->eval();
  EXPECT_EQ(test::error_of([&] { check_exportable(m->configuration(), "ONNX"); }), "");
  const ExportPlan plan = export_plan(*m, test::kMels, test::kFrames, "ONNX");
  ASSERT_GE(plan.layers.size(), 3u);
  EXPECT_EQ(plan.layers[0].kind, "sound_span");
  EXPECT_EQ(plan.layers[1].kind, "descriptor_input");
  const ExportLayer& last = plan.layers.back();
  EXPECT_EQ(last.kind, "band_statistics");
  EXPECT_NEAR(last.scale, std::sqrt(0.3), 1e-12);
  EXPECT_TRUE(torch::equal(last.tensors.at("mean"), m->descriptor->named_buffers()["mean"]));
  EXPECT_TRUE(torch::equal(last.tensors.at("std"), m->descriptor->named_buffers()["std"]));
  EXPECT_EQ(plan.embedding_dim, 8 + 3 * test::kMels);
}

}  // namespace
}  // namespace oneshot
