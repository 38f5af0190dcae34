// The shared PLplot rendering: both files written with the page size asked
// for, the palette applied, errors raised as exceptions, nothing half-written.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/atomic_file.h"
#include "core/error.h"
#include "plot/render.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::uint32_t big_endian32(const std::string& s, std::size_t at) {
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

void draw_box(plstream& pls) {
  pls.vpor(0.1, 0.9, 0.1, 0.9);
  pls.wind(0, 1, 0, 1);
  pls.box("bcnt", 0, 0, "bcnt", 0, 0);
  pls.col0(kPlotFirstColour);
  PLFLT x[4] = {0.2, 0.2, 0.8, 0.8}, y[4] = {0.2, 0.8, 0.8, 0.2};
  pls.fill(4, x, y);
}

std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

TEST(RenderPlot, WritesPngAndSvgOfThePageSizeInANewDirectory) {
  TempDir tmp;
  const PlotFiles files = render_plot(tmp / "sub" / "box", {320, 200}, {{255, 0, 0}}, draw_box);
  EXPECT_EQ(files.png, tmp / "sub" / "box.png");
  const std::string png = read_file(files.png);
  ASSERT_GT(png.size(), 100u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(big_endian32(png, 16), 320u);
  EXPECT_EQ(big_endian32(png, 20), 200u);
  const std::string svg = read_file(files.svg);
  EXPECT_NE(svg.find("width=\"320pt\""), std::string::npos);
  EXPECT_NE(svg.find("height=\"200pt\""), std::string::npos);
  // The first figure colour is the red passed in: the fill uses it.
  EXPECT_NE(svg.find("#FF0000"), std::string::npos) << svg.substr(0, 2000);
  EXPECT_EQ(entries(tmp / "sub").size(), 2u) << "no temporary files left";
}

TEST(RenderPlot, PrepareRunsBeforeDrawing) {
  TempDir tmp;
  bool prepared = false, prepared_first = false;
  render_plot(tmp / "p", {100, 100}, {{0, 0, 255}}, [&](plstream&) { prepared_first = prepared; },
              [&](plstream&) { prepared = true; });
  EXPECT_TRUE(prepared_first);
}

TEST(RenderPlot, ADrawingErrorLeavesNoFileBehindAndKeepsTheOldFigure) {
  TempDir tmp;
  const PlotFiles old = render_plot(tmp / "fig", {100, 100}, {{0, 0, 255}}, draw_box);
  const std::string old_png = read_file(old.png);
  EXPECT_THROW(render_plot(tmp / "fig", {100, 100}, {{0, 0, 255}},
                           [](plstream& pls) {
                             draw_box(pls);
                             throw Error("boom");
                           }),
               Error);
  EXPECT_EQ(read_file(old.png), old_png);
  EXPECT_EQ(entries(tmp.path()).size(), 2u);
}

TEST(RenderPlot, RejectsATinyPage) {
  TempDir tmp;
  EXPECT_THROW(render_plot(tmp / "t", {10, 10}, {{0, 0, 255}}, draw_box), Error);
}

}  // namespace
}  // namespace oneshot
