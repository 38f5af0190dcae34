#include "eval/results.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

int64_t row_sum(const std::vector<int64_t>& row) {
  int64_t sum = 0;
  for (int64_t v : row) sum += v;
  return sum;
}

json parameters(const EvalResult& result, const EvalConfig& config) {
  json p = {{"seed", config.seed}};
  if (result.protocol == "episodes") {
    p["ways"] = config.ways;
    p["shots"] = config.shots;
    p["queries"] = config.queries;
    p["episodes"] = config.episodes;
    p["aggregate"] = config.shots > 1 ? config.aggregate : "none";
  }
  return p;
}

// CSV field: quoted when it holds a separator, quote or newline.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string format_number(double x, const char* format) {
  if (!std::isfinite(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

}  // namespace

std::vector<std::string> table_class_names(const EvalResult& result, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (int id : result.classes)
    out.push_back(id >= 0 && static_cast<std::size_t>(id) < names.size() ? names[id]
                                                                          : "class " + std::to_string(id));
  return out;
}

std::string result_name(const std::string& split, const EvalConfig& config) {
  std::ostringstream name;
  name << split << '_' << config.protocol;
  if (config.protocol == "episodes") {
    name << '_' << config.ways << "way_" << config.shots << "shot";
    if (config.shots > 1) name << '_' << config.aggregate;
  }
  return name.str();
}

json result_to_json(const EvalResult& result, const ResultContext& context) {
  json accuracy = json::array(), decisions = json::array();
  for (std::size_t i = 0; i < result.classes.size(); ++i) {
    accuracy.push_back(number_or_null(result.class_accuracy.at(i)));
    decisions.push_back(row_sum(result.confusion.at(i)));
  }
  return json{{"protocol", result.protocol},
              {"split", context.split},
              {"parameters", parameters(result, context.config)},
              {"classes", table_class_names(result, context.class_names)},
              {"class_ids", result.classes},
              {"class_accuracy", accuracy},
              {"class_decisions", decisions},
              {"decisions", result.decisions},
              {"mean_accuracy", number_or_null(result.mean_accuracy)},
              {"std", result.std},
              {"ci95", result.ci95},
              {"confusion", result.confusion},
              {"seconds", result.seconds},
              {"embedding_seconds", result.embedding_seconds}};
}

ResultFiles write_result(const fs::path& dir, const std::string& name, const EvalResult& result,
                         const ResultContext& context) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw file_error(dir, "cannot create the results directory: " + ec.message());
  ResultFiles files{dir / (name + ".json"), dir / (name + "_class_accuracy.csv"), dir / (name + "_confusion.csv")};
  write_file_atomic(files.json, result_to_json(result, context).dump(2) + "\n");

  const auto names = table_class_names(result, context.class_names);
  std::ostringstream acc;
  acc << "class,accuracy,correct,decisions\n";
  for (std::size_t i = 0; i < names.size(); ++i)
    acc << csv_field(names[i]) << ',' << format_number(result.class_accuracy[i], "%.6f") << ','
        << result.confusion[i][i] << ',' << row_sum(result.confusion[i]) << '\n';
  write_file_atomic(files.class_accuracy_csv, acc.str());

  std::ostringstream cm;
  cm << "true\\predicted";
  for (const auto& n : names) cm << ',' << csv_field(n);
  cm << '\n';
  for (std::size_t i = 0; i < names.size(); ++i) {
    cm << csv_field(names[i]);
    for (int64_t v : result.confusion[i]) cm << ',' << v;
    cm << '\n';
  }
  write_file_atomic(files.confusion_csv, cm.str());
  return files;
}

std::string format_result_table(const EvalResult& result, const ResultContext& context) {
  const auto names = table_class_names(result, context.class_names);
  std::size_t width = 5;
  for (const auto& n : names) width = std::max(width, n.size());
  std::ostringstream out;
  char line[256];
  if (result.protocol == "episodes")
    std::snprintf(line, sizeof line, "%d-way %d-shot episodes on the %s classes (%d episodes, %d queries a class)\n",
                  context.config.ways, context.config.shots, context.split.c_str(), context.config.episodes,
                  context.config.queries);
  else
    std::snprintf(line, sizeof line, "grid test on the %s classes (%zu classes, %lld decisions)\n",
                  context.split.c_str(), names.size(), static_cast<long long>(result.decisions));
  out << line;
  std::snprintf(line, sizeof line, "%-*s  %8s  %s\n", static_cast<int>(width), "class", "accuracy", "correct");
  out << line;
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::snprintf(line, sizeof line, "%-*s  %8s  %lld/%lld\n", static_cast<int>(width), names[i].c_str(),
                  format_number(result.class_accuracy[i], "%.3f").c_str(),
                  static_cast<long long>(result.confusion[i][i]),
                  static_cast<long long>(row_sum(result.confusion[i])));
    out << line;
  }
  std::string mean = format_number(result.mean_accuracy, "%.3f");
  if (result.protocol == "episodes") mean += " ± " + format_number(result.ci95, "%.3f") + " (95% CI)";
  std::snprintf(line, sizeof line, "%-*s  %8s\n", static_cast<int>(width), "mean", mean.c_str());
  out << line;
  if (result.embedding_seconds > 0)
    std::snprintf(line, sizeof line, "(%.2f s, of which %.2f s computing embeddings)\n", result.seconds,
                  result.embedding_seconds);
  else
    std::snprintf(line, sizeof line, "(%.2f s)\n", result.seconds);
  out << line;
  return out.str();
}

}  // namespace oneshot
