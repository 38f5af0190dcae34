// The reference events of a clip from its sounding part (events/sounding.h):
// tone bursts in silence and in quieter noise, gaps bridged or not, short
// spans dropped, silence, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "events/sounding.h"

namespace oneshot {
namespace {

constexpr int kRate = 1000;  // 20 ms frames = 20 samples

// `seconds` of silence with tone bursts of amplitude `amp` over [on, off) seconds.
std::vector<float> bursts(double seconds, const std::vector<std::pair<double, double>>& spans, float amp = 0.5f) {
  std::vector<float> x(static_cast<std::size_t>(seconds * kRate), 0.0f);
  for (auto [on, off] : spans)
    for (auto i = static_cast<std::size_t>(on * kRate); i < static_cast<std::size_t>(off * kRate); ++i)
      x[i] = amp * static_cast<float>(std::sin(2 * M_PI * 50.0 * i / kRate));
  return x;
}

TEST(SoundingSpans, OneBurstInSilenceIsOneSpanOnFrameEdges) {
  const auto spans = sounding_spans(bursts(5.0, {{1.0, 2.0}}), kRate);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_NEAR(spans[0].onset, 1.0, 1e-9);
  EXPECT_NEAR(spans[0].offset, 2.0, 1e-9);
}

TEST(SoundingSpans, ShortGapsAreBridgedLongGapsAreNot) {
  // Gaps of 0.2 s (< 0.5 s: bridged) and 1.0 s (kept).
  const auto x = bursts(6.0, {{0.5, 1.0}, {1.2, 1.6}, {2.6, 3.0}});
  const auto spans = sounding_spans(x, kRate);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_NEAR(spans[0].onset, 0.5, 1e-9);
  EXPECT_NEAR(spans[0].offset, 1.6, 1e-9);
  EXPECT_NEAR(spans[1].onset, 2.6, 1e-9);
  EXPECT_NEAR(spans[1].offset, 3.0, 1e-9);
  // With no merging, three spans.
  SoundingSpanRule rule;
  rule.merge_gap_s = 0;
  EXPECT_EQ(sounding_spans(x, kRate, rule).size(), 3u);
}

TEST(SoundingSpans, QuieterPartsBelowTheRangeAreNotTheSound) {
  // A loud burst (-9 dBFS RMS) over noise 30 dB below it: only the burst.
  std::vector<float> x = bursts(4.0, {{2.0, 2.5}}, 0.5f);
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.5f / std::sqrt(2.0f) * std::pow(10.0f, -30.0f / 20));
  for (float& v : x) v += noise(rng);
  auto spans = sounding_spans(x, kRate);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_NEAR(spans[0].onset, 2.0, 1e-9);
  EXPECT_NEAR(spans[0].offset, 2.5, 1e-9);
  // Within 40 dB the noise counts too: the whole clip.
  SoundingSpanRule wide;
  wide.within_db = 40;
  spans = sounding_spans(x, kRate, wide);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_NEAR(spans[0].onset, 0.0, 1e-9);
  EXPECT_NEAR(spans[0].offset, 4.0, 1e-9);
}

TEST(SoundingSpans, ALevelJustInsideOrOutsideTheRange) {
  // Burst A at amplitude 1, burst B 19 dB and burst C 21 dB quieter, 1 s apart.
  std::vector<float> x = bursts(6.0, {{0.0, 0.5}}, 1.0f);
  const auto b = bursts(6.0, {{2.0, 2.5}}, std::pow(10.0f, -19.0f / 20));
  const auto c = bursts(6.0, {{4.0, 4.5}}, std::pow(10.0f, -21.0f / 20));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += b[i] + c[i];
  const auto spans = sounding_spans(x, kRate);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_NEAR(spans[1].onset, 2.0, 1e-9);
}

TEST(SoundingSpans, MinimumDurationDropsClicks) {
  const auto x = bursts(3.0, {{0.5, 1.5}, {2.5, 2.54}});
  SoundingSpanRule rule;
  EXPECT_EQ(sounding_spans(x, kRate, rule).size(), 2u);
  rule.min_duration_s = 0.1;
  const auto spans = sounding_spans(x, kRate, rule);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_NEAR(spans[0].offset, 1.5, 1e-9);
}

TEST(SoundingSpans, SilenceAndNearSilenceHaveNoSpan) {
  EXPECT_TRUE(sounding_spans(std::vector<float>(3000, 0.0f), kRate).empty());
  EXPECT_TRUE(sounding_spans(std::vector<float>{}, kRate).empty());
  // A burst at -70 dBFS is below the -60 dBFS floor.
  EXPECT_TRUE(sounding_spans(bursts(2.0, {{0.5, 1.0}}, std::pow(10.0f, -67.0f / 20)), kRate).empty());
}

TEST(SoundingSpans, ALastShortFrameEndsAtTheClipsEnd) {
  // 1.01 s: frames of 20 samples, the last one 10 samples.
  std::vector<float> x(1010, 0.0f);
  for (std::size_t i = 900; i < x.size(); ++i) x[i] = (i % 2) ? 0.3f : -0.3f;
  const auto spans = sounding_spans(x, kRate);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_NEAR(spans[0].onset, 0.9, 1e-9);
  EXPECT_NEAR(spans[0].offset, 1.01, 1e-9);
}

TEST(SoundingSpans, BadInputIsNamed) {
  const std::vector<float> x(100, 0.1f);
  EXPECT_THROW(sounding_spans(x, 0), Error);
  SoundingSpanRule rule;
  rule.frame_s = 0;
  try {
    sounding_spans(x, kRate, rule);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("frame_s"), std::string::npos);
  }
  rule = {};
  rule.within_db = std::nan("");
  EXPECT_THROW(sounding_spans(x, kRate, rule), Error);
}

TEST(FrameLevels, StreamedInAnyBlocksTheSpansAreThoseOfTheWholeClip) {
  const auto x = bursts(6.03, {{0.5, 1.0}, {1.2, 1.6}, {2.6, 3.0}});
  FrameLevels meter(kRate, 0.02);
  for (std::size_t at = 0; at < x.size(); at += 37) meter.push(x.data() + at, std::min<std::size_t>(37, x.size() - at));
  meter.finish();
  EXPECT_EQ(meter.levels().size(), 302u);  // 301 whole frames and a 10-sample one
  EXPECT_NEAR(meter.seconds(), 6.03, 1e-12);
  const auto streamed = sounding_spans_of_levels(meter.levels(), 0, meter.levels().size(), meter.frame_seconds(),
                                                 meter.seconds(), SoundingSpanRule{});
  const auto whole = sounding_spans(x, kRate);
  ASSERT_EQ(streamed.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_DOUBLE_EQ(streamed[i].onset, whole[i].onset);
    EXPECT_DOUBLE_EQ(streamed[i].offset, whole[i].offset);
  }
  EXPECT_THROW(FrameLevels(0, 0.02), Error);
  EXPECT_THROW(FrameLevels(kRate, 0), Error);
}

TEST(SoundingParts, AnEventBecomesTheSoundingPartsInsideIt) {
  // Three barks 1 s apart (gaps > 0.5 s), one quieter by 10 dB (inside 20 dB),
  // and far after them a burst the event does not reach.
  std::vector<float> x = bursts(8.0, {{0.5, 1.0}, {2.0, 2.3}, {7.0, 7.5}});
  const auto third = bursts(8.0, {{3.3, 3.5}}, 0.5f / std::sqrt(10.0f));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += third[i];
  FrameLevels meter(kRate, 0.02);
  meter.push(x.data(), x.size());
  meter.finish();
  Event e{"rec.wav", 0.2, 4.0, "dog", 0.9};
  const auto parts = sounding_parts(e, meter, SoundingSpanRule{});
  ASSERT_EQ(parts.size(), 3u);
  const double want[3][2] = {{0.5, 1.0}, {2.0, 2.3}, {3.3, 3.5}};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(parts[i].onset, want[i][0], 1e-9);
    EXPECT_NEAR(parts[i].offset, want[i][1], 1e-9);
    EXPECT_EQ(parts[i].label, "dog");
    EXPECT_EQ(parts[i].filename, "rec.wav");
    EXPECT_EQ(parts[i].score, 0.9);
  }
  // A part is clamped to the event that holds it.
  const auto clamped = sounding_parts(Event{"rec.wav", 0.7, 1.5, "dog", 0.9}, meter, SoundingSpanRule{});
  ASSERT_EQ(clamped.size(), 1u);
  EXPECT_NEAR(clamped[0].onset, 0.7, 1e-9);
  EXPECT_NEAR(clamped[0].offset, 1.0, 1e-9);
  // The loudest frame is the event's own: alone, the quieter bark is the sound.
  const auto quiet = sounding_parts(Event{"rec.wav", 3.0, 4.0, "dog", 0.9}, meter, SoundingSpanRule{});
  ASSERT_EQ(quiet.size(), 1u);
  EXPECT_NEAR(quiet[0].onset, 3.3, 1e-9);
  // An event over silence, or past what was measured, stays as it was.
  const Event silent{"rec.wav", 4.5, 6.5, "dog", 0.9};
  const auto kept = sounding_parts(silent, meter, SoundingSpanRule{});
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].onset, 4.5);
  EXPECT_EQ(kept[0].offset, 6.5);
  EXPECT_EQ(sounding_parts(Event{"rec.wav", 9.0, 10.0, "dog", 0.9}, meter, SoundingSpanRule{}).size(), 1u);
}

TEST(SoundingPower, MeanSquareOverTheSpansOnly) {
  // 0.5 amplitude square wave over [1, 2) s, zeros elsewhere: power 0.25 over the span.
  std::vector<float> x(3000, 0.0f);
  for (std::size_t i = 1000; i < 2000; ++i) x[i] = (i % 2) ? 0.5f : -0.5f;
  EXPECT_NEAR(sounding_power(x.data(), x.size(), kRate, {{1.0, 2.0}}), 0.25, 1e-12);
  EXPECT_NEAR(sounding_power(x.data(), x.size(), kRate, {{0.0, 2.0}}), 0.125, 1e-12);
  EXPECT_EQ(sounding_power(x.data(), x.size(), kRate, {}), 0.0);
}

}  // namespace
}  // namespace oneshot
