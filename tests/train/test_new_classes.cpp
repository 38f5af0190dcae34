// Task augmentation (augment.new_class): transformed copies of a step's
// classes as new classes. The step rewrite keeps its promises (a copy holds a
// kept class's clips in order under a label no real class has, one copy per
// source and transform, at least one class kept), the transforms do what they
// say, and a training run with it learns, differs from one without, and
// resumes exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "core/error.h"
#include "support/test_support.h"
#include "train/augment.h"
#include "train/new_classes.h"
#include "train/resume_check.h"
#include "train/train_fixtures.h"
#include "train/trainer.h"

using namespace oneshot;
using oneshot::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kClasses = 40;

// 8 classes x 4 clips in one input, clip index = 100 x label + k, as the prototypical sampler lays a step out.
void episode(TrainStep& step, std::vector<int>& labels) {
  step = TrainStep{};
  labels.clear();
  step.inputs.emplace_back();
  for (int c = 0; c < 8; ++c)
    for (int k = 0; k < 4; ++k) {
      const int label = 3 + 4 * c;
      step.inputs[0].push_back(static_cast<std::size_t>(100 * label + k));
      labels.push_back(label);
    }
}

AugmentConfig with(double p, const std::string& transform) {
  AugmentConfig a;
  a.new_class = p;
  a.new_class_transform = transform;
  return a;
}

}  // namespace

TEST(NewClasses, OffLeavesTheStepAndDrawsNothing) {
  TrainStep step;
  std::vector<int> labels;
  episode(step, labels);
  const auto before = step.inputs;
  const auto labels_before = labels;
  Rng rng(7), untouched(7);
  const auto transforms = draw_new_classes(step, labels, kClasses, with(0, "reverse"), rng);
  EXPECT_EQ(transforms, std::vector<int>(32, kAsDrawn));
  EXPECT_EQ(step.inputs, before);
  EXPECT_EQ(labels, labels_before);
  EXPECT_EQ(rng(), untouched());
}

TEST(NewClasses, ACopyHoldsAKeptClassesClipsUnderANewLabel) {
  for (const char* name : {"reverse", "shift", "reverse+shift"}) {
    SCOPED_TRACE(name);
    const std::vector<int> allowed = new_class_transforms(name);
    int copies = 0;
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
      TrainStep step;
      std::vector<int> labels;
      episode(step, labels);
      Rng rng(seed);
      const auto transforms = draw_new_classes(step, labels, kClasses, with(0.5, name), rng);
      ASSERT_EQ(transforms.size(), 32u);
      std::set<int> kept_labels;
      std::map<int, std::vector<std::size_t>> clips_of;
      std::set<std::pair<int, int>> sources;
      for (std::size_t r = 0; r < 32; ++r) {
        clips_of[labels[r]].push_back(step.inputs[0][r]);
        if (transforms[r] == kAsDrawn) {
          EXPECT_LT(labels[r], kClasses);
          EXPECT_EQ(step.inputs[0][r], static_cast<std::size_t>(100 * labels[r] + static_cast<int>(r % 4)));
          kept_labels.insert(labels[r]);
        } else {
          EXPECT_NE(std::find(allowed.begin(), allowed.end(), transforms[r]), allowed.end());
          // label = source + classes x transform, and the clips are the source's, in order
          const int source = labels[r] - kClasses * transforms[r];
          EXPECT_EQ(step.inputs[0][r], static_cast<std::size_t>(100 * source + static_cast<int>(r % 4)));
          sources.insert({source, transforms[r]});
        }
      }
      ASSERT_FALSE(kept_labels.empty()) << "seed " << seed << ": a step keeps a class as drawn";
      for (const auto& [source, t] : sources) EXPECT_TRUE(kept_labels.count(source)) << "a copy's source is kept";
      EXPECT_EQ(clips_of.size(), 8u) << "seed " << seed << ": as many classes, each of 4 clips";
      for (const auto& [label, clips] : clips_of) EXPECT_EQ(clips.size(), 4u);
      copies += static_cast<int>(sources.size());
    }
    EXPECT_GT(copies, 50) << "about half the classes become copies";
  }
}

TEST(NewClasses, DeterministicUnderASeed) {
  auto draw = [](std::uint64_t seed) {
    TrainStep step;
    std::vector<int> labels;
    episode(step, labels);
    Rng rng(seed);
    draw_new_classes(step, labels, kClasses, with(0.5, "reverse+shift"), rng);
    return labels;
  };
  EXPECT_EQ(draw(11), draw(11));
  EXPECT_NE(draw(11), draw(12));
}

TEST(NewClasses, ProbabilityOneStillKeepsAClassAndOneCopyPerSourceAndTransform) {
  TrainStep step;
  std::vector<int> labels;
  episode(step, labels);
  Rng rng(3);
  // "reverse" alone: the one kept class can be the source of one copy; the others stay as drawn.
  const auto transforms = draw_new_classes(step, labels, kClasses, with(1, "reverse"), rng);
  int reversed = 0;
  for (int t : transforms) reversed += t == kReversed;
  EXPECT_EQ(reversed, 4);
}

TEST(NewClasses, BadStepsAreErrors) {
  TrainStep step;
  std::vector<int> labels;
  episode(step, labels);
  Rng rng(1);
  std::vector<int> short_labels(labels.begin(), labels.end() - 1);
  EXPECT_THROW(draw_new_classes(step, short_labels, kClasses, with(0.5, "reverse"), rng), Error);
  EXPECT_THROW(draw_new_classes(step, labels, 10, with(0.5, "reverse"), rng), Error) << "labels up to 31";
  EXPECT_THROW(new_class_transforms("rotate"), Error);
}

TEST(NewClasses, TransformsReverseTimeAndMoveBands) {
  const torch::Tensor clip = torch::arange(6 * 5, torch::kFloat).view({6, 5});
  EXPECT_TRUE(torch::equal(transform_clip(clip, kAsDrawn, 2), clip));
  EXPECT_TRUE(torch::equal(transform_clip(clip, kReversed, 2).select(1, 0), clip.select(1, 4)));
  EXPECT_TRUE(torch::equal(transform_clip(clip, kReversed, 2).flip({1}), clip));
  EXPECT_TRUE(torch::equal(transform_clip(clip, kShiftedUp, 2), shift_bands(clip, 2)));
  EXPECT_TRUE(torch::equal(transform_clip(clip, kShiftedDown, 2), shift_bands(clip, -2)));
  EXPECT_TRUE(torch::equal(transform_clip(clip, kShiftedUp, 2).select(0, 2), clip.select(0, 0)));
  EXPECT_THROW(transform_clip(clip, 9, 2), Error);
}

TEST(NewClasses, ConfigErrorsNameTheKey) {
  auto error_of = [](const Config& c) -> std::string {
    try {
      c.validate();
    } catch (const Error& e) {
      return e.what();
    }
    return {};
  };
  Config c;
  c.augment.new_class = 1.5;
  EXPECT_NE(error_of(c).find("augment.new_class"), std::string::npos);
  c = Config{};
  c.augment.new_class = 0.25;
  EXPECT_EQ(error_of(c), "");
  c.augment.new_class_transform = "rotate";
  EXPECT_NE(error_of(c).find("augment.new_class_transform"), std::string::npos);
  c = Config{};
  c.augment.new_class = 0.25;
  c.train.objective = "supcon";
  EXPECT_NE(error_of(c).find("augment.new_class"), std::string::npos);
  c = Config{};
  c.augment.new_class_shift = c.features.n_mels;
  EXPECT_NE(error_of(c).find("augment.new_class_shift"), std::string::npos);
}

TEST(NewClasses, TrainingWithThemLearnsDiffersAndResumesExactly) {
  const FeatureSet data = test::separable_features(std::vector<int>(16, 8), 32, 40);
  Config c;
  c.model.width = 4;
  c.model.embedding_dim = 16;
  c.split.n_val = 5;
  c.split.n_test = 3;
  c.train.steps_per_epoch = 6;
  c.train.epochs = 4;
  c.train.threads = 1;
  c.train.val_episodes = 200;
  c.train.bn_recalibration = 64;
  c.augment.new_class = 0.5;
  c.augment.new_class_transform = "reverse+shift";
  c.augment.new_class_shift = 4;
  TrainOptions quiet;
  quiet.progress = false;
  const TrainResult reference = train(c, data, quiet);
  ASSERT_EQ(reference.status, TrainStatus::Finished) << reference.message;
  ASSERT_EQ(reference.history.size(), 4u);
  EXPECT_GT(reference.best_accuracy, 0.5);  // 5-way 1-shot, chance 0.2
  Config off = c;
  off.augment.new_class = 0;
  EXPECT_NE(train(off, data, quiet).history[0].train_loss, reference.history[0].train_loss);

  TempDir dir;
  test::expect_resumes_exactly(c, data, reference.history, dir / "run");
}
