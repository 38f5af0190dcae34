#pragma once
// One PLplot figure written as STEM.png (pngcairo) and STEM.svg (svg), each
// atomically: the shared rendering of the evaluation's and the tuning report's
// figures. Torch-free, so the tuning code does not depend on LibTorch.
#include <plplot/plstream.h>

#include <array>
#include <filesystem>
#include <functional>
#include <vector>

namespace oneshot {

struct PlotFiles {
  std::filesystem::path png, svg;
};

// Page size in pixels (PNG) and points (SVG).
struct PlotSize {
  int width = 800;
  int height = 600;
};

using Rgb = std::array<PLINT, 3>;

// cmap0 indices every palette starts with; figures' own colours follow.
enum BaseColour : PLINT { kPlotWhite = 0, kPlotBlack = 1, kPlotGrey = 2, kPlotFirstColour = 3 };

// Draws with `draw` on a fresh stream whose cmap0 is white, black, grey, then
// `colours`; `prepare` (optional) runs before the stream starts (cmap1, say).
// PLplot's errors become oneshot::Error; a missing pngcairo driver is named
// with the Debian package that provides it. Creates STEM's directory.
PlotFiles render_plot(const std::filesystem::path& stem, PlotSize size, const std::vector<Rgb>& colours,
                      const std::function<void(plstream&)>& draw,
                      const std::function<void(plstream&)>& prepare = {});

}  // namespace oneshot
