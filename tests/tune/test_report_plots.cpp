// tune-report's figures: one for the history, one per parameter, each a
// valid PNG and SVG, with or without finished trials.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "tune/report_plots.h"
#include "tune/study.h"

namespace oneshot::tune {
namespace {
namespace fs = std::filesystem;

void expect_valid_figure(const ReportFigure& f) {
  ASSERT_TRUE(fs::exists(f.png)) << f.png;
  ASSERT_TRUE(fs::exists(f.svg)) << f.svg;
  const std::string png = read_file(f.png), svg = read_file(f.svg);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << f.png;
  EXPECT_GT(png.size(), 1000u) << f.png;
  EXPECT_NE(svg.find("<svg"), std::string::npos) << f.svg;
  EXPECT_NE(svg.find("</svg>"), std::string::npos) << f.svg;
}

// PLplot's svg driver writes text as character references ("&#x6c;&#x31;" for "l1").
bool svg_has_text(const std::string& svg, const std::string& text) {
  std::string refs;
  char buf[16];
  for (unsigned char c : text) {
    std::snprintf(buf, sizeof buf, "&#x%x;", c);
    refs += buf;
  }
  return svg.find(refs) != std::string::npos || svg.find(">" + text + "<") != std::string::npos;
}

const char* kSpace =
    "[model]\nn_filters = { choice = [16, 32, 64] }\ndist = { choice = [\"l1\", \"l2\"] }\n"
    "n_conv_layers = { int = [1, 4] }\n[train]\nlearning_rate = { loguniform = [5e-4, 1e-2] }\n"
    "dropout_dense = { uniform = [0.0, 0.5] }\n";

TEST(ReportPlots, HistoryAndOneFigurePerParameter) {
  test::TempDir dir;
  const auto space = SearchSpace::parse_toml(kSpace, "space");
  Study study((dir / "s.db").string(), "p", &space);
  TuneConfig config;
  const auto sampler = make_sampler(config);
  for (int i = 0; i < 8; ++i) {
    const Claim c = study.claim(*sampler, config, "w");
    study.report(c, "w", 1, 0.9 - 0.05 * i);
    if (i == 3) study.finish(c, "w", TrialState::failed, std::nullopt, "too deep");
    else if (i == 5) study.finish(c, "w", TrialState::pruned, 0.9, "pruned");
    else study.finish(c, "w", TrialState::complete, 0.9 - 0.05 * i + 0.01 * (i % 3), "");
  }
  study.claim(*sampler, config, "w");  // running: no value to draw

  const auto figures = write_report_plots(study.space(), study.trials(), dir / "out");
  ASSERT_EQ(figures.size(), 1 + space.params().size());
  EXPECT_EQ(figures[0].png, dir / "out" / "trials.png");
  for (std::size_t i = 0; i < space.params().size(); ++i)
    EXPECT_EQ(figures[i + 1].svg, dir / "out" / ("param-" + space.params()[i].name + ".svg"));
  for (const auto& f : figures) expect_valid_figure(f);
  // The categorical axis is labelled with the choices.
  const std::string dist_svg = read_file(dir / "out" / "param-model.dist.svg");
  EXPECT_TRUE(svg_has_text(dist_svg, "l1"));
  EXPECT_TRUE(svg_has_text(dist_svg, "l2"));
  EXPECT_FALSE(svg_has_text(dist_svg, "l3"));
  // Nothing left behind by the atomic writes.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir / "out")) files += e.is_regular_file();
  EXPECT_EQ(files, static_cast<int>(2 * figures.size()));
}

TEST(ReportPlots, AStudyWithoutFinishedTrialsStillGetsItsFigures) {
  test::TempDir dir;
  const auto space = SearchSpace::parse_toml(kSpace, "space");
  const auto figures = write_report_plots(space, {}, dir / "empty");
  ASSERT_EQ(figures.size(), 1 + space.params().size());
  for (const auto& f : figures) expect_valid_figure(f);
}

TEST(ReportPlots, AnUnwritableDirectoryIsAnErrorNamingIt) {
  test::TempDir dir;
  write_file_atomic(dir / "file", "x");
  const auto space = SearchSpace::parse_toml(kSpace, "space");
  try {
    write_report_plots(space, {}, dir / "file" / "sub");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "file").string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace oneshot::tune
