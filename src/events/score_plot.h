#pragma once
// The figure `detect` writes per recording: each class's score over time,
// one panel per class stacked on a shared time axis, with
//   - the score of each window drawn at the window's centre (a line; a curve
//     longer than the figure has pixels is reduced to each pixel column's
//     minimum and maximum, so peaks survive and an hour of audio stays a
//     small file),
//   - the detected events of that class as shaded spans,
//   - the reference events of that class (optional) as a bar along the
//     bottom of the panel, so misses and false alarms are visible at a glance,
//   - the on threshold (solid line) and off threshold (dashed), when finite.
// Written as STEM.png and STEM.svg through render_plot (atomic).
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "events/event.h"
#include "events/event_tracker.h"
#include "plot/render.h"

namespace oneshot {

struct ClassScoreCurve {
  std::string label;
  std::vector<ScoredWindow> windows;  // in time order (seconds)
  double on_threshold = std::numeric_limits<double>::quiet_NaN();
  double off_threshold = std::numeric_limits<double>::quiet_NaN();
};

// Page: 1000 px wide, kScorePlotPanelHeight px per class plus margins.
inline constexpr int kScorePlotWidth = 1000, kScorePlotPanelHeight = 140;

// Draws CURVES (one panel each, in the given order) titled TITLE (the
// recording's name). EVENTS and REFERENCE are this recording's events; each
// panel shows those whose label is its class. The time axis runs from 0 to
// DURATION seconds, or to the last window's end when DURATION <= 0.
// Non-finite scores are left out of the line. Errors: oneshot::Error for no
// curves, or from render_plot (an unwritable directory, a missing driver).
PlotFiles plot_event_scores(const std::filesystem::path& stem, const std::string& title,
                            const std::vector<ClassScoreCurve>& curves, const std::vector<Event>& events,
                            const std::vector<Event>& reference = {}, double duration = 0);

}  // namespace oneshot
