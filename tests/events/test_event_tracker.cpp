// Score curve -> events: hysteresis, merging, minimum duration, the cell time
// span, streaming (each event returned by the push the header promises) and
// agreement with a plain offline implementation of the same rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "events/event_tracker.h"

namespace oneshot {
namespace {

// Windows of length `length` every `hop` seconds from 0, one per score.
std::vector<ScoredWindow> curve(const std::vector<double>& scores, double hop = 0.5, double length = 1.0) {
  std::vector<ScoredWindow> c;
  for (std::size_t i = 0; i < scores.size(); ++i) c.push_back({i * hop, i * hop + length, scores[i]});
  return c;
}

EventRules rules(double on, double off = NAN, double min_duration = 0, double merge_gap = 0) {
  EventRules r;
  r.on_threshold = on;
  r.off_threshold = off;
  r.min_duration = min_duration;
  r.merge_gap = merge_gap;
  return r;
}

double iou(double a0, double a1, double b0, double b1) {
  const double inter = std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
  return inter / (std::max(a1, b1) - std::min(a0, b0));
}

TEST(DefaultOffThreshold, HalfWayToTheFloorOrNoHysteresis) {
  EXPECT_DOUBLE_EQ(default_off_threshold(0.5, 0.0), 0.25);  // probabilities: the usual 0.5 / 0.25
  EXPECT_DOUBLE_EQ(default_off_threshold(0.8, 0.2), 0.5);   // cosine scores
  EXPECT_DOUBLE_EQ(default_off_threshold(-1.0, -3.0), -2.0);  // negative distances
  EXPECT_DOUBLE_EQ(default_off_threshold(0.5, NAN), 0.5);   // no floor: off = on
  EXPECT_DOUBLE_EQ(default_off_threshold(0.5, 0.7), 0.5);   // a floor above on: off = on
  EventRules r = rules(0.5);
  r.floor = 0.1;
  EXPECT_DOUBLE_EQ(r.resolved_off_threshold(), 0.3);
  r.off_threshold = 0.45;  // an explicit off wins
  EXPECT_DOUBLE_EQ(r.resolved_off_threshold(), 0.45);
}

TEST(EventTracker, OneEventSpansTheCellsOfItsWindows) {
  // Windows [0.5k, 0.5k+1]: centres 0.5k+0.5; window k's cell starts at
  // 0.5k+0.25 (the first at 0). Windows 2 and 3 are above: cells [1.25, 2.25].
  const auto c = curve({0, 0, 0.9, 0.8, 0.1, 0, 0});
  EventTracker t("dog", rules(0.5), "a.wav");
  std::vector<std::vector<Event>> returned;
  for (const auto& w : c) returned.push_back(t.push(w));
  for (std::size_t i = 0; i < returned.size(); ++i) EXPECT_EQ(returned[i].size(), i == 4 ? 1u : 0u) << i;
  const Event& e = returned[4][0];  // returned by the first window below off
  EXPECT_EQ(e.filename, "a.wav");
  EXPECT_EQ(e.label, "dog");
  EXPECT_DOUBLE_EQ(e.onset, 1.25);
  EXPECT_DOUBLE_EQ(e.offset, 2.25);
  EXPECT_DOUBLE_EQ(e.score, 0.9);  // the maximum over its windows
  EXPECT_TRUE(t.finish().empty());
}

TEST(EventTracker, HysteresisKeepsADipAboveOffInOneEvent) {
  const auto c = curve({0, 0.9, 0.35, 0.9, 0.1, 0});
  // off = on: the dip to 0.35 splits the sound.
  EXPECT_EQ(events_from_curve(c, "x", rules(0.5)).size(), 2u);
  // off 0.3 (explicit, or half way to a floor of 0.1): one event.
  for (const EventRules& r : {rules(0.5, 0.3), [] {
                                EventRules f = rules(0.5);
                                f.floor = 0.1;
                                return f;
                              }()}) {
    const auto events = events_from_curve(c, "x", r);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_DOUBLE_EQ(events[0].onset, 0.75);
    EXPECT_DOUBLE_EQ(events[0].offset, 2.25);
  }
  // A window between off and on does not start an event.
  EXPECT_TRUE(events_from_curve(curve({0, 0.4, 0.45, 0.4, 0}), "x", rules(0.5, 0.3)).empty());
}

TEST(EventTracker, MergesEventsCloserThanTheGapAndWaitsForIt) {
  // Events at windows 1 and 4: cells [0.75, 1.25] and [2.25, 2.75], a gap of 1 s.
  const auto c = curve({0, 0.9, 0, 0, 0.7, 0, 0, 0, 0, 0});
  ASSERT_EQ(events_from_curve(c, "x", rules(0.5, NAN, 0, 1.0)).size(), 2u);  // gap 1 is not < 1
  {
    EventTracker t("x", rules(0.5, NAN, 0, 1.01));
    std::vector<std::size_t> when;
    std::vector<Event> events;
    for (std::size_t i = 0; i < c.size(); ++i)
      for (const Event& e : t.push(c[i])) {
        events.push_back(e);
        when.push_back(i);
      }
    ASSERT_EQ(events.size(), 1u);
    EXPECT_DOUBLE_EQ(events[0].onset, 0.75);
    EXPECT_DOUBLE_EQ(events[0].offset, 2.75);
    EXPECT_DOUBLE_EQ(events[0].score, 0.9);
    // Returned by the first window whose centre (0.5k + 0.5) is >= 2.75 + 1.01: k = 7.
    EXPECT_EQ(when[0], 7u);
  }
  // Without merging the first event comes out with window 2, not later.
  EventTracker t("x", rules(0.5));
  t.push(c[0]);
  EXPECT_TRUE(t.push(c[1]).empty());
  EXPECT_EQ(t.push(c[2]).size(), 1u);
}

TEST(EventTracker, MinDurationDropsShortEventsAfterMerging) {
  // Two 0.5 s events 0.5 s apart: each shorter than 1 s, merged they are 1.5 s.
  const auto c = curve({0, 0.9, 0, 0.9, 0, 0, 0, 0});
  EXPECT_TRUE(events_from_curve(c, "x", rules(0.5, NAN, 1.0)).empty());
  const auto merged = events_from_curve(c, "x", rules(0.5, NAN, 1.0, 0.6));
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_DOUBLE_EQ(merged[0].duration(), 1.5);
  // An event exactly min_duration long is kept.
  EXPECT_EQ(events_from_curve(c, "x", rules(0.5, NAN, 0.5)).size(), 2u);
}

TEST(EventTracker, FinishFlushesAnOpenEventToTheLastWindowsEnd) {
  EventTracker t("x", rules(0.5));
  for (const auto& w : curve({0, 0, 0.8, 0.9})) EXPECT_TRUE(t.push(w).empty());
  EXPECT_TRUE(t.active());
  const auto events = t.finish();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_DOUBLE_EQ(events[0].onset, 1.25);
  EXPECT_DOUBLE_EQ(events[0].offset, 2.5);  // the last window's end
  EXPECT_TRUE(t.finish().empty());
  EXPECT_THROW(t.push(2, 3, 0.1), Error);
  // An event from the first window starts at the recording's start.
  const auto first = events_from_curve(curve({0.9, 0}), "x", rules(0.5));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_DOUBLE_EQ(first[0].onset, 0.0);
}

TEST(EventTracker, FinishFlushesAnEventWaitingForTheMergeGap) {
  const auto events = events_from_curve(curve({0, 0.9, 0, 0}), "x", rules(0.5, NAN, 0, 5.0));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_DOUBLE_EQ(events[0].offset, 1.25);
}

TEST(EventTracker, ErrorsNameTheProblem) {
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message([] { EventTracker("x", rules(NAN)); }).find("on threshold nan is not finite"), std::string::npos);
  EXPECT_NE(message([] { EventTracker("x", rules(0.5, 0.6)); }).find("above the on threshold"), std::string::npos);
  EXPECT_NE(message([] { EventTracker("x", rules(0.5, NAN, -1)); }).find("min duration -1"), std::string::npos);
  EXPECT_NE(message([] { EventTracker("x", rules(0.5, NAN, 0, NAN)); }).find("merge gap nan"), std::string::npos);
  EventTracker t("dog", rules(0.5), "a.wav");
  t.push(1, 2, 0.1);
  EXPECT_NE(message([&] { t.push(0, 1, 0.1); }).find("'dog' in a.wav: window centres must not go back"),
            std::string::npos);
  EXPECT_NE(message([&] { t.push(3, 2, 0.1); }).find("ends (2 s) before it starts (3 s)"), std::string::npos);
  EXPECT_NE(message([&] { t.push(2, 3, NAN); }).find("score nan of the window at 2 s is not finite"),
            std::string::npos);
}

TEST(EventTracker, CentredSpanLocatesASoundLongerThanTheWindow) {
  // A sound at [10, 13]; 1 s windows every 0.1 s; the score is the fraction of
  // the window the sound fills. Threshold 0.5: the window's centre is inside
  // the sound, so the cells cover it to within half a hop. The union of the
  // windows above threshold would be [9.5, 13.5] (IoU 0.75).
  std::vector<ScoredWindow> c;
  for (int i = 0; i <= 200; ++i) {
    const double s = i * 0.1, e = s + 1;
    c.push_back({s, e, std::max(0.0, std::min(e, 13.0) - std::max(s, 10.0))});
  }
  const auto events = events_from_curve(c, "x", rules(0.5));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NEAR(events[0].onset, 10.0, 0.051);
  EXPECT_NEAR(events[0].offset, 13.0, 0.051);
  EXPECT_GT(iou(events[0].onset, events[0].offset, 10, 13), 0.96);
}

TEST(EventTracker, ASoundShorterThanTheWindowIsCentredAboutAWindowLong) {
  // A 1 s sound at [10, 11] in 4 s windows: the score is the fraction of the
  // sound inside the window. The event is centred on the sound, ~W long.
  std::vector<ScoredWindow> c;
  for (int i = 0; i <= 200; ++i) {
    const double s = i * 0.1, e = s + 4;
    c.push_back({s, e, std::max(0.0, std::min(e, 11.0) - std::max(s, 10.0))});
  }
  const auto events = events_from_curve(c, "x", rules(0.5));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NEAR(0.5 * (events[0].onset + events[0].offset), 10.5, 0.051);
  EXPECT_NEAR(events[0].duration(), 4.0, 0.11);
}

// The rules applied offline, by the book: runs by hysteresis (cells as in the
// header), merge, drop short.
std::vector<Event> offline(const std::vector<ScoredWindow>& c, const EventRules& r) {
  const double off = r.resolved_off_threshold();
  auto lower = [&](std::size_t i) {
    return i == 0 ? c[0].start : 0.5 * ((c[i - 1].start + c[i - 1].end) / 2 + (c[i].start + c[i].end) / 2);
  };
  auto upper = [&](std::size_t i) { return i + 1 == c.size() ? c[i].end : lower(i + 1); };
  std::vector<Event> runs;
  for (std::size_t i = 0; i < c.size();) {
    if (c[i].score < r.on_threshold) {
      ++i;
      continue;
    }
    std::size_t j = i;
    double best = c[i].score;
    while (j + 1 < c.size() && c[j + 1].score >= off) best = std::max(best, c[++j].score);
    runs.push_back({"", lower(i), upper(j), "x", best});
    i = j + 1;
  }
  std::vector<Event> merged;
  for (const Event& e : runs) {
    if (!merged.empty() && e.onset - merged.back().offset < r.merge_gap) {
      merged.back().offset = e.offset;
      merged.back().score = std::max(merged.back().score, e.score);
    } else {
      merged.push_back(e);
    }
  }
  std::vector<Event> out;
  for (const Event& e : merged)
    if (e.duration() >= r.min_duration) out.push_back(e);
  return out;
}

TEST(EventTracker, StreamingAgreesWithTheOfflineRulesAndTheLatencyBound) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  std::size_t n_events = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const double hop = 0.05 + 0.5 * u(rng), length = hop * (1 + 6 * u(rng));
    std::vector<double> scores;
    double s = u(rng);
    for (int i = 0; i < 150; ++i) scores.push_back(s = std::clamp(s + 0.4 * (u(rng) - 0.5), 0.0, 1.0));
    const auto c = curve(scores, hop, length);
    const EventRules r = rules(0.55, 0.55 - 0.3 * u(rng), u(rng) < 0.5 ? 0 : 2 * u(rng), u(rng) < 0.3 ? 0 : 3 * u(rng));

    EventTracker t("x", r);
    std::vector<Event> streamed;
    for (std::size_t i = 0; i < c.size(); ++i)
      for (const Event& e : t.push(c[i])) {
        // Returned no later than the header's bound, and never before it is final.
        const double centre = 0.5 * (c[i].start + c[i].end);
        EXPECT_LE(centre, e.offset + r.merge_gap + hop + 1e-9) << trial;
        EXPECT_GE(centre, e.offset) << trial;
        streamed.push_back(e);
      }
    for (const Event& e : t.finish()) streamed.push_back(e);

    const auto expected = offline(c, r);
    n_events += expected.size();
    ASSERT_EQ(streamed.size(), expected.size()) << "trial " << trial;
    for (std::size_t k = 0; k < expected.size(); ++k) {
      EXPECT_DOUBLE_EQ(streamed[k].onset, expected[k].onset) << trial;
      EXPECT_DOUBLE_EQ(streamed[k].offset, expected[k].offset) << trial;
      EXPECT_DOUBLE_EQ(streamed[k].score, expected[k].score) << trial;
    }
  }
  EXPECT_GT(n_events, 600u);  // the curves do make events
}

}  // namespace
}  // namespace oneshot
