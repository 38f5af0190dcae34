// augment.crop: random crops of variable length, one length per step (the
// batch stays rectangular), each clip at its own start; the key's checks;
// and training with it (the compact encoder takes the shorter clips).
#include <gtest/gtest.h>

#include <set>

#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "train/augment.h"
#include "train/trainer.h"
#include "train_fixtures.h"

using namespace oneshot;

namespace {

// Clips whose value at (b, m, t) is 1000 b + t: a crop shows its start.
torch::Tensor ramps(int64_t b, int64_t m, int64_t t) {
  auto x = torch::empty({b, 1, m, t});
  for (int64_t i = 0; i < b; ++i)
    for (int64_t f = 0; f < t; ++f) x[i].select(-1, f).fill_(static_cast<float>(1000 * i + f));
  return x;
}

}  // namespace

TEST(Crop, LengthIsUniformBetweenTheFractionAndTheWholeClip) {
  Rng rng(1);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const int64_t l = crop_length(100, 0.5, 32, rng);
    ASSERT_GE(l, 50);
    ASSERT_LE(l, 100);
    seen.insert(l);
  }
  EXPECT_EQ(seen.size(), 51u);  // every length in [50, 100] drawn
  // Never below the encoder's 32 frames; a clip shorter than that stays whole.
  for (int i = 0; i < 200; ++i) EXPECT_GE(crop_length(100, 0.1, 32, rng), 32);
  EXPECT_EQ(crop_length(20, 0.3, 32, rng), 20);
  EXPECT_EQ(crop_length(100, 1.0, 32, rng), 100);
  EXPECT_THROW(crop_length(100, 0.0, 32, rng), Error);
  EXPECT_THROW(crop_length(100, 1.5, 32, rng), Error);
}

TEST(Crop, EachClipIsAContiguousSpanAtItsOwnStart) {
  const auto x = ramps(16, 3, 50);
  Rng rng(4);
  const auto y = crop_clips(x, 20, rng);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({16, 1, 3, 20}));
  std::set<int64_t> starts;
  for (int64_t i = 0; i < 16; ++i) {
    const auto start = static_cast<int64_t>(y[i][0][0][0].item<float>()) - 1000 * i;
    ASSERT_GE(start, 0);
    ASSERT_LE(start, 30);
    starts.insert(start);
    // The same span in every mel band, frames in order.
    EXPECT_TRUE(torch::equal(y[i], x[i].narrow(-1, start, 20)));
  }
  EXPECT_GT(starts.size(), 4u);  // the starts differ between clips
  // Deterministic for a seed; the whole clip is the clip.
  Rng again(4);
  EXPECT_TRUE(torch::equal(crop_clips(x, 20, again), y));
  EXPECT_TRUE(torch::equal(crop_clips(x, 50, rng), x));
  EXPECT_THROW(crop_clips(x, 51, rng), Error);
  EXPECT_THROW(crop_clips(x, 0, rng), Error);
}

TEST(Crop, ConfigKeyIsCheckedAndNamed) {
  Config c;
  EXPECT_EQ(c.augment.crop, 0.0);
  c.set("augment.crop=0.5");
  EXPECT_NO_THROW(c.validate());
  EXPECT_NE(c.to_toml().find("crop = 0.5"), std::string::npos);
  c.set("augment.crop=1.5");
  EXPECT_NE(test::error_of([&] { c.validate(); }).find("augment.crop"), std::string::npos);
  c.set("augment.crop=0.3");
  c.model = original_model();
  const std::string e = test::error_of([&] { c.validate(); });
  EXPECT_NE(e.find("augment.crop"), std::string::npos);
  EXPECT_NE(e.find("compact"), std::string::npos);
}

TEST(Crop, TrainingWithCropsRunsAndChangesTheSteps) {
  const FeatureSet data = test::separable_features(std::vector<int>(12, 6), 32, 64);
  Config c;
  c.model.width = 4;
  c.model.embedding_dim = 16;
  c.split.n_val = 4;
  c.split.n_test = 0;
  c.train.steps_per_epoch = 4;
  c.train.epochs = 2;
  c.train.threads = 1;
  c.train.val_episodes = 50;
  c.train.bn_recalibration = 0;
  c.augment.mixup = 0.4;
  TrainOptions quiet;
  quiet.progress = false;
  const TrainResult plain = train(c, data, quiet);
  c.augment.crop = 0.5;
  const TrainResult cropped = train(c, data, quiet);
  const TrainResult again = train(c, data, quiet);
  ASSERT_EQ(cropped.status, TrainStatus::Finished) << cropped.message;
  ASSERT_EQ(cropped.history.size(), 2u);
  EXPECT_NE(cropped.history[0].train_loss, plain.history[0].train_loss);  // the crops reach the model
  EXPECT_EQ(cropped.history[1].train_loss, again.history[1].train_loss);  // seeded: the same crops again
}
