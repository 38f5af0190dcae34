#include "tune/report_plots.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_text.h"

namespace oneshot::tune {
namespace fs = std::filesystem;

namespace {

enum Colour : PLINT { kWhite = kPlotWhite, kBlack = kPlotBlack, kGrey = kPlotGrey, kBlue = kPlotFirstColour, kOrange, kRed };
constexpr const char* kFilled = "#[0x25cf]";  // complete trials
constexpr const char* kOpen = "#[0x25cb]";    // pruned trials: their best reported value
constexpr int kWidth = 800, kHeight = 600;

// Draws one 800 x 600 figure into STEM.png and STEM.svg.
ReportFigure render(const fs::path& stem, const std::function<void(plstream&)>& draw) {
  return render_plot(stem, {kWidth, kHeight}, {{31, 119, 180}, {255, 127, 14}, {214, 39, 40}}, draw);
}

// A trial with a value to plot.
struct Point {
  int number;
  double value;
  bool pruned;
  const TrialRecord* trial;
};

std::vector<Point> finished_points(const std::vector<TrialRecord>& trials) {
  std::vector<Point> points;
  for (const auto& t : trials)
    if (t.value && std::isfinite(*t.value) && (t.state == TrialState::complete || t.state == TrialState::pruned))
      points.push_back({t.number, *t.value, t.state == TrialState::pruned, &t});
  return points;
}

// [lo, hi] widened by 5% each side (or by 0.5 when flat).
std::pair<double, double> padded(double lo, double hi) {
  if (!(lo <= hi)) return {0.0, 1.0};
  const double pad = hi > lo ? 0.05 * (hi - lo) : 0.5;
  return {lo - pad, hi + pad};
}

std::pair<double, double> value_range(const std::vector<Point>& points) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& p : points) lo = std::min(lo, p.value), hi = std::max(hi, p.value);
  return padded(lo, hi);
}

void draw_markers(plstream& pls, std::vector<PLFLT> x, std::vector<PLFLT> y, Colour colour, const char* glyph) {
  if (x.empty()) return;
  pls.col0(colour);
  pls.string(static_cast<PLINT>(x.size()), x.data(), y.data(), glyph);
  pls.col0(kBlack);
}

// Complete trials filled, pruned ones open, at x(point).
void draw_points(plstream& pls, const std::vector<Point>& points, const std::function<double(const Point&)>& x) {
  std::vector<PLFLT> cx, cy, px, py;
  for (const auto& p : points) {
    (p.pruned ? px : cx).push_back(x(p));
    (p.pruned ? py : cy).push_back(p.value);
  }
  draw_markers(pls, cx, cy, kBlue, kFilled);
  draw_markers(pls, px, py, kOrange, kOpen);
}

void note_when_empty(plstream& pls, const std::vector<Point>& points) {
  if (points.empty()) pls.mtex("t", -3.0, 0.5, 0.5, "no complete or pruned trial yet");
}

ReportFigure plot_history(const fs::path& stem, const std::vector<TrialRecord>& trials) {
  const auto points = finished_points(trials);
  int last = 0;
  for (const auto& t : trials) last = std::max(last, t.number);
  return render(stem, [&](plstream& pls) {
    const auto [ylo, yhi] = value_range(points);
    pls.vpor(0.12, 0.95, 0.12, 0.9);
    pls.wind(-0.5, last + 0.5, ylo, yhi);
    pls.col0(kGrey);
    pls.box("g", 0, 0, "g", 0, 0);
    pls.col0(kBlack);
    pls.box("bcnst", 0, 0, "bcnstv", 0, 0);
    pls.lab("trial", "value (lower is better)", "Value per trial, best so far");
    // Best so far over the complete trials, as steps: it changes only at a new best.
    std::vector<PLFLT> bx, by;
    double best = std::numeric_limits<double>::infinity();
    for (const auto& p : points) {
      if (p.pruned || p.value >= best) continue;
      if (!bx.empty()) bx.push_back(p.number), by.push_back(best);
      best = p.value;
      bx.push_back(p.number), by.push_back(best);
    }
    if (!bx.empty()) {
      bx.push_back(last + 0.5), by.push_back(best);
      pls.col0(kRed);
      pls.width(2);
      pls.line(static_cast<PLINT>(bx.size()), bx.data(), by.data());
      pls.width(1);
      pls.col0(kBlack);
    }
    draw_points(pls, points, [](const Point& p) { return p.number; });
    note_when_empty(pls, points);
  });
}

ReportFigure plot_parameter(const fs::path& stem, const Param& param, const std::vector<TrialRecord>& trials) {
  std::vector<Point> points;
  for (const auto& p : finished_points(trials))
    if (p.trial->params.contains(param.name)) points.push_back(p);
  const bool log_axis = param.kind == ParamKind::loguniform;
  const bool categorical = param.kind == ParamKind::choice;
  auto x_of = [&](const Point& p) {
    const nlohmann::json& v = p.trial->params.at(param.name);
    if (categorical) return param.encode(v);  // the choice's index
    const double x = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
    return log_axis ? std::log10(x) : x;
  };
  double xlo, xhi;
  if (categorical) {
    xlo = -0.5, xhi = static_cast<double>(param.choices.size()) - 0.5;
  } else {
    double lo = log_axis ? std::log10(param.low) : param.low, hi = log_axis ? std::log10(param.high) : param.high;
    std::tie(xlo, xhi) = padded(lo, hi);
  }
  return render(stem, [&](plstream& pls) {
    const auto [ylo, yhi] = value_range(points);
    pls.vpor(0.12, 0.95, 0.14, 0.9);
    pls.wind(xlo, xhi, ylo, yhi);
    pls.col0(kGrey);
    pls.box(categorical ? "" : "g", 0, 0, "g", 0, 0);
    pls.col0(kBlack);
    if (categorical) {
      pls.box("bc", 0, 0, "bcnstv", 0, 0);
      for (std::size_t i = 0; i < param.choices.size(); ++i) {
        const nlohmann::json& c = param.choices[i];
        const std::string label = c.is_string() ? c.get<std::string>() : json_text(c);
        const PLFLT pos = (static_cast<double>(i) - xlo) / (xhi - xlo);
        pls.mtex("b", 1.5, pos, 0.5, label.c_str());
      }
    } else {
      pls.box(log_axis ? "bcnstl" : "bcnst", 0, 0, "bcnstv", 0, 0);
    }
    const std::string title = "Value against " + param.name + " (" + kind_name(param.kind) + ")";
    pls.lab("", "value (lower is better)", title.c_str());
    pls.mtex("b", 3.2, 0.5, 0.5, param.name.c_str());
    draw_points(pls, points, x_of);
    note_when_empty(pls, points);
  });
}

// "model.n_filters" -> "param-model.n_filters": a file name from any key.
std::string figure_name(const std::string& key) {
  std::string name = "param-";
  for (char c : key) name += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return name;
}

}  // namespace

std::vector<ReportFigure> write_report_plots(const SearchSpace& space, const std::vector<TrialRecord>& trials,
                                             const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw file_error(dir, "cannot create directory: " + ec.message());
  std::vector<ReportFigure> figures{plot_history(dir / "trials", trials)};
  for (const auto& param : space.params()) figures.push_back(plot_parameter(dir / figure_name(param.name), param, trials));
  return figures;
}

}  // namespace oneshot::tune
