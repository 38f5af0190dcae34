#pragma once
// The figures of `oneshot-audio tune-report`, drawn with PLplot (pngcairo and
// svg drivers), each written as STEM.png and STEM.svg, atomically:
//   trials      the value of every finished trial by trial number, with the
//               best so far as a step line (complete: filled, pruned: open)
//   param-KEY   the value against each parameter of the space (log axis for
//               loguniform, one column per value for choice)
// Failed and running trials have no value and are left out.
#include <filesystem>
#include <vector>

#include "plot/render.h"
#include "tune/study.h"

namespace oneshot::tune {

using ReportFigure = PlotFiles;

// Writes every figure into `dir` (created as needed); returns them, the
// history first, then one per parameter in the space's order.
std::vector<ReportFigure> write_report_plots(const SearchSpace& space, const std::vector<TrialRecord>& trials,
                                             const std::filesystem::path& dir);

}  // namespace oneshot::tune
