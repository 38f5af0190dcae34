// Several classes' curves -> events with the detector's rule: per window only
// the best positive class, and only above every negative class, may make or
// continue an event. Checked on hand-made curves and against a plain offline
// reference (eligible curves first, then events_from_curve per class).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <tuple>

#include "core/error.h"
#include "events/best_class_tracker.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

EventRules on_at(double on, double merge_gap = 0, double min_duration = 0) {
  EventRules r;
  r.on_threshold = on;
  r.merge_gap = merge_gap;
  r.min_duration = min_duration;
  return r;
}

std::vector<Event> run_all(BestClassTracker& t, const std::vector<std::vector<double>>& rows, double hop = 0.5) {
  std::vector<Event> out;
  for (std::size_t w = 0; w < rows.size(); ++w) {
    auto e = t.push(w * hop, w * hop + 1.0, rows[w]);
    out.insert(out.end(), e.begin(), e.end());
  }
  auto e = t.finish();
  out.insert(out.end(), e.begin(), e.end());
  return out;
}

TEST(BestClassTracker, OnlyTheBestPositiveClassOfAWindowMakesAnEvent) {
  // dog and cat are both above their thresholds in windows 1-3; dog is the better there, cat only in window 4.
  BestClassTracker t({"dog", "cat"}, {false, false}, {on_at(0.5), on_at(0.5)}, "a.wav");
  const auto events = run_all(t, {{0, 0}, {0.9, 0.8}, {0.9, 0.7}, {0.8, 0.6}, {0.1, 0.9}, {0, 0}});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].label, "dog");
  EXPECT_EQ(events[1].label, "cat");
  EXPECT_LT(events[0].onset, events[1].onset);
  EXPECT_EQ(events[0].filename, "a.wav");
}

TEST(BestClassTracker, ANegativeClassSuppressesAndNeverMakesEvents) {
  // "traffic" is negative: above dog in windows 1-2 (no dog event there), and
  // far above any threshold everywhere without an event of its own.
  BestClassTracker t({"dog", "traffic"}, {false, true}, {on_at(0.5), on_at(0.0)});
  const auto events = run_all(t, {{0.9, 0.95}, {0.9, 0.95}, {0.9, 0.1}, {0.9, 0.1}, {0.0, 5.0}, {0.0, 5.0}});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].label, "dog");
  EXPECT_NEAR(events[0].onset, 1.25, 1e-9);  // the cells of windows 2 and 3 (centres 1.5, 2.0)
  EXPECT_NEAR(events[0].offset, 2.25, 1e-9);
}

TEST(BestClassTracker, SizesMustAgree) {
  EXPECT_THROW(BestClassTracker({"dog"}, {false, true}, {on_at(0.5)}), Error);
  BestClassTracker t({"dog", "cat"}, {false, false}, {on_at(0.5), on_at(0.5)});
  const std::vector<double> one{0.9};
  EXPECT_NE(test::error_of([&] { t.push(0, 1, one); }).find("1 scores for 2 classes"), std::string::npos);
  const std::vector<std::pair<double, double>> windows{{0, 1}, {0.5, 1.5}};
  const std::vector<double> three{0.9, 0.1, 0.9};  // two windows of two classes need four
  EXPECT_NE(test::error_of([&] {
              events_from_curves({"dog", "cat"}, {false, false}, {on_at(0.5), on_at(0.5)}, windows, three);
            }).find("3 scores for 2 windows of 2 classes"),
            std::string::npos);
}

TEST(BestClassTracker, AgreesWithThePlainOfflineRule) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    const std::size_t n = 3, windows = 60;
    const std::vector<bool> negative{false, false, true};
    const std::vector<std::string> labels{"a", "b", "neg"};
    std::vector<EventRules> rules;
    for (std::size_t c = 0; c < n; ++c) {
      EventRules r = on_at(0.4 + 0.3 * u(rng), trial % 3 == 0 ? 0.0 : 1.0, trial % 2 ? 0.0 : 0.75);
      r.floor = 0.2;
      rules.push_back(r);
    }
    std::vector<std::vector<double>> rows(windows, std::vector<double>(n));
    for (auto& row : rows)
      for (auto& x : row) x = u(rng);
    BestClassTracker t(labels, negative, rules, "f");
    const auto got = run_all(t, rows);

    std::vector<Event> expected;
    for (std::size_t c = 0; c < n; ++c) {
      if (negative[c]) continue;
      std::vector<ScoredWindow> curve;
      for (std::size_t w = 0; w < windows; ++w) {
        const auto& r = rows[w];
        const bool best = c == 0 ? r[0] >= r[1] : r[1] > r[0];  // ties: the first class
        const bool eligible = best && r[c] > r[2];
        curve.push_back({w * 0.5, w * 0.5 + 1.0, eligible ? r[c] : std::numeric_limits<double>::lowest()});
      }
      auto e = events_from_curve(curve, labels[c], rules[c], "f");
      expected.insert(expected.end(), e.begin(), e.end());
    }
    auto key = [](const Event& e) { return std::tie(e.onset, e.label); };
    auto sorted = got;
    std::sort(sorted.begin(), sorted.end(), [&](const Event& x, const Event& y) { return key(x) < key(y); });
    std::sort(expected.begin(), expected.end(), [&](const Event& x, const Event& y) { return key(x) < key(y); });
    ASSERT_EQ(sorted.size(), expected.size()) << trial;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      EXPECT_EQ(sorted[i].label, expected[i].label);
      EXPECT_DOUBLE_EQ(sorted[i].onset, expected[i].onset);
      EXPECT_DOUBLE_EQ(sorted[i].offset, expected[i].offset);
      EXPECT_DOUBLE_EQ(sorted[i].score, expected[i].score);
    }
  }
}

}  // namespace
}  // namespace oneshot
