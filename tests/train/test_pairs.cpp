#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "train/pairs.h"
#include "train/split.h"

using namespace oneshot;

namespace {

std::vector<int> labels_of(const std::vector<int>& sizes) {
  std::vector<int> out;
  for (std::size_t c = 0; c < sizes.size(); ++c) out.insert(out.end(), static_cast<std::size_t>(sizes[c]), static_cast<int>(c));
  return out;
}
std::vector<std::size_t> all_clips(const std::vector<int>& labels) {
  std::vector<std::size_t> out(labels.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

// Each pair of a step: endpoints differ, target says whether the labels agree.
void expect_pairs_consistent(const TrainStep& step, const std::vector<int>& labels) {
  std::vector<std::size_t> rows;
  for (const auto& in : step.inputs) rows.insert(rows.end(), in.begin(), in.end());
  ASSERT_EQ(step.left.size(), step.n_pairs());
  ASSERT_EQ(step.right.size(), step.n_pairs());
  ASSERT_EQ(step.weight.size(), step.n_pairs());
  for (std::size_t i = 0; i < step.n_pairs(); ++i) {
    const std::size_t a = rows.at(static_cast<std::size_t>(step.left[i]));
    const std::size_t b = rows.at(static_cast<std::size_t>(step.right[i]));
    EXPECT_NE(a, b) << "self-pair";
    EXPECT_EQ(step.target[i] == 1.0f, labels[a] == labels[b]);
    EXPECT_GT(step.weight[i], 0.0f);
  }
}

}  // namespace

TEST(AnchorCounts, FollowTheOriginalArithmetic) {
  // ESC-50: 40 clips a class -> 20 positives, 20 negatives, 20 anchors.
  auto c = anchor_counts(40, 1.0, 1.0);
  EXPECT_EQ(c.positives, 20);
  EXPECT_EQ(c.negatives, 20);
  EXPECT_EQ(c.anchors, 20);
  c = anchor_counts(40, 0.5, 2.0);  // int(40 / 2 * 0.5) = 10, int(10 * 2) = 20
  EXPECT_EQ(c.positives, 10);
  EXPECT_EQ(c.negatives, 20);
  EXPECT_EQ(c.anchors, 30);
  c = anchor_counts(7, 1.0, 0.5);  // int(3.5) = 3, int(1.5) = 1
  EXPECT_EQ(c.positives, 3);
  EXPECT_EQ(c.negatives, 1);
  EXPECT_EQ(c.anchors, 4);
  c = anchor_counts(3, 0.1, 1.0);  // max(int(0.15), 1) = 1
  EXPECT_EQ(c.positives, 1);
  EXPECT_EQ(c.anchors, 2);
}

TEST(AnchorPairs, FullEsc50ShapeGives32000Pairs) {
  const auto labels = labels_of(std::vector<int>(40, 40));
  AnchorPairs pairs(all_clips(labels), labels, 20, 1.0, 1.0, 1);
  EXPECT_EQ(pairs.pairs().size(), 32000u);  // 40 classes x 20 anchors x (20 + 20)
  EXPECT_EQ(pairs.steps_per_pass(), 1600u);
}

TEST(AnchorPairs, EachAnchorHasItsPositivesAndNegatives) {
  const std::vector<int> sizes = {8, 8, 8, 8};
  const auto labels = labels_of(sizes);
  AnchorPairs pairs(all_clips(labels), labels, 5, 1.0, 1.0, 3);
  const auto& p = pairs.pairs();
  // 4 classes x (8 - 4) anchors x (4 + 4) pairs.
  ASSERT_EQ(p.size(), 4u * 4u * 8u);
  std::set<std::size_t> anchors;
  std::map<std::size_t, int> used_as_anchor_before;  // position of each anchor in generation order
  for (std::size_t i = 0; i < p.size(); i += 8) {
    const std::size_t anchor = p[i].a;
    EXPECT_TRUE(anchors.insert(anchor).second) << "anchors are drawn without replacement";
    std::set<std::size_t> partners;
    for (std::size_t j = i; j < i + 8; ++j) {
      EXPECT_EQ(p[j].a, anchor);
      EXPECT_NE(p[j].b, anchor);
      EXPECT_EQ(p[j].same, j < i + 4) << "4 positives then 4 negatives";
      EXPECT_EQ(labels[p[j].b] == labels[anchor], p[j].same);
      EXPECT_TRUE(partners.insert(p[j].b).second) << "partners drawn without replacement";
      // As the original: partners come from clips not yet used as anchors.
      EXPECT_FALSE(used_as_anchor_before.count(p[j].b));
    }
    used_as_anchor_before[anchor] = static_cast<int>(i);
  }
}

TEST(AnchorPairs, UnequalClassSizesUsePerClassCounts) {
  const std::vector<int> sizes = {10, 4, 6, 2};
  const auto labels = labels_of(sizes);
  AnchorPairs pairs(all_clips(labels), labels, 7, 1.0, 1.0, 5);
  std::map<int, int> anchors_per_class;
  std::map<std::size_t, std::pair<int, int>> per_anchor;  // anchor -> (positives, negatives)
  for (const auto& pr : pairs.pairs()) {
    auto& c = per_anchor[pr.a];
    (pr.same ? c.first : c.second)++;
    EXPECT_NE(pr.a, pr.b);
    EXPECT_EQ(labels[pr.a] == labels[pr.b], pr.same);
  }
  for (const auto& [anchor, counts] : per_anchor) {
    const auto expected = anchor_counts(static_cast<std::size_t>(sizes[static_cast<std::size_t>(labels[anchor])]), 1.0, 1.0);
    EXPECT_EQ(counts.first, expected.positives);
    EXPECT_LE(counts.second, expected.negatives);  // at most: the pool of other classes can run low
    anchors_per_class[labels[anchor]]++;
  }
  for (int c = 0; c < 4; ++c)
    EXPECT_EQ(anchors_per_class[c], anchor_counts(static_cast<std::size_t>(sizes[static_cast<std::size_t>(c)]), 1.0, 1.0).anchors);
}

TEST(AnchorPairs, StepsCoverThePairsReshuffledEachPass) {
  const auto labels = labels_of({6, 6, 6});
  AnchorPairs pairs(all_clips(labels), labels, 4, 1.0, 1.0, 9);
  const std::size_t n = pairs.pairs().size();  // 3 x 3 x 6 = 54 -> 13 steps of 4, 2 dropped
  ASSERT_EQ(n, 54u);
  ASSERT_EQ(pairs.steps_left_in_pass(), 13u);
  auto pass = [&] {
    std::vector<std::pair<std::size_t, std::size_t>> seen;
    for (int s = 0; s < 13; ++s) {
      TrainStep step = pairs.next();
      EXPECT_EQ(step.inputs.size(), 2u) << "two encoder calls, as the original's two inputs";
      EXPECT_EQ(step.n_pairs(), 4u);
      expect_pairs_consistent(step, labels);
      for (std::size_t i = 0; i < 4; ++i) seen.emplace_back(step.inputs[0][i], step.inputs[1][i]);
    }
    return seen;
  };
  const auto first = pass();
  EXPECT_EQ(pairs.steps_left_in_pass(), 13u) << "a new pass starts after 13 steps";
  const auto second = pass();
  EXPECT_NE(first, second) << "reshuffled";
  std::set<std::pair<std::size_t, std::size_t>> distinct(first.begin(), first.end());
  EXPECT_EQ(distinct.size(), 52u) << "no pair twice within a pass";
}

TEST(AnchorPairs, StateRestoresTheStreamExactly) {
  const auto labels = labels_of({6, 6, 6});
  AnchorPairs a(all_clips(labels), labels, 4, 1.0, 1.0, 9);
  for (int i = 0; i < 17; ++i) a.next();  // into the second pass
  const auto state = a.state();
  AnchorPairs b(all_clips(labels), labels, 4, 1.0, 1.0, 9);
  b.restore(state);
  for (int i = 0; i < 20; ++i) {
    const TrainStep x = a.next(), y = b.next();
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.target, y.target);
  }
  AnchorPairs other(all_clips(labels_of({6, 6})), labels_of({6, 6}), 4, 1.0, 1.0, 9);
  EXPECT_THROW(other.restore(state), Error);
}

TEST(BatchPairs, ThreeClassesOfFourTrainInOneStep) {
  const auto labels = labels_of({4, 4, 4});
  BatchPairs pairs(all_clips(labels), labels, 8, 4, 1.0, "sampled", 1);
  EXPECT_EQ(pairs.classes_per_step(), 3);  // P shrinks to the 3 classes
  EXPECT_EQ(pairs.clips_per_step_class(), 4);
  EXPECT_EQ(pairs.steps_left_in_pass(), 1u);
  const TrainStep step = pairs.next();
  ASSERT_EQ(step.inputs.size(), 1u) << "each clip encoded once";
  EXPECT_EQ(step.n_clips(), 12u);
  EXPECT_EQ(std::set<std::size_t>(step.inputs[0].begin(), step.inputs[0].end()).size(), 12u);
  EXPECT_EQ(step.n_positive(), 18u);  // 3 classes x C(4, 2)
  EXPECT_EQ(step.n_pairs(), 36u);     // + 18 of the 48 negatives
  expect_pairs_consistent(step, labels);
}

TEST(BatchPairs, WeightedModeKeepsAllNegatives) {
  const auto labels = labels_of({4, 4, 4});
  BatchPairs pairs(all_clips(labels), labels, 8, 4, 2.0, "weighted", 1);
  const TrainStep step = pairs.next();
  EXPECT_EQ(step.n_positive(), 18u);
  EXPECT_EQ(step.n_pairs(), 18u + 48u);  // every pair of the 12 clips: C(12, 2) = 66
  double pos = 0, neg = 0;
  for (std::size_t i = 0; i < step.n_pairs(); ++i) (step.target[i] == 1.0f ? pos : neg) += step.weight[i];
  EXPECT_NEAR(neg, 2.0 * pos, 1e-4) << "negatives weigh neg_pair_ratio x the positives";
  expect_pairs_consistent(step, labels);
  EXPECT_THROW(BatchPairs(all_clips(labels), labels, 8, 4, 1.0, "some", 1), Error);
}

TEST(BatchPairs, APassDrawsEachClipOnce) {
  const auto labels = labels_of(std::vector<int>(10, 8));  // 80 clips, P 4 x K 4 -> 5 steps
  BatchPairs pairs(all_clips(labels), labels, 4, 4, 1.0, "sampled", 11);
  ASSERT_EQ(pairs.steps_left_in_pass(), 5u);
  std::map<std::size_t, int> seen;
  for (int s = 0; s < 5; ++s) {
    const TrainStep step = pairs.next();
    EXPECT_EQ(step.n_clips(), 16u);
    std::set<int> classes;
    for (std::size_t c : step.inputs[0]) {
      seen[c]++;
      classes.insert(labels[c]);
    }
    EXPECT_EQ(classes.size(), 4u);
    EXPECT_EQ(step.n_positive(), 4u * 6u);
    EXPECT_EQ(step.n_pairs(), 2u * 24u);
    expect_pairs_consistent(step, labels);
  }
  EXPECT_EQ(seen.size(), 80u);
  for (const auto& [clip, n] : seen) EXPECT_EQ(n, 1) << "clip " << clip;
}

TEST(BatchPairs, UnequalClassesAndStateRestore) {
  const std::vector<int> sizes = {9, 3, 5, 1, 7};
  const auto labels = labels_of(sizes);
  BatchPairs a(all_clips(labels), labels, 3, 4, 1.0, "sampled", 4);
  std::map<std::size_t, int> seen;
  const std::size_t steps = a.steps_left_in_pass();
  for (std::size_t s = 0; s < steps; ++s) {
    const TrainStep step = a.next();
    std::set<std::size_t> distinct(step.inputs[0].begin(), step.inputs[0].end());
    EXPECT_EQ(distinct.size(), step.n_clips()) << "no clip twice in a step";
    std::set<int> classes;
    for (std::size_t c : step.inputs[0]) {
      seen[c]++;
      classes.insert(labels[c]);
    }
    EXPECT_GE(classes.size(), 2u) << "every step has negatives";
    expect_pairs_consistent(step, labels);
  }
  EXPECT_EQ(seen.size(), labels.size()) << "every clip at least once a pass";
  for (int i = 0; i < 3; ++i) a.next();
  const auto state = a.state();
  BatchPairs b(all_clips(labels), labels, 3, 4, 1.0, "sampled", 4);
  b.restore(state);
  for (int i = 0; i < 12; ++i) {
    const TrainStep x = a.next(), y = b.next();
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.left, y.left);
    EXPECT_EQ(x.right, y.right);
  }
}

TEST(PairSource, ModeFromConfig) {
  const auto labels = labels_of({4, 4, 4, 4});
  TrainConfig c;
  c.pairs = "batch";
  auto s = make_pair_source(c, labels, {0, 1, 2});
  const TrainStep step = s->next();
  for (std::size_t clip : step.inputs[0]) EXPECT_LT(labels[clip], 3) << "only training classes";
  c.pairs = "anchors";
  s = make_pair_source(c, labels, {1, 3});
  EXPECT_NE(s->describe().find("anchors"), std::string::npos);
  EXPECT_THROW(make_pair_source(c, labels, {9}), Error);
}
