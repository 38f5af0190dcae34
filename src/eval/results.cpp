#include "eval/results.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_text.h"

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

std::string result_name(const std::string& split, const EvalConfig& config, const std::string& checkpoint) {
  std::ostringstream name;
  name << split << '_' << config.protocol;
  if (config.protocol == "episodes") {
    name << '_' << config.ways << "way_" << config.shots << "shot";
    if (config.shots > 1) name << '_' << config.aggregate;
  }
  if (checkpoint == "last") name << "_last";
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
              {"checkpoint", context.checkpoint},
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
  write_file_atomic(files.json, json_text(result_to_json(result, context), 2) + "\n");

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

std::string verification_result_name(const std::string& split, const std::string& checkpoint,
                                     const VerificationScoring& scoring) {
  return split + "_verification" + (scoring.centre_on_split ? "_centred" : "") + (scoring.as_norm ? "_asnorm" : "") +
         (checkpoint == "last" ? "_last" : "");
}

std::string describe_scoring(const VerificationScoring& scoring) {
  const std::string k = std::to_string(scoring.cohort_top_k);
  if (scoring.centre_on_split)
    return scoring.as_norm ? "centred on the evaluated clips, AS-norm against them (K = " + k + ", at most half of them)"
                           : "centred on the evaluated clips";
  return scoring.as_norm ? "AS-norm against the training clips (K = " + k + ")" : "raw";
}

json verification_to_json(const VerificationResult& result, const ResultContext& context,
                          const VerificationOptions& options) {
  const VerificationMetrics& m = result.metrics;
  json det_threshold = json::array(), det_far = json::array(), det_frr = json::array();
  for (const auto& p : m.curve) {
    det_threshold.push_back(number_or_null(p.threshold));
    det_far.push_back(p.far);
    det_frr.push_back(p.frr);
  }
  const EnrolmentResult& e = result.enrolment;
  const ThresholdCalibration& c = result.calibration;
  std::vector<std::string> names;
  for (int id : result.classes)
    names.push_back(id >= 0 && static_cast<std::size_t>(id) < context.class_names.size()
                        ? context.class_names[id]
                        : "class " + std::to_string(id));
  return json{
      {"protocol", "verification"},
      {"split", context.split},
      {"checkpoint", context.checkpoint},
      {"parameters",
       {{"far", options.far},
        {"bins", options.bins},
        {"enrolled_classes", e.enrolled_classes},
        {"draws", options.draws},
        {"seed", options.seed},
        {"scoring",
         {{"centre", options.scoring.centre_on_split ? "split" : "none"},
          {"score_norm", options.scoring.as_norm ? "as-norm" : "none"},
          {"cohort", options.scoring.as_norm
                         ? json(options.scoring.centre_on_split ? "evaluated clips" : "training clips")
                         : json(nullptr)},
          {"cohort_top_k", options.scoring.cohort_top_k},
          {"text", describe_scoring(options.scoring)}}}}},
      {"classes", names},
      {"class_ids", result.classes},
      {"clips", result.clips},
      {"target_pairs", m.target_pairs},
      {"nontarget_pairs", m.nontarget_pairs},
      {"eer", m.eer},
      {"frr_at_far", m.at_far.frr},
      {"far_reached", m.at_far.far},
      {"threshold_at_far", m.at_far.threshold},
      {"auroc", m.auroc},
      {"target_mean", m.target_mean},
      {"nontarget_mean", m.nontarget_mean},
      {"histogram", {{"edges", m.histogram.edges}, {"target", m.histogram.target}, {"nontarget", m.histogram.nontarget}}},
      {"det", {{"threshold", det_threshold}, {"far", det_far}, {"frr", det_frr}}},
      {"calibration",
       {{"source", c.source},
        {"far", c.far},
        {"threshold", number_or_null(c.threshold)},
        {"frr", number_or_null(c.frr)},
        {"classes", c.classes},
        {"clips", c.clips},
        {"target_pairs", c.target_pairs},
        {"nontarget_pairs", c.nontarget_pairs}}},
      {"enrolment",
       {{"classes", e.classes},
        {"enrolled_classes", e.enrolled_classes},
        {"draws", e.draws},
        {"threshold", number_or_null(e.threshold)},
        {"top1", number_or_null(e.top1)},
        {"top1_std", number_or_null(e.top1_std)},
        {"accepted", number_or_null(e.accepted)},
        {"accepted_std", number_or_null(e.accepted_std)},
        {"rejected", number_or_null(e.rejected)},
        {"rejected_std", number_or_null(e.rejected_std)},
        {"enrolled_queries", e.enrolled_queries},
        {"unknown_queries", e.unknown_queries}}},
      {"seconds", result.seconds},
      {"embedding_seconds", result.embedding_seconds}};
}

VerificationFiles write_verification_result(const fs::path& dir, const std::string& name,
                                            const VerificationResult& result, const ResultContext& context,
                                            const VerificationOptions& options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw file_error(dir, "cannot create the results directory: " + ec.message());
  VerificationFiles files{dir / (name + ".json"), dir / (name + "_histogram.csv"), dir / (name + "_det.csv")};
  write_file_atomic(files.json, json_text(verification_to_json(result, context, options), 2) + "\n");
  const ScoreHistogram& h = result.metrics.histogram;
  std::ostringstream hist;
  hist << "bin_low,bin_high,same_class,different_class\n";
  for (std::size_t i = 0; i < h.target.size(); ++i)
    hist << format_number(h.edges[i], "%.9g") << ',' << format_number(h.edges[i + 1], "%.9g") << ',' << h.target[i]
         << ',' << h.nontarget[i] << '\n';
  write_file_atomic(files.histogram_csv, hist.str());
  std::ostringstream det;
  det << "threshold,far,frr\n";
  for (const auto& p : result.metrics.curve)
    det << (std::isfinite(p.threshold) ? format_number(p.threshold, "%.9g") : std::string("-inf")) << ','
        << format_number(p.far, "%.9g") << ',' << format_number(p.frr, "%.9g") << '\n';
  write_file_atomic(files.det_csv, det.str());
  return files;
}

std::string format_verification_table(const VerificationResult& result, const ResultContext& context,
                                      const VerificationOptions& options) {
  const VerificationMetrics& m = result.metrics;
  const EnrolmentResult& e = result.enrolment;
  const ThresholdCalibration& c = result.calibration;
  const std::string far_pct = format_number(100 * options.far, "%g") + "%";
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line,
                "verification on the %s classes (%zu classes, %lld clips; %lld same-class and %lld different-class "
                "pairs, one clip against one clip; %s.pt)\n",
                context.split.c_str(), result.classes.size(), static_cast<long long>(result.clips),
                static_cast<long long>(m.target_pairs), static_cast<long long>(m.nontarget_pairs),
                context.checkpoint.c_str());
  out << line;
  out << "  scores                     " << describe_scoring(options.scoring) << "\n";
  std::snprintf(line, sizeof line, "  EER                        %s\n", format_number(m.eer, "%.3f").c_str());
  out << line;
  const std::string frr_label = "false rejects at " + far_pct + " FAR";
  std::snprintf(line, sizeof line, "  %-26s %s  (threshold %s; false accepts %s)\n", frr_label.c_str(), format_number(m.at_far.frr, "%.3f").c_str(),
                format_number(m.at_far.threshold, "%.4g").c_str(), format_number(m.at_far.far, "%.3f").c_str());
  out << line;
  std::snprintf(line, sizeof line, "  AUROC                      %s\n", format_number(m.auroc, "%.3f").c_str());
  out << line;
  std::snprintf(line, sizeof line, "  mean score                 same class %s, different class %s\n",
                format_number(m.target_mean, "%.3f").c_str(), format_number(m.nontarget_mean, "%.3f").c_str());
  out << line;
  if (c.source == "given")
    std::snprintf(line, sizeof line, "enrol one clip: %d of %d classes, %d draws; threshold %s (given)\n",
                  e.enrolled_classes, e.classes, e.draws, format_number(c.threshold, "%.4g").c_str());
  else
    std::snprintf(line, sizeof line,
                  "enrol one clip: %d of %d classes, %d draws; threshold %s at %s FAR on %lld %s (their FRR %s)\n",
                  e.enrolled_classes, e.classes, e.draws, format_number(c.threshold, "%.4g").c_str(),
                  far_pct.c_str(), static_cast<long long>(c.classes), c.source.c_str(),
                  format_number(c.frr, "%.3f").c_str());
  out << line;
  std::snprintf(line, sizeof line, "  top-1 among the enrolled   %s\n", format_number(e.top1, "%.3f").c_str());
  out << line;
  std::snprintf(line, sizeof line, "  accepted as their class    %s\n", format_number(e.accepted, "%.3f").c_str());
  out << line;
  std::snprintf(line, sizeof line, "  rejected as unknown        %s\n", format_number(e.rejected, "%.3f").c_str());
  out << line;
  if (result.embedding_seconds > 0)
    std::snprintf(line, sizeof line, "(%.2f s, of which %.2f s computing embeddings)\n", result.seconds,
                  result.embedding_seconds);
  else
    std::snprintf(line, sizeof line, "(%.2f s)\n", result.seconds);
  out << line;
  return out.str();
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
