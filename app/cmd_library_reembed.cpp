// library --reembed (model executable only): every example's source is read
// again and its windows chosen and embedded by the new run; the library moves
// to the new model in one transaction, or not at all. An enroll, review or
// --remove committed while the sources were embedded would be overwritten
// (replace_examples drops every example): the change sees it and the
// re-embedding starts again on the new state, as enroll's queueing does.
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

#include "commands.h"
#include "core/error.h"
#include "inference/calibration.h"
#include "inference/domain.h"
#include "inference/enrolment.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"

namespace oneshot::cli {

namespace {

// What --reembed reads and then replaces: the planning state and every
// example's class, source, segment and window, as one string.
std::string reembed_state(const ClassLibrary& library) {
  std::string state = library.planning_state();
  library.read([&] {
    for (const auto& e : library.example_sources())
      state += e.class_name + '\n' + e.source + '\n' + std::to_string(e.segment_start.value_or(-1)) + ',' +
               std::to_string(e.segment_end.value_or(-1)) + ',' + std::to_string(e.window_start) + ',' +
               (e.negative ? "n" : "p") + e.added + '\n';
  });
  return state;
}

int reembed_once(ClassLibrary& library, RunModel& run_model) {
  RunModel* run = &run_model;
  // Read before the snapshot: a change committed in between only makes the
  // comparison inside the change fail, never pass.
  const std::string planned_on = reembed_state(library);
  std::string before_fingerprint = "(damaged)";
  LibrarySettings settings;
  std::optional<Calibration> old_calibration;
  std::optional<DomainCentre> old_domain;
  std::vector<LibraryExample> examples;
  // --reembed is the way out of a damaged library: what it makes anew (the
  // model record, embeddings, settings, calibration) is read leniently, a
  // damaged one replaced by the run's or the defaults with a note; only the
  // sources it reads again must be sound.
  auto lenient = [](const char* what, const std::function<void()>& read) {
    try {
      read();
    } catch (const Error& e) {
      std::cerr << "note: " << e.what() << "\n(--reembed writes the " << what << " anew)\n";
    }
  };
  library.read([&] {  // one snapshot
    lenient("model record", [&] { before_fingerprint = library.model().fingerprint; });
    lenient("settings with their defaults", [&] { settings = library.settings(); });
    lenient("calibration", [&] { old_calibration = library.calibration(); });
    lenient("domain (from its recordings, when they can be read)", [&] { old_domain = library.domain(); });
    examples = library.example_sources();
  });

  // One entry per (class, source, segment): the windows are chosen again, the
  // new model's input length may differ.
  struct Source {
    std::string class_name, path;
    std::optional<Segment> segment;
    std::string added;
  };
  std::vector<Source> sources;
  std::map<std::string, bool> seen;
  for (const auto& e : examples) {
    const std::string key = e.class_name + '\n' + e.source + '\n' + std::to_string(e.segment_start.value_or(-1)) + '\n' +
                            std::to_string(e.segment_end.value_or(-1));
    if (seen[key]) continue;
    seen[key] = true;
    std::optional<Segment> segment;
    if (e.segment_start) segment = Segment{*e.segment_start, e.segment_end.value_or(-1.0)};
    sources.push_back({e.class_name, e.source, segment, e.added});
  }
  WindowingOptions windowing;
  std::vector<LibraryExample> rows;
  std::vector<std::string> problems;
  for (const Source& s : sources) {
    try {
      for (auto& e : embed_example(*run, s.path, windowing, s.segment, static_cast<int>(settings.enrol_views))) {
        e.class_name = s.class_name;
        e.added = s.added;
        rows.push_back(std::move(e));
      }
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  // The domain's recordings, embedded again by the new run.
  std::optional<DomainCentre> domain;
  if (old_domain) {
    try {
      domain = estimate_domain(*run, domain_sources(*old_domain), windowing).centre;
    } catch (const Error& e) {
      problems.push_back(std::string("the domain: ") + e.what() + " (or `enroll --no-domain` first)");
    }
  }
  if (!problems.empty()) {
    std::string message = std::to_string(problems.size()) + " of " + std::to_string(sources.size() + (old_domain ? 1 : 0)) +
                          " sources cannot be re-embedded (the library is unchanged):";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(message);
  }
  // One change: the new examples, cohort, calibration and thresholds, or
  // (an error, a kill) the library as it was.
  library.change([&] {
    if (reembed_state(library) != planned_on) throw PlanOutdated();
    library.replace_examples(run->library_model(), rows);  // drops the old cohort and calibration
    library.set_settings(settings);  // a damaged setting is written anew (the default)
    if (domain) library.set_domain(domain);
    try {
      // A new cohort and a calibration on simulated enrolments, at the old
      // far (none, or a damaged one: the library default, as enroll's).
      const CalibrationPlan plan =
          plan_calibration(library, *run, library.settings(),
                           old_calibration ? std::optional<double>(old_calibration->far) : std::nullopt, true);
      if (!plan.note.empty()) std::cerr << "note: " << plan.note << "\n";
      store_calibration(library, plan);
      if (!plan.error.empty()) throw Error(plan.error);
      update_thresholds(library, *run, "mean");
    } catch (const Error& e) {
      std::cerr << "note: no calibration with the new run (" << e.what() << ")\n";
    }
  });
  std::printf("re-embedded %zu windows from %zu sources%s: model %s -> %s\n", rows.size(), sources.size(),
              domain ? (", and the domain's " + std::to_string(domain->files) + " recordings").c_str() : "",
              before_fingerprint.c_str(), run->fingerprint().c_str());
  return 0;
}

}  // namespace

int run_library_reembed(const std::string& library_path, const std::string& run_dir, int threads) {
  ClassLibrary library = ClassLibrary::open(library_path);
  auto run = RunModel::load(run_dir, threads);
  return with_replanning(library_path, "re-embedding", [&] { return reembed_once(library, *run); });
}

}  // namespace oneshot::cli
