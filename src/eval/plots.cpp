#include "eval/plots.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

// cmap0 entries: background, foreground, grid, then one colour per class.
enum Colour : PLINT { kWhite = kPlotWhite, kBlack = kPlotBlack, kGrey = kPlotGrey, kFirstClass = kPlotFirstColour };
// Matplotlib's "tab10", so the figures look like the original's.
constexpr std::array<Rgb, 10> kClassColours{{{31, 119, 180},
                                                             {255, 127, 14},
                                                             {44, 160, 44},
                                                             {214, 39, 40},
                                                             {148, 103, 189},
                                                             {140, 86, 75},
                                                             {227, 119, 194},
                                                             {127, 127, 127},
                                                             {188, 189, 34},
                                                             {23, 190, 207}}};

// A filled circle (unicode escape: both the cairo and the svg driver draw it).
constexpr const char* kMarker = "#[0x25cf]";

PLINT class_colour(std::size_t i) { return kFirstClass + static_cast<PLINT>(i % kClassColours.size()); }

std::vector<Rgb> class_palette() { return {kClassColours.begin(), kClassColours.end()}; }

// cmap1: white to matplotlib's dark "Blues" end, for the heat map.
void set_heat_map(plstream& pls) {
  PLFLT pos[2] = {0, 1}, cr[2] = {1, 8 / 255.0}, cg[2] = {1, 48 / 255.0}, cb[2] = {1, 107 / 255.0};
  pls.scmap1l(true, 2, pos, cr, cg, cb, nullptr);
}

PlotFiles render(const fs::path& stem, PlotSize size, const std::function<void(plstream&)>& draw) {
  return render_plot(stem, size, class_palette(), draw, set_heat_map);
}

std::string format(const char* fmt, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

std::size_t longest(const std::vector<std::string>& names) {
  std::size_t n = 0;
  for (const auto& s : names) n = std::max(n, s.size());
  return n;
}

// A margin (fraction of the page along `extent`) that fits `chars` characters
// of rotated or side labels. PLplot scales its characters with the page: about
// 9.5 pixels a character on an 800 x 600 page, in proportion to the smaller side.
PLFLT label_margin(std::size_t chars, PlotSize size, int extent) {
  const double per_char = 9.5 * std::min(size.width, size.height) / 600.0;
  return std::clamp(0.04 + (chars * per_char + 12.0) / extent, 0.1, 0.5);
}

// A legend box in the viewport's top-right corner: a line and/or a symbol per entry.
void draw_legend(plstream& pls, const std::vector<std::string>& text, const std::vector<PLINT>& colours,
                 bool lines, bool symbols, PLINT position = PL_POSITION_TOP | PL_POSITION_RIGHT) {
  const PLINT n = static_cast<PLINT>(text.size());
  std::vector<const char*> labels, symbol_glyphs(n, kMarker);  // a filled circle
  for (const auto& t : text) labels.push_back(t.c_str());
  std::vector<PLINT> opts(n, (lines ? PL_LEGEND_LINE : 0) | (symbols ? PL_LEGEND_SYMBOL : 0));
  std::vector<PLINT> text_colours(n, kBlack), styles(n, 1), symbol_numbers(n, 1);
  std::vector<PLFLT> widths(n, 2.0), scales(n, 1.0);
  PLFLT width = 0, height = 0;
  pls.legend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, position | PL_POSITION_INSIDE | PL_POSITION_VIEWPORT,
             0.02, 0.02, 0.08, kWhite, kBlack, 1, 0, 0, n, opts.data(), 1.0, 0.9, 2.0, 0.0,
             text_colours.data(), labels.data(), nullptr, nullptr, nullptr, nullptr, colours.data(), styles.data(),
             widths.data(), colours.data(), scales.data(), symbol_numbers.data(), symbol_glyphs.data());
}

void fill_rect(plstream& pls, PLFLT x0, PLFLT x1, PLFLT y0, PLFLT y1) {
  PLFLT x[4] = {x0, x0, x1, x1}, y[4] = {y0, y1, y1, y0};
  pls.fill(4, x, y);
}

// A vector's finite range, widened so that a flat or empty series still gets axes.
std::pair<double, double> finite_range(const std::vector<const std::vector<double>*>& series) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto* s : series)
    for (double v : *s)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) return {0, 1};
  if (hi - lo < 1e-9) return {lo - 0.5, hi + 0.5};
  const double pad = 0.05 * (hi - lo);
  return {lo - pad, hi + pad};
}

// Draws the finite points of (x, y) as one polyline per unbroken run.
void draw_series(plstream& pls, const std::vector<double>& x, const std::vector<double>& y, PLINT colour,
                 bool markers) {
  pls.col0(colour);
  pls.width(2);
  std::vector<PLFLT> run_x, run_y;
  auto flush = [&] {
    if (run_x.size() > 1) pls.line(static_cast<PLINT>(run_x.size()), run_x.data(), run_y.data());
    if (markers && !run_x.empty()) pls.string(static_cast<PLINT>(run_x.size()), run_x.data(), run_y.data(), kMarker);
    run_x.clear();
    run_y.clear();
  };
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      run_x.push_back(x[i]);
      run_y.push_back(y[i]);
    } else {
      flush();
    }
  }
  flush();
  pls.width(1);
  pls.col0(kBlack);
}

}  // namespace

PlotFiles plot_class_accuracy(const fs::path& stem, const std::vector<std::string>& classes,
                              const std::vector<double>& accuracy, double mean, double ci95, PlotSize size) {
  if (classes.empty() || classes.size() != accuracy.size())
    throw Error("accuracy plot: " + std::to_string(classes.size()) + " class names for " +
                std::to_string(accuracy.size()) + " accuracies");
  std::string title = "Mean accuracy: " + format("%.3f", mean);
  if (ci95 > 0) title += " #(2233) " + format("%.3f", ci95);  // PLplot's "±" glyph
  const PLFLT n = static_cast<PLFLT>(classes.size());
  return render(stem, size, [&](plstream& pls) {
    pls.vpor(0.1, 0.95, label_margin(longest(classes), size, size.height), 0.9);
    pls.wind(-0.5, n - 0.5, 0.0, 1.0);
    pls.col0(kGrey);
    pls.box("", 0, 0, "g", 0.2, 0);
    for (std::size_t i = 0; i < classes.size(); ++i) {
      const PLFLT x = static_cast<PLFLT>(i);
      if (std::isfinite(accuracy[i])) {
        pls.col0(kFirstClass);
        fill_rect(pls, x - 0.4, x + 0.4, 0.0, std::clamp(accuracy[i], 0.0, 1.0));
        // The value above the bar, or inside it (in white) when the bar reaches the top.
        const bool inside = accuracy[i] > 0.92;
        pls.col0(inside ? kWhite : kBlack);
        pls.ptex(x, inside ? accuracy[i] - 0.04 : accuracy[i] + 0.04, 1, 0, 0.5, format("%.2f", accuracy[i]).c_str());
      } else {
        pls.col0(kBlack);
        pls.ptex(x, 0.04, 1, 0, 0.5, "n/a");
      }
      pls.col0(kBlack);
      pls.mtex("bv", 0.7, (i + 0.5) / n, 1.0, classes[i].c_str());
    }
    pls.box("bc", 0, 0, "bcnstv", 0.2, 2);
    pls.lab("", "Accuracy", title.c_str());
  });
}

PlotFiles plot_confusion(const fs::path& stem, const std::vector<std::string>& classes,
                         const std::vector<std::vector<int64_t>>& confusion, PlotSize size) {
  const std::size_t c = classes.size();
  if (c == 0 || confusion.size() != c)
    throw Error("confusion plot: " + std::to_string(classes.size()) + " class names for " +
                std::to_string(confusion.size()) + " rows");
  int64_t max_count = 0;
  for (const auto& row : confusion) {
    if (row.size() != c) throw Error("confusion plot: the matrix is not square");
    for (int64_t v : row) max_count = std::max(max_count, v);
  }
  const PLFLT n = static_cast<PLFLT>(c);
  const std::size_t name_chars = longest(classes);
  // Smaller numbers in the cells as the matrix grows (50 classes still fit).
  const PLFLT cell_text = std::clamp(6.0 / n, 0.35, 1.0);
  return render(stem, size, [&](plstream& pls) {
    const PLFLT left = label_margin(name_chars, size, size.width) + 0.03;
    const PLFLT bottom = label_margin(name_chars, size, size.height) + 0.03;
    pls.vpor(left, 0.95, bottom, 0.9);
    pls.wind(-0.5, n - 0.5, -0.5, n - 0.5);
    for (std::size_t i = 0; i < c; ++i)      // true class: row i, drawn top to bottom
      for (std::size_t j = 0; j < c; ++j) {  // predicted class: column j
        const double level = max_count > 0 ? static_cast<double>(confusion[i][j]) / max_count : 0.0;
        const PLFLT y = n - 1 - static_cast<PLFLT>(i), x = static_cast<PLFLT>(j);
        pls.col1(level);
        fill_rect(pls, x - 0.5, x + 0.5, y - 0.5, y + 0.5);
        pls.col0(level > 0.5 ? kWhite : kBlack);
        pls.schr(0, cell_text);
        pls.ptex(x, y, 1, 0, 0.5, std::to_string(confusion[i][j]).c_str());
        pls.schr(0, 1.0);
      }
    pls.col0(kBlack);
    pls.box("bc", 0, 0, "bc", 0, 0);
    pls.schr(0, std::clamp(10.0 / n, 0.5, 1.0));
    for (std::size_t i = 0; i < c; ++i) {
      pls.mtex("bv", 0.7, (i + 0.5) / n, 1.0, classes[i].c_str());
      pls.mtex("lv", 0.7, 1.0 - (i + 0.5) / n, 1.0, classes[i].c_str());
    }
    pls.schr(0, 1.0);
    // Centred on the page, not on the viewport that the row names push right.
    const PLFLT page_centre = (0.5 - left) / (0.95 - left);
    pls.mtex("t", 1.2, page_centre, 0.5, "Confusion matrix (rows: true class, columns: predicted)");
  });
}

TrainingCurves read_training_curves(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw file_error(path, "cannot open for reading");
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) {
      cell.erase(0, cell.find_first_not_of(" \t\r"));
      cell.erase(cell.find_last_not_of(" \t\r") + 1);
      cells.push_back(cell);
    }
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    return cells;
  };
  std::string line;
  if (!std::getline(in, line)) throw file_error(path, "empty file, expected a header line");
  const auto header = split(line);
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < header.size(); ++i) column.emplace(header[i], i);
  if (!column.count("epoch")) throw file_error(path, "line 1: no 'epoch' column in the header");

  TrainingCurves curves;
  const std::vector<std::pair<std::string, std::vector<double>*>> wanted{
      {"epoch", &curves.epoch},
      {"train_loss", &curves.train_loss},
      {"train_accuracy", &curves.train_accuracy},
      {"val_accuracy", &curves.val_accuracy},
      {"val_ci95", &curves.val_ci95}};
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto cells = split(line);
    for (const auto& [name, values] : wanted) {
      double v = std::numeric_limits<double>::quiet_NaN();
      auto it = column.find(name);
      if (it != column.end() && it->second < cells.size() && !cells[it->second].empty()) {
        const std::string& cell = cells[it->second];
        char* end = nullptr;
        v = std::strtod(cell.c_str(), &end);
        if (end == cell.c_str() || *end != '\0')
          throw file_error(path, "line " + std::to_string(line_no) + ": " + name + " is not a number: '" + cell + "'");
      }
      if (name == "epoch" && !std::isfinite(v))
        throw file_error(path, "line " + std::to_string(line_no) + ": missing epoch");
      values->push_back(v);
    }
  }
  if (curves.epoch.empty()) throw file_error(path, "no epochs recorded yet");
  return curves;
}

PlotFiles plot_training_curves(const fs::path& stem, const TrainingCurves& curves, PlotSize size) {
  if (curves.epoch.empty()) throw Error("training curves: no epochs");
  const auto [x0, x1] = finite_range({&curves.epoch});
  // The best validation epoch, as the training keeps it (the first maximum).
  std::size_t best = curves.val_accuracy.size();
  for (std::size_t i = 0; i < curves.val_accuracy.size(); ++i)
    if (std::isfinite(curves.val_accuracy[i]) &&
        (best == curves.val_accuracy.size() || curves.val_accuracy[i] > curves.val_accuracy[best]))
      best = i;
  return render(stem, size, [&](plstream& pls) {
    auto mark_best = [&](double y0, double y1) {
      if (best == curves.val_accuracy.size()) return;
      PLFLT x[2] = {curves.epoch[best], curves.epoch[best]}, y[2] = {y0, y1};
      pls.col0(kGrey);
      pls.lsty(2);
      pls.line(2, x, y);
      pls.lsty(1);
      pls.col0(kBlack);
    };
    // Top: the training loss.
    const auto [l0, l1] = finite_range({&curves.train_loss});
    pls.vpor(0.1, 0.95, 0.58, 0.93);
    pls.wind(x0, x1, l0, l1);
    pls.box("bcnst", 0, 0, "bcnstv", 0, 0);
    mark_best(l0, l1);
    draw_series(pls, curves.epoch, curves.train_loss, kFirstClass, true);
    pls.lab("", "Loss", "Training loss and one-shot validation accuracy per epoch");
    draw_legend(pls, {"train loss"}, {kFirstClass}, true, true);
    // Bottom: accuracies, with the validation CI as error bars when recorded.
    pls.vpor(0.1, 0.95, 0.1, 0.45);
    pls.wind(x0, x1, 0.0, 1.0);
    pls.col0(kGrey);
    pls.box("", 0, 0, "g", 0.2, 0);
    pls.col0(kBlack);
    pls.box("bcnst", 0, 0, "bcnstv", 0.2, 2);
    mark_best(0.0, 1.0);
    draw_series(pls, curves.epoch, curves.train_accuracy, kFirstClass + 1, true);
    draw_series(pls, curves.epoch, curves.val_accuracy, kFirstClass + 2, true);
    pls.col0(kFirstClass + 2);
    for (std::size_t i = 0; i < curves.val_ci95.size(); ++i)
      if (std::isfinite(curves.val_ci95[i]) && std::isfinite(curves.val_accuracy[i])) {
        PLFLT x[2] = {curves.epoch[i], curves.epoch[i]};
        PLFLT y[2] = {curves.val_accuracy[i] - curves.val_ci95[i], curves.val_accuracy[i] + curves.val_ci95[i]};
        pls.line(2, x, y);
      }
    pls.col0(kBlack);
    pls.lab("Epoch", "Accuracy", "");
    // Accuracies rise, so the bottom right is the clear corner.
    draw_legend(pls, {"train accuracy", "validation accuracy"}, {kFirstClass + 1, kFirstClass + 2}, true, true,
                PL_POSITION_BOTTOM | PL_POSITION_RIGHT);
  });
}

Projection2D pca_2d(const torch::Tensor& x) {
  if (x.dim() != 2 || x.size(0) < 2) throw Error("PCA: needs a matrix of at least 2 rows");
  torch::NoGradGuard no_grad;
  auto centred = x.detach().to(torch::kCPU, torch::kDouble);
  centred = centred - centred.mean(0, true);
  const bool gram = centred.size(0) <= centred.size(1);  // eigen-decompose the smaller square matrix
  auto square = gram ? centred.matmul(centred.t()) : centred.t().matmul(centred);
  auto [values, vectors] = torch::linalg::eigh(square, "L");  // ascending eigenvalues
  const int64_t k = values.size(0);
  const double total = std::max(values.clamp_min(0).sum().item<double>(), 1e-300);
  Projection2D out;
  std::vector<torch::Tensor> columns;
  for (int64_t c = 0; c < 2; ++c) {
    const int64_t idx = k - 1 - c;
    const double lambda = std::max(idx >= 0 ? values[idx].item<double>() : 0.0, 0.0);
    torch::Tensor score = idx < 0 ? torch::zeros({centred.size(0)}, torch::kDouble)
                          : gram  ? vectors.select(1, idx) * std::sqrt(lambda)
                                  : centred.matmul(vectors.select(1, idx));
    const auto extreme = score.abs().argmax().item<int64_t>();
    if (score[extreme].item<double>() < 0) score = -score;  // eigenvectors' sign is arbitrary
    columns.push_back(score);
    out.explained[c] = lambda / total;
  }
  out.scores = torch::stack(columns, 1).contiguous();
  return out;
}

PlotFiles plot_embeddings_pca(const fs::path& stem, const torch::Tensor& embeddings, const std::vector<int>& labels,
                              const std::vector<std::string>& class_names, const std::string& title,
                              PlotSize size) {
  if (embeddings.dim() != 2 || static_cast<std::size_t>(embeddings.size(0)) != labels.size())
    throw Error("PCA plot: " + std::to_string(labels.size()) + " labels for embeddings of shape " +
                std::to_string(embeddings.size(0)) + " rows");
  std::vector<int> present;  // the classes that occur, in label order
  for (int label : labels) {
    if (label < 0 || static_cast<std::size_t>(label) >= class_names.size())
      throw Error("PCA plot: label " + std::to_string(label) + " has no class name");
    if (std::find(present.begin(), present.end(), label) == present.end()) present.push_back(label);
  }
  std::sort(present.begin(), present.end());
  const auto projection = pca_2d(embeddings);
  auto scores = projection.scores.accessor<double, 2>();
  std::vector<double> xs, ys;
  for (int64_t i = 0; i < scores.size(0); ++i) xs.push_back(scores[i][0]), ys.push_back(scores[i][1]);
  const auto [x0, x1] = finite_range({&xs});
  const auto [y0, y1] = finite_range({&ys});
  return render(stem, size, [&](plstream& pls) {
    pls.vpor(0.12, 0.95, 0.1, 0.9);
    // Head room for the legend (about 6 % of the height an entry) above the points.
    const double legend = std::min(0.05 + 0.06 * static_cast<double>(present.size()), 0.6);
    pls.wind(x0, x1, y0, y1 + legend / (1.0 - legend) * (y1 - y0));
    pls.box("bcnst", 0, 0, "bcnstv", 0, 0);
    std::vector<std::string> legend_text;
    std::vector<PLINT> legend_colours;
    for (std::size_t k = 0; k < present.size(); ++k) {
      std::vector<PLFLT> px, py;
      for (std::size_t i = 0; i < labels.size(); ++i)
        if (labels[i] == present[k]) px.push_back(xs[i]), py.push_back(ys[i]);
      pls.col0(class_colour(k));
      pls.string(static_cast<PLINT>(px.size()), px.data(), py.data(), kMarker);
      legend_text.push_back(class_names[present[k]]);
      legend_colours.push_back(class_colour(k));
    }
    pls.col0(kBlack);
    pls.lab(("PC1 (" + format("%.1f", 100 * projection.explained[0]) + "% of variance)").c_str(),
            ("PC2 (" + format("%.1f", 100 * projection.explained[1]) + "% of variance)").c_str(),
            title.c_str());
    draw_legend(pls, legend_text, legend_colours, false, true);
  });
}

namespace {

// The DET plot's axis limits and ticks (percentages).
constexpr double kDetLow = 0.001, kDetHigh = 0.99;
constexpr double kDetTicks[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99};
// The labelled ones: the probit axis crowds the small percentages.
constexpr double kDetLabels[] = {0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99};

std::string percent_label(double p) { return format(p < 0.01 ? "%.1f" : "%.0f", 100 * p); }

}  // namespace

PlotFiles plot_det_curve(const fs::path& stem, const std::vector<OperatingPoint>& curve, double eer,
                         const RatesAtFar& at_far, double auroc, PlotSize size) {
  if (curve.empty()) throw Error("DET plot: no operating points");
  const double lo = probit(kDetLow), hi = probit(kDetHigh);
  auto axis = [&](double p) { return std::clamp(probit(p), lo, hi); };
  std::vector<double> xs, ys;
  for (const auto& p : curve) xs.push_back(axis(p.far)), ys.push_back(axis(p.frr));
  const std::string title = "EER " + format("%.1f", 100 * eer) + "%, false rejects " +
                            format("%.1f", 100 * at_far.frr) + "% at " + format("%g", 100 * at_far.target_far) +
                            "% false accepts, AUROC " + format("%.3f", auroc);
  return render(stem, size, [&](plstream& pls) {
    pls.vpor(0.12, 0.95, 0.12, 0.9);
    pls.wind(lo, hi, lo, hi);
    // Grid and tick labels at the probit positions of round percentages.
    pls.col0(kGrey);
    for (double t : kDetTicks) {
      const double v = probit(t);
      PLFLT gx[2] = {v, v}, gy[2] = {lo, hi};
      pls.line(2, gx, gy);
      pls.line(2, gy, gx);
    }
    pls.col0(kBlack);
    pls.box("bc", 0, 0, "bc", 0, 0);
    for (double t : kDetLabels) {
      const double pos = (probit(t) - lo) / (hi - lo);
      pls.mtex("b", 1.5, pos, 0.5, percent_label(t).c_str());
      pls.mtex("lv", 0.7, pos, 1.0, percent_label(t).c_str());
    }
    // FAR = FRR, and the EER on it.
    PLFLT dx[2] = {lo, hi};
    pls.col0(kGrey);
    pls.lsty(2);
    pls.line(2, dx, dx);
    pls.lsty(1);
    draw_series(pls, xs, ys, kFirstClass, false);
    PLFLT ex[1] = {axis(eer)}, fx[1] = {axis(at_far.far)}, fy[1] = {axis(at_far.frr)};
    pls.col0(kFirstClass + 3);
    pls.string(1, ex, ex, kMarker);
    pls.col0(kFirstClass + 2);
    pls.string(1, fx, fy, kMarker);
    pls.col0(kBlack);
    pls.lab("False accepts (%)", "False rejects (%)", "");
    pls.mtex("t", 1.5, 0.5, 0.5, title.c_str());
    draw_legend(pls,
                {"DET curve", "EER " + format("%.1f", 100 * eer) + "%",
                 format("%g", 100 * at_far.target_far) + "% false accepts"},
                {kFirstClass, kFirstClass + 3, kFirstClass + 2}, true, true);
  });
}

PlotFiles plot_score_histogram(const fs::path& stem, const ScoreHistogram& histogram,
                               const std::vector<std::pair<std::string, double>>& thresholds, PlotSize size) {
  const std::size_t bins = histogram.target.size();
  if (bins == 0 || histogram.nontarget.size() != bins || histogram.edges.size() != bins + 1)
    throw Error("score histogram plot: " + std::to_string(histogram.edges.size()) + " edges for " +
                std::to_string(bins) + " bins");
  auto fractions = [](const std::vector<std::int64_t>& counts) {
    double total = 0;
    for (auto c : counts) total += static_cast<double>(c);
    std::vector<double> f;
    for (auto c : counts) f.push_back(total > 0 ? static_cast<double>(c) / total : 0.0);
    return f;
  };
  const auto target = fractions(histogram.target), nontarget = fractions(histogram.nontarget);
  // Step outlines: each bin's top edge, joined by verticals.
  auto steps = [&](const std::vector<double>& f, std::vector<double>& x, std::vector<double>& y) {
    x.push_back(histogram.edges[0]);
    y.push_back(0);
    for (std::size_t i = 0; i < bins; ++i) {
      x.push_back(histogram.edges[i]), y.push_back(f[i]);
      x.push_back(histogram.edges[i + 1]), y.push_back(f[i]);
    }
    x.push_back(histogram.edges[bins]);
    y.push_back(0);
  };
  std::vector<double> tx, ty, nx, ny;
  steps(target, tx, ty);
  steps(nontarget, nx, ny);
  double top = 0;
  for (double v : target) top = std::max(top, v);
  for (double v : nontarget) top = std::max(top, v);
  top = top > 0 ? top * (1.3 + 0.1 * static_cast<double>(thresholds.size())) : 1.0;  // head room for the legend
  double x0 = histogram.edges.front(), x1 = histogram.edges.back();
  for (const auto& [name, t] : thresholds)
    if (std::isfinite(t)) x0 = std::min(x0, t), x1 = std::max(x1, t);
  std::int64_t n_target = 0, n_nontarget = 0;
  for (auto c : histogram.target) n_target += c;
  for (auto c : histogram.nontarget) n_nontarget += c;
  return render(stem, size, [&](plstream& pls) {
    pls.vpor(0.1, 0.95, 0.12, 0.9);
    pls.wind(x0, x1, 0.0, top);
    pls.col0(kBlack);
    pls.box("bcnst", 0, 0, "bcnstv", 0, 0);
    draw_series(pls, nx, ny, kFirstClass + 3, false);
    draw_series(pls, tx, ty, kFirstClass + 2, false);
    std::vector<std::string> legend{"same class (" + std::to_string(n_target) + " pairs)",
                                    "different class (" + std::to_string(n_nontarget) + " pairs)"};
    std::vector<PLINT> colours{kFirstClass + 2, kFirstClass + 3};
    PLINT colour = kFirstClass;
    for (const auto& [name, t] : thresholds) {
      if (!std::isfinite(t)) continue;
      PLFLT lx[2] = {t, t}, ly[2] = {0, top};
      pls.col0(colour);
      pls.lsty(2);
      pls.width(2);
      pls.line(2, lx, ly);
      pls.width(1);
      pls.lsty(1);
      legend.push_back(name + " " + format("%.3g", t));
      colours.push_back(colour);
      colour = colour == kFirstClass ? kFirstClass + 4 : colour + 1;
    }
    pls.col0(kBlack);
    pls.lab("Pair score (logit; higher = more similar)", "Fraction of the pairs",
            "Scores of every pair of clips, one clip against one clip");
    draw_legend(pls, legend, colours, true, false);
  });
}

}  // namespace oneshot
