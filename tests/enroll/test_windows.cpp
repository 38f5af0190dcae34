// Cutting recordings into the model's windows and picking the ones that hold
// the sound: window plans at their edges, zero padding, the level rule on a
// burst in noise, a steady sound, and the refusal of silence; --segment parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "core/error.h"
#include "enroll/windows.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

using Starts = std::vector<std::size_t>;
using test::error_of;

// Gaussian noise of RMS level `dbfs`.
std::vector<float> noise(std::size_t n, double dbfs, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, static_cast<float>(std::pow(10.0, dbfs / 20.0)));
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  return x;
}

// Adds a 1 kHz sine of RMS level `dbfs` to x[begin, end) at 16 kHz.
void add_sine(std::vector<float>& x, std::size_t begin, std::size_t end, double dbfs) {
  const double amplitude = std::sqrt(2.0) * std::pow(10.0, dbfs / 20.0);
  for (std::size_t i = begin; i < end; ++i)
    x[i] += static_cast<float>(amplitude * std::sin(2 * M_PI * 1000.0 * static_cast<double>(i) / 16000.0));
}

TEST(PlanWindows, ShorterThanAWindowIsOnePaddedWindow) {
  const WindowPlan p = plan_windows(300, 1000, 500);
  EXPECT_EQ(p.window, 1000u);
  EXPECT_EQ(p.hop, 500u);
  EXPECT_EQ(p.starts, Starts{0});
  EXPECT_EQ(plan_windows(0, 1000, 500).starts, Starts{0});
  EXPECT_EQ(plan_windows(1000, 1000, 500).starts, Starts{0});  // exactly one window
}

TEST(PlanWindows, ExactMultipleEndsAtTheEndWithoutPadding) {
  EXPECT_EQ(plan_windows(4000, 1000, 1000).starts, (Starts{0, 1000, 2000, 3000}));
  // Overlapping windows: the last one ends exactly at the end.
  EXPECT_EQ(plan_windows(4000, 1000, 500).starts, (Starts{0, 500, 1000, 1500, 2000, 2500, 3000}));
}

TEST(PlanWindows, LastWindowRunsPastTheEnd) {
  const WindowPlan p = plan_windows(3500, 1000, 1000);
  EXPECT_EQ(p.starts, (Starts{0, 1000, 2000, 3000}));
  EXPECT_GT(p.starts.back() + p.window, 3500u);
  EXPECT_EQ(plan_windows(1001, 1000, 1000).starts, (Starts{0, 1000}));
}

TEST(PlanWindows, HopLongerThanTheWindowLeavesGaps) {
  EXPECT_EQ(plan_windows(10, 2, 3).starts, (Starts{0, 3, 6, 9}));
  EXPECT_EQ(plan_windows(8, 2, 3).starts, (Starts{0, 3, 6}));  // 6 + 2 reaches the end
}

TEST(PlanWindows, ZeroWindowOrHopIsAnError) {
  EXPECT_THROW(plan_windows(100, 0, 10), Error);
  EXPECT_THROW(plan_windows(100, 10, 0), Error);
}

TEST(CopyWindow, CopiesAndZeroPadsPastTheEnd) {
  const std::vector<float> x{1, 2, 3, 4, 5};
  std::vector<float> out(4, -7.0f);
  copy_window(x, 1, 4, out.data());
  EXPECT_EQ(out, (std::vector<float>{2, 3, 4, 5}));
  copy_window(x, 3, 4, out.data());
  EXPECT_EQ(out, (std::vector<float>{4, 5, 0, 0}));
  std::fill(out.begin(), out.end(), -7.0f);
  copy_window(x, 9, 4, out.data());  // entirely past the end
  EXPECT_EQ(out, (std::vector<float>{0, 0, 0, 0}));
}

TEST(WindowLevel, RmsInDbfsOverTheHeldSamplesOnly) {
  // A full-scale square wave is 0 dBFS; half amplitude is -6.02 dBFS.
  std::vector<float> x{0.5f, -0.5f, 0.5f, -0.5f, 0, 0};
  EXPECT_NEAR(window_level_dbfs(x, 0, 4), 20 * std::log10(0.5), 1e-9);
  // The window runs past the end: padding is not counted (still -6.02 dBFS).
  EXPECT_NEAR(window_level_dbfs(x, 2, 100), 20 * std::log10(std::sqrt(0.5 / 4)), 1e-9);
  EXPECT_NEAR(window_level_dbfs(x, 0, 2), 20 * std::log10(0.5), 1e-9);
  EXPECT_EQ(window_level_dbfs(x, 4, 2), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(window_level_dbfs(x, 10, 2), -std::numeric_limits<double>::infinity());
}

TEST(SoundingWindows, PicksTheWindowsOfAOneSecondBurstInNoise) {
  // 10 s at 16 kHz of -40 dBFS noise with a -10 dBFS tone at 4.0-5.0 s; 1 s
  // windows, 0.5 s hop. The window that holds the whole burst is the loudest;
  // the two that hold half of it are 3 dB lower (kept, within 6 dB); windows
  // of noise alone are 30 dB lower (dropped).
  const std::size_t sr = 16000;
  std::vector<float> x = noise(10 * sr, -40, 1);
  add_sine(x, 4 * sr, 5 * sr, -10);
  const WindowPlan plan = plan_windows(x.size(), sr, sr / 2);
  ASSERT_EQ(plan.starts.size(), 19u);
  const auto keep = sounding_windows(x, plan, SoundingRule{}, "bell.wav");
  ASSERT_EQ(keep, (Starts{7, 8, 9}));
  EXPECT_EQ(plan.starts[keep[1]], 4 * sr);

  // A stricter rule keeps only the window that holds all of it.
  SoundingRule strict;
  strict.keep_db = 1.0;
  EXPECT_EQ(sounding_windows(x, plan, strict, "bell.wav"), Starts{8});
}

TEST(SoundingWindows, KeepsEveryWindowOfASteadySound) {
  // 3.5 s of a steady tone in light noise: every window, including the padded
  // last one (its level counts only the samples it holds), is kept.
  const std::size_t sr = 16000;
  std::vector<float> x = noise(3 * sr + sr / 2, -50, 2);
  add_sine(x, 0, x.size(), -20);
  const WindowPlan plan = plan_windows(x.size(), sr, sr / 2);
  ASSERT_EQ(plan.starts.size(), 6u);
  EXPECT_EQ(sounding_windows(x, plan, SoundingRule{}, "rain.wav"), (Starts{0, 1, 2, 3, 4, 5}));
}

TEST(SoundingWindows, RefusesDigitalSilenceNamingTheFile) {
  const std::vector<float> x(16000 * 3, 0.0f);
  const WindowPlan plan = plan_windows(x.size(), 16000, 8000);
  const std::string e = error_of([&] { sounding_windows(x, plan, SoundingRule{}, "/data/quiet.wav"); });
  EXPECT_NE(e.find("/data/quiet.wav"), std::string::npos) << e;
  EXPECT_NE(e.find("silence"), std::string::npos) << e;
  // An empty recording is silence too.
  const std::string empty = error_of([] { sounding_windows({}, plan_windows(0, 16000, 8000), {}, "empty.wav"); });
  EXPECT_NE(empty.find("empty.wav"), std::string::npos) << empty;
  EXPECT_NE(empty.find("silence"), std::string::npos) << empty;
}

TEST(SoundingWindows, RefusesNoiseBelowTheSilenceLevel) {
  const std::vector<float> x = noise(16000 * 3, -70, 3);
  const WindowPlan plan = plan_windows(x.size(), 16000, 8000);
  const std::string e = error_of([&] { sounding_windows(x, plan, SoundingRule{}, "hiss.flac"); });
  EXPECT_NE(e.find("hiss.flac"), std::string::npos) << e;
  EXPECT_NE(e.find("silence"), std::string::npos) << e;
  EXPECT_NE(e.find(" dBFS"), std::string::npos) << e;  // the loudest window's level
  // The same noise 20 dB louder (-50 dBFS) is above the -60 dBFS limit: a sound.
  std::vector<float> louder = x;
  for (auto& v : louder) v *= 10.0f;
  EXPECT_FALSE(sounding_windows(louder, plan, SoundingRule{}, "hiss.flac").empty());
  // A lower limit accepts the quiet one.
  SoundingRule lenient;
  lenient.silence_dbfs = -80;
  EXPECT_EQ(sounding_windows(x, plan, lenient, "hiss.flac").size(), plan.starts.size());
}

TEST(ParseSegment, ReadsStartAndEnd) {
  Segment s = parse_segment("1.5:3");
  EXPECT_EQ(s.start, 1.5);
  EXPECT_EQ(s.end, 3.0);
  s = parse_segment(":2.25");
  EXPECT_EQ(s.start, 0.0);
  EXPECT_EQ(s.end, 2.25);
  s = parse_segment("4:");
  EXPECT_EQ(s.start, 4.0);
  EXPECT_EQ(s.end, -1.0);  // to the end
  s = parse_segment("0:0.5");
  EXPECT_EQ(s.start, 0.0);
  EXPECT_EQ(s.end, 0.5);
}

// Past any recording's length a segment is written in six digits (0:1e308 was 309 digits in the error).
TEST(FormatSegment, MillisecondsAndAbsurdValuesShort) {
  EXPECT_EQ(format_segment(Segment{1.5, 3}), "1.500:3.000");
  EXPECT_EQ(format_segment(Segment{4, -1}), "4.000:");
  EXPECT_EQ(format_segment(Segment{0, 1e308}), "0.000:1e+308");
  EXPECT_EQ(error_of([] { check_segment_within(Segment{0, 1e308}, 5.0, "x.wav"); }),
            "x.wav: segment 0.000:1e+308 ends at 1e+308 s, after the end of the recording (5.000 s): give an END of "
            "at most 5.000");
  EXPECT_EQ(error_of([] { check_segment_within(Segment{6, 7}, 5.0, "x.wav"); }),
            "x.wav: segment 6.000:7.000 starts at 6.000 s, after the end of the recording (5.000 s)");
}

TEST(ParseSegment, RejectsBadTextNamingIt) {
  for (const std::string bad : {"", "12", "a:2", "1:b", "1:2:3", "-1:2", "3:1", "2:2", "1:-2", "0:-1", "nan:1",
                                "1:inf", "1 :2", "0x10:0x20", " 1:3", "1:\t3"}) {  // hexadecimal, leading blanks
    const std::string e = error_of([&] { parse_segment(bad); });
    EXPECT_FALSE(e.empty()) << "\"" << bad << "\" was accepted";
    EXPECT_NE(e.find("--segment " + bad), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace oneshot
