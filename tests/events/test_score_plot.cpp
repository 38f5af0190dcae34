// The per-recording score figure: page size grows with the classes, events,
// references and thresholds are drawn only when there are some for a panel's
// class, and a long curve is reduced to the figure's columns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/score_plot.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
using test::TempDir;

constexpr const char* kEventFill = "#FDD0A2";  // the shading colour of detected events
constexpr const char* kReferenceFill = "#2CA02C";
constexpr const char* kThresholdRed = "#D62728";

std::uint32_t big_endian32(const std::string& s, std::size_t at) {
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

ClassScoreCurve sine_curve(const std::string& label, std::size_t n, double hop) {
  ClassScoreCurve c;
  c.label = label;
  for (std::size_t i = 0; i < n; ++i) c.windows.push_back({i * hop, i * hop + 1, 0.5 + 0.4 * std::sin(i * 0.05)});
  return c;
}

TEST(ScorePlot, OnePanelPerClassWithEventsReferencesAndThresholds) {
  TempDir dir;
  ClassScoreCurve dog = sine_curve("dog #1", 120, 0.5), cat = sine_curve("cat", 120, 0.5);
  dog.on_threshold = 0.7;
  dog.off_threshold = 0.6;
  const PlotFiles files = plot_event_scores(dir / "plots" / "a", "a.wav", {dog, cat},
                                            {{"a.wav", 5, 9, "dog #1", 0.9}}, {{"a.wav", 5.5, 8, "dog #1"}}, 60);
  const std::string png = read_file(files.png);
  EXPECT_EQ(big_endian32(png, 16), static_cast<std::uint32_t>(kScorePlotWidth));
  EXPECT_EQ(big_endian32(png, 20), 56u + 64u + 2u * kScorePlotPanelHeight);
  const std::string svg = read_file(files.svg);
  EXPECT_NE(svg.find(kEventFill), std::string::npos);
  EXPECT_NE(svg.find(kReferenceFill), std::string::npos);
  EXPECT_NE(svg.find(kThresholdRed), std::string::npos);
}

TEST(ScorePlot, DrawsOnlyWhatThePanelsClassesHave) {
  TempDir dir;
  // Events and references of a class without a panel, and no thresholds.
  const PlotFiles files = plot_event_scores(dir / "b", "b.wav", {sine_curve("cat", 50, 0.5)},
                                            {{"b.wav", 5, 9, "dog", 0.9}}, {{"b.wav", 5, 9, "dog"}});
  const std::string svg = read_file(files.svg);
  EXPECT_EQ(svg.find(kEventFill), std::string::npos);
  EXPECT_EQ(svg.find(kReferenceFill), std::string::npos);
  EXPECT_EQ(svg.find(kThresholdRed), std::string::npos);
}

TEST(ScorePlot, ALongCurveIsReducedToTheFiguresColumns) {
  TempDir dir;
  // Ten hours at a 0.5 s hop against two minutes: the figure stays about as small.
  const std::string long_svg =
      read_file(plot_event_scores(dir / "long", "long.wav", {sine_curve("x", 72000, 0.5)}, {}).svg);
  const std::string short_svg =
      read_file(plot_event_scores(dir / "short", "short.wav", {sine_curve("x", 3000, 0.5)}, {}).svg);
  EXPECT_LT(long_svg.size(), 2 * short_svg.size()) << long_svg.size() << " vs " << short_svg.size();
}

TEST(ScorePlot, NeedsACurve) {
  TempDir dir;
  EXPECT_THROW(plot_event_scores(dir / "none", "x.wav", {}, {}), Error);
}

}  // namespace
}  // namespace oneshot
