#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/number_cast.h"

namespace oneshot {
namespace fs = std::filesystem;
using nlohmann::json;

std::string base64_encode(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f4f8; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: .85em; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0 1.5em; }
.mean { font-size: 1.2em; font-weight: bold; }
.note { color: #666; font-size: .9em; }
)";

std::string format_number(double x, const char* fmt = "%.3f") {
  if (!std::isfinite(x)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

// A JSON value as table text.
std::string cell(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return format_number(v.get<double>(), "%.6g");
  if (v.is_null()) return "–";
  return json_text(v);
}

// A verification result's target plus non-target pairs. The counts come from
// a file: get<int>() on a float there (1e300) would be an unchecked
// conversion, and the sum of two int64s could overflow.
json pair_count(const json& result) {
  const json target = result.value("target_pairs", json(0)), nontarget = result.value("nontarget_pairs", json(0));
  if (!target.is_number_integer() || !nontarget.is_number_integer()) return "?";
  const double sum = target.get<double>() + nontarget.get<double>();
  if (const auto exact = whole_int64(sum)) return *exact;
  return sum;
}

std::string image(const fs::path& png, const std::string& alt) {
  return "<img alt=\"" + html_escape(alt) + "\" src=\"data:image/png;base64," + base64_encode(read_file(png)) +
         "\">\n";
}

json read_json(const fs::path& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw file_error(path, std::string("not valid JSON: ") + e.what());
  }
}

// A CSV file as an HTML table (simple CSV: the training metrics).
std::string csv_table(const std::string& text) {
  std::istringstream in(text);
  std::ostringstream out;
  out << "<table>\n";
  bool header = true;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    out << "<tr>";
    std::stringstream cells(line);
    for (std::string c; std::getline(cells, c, ',');) {
      // Long decimals (setprecision(9)) are trimmed for reading.
      char* end = nullptr;
      const double v = std::strtod(c.c_str(), &end);
      const bool number = !header && !c.empty() && end && *end == '\0';
      const std::string shown = number && c.find('.') != std::string::npos ? format_number(v, "%.4g") : c;
      out << (header ? "<th>" : "<td>") << html_escape(shown) << (header ? "</th>" : "</td>");
    }
    out << "</tr>\n";
    header = false;
  }
  out << "</table>\n";
  return out.str();
}

double number_or_nan(const json& r, const char* key) {
  return r.contains(key) && r[key].is_number() ? r[key].get<double>() : std::nan("");
}

std::string far_percent(const json& r) {
  double far = 0.05;
  if (r.contains("parameters") && r["parameters"].contains("far") && r["parameters"]["far"].is_number())
    far = r["parameters"]["far"].get<double>();
  return format_number(100 * far, "%g") + "%";
}

std::string result_summary_line(const json& r) {
  if (r.value("protocol", "") == "verification")
    return "EER " + format_number(number_or_nan(r, "eer")) + ", false rejects " +
           format_number(number_or_nan(r, "frr_at_far")) + " at " + far_percent(r) + " false accepts, AUROC " +
           format_number(number_or_nan(r, "auroc"));
  std::string line = format_number(r.value("mean_accuracy", json(nullptr)).is_number()
                                       ? r["mean_accuracy"].get<double>()
                                       : std::nan(""));
  if (r.value("protocol", "") == "episodes") line += " ± " + format_number(r.value("ci95", 0.0)) + " (95% CI)";
  return line;
}

std::string describe_parameters(const json& r) {
  std::string out;
  if (!r.contains("parameters")) return out;
  for (const auto& [k, v] : r["parameters"].items()) out += (out.empty() ? "" : ", ") + k + " " + cell(v);
  return out;
}

std::string verification_section(const std::string& name, const json& r, const fs::path& results_dir) {
  std::ostringstream out;
  auto row = [&](const std::string& label, const std::string& value) {
    out << "<tr><td>" << html_escape(label) << "</td><td>" << html_escape(value) << "</td></tr>\n";
  };
  out << "<h3>" << html_escape(name) << "</h3>\n<p class=\"mean\">" << html_escape(result_summary_line(r))
      << "</p>\n<p class=\"note\">Every same-class and different-class pair of the " << html_escape(r.value("split", "?"))
      << " clips, one clip against one clip (as enrolling a sound from one recording), scored by the model's head ("
      << html_escape(r.value("checkpoint", "best")) << ".pt); a pair is accepted when its score exceeds the "
      << "threshold. EER by the ROC convex hull; in " << format_number(r.value("seconds", 0.0), "%.2f") << " s</p>\n";
  out << "<table><tr><th>pairs of clips</th><th></th></tr>\n";
  row("classes / clips", cell(json(r.value("classes", json::array()).size())) + " / " + cell(r.value("clips", json(0))));
  row("same-class pairs", cell(r.value("target_pairs", json(0))));
  row("different-class pairs", cell(r.value("nontarget_pairs", json(0))));
  row("EER", format_number(number_or_nan(r, "eer")));
  row("false rejects at " + far_percent(r) + " false accepts", format_number(number_or_nan(r, "frr_at_far")));
  row("threshold there (false accepts reached)", format_number(number_or_nan(r, "threshold_at_far"), "%.4g") + " (" +
                                                    format_number(number_or_nan(r, "far_reached")) + ")");
  row("AUROC", format_number(number_or_nan(r, "auroc")));
  row("mean score, same class / different class", format_number(number_or_nan(r, "target_mean")) + " / " +
                                                      format_number(number_or_nan(r, "nontarget_mean")));
  out << "</table>\n";
  if (r.contains("enrolment") && r["enrolment"].is_object()) {
    const json& e = r["enrolment"];
    const json c = r.value("calibration", json::object());
    std::string source = c.value("source", "");
    source = source == "given" ? "given" : far_percent(r) + " false accepts on every pair of the " +
                                               cell(c.value("clips", json(0))) + " clips of " +
                                               cell(c.value("classes", json(0))) + " " + source;
    out << "<table><tr><th>enrol one clip</th><th></th></tr>\n";
    row("enrolled classes per draw", cell(e.value("enrolled_classes", json(0))) + " of " + cell(e.value("classes", json(0))));
    row("draws", cell(e.value("draws", json(0))));
    row("threshold", cell(e.value("threshold", json(nullptr))) + " (" + source + ")");
    row("top-1 among the enrolled (threshold ignored)", cell(e.value("top1", json(nullptr))));
    row("accepted as their class", cell(e.value("accepted", json(nullptr))));
    row("never-enrolled clips rejected as unknown", cell(e.value("rejected", json(nullptr))));
    out << "</table>\n";
  }
  for (const char* figure : {"_det.png", "_histogram.png"}) {
    const fs::path png = results_dir / (name + figure);
    if (fs::exists(png)) out << image(png, name + figure);
  }
  return out.str();
}

std::string result_section(const std::string& name, const json& r, const fs::path& results_dir) {
  if (r.value("protocol", "") == "verification") return verification_section(name, r, results_dir);
  std::ostringstream out;
  out << "<h3>" << html_escape(name) << "</h3>\n<p class=\"mean\">Mean accuracy: " << html_escape(result_summary_line(r))
      << "</p>\n<p class=\"note\">" << html_escape(r.value("protocol", "?")) << " protocol on the "
      << html_escape(r.value("split", "?")) << " classes; " << html_escape(describe_parameters(r)) << "; "
      << cell(r.value("decisions", json(0))) << " decisions in " << format_number(r.value("seconds", 0.0), "%.2f")
      << " s</p>\n";
  const auto classes = r.value("classes", json::array());
  const auto accuracy = r.value("class_accuracy", json::array());
  const auto decisions = r.value("class_decisions", json::array());
  const auto confusion = r.value("confusion", json::array());
  out << "<table><tr><th>class</th><th>accuracy</th><th>decisions</th></tr>\n";
  for (std::size_t i = 0; i < classes.size(); ++i)
    out << "<tr><td>" << html_escape(cell(classes[i])) << "</td><td>"
        << (i < accuracy.size() ? html_escape(cell(accuracy[i])) : "") << "</td><td>"
        << (i < decisions.size() ? html_escape(cell(decisions[i])) : "") << "</td></tr>\n";
  out << "</table>\n";
  if (!confusion.empty()) {
    out << "<table><tr><th>true \\ predicted</th>";
    for (const auto& c : classes) out << "<th>" << html_escape(cell(c)) << "</th>";
    out << "</tr>\n";
    for (std::size_t i = 0; i < confusion.size() && i < classes.size(); ++i) {
      out << "<tr><td>" << html_escape(cell(classes[i])) << "</td>";
      for (const auto& v : confusion[i]) out << "<td>" << html_escape(cell(v)) << "</td>";
      out << "</tr>\n";
    }
    out << "</table>\n";
  }
  for (const char* figure : {"_accuracy.png", "_confusion.png"}) {
    const fs::path png = results_dir / (name + figure);
    if (fs::exists(png)) out << image(png, name + figure);
  }
  return out.str();
}

}  // namespace

fs::path write_report(const fs::path& run_dir) {
  if (!fs::is_directory(run_dir)) throw file_error(run_dir, "not a run directory");
  const fs::path results_dir = run_dir / "results";
  std::vector<fs::path> result_files, figures;
  if (fs::is_directory(results_dir))
    for (const auto& entry : fs::directory_iterator(results_dir)) {
      if (entry.path().extension() == ".json") result_files.push_back(entry.path());
      if (entry.path().extension() == ".png") figures.push_back(entry.path());
    }
  std::sort(result_files.begin(), result_files.end());
  std::sort(figures.begin(), figures.end());

  std::ostringstream html;
  const std::string title = "oneshot-audio run " + fs::absolute(run_dir).lexically_normal().filename().string();
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << html_escape(title)
       << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n<h1>" << html_escape(title) << "</h1>\n";

  std::set<fs::path> shown;  // figures placed next to their result
  std::vector<std::pair<std::string, json>> results;
  for (const auto& f : result_files) results.emplace_back(f.stem().string(), read_json(f));
  if (!results.empty()) {
    html << "<h2>Summary</h2>\n<table><tr><th>result</th><th>protocol</th><th>split</th><th>mean accuracy (verification: EER, FRR, AUROC)</th>"
            "<th>decisions (pairs)</th></tr>\n";
    for (const auto& [name, r] : results)
      html << "<tr><td>" << html_escape(name) << "</td><td>" << html_escape(r.value("protocol", "?")) << "</td><td>"
           << html_escape(r.value("split", "?")) << "</td><td>" << html_escape(result_summary_line(r)) << "</td><td>"
           << html_escape(cell(r.value("protocol", "") == "verification"
                                   ? pair_count(r)
                                   : r.value("decisions", json(0))))
           << "</td></tr>\n";
    html << "</table>\n";
  }
  if (fs::exists(run_dir / "run.json")) {
    html << "<h2>Data</h2>\n<table>\n";
    const json info = read_json(run_dir / "run.json");  // kept alive: items() refers to it
    for (const auto& [k, v] : info.items())
      html << "<tr><td>" << html_escape(k) << "</td><td>" << html_escape(cell(v)) << "</td></tr>\n";
    html << "</table>\n";
  }
  if (fs::exists(run_dir / "split.json")) {
    html << "<h2>Class split</h2>\n<table>\n";
    const json split = read_json(run_dir / "split.json");
    for (const auto& [k, v] : split.items()) {
      std::string names;
      if (v.is_array())
        for (const auto& n : v) names += (names.empty() ? "" : ", ") + cell(n);
      else
        names = cell(v);
      html << "<tr><td>" << html_escape(k) << (v.is_array() ? " (" + std::to_string(v.size()) + ")" : "")
           << "</td><td style=\"text-align:left\">" << html_escape(names) << "</td></tr>\n";
    }
    html << "</table>\n";
  }
  if (fs::exists(run_dir / "metrics.csv")) {
    html << "<h2>Training</h2>\n" << csv_table(read_file(run_dir / "metrics.csv"));
    const fs::path curves = results_dir / "training_curves.png";
    if (fs::exists(curves)) html << image(curves, "training curves"), shown.insert(curves);
  }
  if (!results.empty()) {
    html << "<h2>Results</h2>\n";
    for (const auto& [name, r] : results) {
      html << result_section(name, r, results_dir);
      shown.insert(results_dir / (name + "_accuracy.png"));
      shown.insert(results_dir / (name + "_confusion.png"));
      shown.insert(results_dir / (name + "_det.png"));
      shown.insert(results_dir / (name + "_histogram.png"));
    }
  }
  std::ostringstream other;
  for (const auto& png : figures)
    if (!shown.count(png)) other << "<h3>" << html_escape(png.stem().string()) << "</h3>\n" << image(png, png.stem().string());
  if (!other.str().empty()) html << "<h2>Figures</h2>\n" << other.str();
  if (fs::exists(run_dir / "config.toml"))
    html << "<h2>Configuration</h2>\n<pre>" << html_escape(read_file(run_dir / "config.toml")) << "</pre>\n";
  html << "<p class=\"note\">Written by oneshot-audio. Every figure is embedded; this page needs no server.</p>\n"
          "</body>\n</html>\n";

  const fs::path path = run_dir / "report.html";
  write_file_atomic(path, html.str());
  return path;
}

}  // namespace oneshot
