// oneshot-audio classify: which enrolled class each recording holds, or
// "unknown" below the class's threshold (open-set rejection).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "core/number_text.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "inference/classify_batch.h"
#include "inference/run_model.h"

namespace oneshot::cli {
namespace {

struct ClassifyArgs {
  std::string library, format = "table", aggregate = "mean", window_aggregate = "mean", centre = "batch";
  bool batch_cohort = false;
  std::vector<std::string> files;
  std::size_t top = 3;
  double threshold = std::nan(""), hop = 0, far = std::nan("");
  int threads = 0;
};

int run_classify(const ClassifyArgs& a) {
  const ClassLibrary library = ClassLibrary::open_read_only(a.library);
  auto run = RunModel::load(library.run_directory(), a.threads);
  ScoringOptions scoring;
  scoring.aggregate = a.aggregate;
  if (!std::isnan(a.threshold)) scoring.threshold = a.threshold;
  if (!std::isnan(a.far)) scoring.far = a.far;
  LibraryScorer scorer(library, *run, scoring);
  if (!scorer.note().empty()) std::cerr << "note: " << scorer.note() << "\n";
  ClassifyOptions options;
  options.windowing.hop_s = a.hop;
  options.window_aggregate = a.window_aggregate;
  hop_samples(*run, options.windowing);  // a bad --hop once, not once per file

  const InputFiles inputs = expand_inputs(a.files, EmptyFolders::in_place);
  if (inputs.any_skipped()) std::cerr << "note: " << inputs.skipped_note() << "\n";
  const std::vector<std::string>& files = inputs.files;
  nlohmann::json json = nlohmann::json::array();
  // A folder with no audio among the inputs: an error in its place; the other inputs are classified.
  for (const auto& [folder, why] : inputs.empty_folders) {
    std::cerr << "error: " << why << "\n";
    if (a.format == "json") json.push_back({{"path", folder}, {"error", why}});
  }
  if (a.format == "csv")
    std::printf("path,decision,rank,class,score,threshold,votes,windows,confidence,confidence_needed,centred_on\n");
  // The confidence in [0, 1] (JSON null, CSV empty, table "-" without a logistic calibration).
  auto json_confidence = [](double c) { return std::isnan(c) ? nlohmann::json(nullptr) : nlohmann::json(c); };
  auto text_confidence = [](double c, const char* none) {
    if (std::isnan(c)) return std::string(none);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", c);
    return std::string(buf);
  };
  // The files classified together as their own domain where they can be
  // (inference/classify_batch.h): then every file is embedded before the
  // first answer. Fewer files than centring needs: known now, each scored as
  // it is read, as before centring, and nothing said (one file classified is
  // the common case).
  BatchOptions batch;
  batch.classify = options;
  batch.centre = false;
  batch.progress = isatty(STDERR_FILENO) != 0;  // a terminal only: a log or a pipe gets the one note after
  if (a.centre == "batch" && files.size() >= batch.min_files) {
    const CentringChoice choice = choose_centring(true, !std::isnan(a.threshold), library, scorer, a.library,
                                                  "the files classified together");
    if (!choice.note.empty()) std::cerr << "note: " << choice.note << "\n";
    if (!choice.centre) std::cerr << "note: not centred on the files classified together: " << choice.why_not << "\n";
    batch.centre = choice.centre;
    batch.cohort = a.batch_cohort;
    if (batch.centre && batch.cohort && !library.batch_calibration())
      std::cerr << "note: " << a.library << " was calibrated before scores normalised against the files classified "
                << "together: they are centred only; the next `enroll` (or `enroll --run RUN --library " << a.library
                << " --far F`) adds that calibration\n";
  }
  std::size_t failed = 0;
  auto on_file = [&](const std::string& file, const Classification* result, const std::string& error) {
    if (!result) {
      ++failed;
      std::cerr << "error: " << error << "\n";
      if (a.format == "json") json.push_back({{"path", file}, {"error", error}});
      return;
    }
    const Classification& c = *result;
    const std::size_t top = std::min(a.top, c.ranking.size());
    if (a.format == "json") {
      nlohmann::json ranked = nlohmann::json::array();
      for (std::size_t i = 0; i < top; ++i)
        ranked.push_back({{"class", c.ranking[i].name}, {"score", c.ranking[i].score},
                          {"threshold", c.ranking[i].threshold}, {"votes", c.ranking[i].votes},
                          {"confidence", json_confidence(c.ranking[i].confidence)},
                          {"confidence_needed", json_confidence(c.ranking[i].confidence_needed)}});
      json.push_back({{"path", c.path}, {"decision", c.decision}, {"reason", c.reason}, {"windows", c.windows},
                      {"duration_s", c.duration}, {"centred_on", c.centred_on.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.centred_on)}, {"confidence", json_confidence(c.ranking.front().confidence)},
                      {"ranking", ranked}});
    } else if (a.format == "csv") {
      for (std::size_t i = 0; i < top; ++i)
        std::printf("%s,%s,%zu,%s,%.6g,%.6g,%zu,%zu,%s,%s,%s\n", csv_field(c.path).c_str(), csv_field(c.decision).c_str(),
                    i + 1, csv_field(c.ranking[i].name).c_str(), c.ranking[i].score, c.ranking[i].threshold,
                    c.ranking[i].votes, c.windows, text_confidence(c.ranking[i].confidence, "").c_str(),
                    text_confidence(c.ranking[i].confidence_needed, "").c_str(), c.centred_on.c_str());
    } else {
      std::printf("%s: %s%s%s\n", one_line(c.path).c_str(), c.decision.c_str(), c.reason.empty() ? "" : " (",
                  c.reason.empty() ? "" : (c.reason + ")").c_str());
      for (std::size_t i = 0; i < top; ++i)
        std::printf("  %zu. %s score %8.4f  threshold %8.4f  confidence %5s (needs %s)%s\n", i + 1,
                    pad_to_width(c.ranking[i].name, 24).c_str(), c.ranking[i].score, c.ranking[i].threshold,
                    text_confidence(c.ranking[i].confidence, "-").c_str(),
                    text_confidence(c.ranking[i].confidence_needed, "-").c_str(),
                    a.window_aggregate == "vote" ? (" votes " + std::to_string(c.ranking[i].votes)).c_str() : "");
    }
  };
  const BatchReport report = classify_batch(*run, library, scoring, scorer, files, batch, on_file);
  if (batch.centre) {
    const std::string repeated =
        report.repeated ? " (" + std::to_string(report.repeated) + " given again counted once)" : "";
    std::cerr << "note: "
              << (report.centred ? "scores centred on the " + std::to_string(report.sounding) +
                                       " files classified together" + repeated +
                                       (report.cohort ? " and normalised against " + std::to_string(report.cohort) +
                                                            " of their windows (AS-norm)"
                                                      : std::string()) +
                                       ", false-accept rate " + short_number(report.far) +
                                       " (--centre library: each file on its own)"
                                 : "scored as the library stores: " + std::to_string(report.sounding) + " of the " +
                                       std::to_string(files.size()) + " files could be read and hold sound" + repeated +
                                       ", centring on them needs " + std::to_string(batch.min_files))
              << (report.embedded_twice ? "; " + std::to_string(report.embedded_twice) +
                                              (report.embedded_twice == 1 ? " file" : " files") +
                                              " embedded twice (more windows than are kept between the passes)"
                                        : "")
              << "\n";
  }
  if (a.format == "json") std::printf("%s\n", json_text(json, 2).c_str());
  std::string summary;
  if (failed) summary = std::to_string(failed) + " of " + std::to_string(files.size()) + " files could not be classified";
  if (const std::size_t empty = inputs.empty_folders.size())
    summary += (summary.empty() ? "" : "; ") + std::to_string(empty) + (empty == 1 ? " folder" : " folders") +
               " given held no audio (named above)";
  if (!summary.empty()) throw Error(summary);
  return 0;
}

}  // namespace

void add_classify_command(CLI::App& app) {
  auto a = std::make_shared<ClassifyArgs>();
  auto* cmd = app.add_subcommand("classify", "Classify recordings against a class library (or \"unknown\")");
  cmd->add_option("--library", a->library, "Class library written by enroll")->required();
  cmd->add_option("FILE", a->files, "Audio files or directories of them")->required();
  cmd->add_option("--top", a->top, "Classes listed per file (default 3)")->check(WholeNumber(1, 1000000));
  cmd->add_option("--far", a->far,
                  "False-accept rate of the library for this run: the fraction of files of never-enrolled sounds "
                  "accepted as one of its classes (default: the library's, set by enroll --far; scores centred on "
                  "the files classified together take " + short_number(kDefaultDomainFar) + " where the library "
                  "keeps the default " + short_number(kDefaultLibraryFar) + ")")
      ->check(FalseAcceptRate);
  cmd->add_option("--threshold", a->threshold, "Decision threshold for every class, instead of the stored ones")
      ->check(FiniteNumber);
  cmd->add_option("--format", a->format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}));
  cmd->add_option("--aggregate", a->aggregate, "A class's examples: mean, max or prototype (default mean)")
      ->check(CLI::IsMember({"mean", "max", "prototype"}));
  cmd->add_option("--window-aggregate", a->window_aggregate, "A long file's windows: mean, max or vote (default mean)")
      ->check(CLI::IsMember({"mean", "max", "vote"}));
  cmd->add_option("--hop", a->hop, "Seconds between windows of a long file (default: half the model's input)")
      ->check(FinitePositive);
  cmd->add_option("--centre", a->centre,
                  "batch (default): with a library without a domain, the files classified together are first all "
                  "embedded and every score centred on their mean (their own domain, as enroll --domain centres on "
                  "given recordings), with the library's calibration for such scores, when at least 24 of them hold "
                  "sound; a file's answer then depends on the files classified with it. library: each file scored "
                  "on its own, as the library stores (and printed as soon as it is read)")
      ->check(CLI::IsMember({"batch", "library"}));
  cmd->add_flag("--batch-cohort", a->batch_cohort,
                "With --centre batch: scores centred on the files classified together are also AS-normalised against "
                "their own windows, with the library's calibration for such scores: more of the enrolled sounds "
                "accepted where the files hold them, but more strangers accepted where they hold none (README, "
                "\"Normalised against the files classified together\")");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->callback([a] {
    if (int code = run_classify(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
