#include "events/score_plot.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace oneshot {
namespace {

enum Colour : PLINT { kBlack = kPlotBlack, kGrey = kPlotGrey, kScore = kPlotFirstColour, kEvent, kReference, kThreshold };
const std::vector<Rgb> kColours = {{31, 119, 180}, {253, 208, 162}, {44, 160, 44}, {214, 39, 40}};

// Pixel rows of the page: title above the first panel, axis title and legend
// below the last, a gap (with the class name) between panels.
constexpr int kTop = 56, kBottom = 64, kGap = 26;
// Curves with more windows than this many columns' worth are reduced to each
// column's minimum and maximum (more columns than the panel has pixels).
constexpr int kColumns = 1600;

// '#' starts an escape sequence in PLplot text.
std::string plplot_text(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '#' ? std::string("##") : std::string(1, c);
  return out;
}

void rectangle(plstream& pls, double x0, double x1, double y0, double y1) {
  PLFLT x[4] = {x0, x0, x1, x1}, y[4] = {y0, y1, y1, y0};
  pls.fill(4, x, y);
}

// The score line as runs of finite points: (centre, score), or per column
// the minimum and maximum in the order they occur.
std::vector<std::pair<std::vector<PLFLT>, std::vector<PLFLT>>> line_runs(const std::vector<ScoredWindow>& w,
                                                                         double t_end) {
  std::vector<std::pair<std::vector<PLFLT>, std::vector<PLFLT>>> runs(1);
  auto add = [&](double x, double y) {
    runs.back().first.push_back(x);
    runs.back().second.push_back(y);
  };
  auto centre = [](const ScoredWindow& s) { return 0.5 * (s.start + s.end); };
  if (w.size() <= static_cast<std::size_t>(2 * kColumns) || t_end <= 0) {
    for (const ScoredWindow& s : w) {
      if (std::isfinite(s.score)) {
        add(centre(s), s.score);
      } else if (!runs.back().first.empty()) {
        runs.emplace_back();
      }
    }
    return runs;
  }
  std::size_t i = 0;
  while (i < w.size()) {
    const long column = static_cast<long>(std::floor(centre(w[i]) / t_end * kColumns));
    std::size_t lo = w.size(), hi = w.size(), j = i;
    for (; j < w.size() && static_cast<long>(std::floor(centre(w[j]) / t_end * kColumns)) == column; ++j) {
      if (!std::isfinite(w[j].score)) continue;
      if (lo == w.size() || w[j].score < w[lo].score) lo = j;
      if (hi == w.size() || w[j].score > w[hi].score) hi = j;
    }
    if (lo != w.size()) {
      const std::size_t a = std::min(lo, hi), b = std::max(lo, hi);
      add(centre(w[a]), w[a].score);
      if (b != a) add(centre(w[b]), w[b].score);
    }
    i = j;
  }
  return runs;
}

void horizontal(plstream& pls, double x0, double x1, double y, PLINT style) {
  PLFLT x[2] = {x0, x1}, yy[2] = {y, y};
  pls.lsty(style);
  pls.line(2, x, yy);
  pls.lsty(1);
}

}  // namespace

PlotFiles plot_event_scores(const std::filesystem::path& stem, const std::string& title,
                            const std::vector<ClassScoreCurve>& curves, const std::vector<Event>& events,
                            const std::vector<Event>& reference, double duration) {
  if (curves.empty()) throw Error("score plot " + stem.string() + ": no score curves to draw");
  double t_end = duration;
  if (t_end <= 0)
    for (const ClassScoreCurve& c : curves)
      for (const ScoredWindow& w : c.windows) t_end = std::max(t_end, w.end);
  if (!(t_end > 0)) t_end = 1;

  const int n = static_cast<int>(curves.size());
  const int height = kTop + kBottom + n * kScorePlotPanelHeight;
  auto page_y = [&](int pixels_from_top) { return 1.0 - static_cast<double>(pixels_from_top) / height; };

  return render_plot(stem, {kScorePlotWidth, height}, kColours, [&](plstream& pls) {
    pls.schr(0, 0.75);
    for (int k = 0; k < n; ++k) {
      const ClassScoreCurve& c = curves[k];
      const int top = kTop + k * kScorePlotPanelHeight;
      pls.vpor(0.07, 0.98, page_y(top + kScorePlotPanelHeight - kGap), page_y(top));

      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (const ScoredWindow& w : c.windows)
        if (std::isfinite(w.score)) lo = std::min(lo, w.score), hi = std::max(hi, w.score);
      for (double t : {c.on_threshold, c.off_threshold})
        if (std::isfinite(t)) lo = std::min(lo, t), hi = std::max(hi, t);
      if (!(lo <= hi)) lo = 0, hi = 1;
      const double pad = hi > lo ? 0.06 * (hi - lo) : 0.5;
      lo -= pad, hi += pad;
      pls.wind(0, t_end, lo, hi);

      pls.col0(kEvent);
      for (const Event& e : events)
        if (e.label == c.label) rectangle(pls, e.onset, e.offset, lo, hi);
      pls.col0(kReference);
      for (const Event& e : reference)
        if (e.label == c.label) rectangle(pls, e.onset, e.offset, lo, lo + 0.07 * (hi - lo));

      pls.col0(kGrey);
      pls.box("g", 0, 0, "g", 0, 0);
      pls.col0(kBlack);
      pls.box(k + 1 == n ? "bcnst" : "bcst", 0, 0, "bcnstv", 0, 0);
      pls.mtex("t", 0.5, 0.0, 0.0, plplot_text(c.label).c_str());

      pls.col0(kThreshold);
      if (std::isfinite(c.on_threshold)) horizontal(pls, 0, t_end, c.on_threshold, 1);
      if (std::isfinite(c.off_threshold) && c.off_threshold != c.on_threshold)
        horizontal(pls, 0, t_end, c.off_threshold, 2);

      pls.col0(kScore);
      for (auto& [x, y] : line_runs(c.windows, t_end)) {
        if (x.size() == 1) {  // a lone point: a dot, not a line
          pls.string(1, x.data(), y.data(), "#(850)");
        } else if (!x.empty()) {
          pls.line(static_cast<PLINT>(x.size()), x.data(), y.data());
        }
      }
      pls.col0(kBlack);
      if (k == 0) pls.mtex("t", 2.4, 0.5, 0.5, plplot_text(title).c_str());
      if (k + 1 == n) {
        pls.mtex("b", 2.8, 0.5, 0.5, "time (s)");
        pls.schr(0, 0.65);
        pls.mtex("b", 5.6, 0.5, 0.5,
                 "line: window score at the window's centre   shaded: detected events   green bar: reference events"
                 "   red: on threshold (solid), off (dashed)");
      }
    }
  });
}

}  // namespace oneshot
