// oneshot-audio library: list a class library's classes, examples and
// sources; remove a class; re-embed it with a newer run. Model-free except
// --reembed, which hands over to the model executable.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "enroll/decision.h"
#include "enroll/library.h"

namespace oneshot::cli {
namespace {

struct LibraryArgs {
  std::string library, remove, run, format = "table";
  bool examples = false, reembed = false, remove_given = false;
  int threads = 0;
};

std::string optional_number(const std::optional<double>& v) {
  if (!v) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", *v);
  return buf;
}

int list_snapshot(const LibraryArgs& a, const ClassLibrary& library) {
  const LibraryModel model = library.model();
  // A damaged calibration is listed as such with the rest, then the error
  // (exit status 1): the listing is how a user inspects a damaged library.
  std::string damaged;
  std::optional<Calibration> calibration, recording, batch;
  try {
    calibration = library.calibration();
  } catch (const Error& e) {
    damaged = e.what();
  }
  try {
    recording = library.recording_calibration();
    batch = library.batch_calibration();
  } catch (const Error& e) {
    if (damaged.empty()) damaged = e.what();
  }
  const auto classes = library.classes();
  const LibrarySettings settings = library.settings();
  const std::size_t cohort = library.cohort().size();
  const auto domain = library.domain();
  // The calibration's rate shared out over this library's positive classes.
  const std::size_t n_positive = positive_classes(classes);
  std::optional<FarPoint> shared;
  if (calibration && !calibration->far_curve.empty() && n_positive > 0)
    shared = library_threshold(*calibration, calibration->far, n_positive);
  // The threshold classify uses for a class whose stored one was cleared
  // (library --remove): the library's, when no negative class can raise it.
  // Per class: on the curve of its number of example recordings (for_examples).
  const bool any_negative = std::any_of(classes.begin(), classes.end(), [](const LibraryClass& c) { return c.negative; });
  const auto library_threshold_now = [&](const LibraryClass& c) -> std::optional<double> {
    if (!shared || any_negative) return std::nullopt;
    return library_threshold(for_examples(*calibration, c.sources), calibration->far, n_positive).threshold;
  };
  // The same rate on each curve for several example recordings.
  std::vector<std::pair<std::int64_t, FarPoint>> shared_by_examples;
  if (shared)
    for (const auto& e : calibration->by_examples)
      shared_by_examples.emplace_back(
          e.examples, library_threshold(for_examples(*calibration, e.examples), calibration->far, n_positive));
  // The threshold of scores centred on what is scored (detect's recording, classify's batch; and classify's
  // batch normalised against its own windows, --batch-cohort; one recording a
  // class), at the centred rate.
  std::optional<FarPoint> recording_shared;
  const double recording_far = calibration ? centred_far(calibration->far) : 0;
  if (recording && calibration && !recording->far_curve.empty() && n_positive > 0)
    recording_shared = library_threshold(*recording, recording_far, n_positive);
  std::optional<FarPoint> batch_shared;
  if (batch && calibration && !batch->far_curve.empty() && n_positive > 0)
    batch_shared = library_threshold(*batch, recording_far, n_positive);
  if (a.format == "json") {
    nlohmann::json j;
    j["library"] = a.library;
    j["model"] = {{"run", model.run}, {"fingerprint", model.fingerprint}, {"embedding_dim", model.embedding_dim},
                  {"window_s", model.window_s}, {"sample_rate", model.sample_rate}};
    j["settings"] = {{"score_norm", settings.score_norm}, {"cohort_top_k", settings.cohort_top_k},
                     {"enrol_views", settings.enrol_views}};
    j["cohort"] = cohort;
    j["domain"] = nullptr;
    if (domain) {
      j["domain"] = {{"files", domain->files},
                     {"windows", domain->windows},
                     {"cohort_windows", domain->cohort.size()},
                     {"added", domain->added}};
      try {
        j["domain"]["recordings"] = domain_sources(*domain);  // what --reembed reads again
      } catch (const Error& e) {
        j["domain"]["recordings"] = e.what();
      }
    }
    if (calibration) {
      j["calibration"] = {{"far", calibration->far}, {"threshold", calibration->threshold}, {"frr", calibration->frr},
                          {"floor", calibration->floor}, {"classes", calibration->classes},
                          {"method", calibration->method}, {"normalised", calibration->normalised},
                          {"domain_centred", calibration->domain_centred},
                          {"cohort", calibration->cohort}};
      if (calibration->logistic)
        j["calibration"]["logistic"] = {{"a", calibration->logistic->a}, {"b", calibration->logistic->b}};
      if (shared)
        j["calibration"]["library"] = {{"classes", n_positive}, {"far_per_class", shared->far},
                                       {"threshold", shared->threshold}, {"frr", shared->frr}};
      j["calibration"]["by_examples"] = nlohmann::json::array();
      for (const auto& [examples, p] : shared_by_examples)
        j["calibration"]["by_examples"].push_back(
            {{"examples", examples}, {"threshold", p.threshold}, {"frr", p.frr}, {"far_per_class", p.far}});
    }
    if (recording_shared)
      j["recording_calibration"] = {{"library_far", recording_far}, {"threshold", recording_shared->threshold}, {"frr", recording_shared->frr},
                                    {"far_per_class", recording_shared->far}, {"floor", recording->floor}};
    if (batch_shared)
      j["batch_calibration"] = {{"library_far", recording_far}, {"threshold", batch_shared->threshold},
                                {"frr", batch_shared->frr}, {"far_per_class", batch_shared->far}};
    if (!damaged.empty()) j["calibration_error"] = damaged;
    j["classes"] = nlohmann::json::array();
    for (const auto& c : classes) {
      nlohmann::json jc = {{"name", c.name}, {"negative", c.negative}, {"examples", c.examples},
                           {"sources", c.sources}, {"added", c.added}, {"threshold_source", c.threshold_source}};
      jc["threshold"] = c.threshold ? nlohmann::json(*c.threshold) : nlohmann::json(nullptr);
      if (const auto now = library_threshold_now(c); !c.negative && !c.threshold && now) {
        jc["threshold"] = *now;  // recomputed for this library (no negatives to raise it)
        jc["threshold_source"] = "calibration";
      }
      if (a.examples) {
        jc["windows"] = nlohmann::json::array();
        for (const auto& e : library.examples(c.name))
          jc["windows"].push_back({{"source", e.source}, {"window_start_s", e.window_start}, {"added", e.added},
                                   {"segment", e.segment_start ? optional_number(e.segment_start) + ":" +
                                                                     optional_number(e.segment_end)
                                                               : ""}});
      }
      j["classes"].push_back(jc);
    }
    std::printf("%s\n", json_text(j, 2).c_str());
    if (!damaged.empty()) throw Error(damaged);
    return 0;
  }
  std::printf("library %s\n  model: run %s, fingerprint %s\n  input window %.3f s at %d Hz, %lld-dimensional embeddings\n",
              a.library.c_str(), model.run.c_str(), model.fingerprint.c_str(), model.window_s, model.sample_rate,
              static_cast<long long>(model.embedding_dim));
  std::printf("  scores: %s", settings.score_norm == "as-norm" ? "AS-norm" : "raw");
  const bool domain_cohort = domain && calibration && calibration->normalised && calibration->cohort == "domain";
  if (domain_cohort) {
    std::printf(" against %zu windows of the domain (top %zu)", domain->cohort.size(),
                domain_top_k(static_cast<std::size_t>(settings.cohort_top_k), domain->cohort.size()));
  } else if (settings.score_norm == "as-norm") {
    if (cohort) std::printf(" against %zu training-class clips (top %lld)", cohort, static_cast<long long>(settings.cohort_top_k));
    else std::printf(" (no cohort yet: the next enroll, or `library --reembed --run RUN`, adds one)");
  }
  std::printf("; %lld views per example\n", static_cast<long long>(settings.enrol_views));
  if (domain)
    std::printf("  domain: re-centred on %lld recordings (%lld windows), set %s\n", static_cast<long long>(domain->files),
                static_cast<long long>(domain->windows), domain->added.c_str());
  if (calibration) {
    std::printf("  calibration: threshold %.4g at false-accept rate %.1f %% %s (false rejects %.1f %%, %lld validation classes)\n",
                calibration->threshold, 100 * calibration->far,
                calibration->method == "simulated" ? "of files against one class (simulated enrolments)"
                                                   : "of clip pairs",
                100 * calibration->frr, static_cast<long long>(calibration->classes));
    if (shared)
      std::printf("  with %zu class%s: %.1f %% of the library (per class %.2f %%): threshold %.4g, false rejects %.1f %%\n",
                  n_positive, n_positive == 1 ? "" : "es", 100 * calibration->far, 100 * shared->far, shared->threshold,
                  100 * shared->frr);
    if (const std::string held = shared ? rate_outside_curve(calibration->far_curve, calibration->far, n_positive) : "";
        !held.empty())
      std::printf("  note: %s\n", held.c_str());
    for (const auto& [examples, p] : shared_by_examples)
      std::printf("  a class enrolled from %lld recordings or more: threshold %.4g, false rejects %.1f %%\n",
                  static_cast<long long>(examples), p.threshold, 100 * p.frr);
    if (calibration->logistic)
      std::printf("  confidence: sigmoid(%.4g x score %+.4g)\n", calibration->logistic->a, calibration->logistic->b);
    if (recording_shared)
      std::printf("  centred on what is scored (detect's recording, classify's 24 files or more): %.1f %% of the "
                  "library: threshold %.4g, false rejects %.1f %%\n",
                  100 * recording_far, recording_shared->threshold, 100 * recording_shared->frr);
    if (batch_shared)
      std::printf("  classify --batch-cohort, 24 files or more centred on and normalised against them: %.1f %% of "
                  "the library: threshold %.4g, false rejects %.1f %%\n",
                  100 * recording_far, batch_shared->threshold, 100 * batch_shared->frr);
  } else if (!damaged.empty()) {
    std::printf("  calibration: cannot be read (below)\n");
  } else {
    std::printf("  calibration: none (thresholds must be given)\n");
  }
  std::printf("%-24s %-8s %8s %8s %10s %-12s %s\n", "class", "kind", "windows", "sources", "threshold", "from", "added");
  for (const auto& c : classes) {
    // A threshold cleared by `library --remove` is recomputed by classify and
    // detect: the library's, raised by any negative's score.
    const bool recomputed = !c.negative && !c.threshold && calibration;
    std::string threshold = optional_number(c.threshold), source = c.threshold_source;
    if (recomputed) {
      // Without negatives the library's threshold is the class's; with them it may be raised at scoring.
      const auto now = library_threshold_now(c);
      threshold = now ? optional_number(now) : "library";
      source = now ? "calibration" : "at scoring";
    }
    std::printf("%s %-8s %8lld %8lld %10s %-12s %s\n", pad_to_width(c.name, 24).c_str(), c.negative ? "negative" : "class",
                static_cast<long long>(c.examples), static_cast<long long>(c.sources), threshold.c_str(),
                source.c_str(), c.added.c_str());
    if (a.examples)
      for (const auto& e : library.examples(c.name))
        std::printf("    %s @ %.3f s%s\n", e.source.c_str(), e.window_start,
                    e.segment_start ? (" (segment " + optional_number(e.segment_start) + ":" +
                                       optional_number(e.segment_end) + ")")
                                          .c_str()
                                    : "");
  }
  if (classes.empty()) std::printf("(no classes: enroll some)\n");
  if (!damaged.empty()) throw Error(damaged);
  return 0;
}

// Read-only, and one snapshot: a change committed meanwhile is all in or all out.
int list_library(const LibraryArgs& a) {
  const ClassLibrary library = ClassLibrary::open_read_only(a.library);
  int code = 0;
  library.read([&] { code = list_snapshot(a, library); });
  return code;
}

int run_library(const LibraryArgs& a) {
  if (!a.run.empty() && !a.reembed) throw Error("library: --run is only used with --reembed");
  // One change a command: each is its own transaction, and one of two
  // silently left undone (as --remove was beside --reembed) is worse than a refusal.
  if (a.remove_given && a.reembed)
    throw Error("library: --remove and --reembed are one change each: run `library " + a.library + " --remove " +
                a.remove + "` first, then --reembed");
  if (a.remove_given && a.remove.empty()) throw Error("library: --remove needs the name of the class to remove");
  if (a.reembed) {
    if (a.run.empty()) throw Error("library --reembed needs --run RUN (the newer model)");
#if ONESHOT_FRONTEND
    hand_over_to_model();
#else
    return run_library_reembed(a.library, a.run, a.threads);
#endif
  }
  if (!a.remove.empty()) {
    ClassLibrary library = ClassLibrary::open(a.library);
    library.remove_class(a.remove);
    std::printf("removed class \"%s\" from %s\n", a.remove.c_str(), a.library.c_str());
    return 0;
  }
  return list_library(a);
}

}  // namespace

void add_library_command(CLI::App& app) {
  auto a = std::make_shared<LibraryArgs>();
  auto* cmd = app.add_subcommand("library", "List, edit or re-embed a class library");
  cmd->add_option("LIBRARY", a->library, "Class library (SQLite file written by enroll)")->required();
  cmd->add_flag("--examples", a->examples, "List every enrolled window with its source");
  cmd->add_option("--format", a->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("--remove", a->remove, "Remove a class and its examples (not with --reembed: one change a command)")
      ->each([a](const std::string&) { a->remove_given = true; });
  cmd->add_flag("--reembed", a->reembed, "Recompute every embedding from the stored sources with --run");
  cmd->add_option("--run", a->run, "The run to re-embed with (--reembed)");
  cmd->add_option("--threads", a->threads, "CPU threads for --reembed (0 = all cores)")->check(ThreadCount);
  cmd->callback([a] {
    if (int code = run_library(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
