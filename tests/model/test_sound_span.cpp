// model/sound_span.h: the sounding span of a clip and its tiling, and the
// model's use of it (model.sound_span), against hand-worked values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "model/siamese.h"
#include "model/sound_span.h"
#include "model_test_util.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

TEST(SoundSpan, FromTheFirstToTheLastFrameWithinTheThresholdOfTheLoudest) {
  const std::vector<float> e{-30, -30, 0, -5, -30, -1, -30};
  // 40 dB = 9.21 nepers below the loudest (0): frames 2, 3 and 5 sound; 4 lies inside the span.
  const SoundSpan wide = sounding_span(e.data(), 7, 40);
  EXPECT_EQ(wide.first, 2);
  EXPECT_EQ(wide.length, 4);
  // 3 dB = 0.69 nepers: only frame 2.
  const SoundSpan narrow = sounding_span(e.data(), 7, 3);
  EXPECT_EQ(narrow.first, 2);
  EXPECT_EQ(narrow.length, 1);
  EXPECT_NEAR(sound_span_nats(10), std::log(10.0), 1e-12);
  // A clip that sounds at both ends is whole.
  const std::vector<float> both{-1, -30, 0};
  EXPECT_EQ(sounding_span(both.data(), 3, 40).length, 3);
}

TEST(SoundSpan, NonFiniteEnergiesAreSilentAndAClipWithoutAnyIsWhole) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> e{nan, -inf, 1, 2, inf};
  const SoundSpan span = sounding_span(e.data(), 5, 40);
  EXPECT_EQ(span.first, 2);
  EXPECT_EQ(span.length, 2);
  const std::vector<float> none{nan, -inf, nan};
  const SoundSpan whole = sounding_span(none.data(), 3, 40);
  EXPECT_EQ(whole.first, 0);
  EXPECT_EQ(whole.length, 3);
}

TEST(SoundSpan, TilingRepeatsTheSpanOverTheClip) {
  const float silence = std::log(1e-10f);
  // Two clips of 2 mel bands x 6 frames; clip 0 is silent at frames 0, 4 and 5.
  auto x = torch::full({2, 1, 2, 6}, silence);
  for (int64_t t = 1; t <= 3; ++t)
    for (int64_t m = 0; m < 2; ++m) x[0][0][m][t] = static_cast<float>(10 * m + t) * 0.1f - 3.0f;
  x[1] = torch::arange(12, torch::kFloat).view({1, 2, 6}) * -0.1f;  // sounds throughout
  const auto y = tile_sound_span(x, 40);
  ASSERT_EQ(y.sizes(), x.sizes());
  const int64_t source[6] = {1, 2, 3, 1, 2, 3};
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t m = 0; m < 2; ++m) EXPECT_EQ(y[0][0][m][t].item<float>(), x[0][0][m][source[t]].item<float>()) << t;
  EXPECT_TRUE(torch::equal(y[1], x[1]));
  // Nothing to tile: x itself, no copy.
  const auto z = x.narrow(0, 1, 1);
  EXPECT_EQ(tile_sound_span(z, 40).data_ptr(), z.data_ptr());
  EXPECT_THROW(tile_sound_span(torch::zeros({2, 6}), 40), Error);
}

TEST(SoundSpan, TheModelTilesBeforeEveryOtherStepWhenConfigured) {
  ModelConfig tile;
  tile.width = 4;
  tile.embedding_dim = 8;
  ModelConfig whole = tile;
  whole.sound_span = "whole";
  torch::manual_seed(3);
  Siamese tiled(tile, test::kMels, test::kFrames);
  torch::manual_seed(3);
  Siamese plain(whole, test::kMels, test::kFrames);
  tiled->eval();
  plain->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 1, test::kMels, test::kFrames}) - 8;
  x[1].narrow(2, 25, test::kFrames - 25).fill_(std::log(1e-10f));  // clip 1 ends in silence
  const auto a = tiled->embed(x), b = plain->embed(tile_sound_span(x, 40)), c = plain->embed(x);
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(a[0], c[0], 1e-6, 1e-6));  // sounds throughout: nothing moves
  EXPECT_GT((a[1] - c[1]).abs().max().item<float>(), 1e-3);  // the silence no longer counts
  EXPECT_TRUE(torch::equal(plain->select_sound(x), x));
}

TEST(SoundSpan, ConfigValuesAreChecked) {
  ModelConfig c;
  EXPECT_EQ(c.sound_span, "tile");
  EXPECT_EQ(original_model().sound_span, "whole");
  EXPECT_EQ(stored_model_defaults().sound_span, "whole");
  c.sound_span = "trim";
  EXPECT_THROW(c.validate(), Error);
  c.sound_span = "tile";
  for (double db : {0.0, -3.0, 201.0}) {
    c.sound_span_db = db;
    const std::string message = test::error_of([&] { c.validate(); });  // "" when accepted
    EXPECT_NE(message.find("model.sound_span_db"), std::string::npos) << db << ": " << message;
  }
}

}  // namespace
}  // namespace oneshot
