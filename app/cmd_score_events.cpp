// oneshot-audio score-events: event-based precision, recall and F-measure of
// an estimated event list against a reference one, with the DCASE few-shot
// bioacoustic matching rule (src/events/event_metrics.h). Model-free: runs in
// the front end without LibTorch.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "core/json_text.h"
#include "events/annotation_tables.h"
#include "events/event.h"
#include "events/event_metrics.h"

namespace oneshot::cli {
namespace {

struct ScoreEventsArgs {
  std::string reference, estimate, format = "table";
  double iou = kDcaseIouThreshold;
};

nlohmann::json counts_json(const EventCounts& c) {
  return {{"reference", c.reference}, {"estimate", c.estimate}, {"tp", c.tp},
          {"fp", c.fp()},             {"fn", c.fn()},           {"precision", c.precision()},
          {"recall", c.recall()},     {"f_measure", c.f_measure()}};
}

void print_table(const ScoreEventsArgs& a, const EventScores& s, std::size_t n_ref, std::size_t n_est) {
  std::printf("reference: %s (%zu events)\nestimate:  %s (%zu events)\n", a.reference.c_str(), n_ref,
              a.estimate.c_str(), n_est);
  std::printf("matching:  same file and label, IoU > %g, maximum bipartite matching (DCASE few-shot rule)\n\n",
              s.iou_threshold);
  int width = 16;
  for (const LabelScore& l : s.labels) width = std::max(width, static_cast<int>(l.label.size()) + 1);
  std::printf("%-*s %6s %6s %6s %6s %6s %9s %7s %9s\n", width, "label", "ref", "est", "TP", "FP", "FN", "precision",
              "recall", "F-measure");
  bool marked = false;
  for (const LabelScore& l : s.labels) {
    const EventCounts& c = l.counts;
    const std::string name = l.label + (l.in_reference ? "" : "*");
    marked = marked || !l.in_reference;
    std::printf("%-*s %6zu %6zu %6zu %6zu %6zu %9.3f %7.3f %9.3f\n", width, name.c_str(), c.reference, c.estimate,
                c.tp, c.fp(), c.fn(), c.precision(), c.recall(), c.f_measure());
  }
  const std::string macro = "macro (" + std::to_string(s.labels.size()) + " labels)";
  std::printf("%-*s %6s %6s %6s %6s %6s %9.3f %7.3f %9.3f\n", width, macro.c_str(), "", "", "", "", "",
              s.macro_precision, s.macro_recall, s.macro_f);
  const EventCounts& m = s.micro;
  std::printf("%-*s %6zu %6zu %6zu %6zu %6zu %9.3f %7.3f %9.3f\n", width, "micro", m.reference, m.estimate, m.tp,
              m.fp(), m.fn(), m.precision(), m.recall(), m.f_measure());
  if (marked) std::printf("* only in the estimate (counted in the macro average with F = 0)\n");
}

void print_csv(const EventScores& s) {
  std::printf("scope,label,reference,estimate,tp,fp,fn,precision,recall,f_measure\n");
  auto row = [](const char* scope, const std::string& label, const EventCounts& c) {
    std::printf("%s,%s,%zu,%zu,%zu,%zu,%zu,%.6f,%.6f,%.6f\n", scope, csv_field(label).c_str(), c.reference,
                c.estimate, c.tp, c.fp(), c.fn(), c.precision(), c.recall(), c.f_measure());
  };
  for (const LabelScore& l : s.labels) row(l.in_reference ? "label" : "label_only_in_estimate", l.label, l.counts);
  std::printf("macro,,,,,,,%.6f,%.6f,%.6f\n", s.macro_precision, s.macro_recall, s.macro_f);
  row("micro", "", s.micro);
}

void print_json(const ScoreEventsArgs& a, const EventScores& s) {
  nlohmann::json labels = nlohmann::json::array();
  for (const LabelScore& l : s.labels) {
    nlohmann::json j = counts_json(l.counts);
    j["label"] = l.label;
    j["in_reference"] = l.in_reference;
    labels.push_back(std::move(j));
  }
  const nlohmann::json out = {
      {"reference", a.reference},
      {"estimate", a.estimate},
      {"iou_threshold", s.iou_threshold},
      {"files", s.n_files},
      {"labels", labels},
      {"macro",
       {{"labels", s.labels.size()},
        {"precision", s.macro_precision},
        {"recall", s.macro_recall},
        {"f_measure", s.macro_f}}},
      {"micro", counts_json(s.micro)},
  };
  std::printf("%s\n", json_text(out, 2).c_str());
}

void run_score_events(const ScoreEventsArgs& a) {
  Annotations ref = read_annotations(a.reference), est = read_annotations(a.estimate);
  // sed_eval lists are matched on their filenames as written; a Raven or
  // Audacity table names its recording by base name or by its own name, so
  // then both lists are matched on the recordings' stems.
  if (ref.names != Annotations::Names::Path || est.names != Annotations::Names::Path) {
    for (auto* list : {&ref, &est}) {
      std::map<std::string, std::string> seen;  // key -> the filename that gave it
      const std::string& path = list == &ref ? a.reference : a.estimate;
      for (Event& e : list->events) {
        const std::string key = list->recording_key(e);
        const auto [it, fresh] = seen.emplace(key, e.filename);
        if (!fresh && it->second != e.filename)
          throw file_error(path, "'" + it->second + "' and '" + e.filename + "' have the same name without folder "
                                 "and extension, which is how they are matched against a " +
                                 annotation_format_name((list == &ref ? est : ref).format) + " table");
        e.filename = key;
      }
    }
  }
  const std::vector<Event>& reference = ref.events;
  const std::vector<Event>& estimate = est.events;
  const EventScores scores = score_events(reference, estimate, a.iou);

  // Filenames are compared literally; lists written with different path
  // conventions would otherwise score 0 with no hint why.
  std::set<std::string> ref_files;
  for (const Event& e : reference) ref_files.insert(e.filename);
  const bool shared = std::any_of(estimate.begin(), estimate.end(),
                                  [&](const Event& e) { return ref_files.count(e.filename) > 0; });
  if (!reference.empty() && !estimate.empty() && !shared)
    std::fprintf(stderr,
                 "warning: no filename appears in both lists (they are compared literally, e.g. '%s' and '%s')\n",
                 reference.front().filename.c_str(), estimate.front().filename.c_str());

  if (a.format == "json")
    print_json(a, scores);
  else if (a.format == "csv")
    print_csv(scores);
  else
    print_table(a, scores, reference.size(), estimate.size());
}

}  // namespace

void add_score_events_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("score-events", "Event-based precision, recall and F-measure of detected events");
  auto a = std::make_shared<ScoreEventsArgs>();
  cmd->add_option("--reference", a->reference,
                  "Reference events: a sed_eval list (filename onset offset event_label), a Raven selection table "
                  "or an Audacity label track")
      ->required();
  cmd->add_option("--estimate", a->estimate,
                  "Estimated events, in any of the same formats (as detect writes them; scores are ignored)")
      ->required();
  cmd->add_option("--iou", a->iou, "A match needs an IoU strictly greater than this")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.999999));
  cmd->add_option("--format", a->format, "table, json or csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "csv"}));
  cmd->footer(
      "An estimated event matches a reference event of the same file and label when the IoU of\n"
      "their time intervals exceeds --iou (0.3: the DCASE 2021/2022 few-shot bioacoustic rule);\n"
      "each event matches at most once (maximum bipartite matching). TP = matches, FP = estimates\n"
      "- TP, FN = references - TP. Macro: the mean over the labels of the reference and those only\n"
      "the estimate has; micro: from the counts summed over labels. Lists are sed_eval event lists\n"
      "(tab-separated, an optional header line `filename onset offset event_label [score]`), Raven\n"
      "selection tables or Audacity label tracks, recognised from their contents; a Raven or Audacity\n"
      "table of one recording is named after it (rec.Table.1.selections.txt, rec.labels.txt: \"rec\"),\n"
      "and lists of different formats are matched on the recordings' names without folder and extension.");
  cmd->callback([a] { run_score_events(*a); });
}

}  // namespace oneshot::cli
