// Event-based P/R/F with the DCASE few-shot rule: hand-computed counts, the
// maximum matching beating greedy matching, IoU exactly at the threshold,
// files and labels kept apart, empty lists, and the pruned candidate search
// against a brute-force one.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "core/error.h"
#include "events/event_metrics.h"

namespace oneshot {
namespace {

Event ev(const std::string& file, double on, double off, const std::string& label) { return {file, on, off, label}; }

const LabelScore& label_of(const EventScores& s, const std::string& label) {
  for (const LabelScore& l : s.labels)
    if (l.label == label) return l;
  throw std::runtime_error("no label " + label);
}

TEST(IntervalIou, OverlapOverUnion) {
  EXPECT_DOUBLE_EQ(interval_iou(0, 10, 0, 3), 0.3);
  EXPECT_DOUBLE_EQ(interval_iou(0, 2, 1, 3), 1.0 / 3);
  EXPECT_DOUBLE_EQ(interval_iou(0, 1, 1, 2), 0.0);  // touching
  EXPECT_DOUBLE_EQ(interval_iou(0, 1, 5, 6), 0.0);
  EXPECT_DOUBLE_EQ(interval_iou(2, 2, 2, 2), 0.0);  // no length
  EXPECT_DOUBLE_EQ(interval_iou(1, 4, 1, 4), 1.0);
}

TEST(ScoreEvents, HandComputedCounts) {
  const std::vector<Event> ref = {ev("a.wav", 1, 2, "dog"), ev("a.wav", 5, 6, "dog"), ev("a.wav", 8, 9, "dog"),
                                  ev("a.wav", 3, 4, "cat"), ev("b.wav", 0, 1, "dog")};
  const std::vector<Event> est = {
      ev("a.wav", 1.1, 2.1, "dog"),  // IoU 0.9 / 1.1: TP
      ev("a.wav", 5.5, 7, "dog"),    // IoU 0.5 / 2 = 0.25: FP, and [5, 6] is a FN
      ev("a.wav", 8, 9, "cat"),      // right time, wrong label: FP for cat, [8, 9] dog a FN
      ev("b.wav", 3, 4, "dog"),      // no overlap: FP, [0, 1] a FN
      ev("a.wav", 0, 1, "bird"),     // a label the reference does not have
      ev("c.wav", 1, 2, "dog"),      // a file the reference does not have
  };
  const EventScores s = score_events(ref, est);
  ASSERT_EQ(s.labels.size(), 3u);
  EXPECT_EQ(s.labels[0].label, "bird");  // sorted
  EXPECT_EQ(s.n_files, 3u);

  const EventCounts& dog = label_of(s, "dog").counts;
  EXPECT_EQ(dog.reference, 4u);
  EXPECT_EQ(dog.estimate, 4u);
  EXPECT_EQ(dog.tp, 1u);
  EXPECT_EQ(dog.fp(), 3u);
  EXPECT_EQ(dog.fn(), 3u);
  EXPECT_DOUBLE_EQ(dog.precision(), 0.25);
  EXPECT_DOUBLE_EQ(dog.recall(), 0.25);
  EXPECT_DOUBLE_EQ(dog.f_measure(), 0.25);

  const LabelScore& cat = label_of(s, "cat");
  EXPECT_TRUE(cat.in_reference);
  EXPECT_EQ(cat.counts.tp, 0u);
  EXPECT_EQ(cat.counts.fp(), 1u);
  EXPECT_EQ(cat.counts.fn(), 1u);
  EXPECT_DOUBLE_EQ(cat.counts.f_measure(), 0.0);

  const LabelScore& bird = label_of(s, "bird");
  EXPECT_FALSE(bird.in_reference);
  EXPECT_EQ(bird.counts.fp(), 1u);
  EXPECT_DOUBLE_EQ(bird.counts.recall(), 0.0);  // undefined: counted as 0

  EXPECT_DOUBLE_EQ(s.macro_f, 0.25 / 3);  // bird and cat count as 0
  EXPECT_DOUBLE_EQ(s.macro_precision, 0.25 / 3);
  EXPECT_DOUBLE_EQ(s.macro_recall, 0.25 / 3);
  EXPECT_EQ(s.micro.reference, 5u);
  EXPECT_EQ(s.micro.estimate, 6u);
  EXPECT_EQ(s.micro.tp, 1u);
  EXPECT_DOUBLE_EQ(s.micro.precision(), 1.0 / 6);
  EXPECT_DOUBLE_EQ(s.micro.recall(), 1.0 / 5);
  EXPECT_DOUBLE_EQ(s.micro.f_measure(), 2.0 / 11);
}

// Greedy one-to-one matching: each estimate, in order, takes the free
// reference with the highest IoU above the threshold.
std::size_t greedy_matches(const std::vector<Event>& ref, const std::vector<Event>& est, double t) {
  std::vector<bool> used(ref.size());
  std::size_t n = 0;
  for (const Event& e : est) {
    int best = -1;
    double best_iou = t;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const double iou = interval_iou(ref[i].onset, ref[i].offset, e.onset, e.offset);
      if (!used[i] && iou > best_iou) best = static_cast<int>(i), best_iou = iou;
    }
    if (best >= 0) used[best] = true, ++n;
  }
  return n;
}

TEST(ScoreEvents, MaximumMatchingFindsMoreThanGreedy) {
  // X overlaps both references, best with A (IoU 0.6 vs 0.48); Y only A (0.4).
  // Greedy (X first, or by highest IoU) gives A to X and leaves Y unmatched;
  // the maximum matching pairs X-B and Y-A.
  const std::vector<Event> ref = {ev("f", 0, 10, "x"), ev("f", 6, 16, "x")};
  const std::vector<Event> est = {ev("f", 2.5, 12.5, "x"), ev("f", 0, 4, "x")};
  EXPECT_EQ(greedy_matches(ref, est, 0.3), 1u);
  const EventScores s = score_events(ref, est);
  EXPECT_EQ(s.micro.tp, 2u);
  EXPECT_DOUBLE_EQ(s.macro_f, 1.0);
}

TEST(ScoreEvents, IouExactlyAtTheThresholdDoesNotMatch) {
  const std::vector<Event> ref = {ev("f", 0, 10, "x")};
  EXPECT_EQ(score_events(ref, {ev("f", 0, 3, "x")}).micro.tp, 0u);        // IoU exactly 0.3
  EXPECT_EQ(score_events(ref, {ev("f", 0, 3.001, "x")}).micro.tp, 1u);    // just above
  EXPECT_EQ(score_events(ref, {ev("f", 0, 3, "x")}, 0.2).micro.tp, 1u);   // --iou 0.2
  EXPECT_EQ(score_events(ref, {ev("f", 10, 12, "x")}, 0.0).micro.tp, 0u); // touching: IoU 0, not > 0
  EXPECT_EQ(score_events(ref, {ev("f", 9, 12, "x")}, 0.0).micro.tp, 1u);  // any overlap at --iou 0
}

TEST(ScoreEvents, DifferentFilesOrLabelsNeverMatch) {
  const std::vector<Event> ref = {ev("a.wav", 0, 1, "x")};
  EXPECT_EQ(score_events(ref, {ev("b.wav", 0, 1, "x")}).micro.tp, 0u);
  EXPECT_EQ(score_events(ref, {ev("a.wav", 0, 1, "y")}).micro.tp, 0u);
  EXPECT_EQ(score_events(ref, {ev("A.wav", 0, 1, "x")}).micro.tp, 0u);  // literal names
  EXPECT_EQ(score_events(ref, {ev("a.wav", 0, 1, "x")}).micro.tp, 1u);
}

TEST(ScoreEvents, EmptyEstimateAndEmptyLists) {
  const EventScores s = score_events({ev("f", 0, 1, "x"), ev("f", 2, 3, "y")}, {});
  ASSERT_EQ(s.labels.size(), 2u);
  EXPECT_EQ(s.micro.fn(), 2u);
  EXPECT_EQ(s.micro.fp(), 0u);
  EXPECT_DOUBLE_EQ(s.macro_precision, 0.0);
  EXPECT_DOUBLE_EQ(s.macro_recall, 0.0);
  EXPECT_DOUBLE_EQ(s.macro_f, 0.0);
  const EventScores none = score_events({}, {});
  EXPECT_TRUE(none.labels.empty());
  EXPECT_DOUBLE_EQ(none.macro_f, 0.0);
  EXPECT_DOUBLE_EQ(none.micro.f_measure(), 0.0);
}

TEST(ScoreEvents, RefusesABadThresholdOrEvent) {
  EXPECT_THROW(score_events({}, {}, 1.0), Error);
  EXPECT_THROW(score_events({}, {}, -0.1), Error);
  EXPECT_THROW(score_events({}, {}, NAN), Error);
  try {
    score_events({ev("f", 2, 1, "x")}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reference event 1 (f, x): onset 2 is after offset 1"), std::string::npos)
        << e.what();
  }
}

// Kuhn's augmenting paths on all pairs: the brute-force reference.
std::size_t brute_force_matches(const std::vector<Event>& ref, const std::vector<Event>& est, double t) {
  std::vector<int> owner(est.size(), -1);
  std::size_t n = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    std::vector<bool> seen(est.size());
    std::function<bool(std::size_t)> augment = [&](std::size_t r) {
      for (std::size_t j = 0; j < est.size(); ++j) {
        if (seen[j] || ref[r].filename != est[j].filename || ref[r].label != est[j].label ||
            interval_iou(ref[r].onset, ref[r].offset, est[j].onset, est[j].offset) <= t)
          continue;
        seen[j] = true;
        if (owner[j] < 0 || augment(owner[j])) {
          owner[j] = static_cast<int>(r);
          return true;
        }
      }
      return false;
    };
    if (augment(i)) ++n;
  }
  return n;
}

TEST(ScoreEvents, AgreesWithBruteForceMatchingOnRandomLists) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::size_t total = 0;
  for (int trial = 0; trial < 200; ++trial) {
    auto random_list = [&](int n) {
      std::vector<Event> list;
      for (int i = 0; i < n; ++i) {
        const double on = 30 * u(rng), length = u(rng) < 0.2 ? 0 : 6 * u(rng) * u(rng);
        list.push_back(ev(u(rng) < 0.5 ? "a" : "b", on, on + length, u(rng) < 0.7 ? "x" : "y"));
      }
      return list;
    };
    const auto ref = random_list(1 + trial % 25), est = random_list(1 + (trial * 7) % 30);
    const double t = trial % 3 == 0 ? 0.0 : 0.3;
    const std::size_t expected = brute_force_matches(ref, est, t);
    EXPECT_EQ(score_events(ref, est, t).micro.tp, expected) << "trial " << trial;
    total += expected;
  }
  EXPECT_GT(total, 200u);  // the lists do overlap (264 matches)
}

TEST(MaximumBipartiteMatching, NeedsASecondPhaseToReroute) {
  // Left 0 may take 0 or 1, left 1 only 0: the first phase gives 0 to left 0.
  const auto m = maximum_bipartite_matching({{0, 1}, {0}}, 2);
  EXPECT_EQ(m, (std::vector<int>{1, 0}));
  // A long chain: left i may take i or i+1 and every left's first choice is
  // taken by the one before; far deeper than recursion would like.
  const int n = 200000;
  std::vector<std::vector<int>> chain(n);
  for (int i = 0; i < n; ++i) chain[i] = i + 1 < n ? std::vector<int>{i + 1, i} : std::vector<int>{i};
  const auto c = maximum_bipartite_matching(chain, n);
  EXPECT_EQ(std::count(c.begin(), c.end(), -1), 0);
}

}  // namespace
}  // namespace oneshot
