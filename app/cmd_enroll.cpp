// oneshot-audio enroll: teach a class library new sounds from one or a few
// recordings, embedded with a trained run (src/inference, src/enroll).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "audio/audio_reader.h"
#include "commands.h"
#include "core/error.h"
#include "core/utf8.h"
#include "enroll/decision.h"
#include "enroll/score_norm.h"
#include "events/annotation_tables.h"
#include "inference/calibration.h"
#include "inference/domain.h"
#include "inference/enrolment.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"

namespace oneshot::cli {
namespace {

struct EnrollArgs {
  std::string run, library, class_name, segment, aggregate = "mean", score_norm, annotations, label;
  std::vector<std::string> files, domain;
  bool negative = false, quiet = false, no_domain = false;
  double hop = 0, far = -1, threshold = std::nan("");
  int threads = 0, views = 0, top_k = 0;
};

void print_calibration(const Calibration& c) {
  if (c.method == "simulated") {
    std::printf("calibration: the library's false-accept rate %.1f %% of files; one class alone: threshold %.4g (%s), "
                "false rejects %.1f %% (%lld same-class and %lld different-class simulated enrolments of %lld "
                "validation classes)\n",
                100 * c.far, c.threshold, c.normalised ? "AS-norm score" : "raw score", 100 * c.frr,
                static_cast<long long>(c.same_pairs), static_cast<long long>(c.different_pairs),
                static_cast<long long>(c.classes));
    if (c.logistic)
      std::printf("confidence: sigmoid(%.4g x score %+.4g); %.2f at the threshold\n", c.logistic->a, c.logistic->b,
                  c.logistic->confidence(c.threshold));
    return;
  }
  std::printf("calibration: threshold %.4g at a false-accept rate of %.1f %% (false rejects %.1f %%; %lld same-class "
              "and %lld different-class pairs of %lld validation classes)\n",
              c.threshold, 100 * c.far, 100 * c.frr, static_cast<long long>(c.same_pairs),
              static_cast<long long>(c.different_pairs), static_cast<long long>(c.classes));
}

// One example to embed: a file, or a part of it.
struct Source {
  std::string file;
  std::optional<Segment> segment;
};

std::vector<Source> plain_sources(const EnrollArgs& a, const std::vector<std::string>& files) {
  std::optional<Segment> segment;
  if (!a.segment.empty()) {
    if (files.size() != 1) throw Error("enroll: --segment needs exactly one FILE, got " + std::to_string(files.size()));
    segment = parse_segment(a.segment);
  }
  std::vector<Source> sources;
  for (const auto& f : files) sources.push_back({f, segment});
  return sources;
}

// Every selection labelled --label (default: the class name) of the
// recordings given, from a sed_eval list, Raven table or Audacity track
// (events/annotation_tables.h), matched to the recordings by stem. A
// recording without one, or a label the table does not hold, is an error.
std::vector<Source> annotated_sources(const EnrollArgs& a, const std::vector<std::string>& files,
                                      const std::string& class_name) {
  if (!a.segment.empty()) throw Error("enroll: --segment and --annotations exclude each other");
  const Annotations table = read_annotations(a.annotations);
  const std::string label = a.label.empty() ? class_name : a.label;
  std::map<std::string, std::string> recording;  // stem -> file
  for (const auto& f : files) {
    const auto [it, fresh] = recording.emplace(filename_stem(f), f);
    if (!fresh)
      throw Error("enroll: " + it->second + " and " + f + " have the same name without folder and extension, which "
                  "is how recordings are matched to the selections of " + a.annotations);
  }
  std::vector<Source> sources;
  std::set<std::string> labels, used;
  // A selection repeated in the table (copied rows; a track exported twice) is one example:
  // 5,000 copies of one row were enrolled as 20,000 windows.
  std::set<std::tuple<std::string, double, double>> taken;
  std::size_t repeated = 0;
  for (const Event& e : table.events) {
    labels.insert(e.label);
    if (e.label != label) continue;
    const auto it = recording.find(table.recording_key(e));
    if (it == recording.end()) continue;
    if (!(e.offset > e.onset))
      throw file_error(a.annotations, "the selection \"" + label + "\" at " + std::to_string(e.onset) + " s of " +
                                          it->second + " is empty (its end is its start): a point label holds no sound");
    used.insert(it->first);
    if (!taken.emplace(it->second, e.onset, e.offset).second) {
      ++repeated;
      continue;
    }
    sources.push_back({it->second, Segment{e.onset, e.offset}});
  }
  if (repeated)
    std::cerr << "note: " << repeated << " selection" << (repeated == 1 ? "" : "s") << " labelled \"" << label
              << "\" repeated in " << a.annotations << " (the same recording, onset and offset): each enrolled once\n";
  if (!labels.count(label)) {
    std::string known;
    for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
    throw file_error(a.annotations, "no selection labelled \"" + label + "\" (labels: " +
                                        (known.empty() ? "none" : known) + "); --label names the one to enrol");
  }
  for (const auto& [stem, file] : recording)
    if (!used.count(stem))
      throw file_error(a.annotations, "no selection labelled \"" + label + "\" for " + file +
                                          " (recordings are matched by name without folder and extension: \"" + stem +
                                          "\")");
  return sources;
}

int enroll_into(const EnrollArgs& a, const std::string& class_name, const std::vector<Source>& sources,
                std::size_t n_files, RunModel& run);

// Two enrolments started together both plan on the library as it was (for a
// new library: none); the second to commit would store settings and a
// calibration made for a state that is gone (a --score-norm none library
// calibrated for AS-norm). It plans again instead, as if it had queued
// behind the first from the start; nothing is written until a plan holds.
int enroll_queued(const EnrollArgs& a, const std::string& class_name, const std::vector<Source>& sources,
                  std::size_t n_files, RunModel& run) {
  return with_replanning(a.library, "enrolment", [&] { return enroll_into(a, class_name, sources, n_files, run); });
}

// Segments that lie beyond the end of their recording, named before any work
// where the file states its length (WAV, FLAC, ...); the reader checks the
// others as it reaches their end (RunModel::open_audio). A file that cannot be
// opened is left for the embedding to name with the others.
void check_segments(const std::vector<Source>& sources) {
  std::map<std::string, std::optional<double>> duration;  // file -> its stated length in seconds
  for (const auto& [file, segment] : sources) {
    if (!segment) continue;
    auto it = duration.find(file);
    if (it == duration.end()) {
      std::optional<double> seconds;
      try {
        const AudioReader reader(file);
        if (const auto frames = reader.info().declared_frames; frames && reader.info().file_sample_rate > 0)
          seconds = static_cast<double>(*frames) / reader.info().file_sample_rate;
      } catch (const Error&) {
      }
      it = duration.emplace(file, seconds).first;
    }
    if (it->second) check_segment_within(*segment, *it->second, file);
  }
}

// A segment shorter than one analysis frame (n_fft samples at the run's rate)
// has no frame of its own sound: 1 ms was enrolled as four views of padding.
void check_segment_lengths(const std::vector<Source>& sources, const RunModel& run, const std::string& annotations) {
  const double frame_s = static_cast<double>(run.config().features.n_fft) / run.sample_rate();
  for (const auto& [file, segment] : sources) {
    if (!segment || segment->end < 0 || segment->end - segment->start >= frame_s) continue;
    throw Error(file + ": segment " + format_segment(*segment) + " " +
                run.shorter_than_a_frame_note(segment->end - segment->start) + "; " +
                (annotations.empty() ? std::string("give a longer --segment")
                                     : "widen that selection in " + annotations + " or leave it out"));
  }
}

// Below this many recordings enroll notes that a domain's mean is rough (README, "Domain centring").
constexpr std::int64_t kFewDomainRecordings = 20;

// The domain to set (--domain), read and embedded before anything is written;
// nullopt without --domain.
std::optional<DomainCentre> domain_of(const EnrollArgs& a, RunModel& run) {
  if (a.domain.empty()) return std::nullopt;
  const InputFiles inputs = expand_inputs(a.domain);
  if (inputs.any_skipped()) std::cerr << "note: --domain: " << inputs.skipped_note() << "\n";
  for (const std::string& file : inputs.files)
    if (file == "-") throw Error("enroll: --domain cannot read standard input (-): give recordings as files");
  WindowingOptions windowing;
  windowing.hop_s = a.hop;
  DomainEstimate estimate = estimate_domain(run, inputs.files, windowing, !a.quiet);
  if (!estimate.silent.empty())
    std::cerr << "note: --domain: " << estimate.silent.size() << " silent recording"
              << (estimate.silent.size() == 1 ? "" : "s") << " left out (every window below -60 dBFS), e.g. "
              << estimate.silent.front() << "\n";
  std::printf("domain: %lld recordings, %lld windows; scores are re-centred on their mean embedding\n",
              static_cast<long long>(estimate.centre.files), static_cast<long long>(estimate.centre.windows));
  if (estimate.centre.files < kFewDomainRecordings)
    std::cerr << "note: --domain: a mean of " << estimate.centre.files << " recording"
              << (estimate.centre.files == 1 ? "" : "s") << " is a rough one (on real sounds, 10 made one-clip "
              << "verification worse and 20-40 better); give at least " << kFewDomainRecordings
              << " recordings of several kinds of sound\n";
  return std::move(estimate.centre);
}

int run_enroll(const EnrollArgs& a) {
  if (!a.domain.empty() && a.no_domain) throw Error("enroll: --domain and --no-domain exclude each other");
  // No FILE: a change of the library's domain or settings alone.
  const bool library_only = a.files.empty();
  const bool settings_given = a.far >= 0 || !a.score_norm.empty() || a.views > 0 || a.top_k > 0;
  if (library_only && a.domain.empty() && !a.no_domain && !settings_given)
    throw Error("enroll: give the recordings to enrol (FILE), --domain / --no-domain to change only the domain, or "
                "--far, --score-norm, --views or --cohort-top-k to change only the library's settings");
  if (library_only) {
    if (!a.class_name.empty() || a.negative || !a.segment.empty() || !a.annotations.empty() || !std::isnan(a.threshold))
      throw Error("enroll: --class, --negative, --segment, --annotations and --threshold need recordings to enrol (FILE)");
    check_output_path(a.library, OutputRules{.streaming = false, .create_parents = false, .database = true});
    // A misspelt path would otherwise become a new, empty library holding the setting.
    std::error_code ec;
    if (a.domain.empty() && !std::filesystem::exists(a.library, ec))
      throw file_error(a.library, "no such class library: a setting alone changes an existing library (enrol a "
                                  "recording to create one)");
    auto run = RunModel::load(a.run, a.threads);
    hop_samples(*run, WindowingOptions{a.hop, {}});
    return enroll_queued(a, "", {}, 0, *run);
  }
  if (a.class_name.empty() && !a.negative) throw Error("enroll: give the class name with --class");
  const std::string class_name = a.class_name.empty() ? "background" : a.class_name;
  check_class_name(class_name);  // before the model loads: a bad name costs no start-up
  if (a.negative && !std::isnan(a.threshold))
    throw Error("enroll: --threshold sets a class's decision threshold; a negative class has none (its examples "
                "raise the other classes' thresholds)");
  // The library is written in place by SQLite (a journal beside it): a
  // missing or read-only directory, a read-only file or a pipe is named now,
  // not after the model loaded and the calibration ran.
  check_output_path(a.library, OutputRules{.streaming = false, .create_parents = false, .database = true});
  const InputFiles inputs = expand_inputs(a.files);
  if (inputs.any_skipped()) std::cerr << "note: " << inputs.skipped_note() << "\n";
  const std::vector<std::string>& files = inputs.files;
  for (const std::string& file : files)
    if (file == "-")
      throw Error("enroll: cannot enrol standard input (-): the library keeps each example's source file to "
                  "re-embed it (library --reembed); save the recording to a file and enrol that");
  if (!a.label.empty() && a.annotations.empty()) throw Error("enroll: --label is only used with --annotations");
  const std::vector<Source> sources =
      !a.annotations.empty() ? annotated_sources(a, files, class_name) : plain_sources(a, files);
  check_segments(sources);
  auto run = RunModel::load(a.run, a.threads);
  // Every option that sizes the work, before the calibration (tens of seconds) and any embedding.
  hop_samples(*run, WindowingOptions{a.hop, {}});
  check_segment_lengths(sources, *run, a.annotations);
  // A library this command creates comes into being only as its change
  // commits (ClassLibrary::open_or_create_on_commit): a first enrol that
  // fails, is interrupted or killed leaves no file behind.
  return enroll_queued(a, class_name, sources, files.size(), *run);
}

int enroll_into(const EnrollArgs& a, const std::string& class_name, const std::vector<Source>& sources,
                std::size_t n_files, RunModel& run_model) {
  RunModel* run = &run_model;
  ClassLibrary library = ClassLibrary::open_or_create_on_commit(a.library, run->library_model());
  // Read before anything the plan reads (a change committed in between only
  // makes the comparison fail, never pass).
  const std::string planned_on = library.planning_state();
  auto check_plan = [&] {
    if (library.planning_state() != planned_on) throw PlanOutdated();
  };

  // The library's settings: given ones are stored and re-calibrate it.
  LibrarySettings settings = library.settings();
  const LibrarySettings before = settings;
  // With a domain, scores are not AS-normalised unless asked: re-centred
  // embeddings scored raw accept more enrolled recordings and reject more
  // strangers than with AS-norm against the training classes as well (README,
  // "Domain centring"); without one, AS-norm is the default again.
  // Only as the library gains or loses its domain: a choice made since is kept.
  bool had_domain = true;  // a damaged one counts: --domain replaces it, --no-domain removes it
  try {
    had_domain = library.domain().has_value();
  } catch (const Error&) {
  }
  if (a.score_norm.empty() && !a.domain.empty() && !had_domain) settings.score_norm = library_defaults(true).score_norm;
  if (a.score_norm.empty() && a.no_domain && had_domain) settings.score_norm = library_defaults(false).score_norm;
  if (settings.score_norm != before.score_norm && a.score_norm.empty())
    std::cerr << "note: scores are now " << (settings.score_norm == "none" ? "raw (no AS-norm)" : "AS-normalised")
              << ", the default of a library " << (a.no_domain ? "without" : "with") << " a domain (--score-norm sets "
              << "another)\n";
  if (!a.score_norm.empty()) settings.score_norm = a.score_norm;
  if (a.views > 0) settings.enrol_views = a.views;
  if (a.top_k > 0) settings.cohort_top_k = a.top_k;
  const bool changed = settings.score_norm != before.score_norm || settings.enrol_views != before.enrol_views ||
                       settings.cohort_top_k != before.cohort_top_k;
  // A new domain (or none) changes every score: the calibration is made again on it.
  const std::optional<DomainCentre> domain = domain_of(a, *run);
  const bool domain_changes = domain || (a.no_domain && had_domain);
  std::optional<bool> centred;
  if (domain) centred = true;
  if (a.no_domain) centred = false;
  // The rate follows the domain too, unless given: each default is the
  // benchmark's choice for libraries of its kind.
  // A rate the user chose (any but the other kind's default) is kept.
  std::optional<double> far;
  const std::optional<Calibration> stored = library.calibration();
  if (a.far >= 0) {
    far = a.far;
  } else if (domain_changes) {
    const double from = library_defaults(!domain).far, to = library_defaults(domain.has_value()).far;
    if (!stored || stored->far == from) {
      far = to;
      if (stored)
        std::cerr << "note: the library's false-accept rate goes from " << from << " to " << to
                  << ", the default of a library " << (domain ? "with" : "without") << " a domain (--far sets another)\n";
    }
  }

  // Everything is computed first and nothing written: the cohort (the run's
  // training-class clips) and the calibration on simulated enrolments of its
  // validation classes (once per library, or again for a new --far or
  // setting), then every file's embeddings. Then one change stores it all:
  // a bad file, an error or a kill at any step leaves the library as it was.
  const CalibrationPlan plan =
      plan_calibration(library, *run, settings, far, changed || domain_changes, !a.quiet, centred);
  if (!plan.note.empty()) std::cerr << "note: " << plan.note << "\n";
  if (!plan.error.empty()) {
    // The domain and the calibration hold only together: no domain without one.
    if (std::isnan(a.threshold) || domain_changes) throw Error(plan.error);
    std::cerr << "note: no calibration (" << plan.error << "); class \"" << class_name << "\" uses --threshold "
              << a.threshold << "\n";
  } else if (plan.calibration) {
    print_calibration(*plan.calibration);
  } else if (const auto stored = library.calibration()) {
    print_calibration(*stored);
  }

  WindowingOptions windowing;
  windowing.hop_s = a.hop;
  std::vector<LibraryExample> rows;
  std::vector<std::string> problems;
  for (const auto& [file, segment] : sources) {
    try {
      auto examples = embed_example(*run, file, windowing, segment, static_cast<int>(settings.enrol_views));
      if (!a.quiet)
        std::printf("%s%s: %zu view%s\n", file.c_str(),
                    segment ? (" " + format_segment(*segment)).c_str() : "", examples.size(),
                    examples.size() == 1 ? "" : "s");
      rows.insert(rows.end(), std::make_move_iterator(examples.begin()), std::make_move_iterator(examples.end()));
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  if (!problems.empty()) {
    std::string message = std::to_string(problems.size()) + " of " + std::to_string(sources.size()) +
                          (a.annotations.empty() ? " files" : " selections") + " cannot be enrolled (nothing was added):";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(message);
  }
  if (sources.empty()) {  // the domain or the settings alone
    library.change([&] {
      check_plan();
      if (changed) library.set_settings(settings);
      if (domain_changes) library.set_domain(domain);
      store_calibration(library, plan);
      if (positive_classes(library.classes()) > 0) update_thresholds(library, *run, a.aggregate);
    });
    if (!a.domain.empty() || a.no_domain)
      std::printf("%s %s\n", domain ? "domain set in" : domain_changes ? "domain removed from" : "no domain to remove in",
                  a.library.c_str());
    if (changed || far) {
      std::printf("settings of %s: scores %s, %lld views, cohort top-K %lld", a.library.c_str(),
                  settings.score_norm == "none" ? "raw" : "AS-normalised", static_cast<long long>(settings.enrol_views),
                  static_cast<long long>(settings.cohort_top_k));
      if (far) std::printf(", false-accept rate %g", *far);
      std::printf("\n");
    }
    return 0;
  }
  library.change([&] {
    check_plan();
    if (changed) library.set_settings(settings);
    if (domain_changes) library.set_domain(domain);
    store_calibration(library, plan);
    // The same source (and segment) enrolled twice would weigh twice in mean
    // and prototype scores: refused, naming it.
    for (const auto& existing : library.examples(class_name))
      for (const auto& row : rows)
        if (existing.source == row.source && existing.segment_start == row.segment_start &&
            existing.segment_end == row.segment_end)
          throw Error(row.source + ": already enrolled in class \"" + class_name + "\" (" + existing.added +
                      "); `library --remove` the class to enrol it afresh");
    library.add_examples(class_name, a.negative, rows);
    if (!std::isnan(a.threshold) && !a.negative) library.set_threshold(class_name, a.threshold, "user");
    update_thresholds(library, *run, a.aggregate);
  });
  const std::size_t n_sources = n_files;
  std::printf("enrolled %zu window%s from %zu file%s into %sclass \"%s\" of %s\n", rows.size(),
              rows.size() == 1 ? "" : "s", n_sources, n_sources == 1 ? "" : "s",
              a.negative ? "negative " : "", class_name.c_str(), a.library.c_str());
  std::vector<LibraryClass> classes;
  std::optional<Calibration> calibration;
  library.read([&] {
    classes = library.classes();
    calibration = library.calibration();
  });
  const std::size_t n_positive = positive_classes(classes);
  // A library's first class without a domain: the way to the benchmark's better
  // figures is one option away, and a new user would not find it in the help.
  if (!a.quiet && !a.negative && n_positive == 1 && calibration && !calibration->domain_centred)
    std::cerr << "tip: scores of new sounds are calibrated on the run's validation classes; classify of 24 files or "
                 "more and detect of a long recording centre the scores on what they score, which transfers that "
                 "calibration to new classes; for fewer files at a time, `enroll --domain DIR` with a few dozen "
                 "unlabelled recordings like those you will classify (several kinds of sound) does the same "
                 "(README, \"Domain centring\")\n";
  if (calibration && !calibration->far_curve.empty() && n_positive > 0) {
    const FarPoint p = library_threshold(*calibration, calibration->far, n_positive);
    std::printf("%zu class%s: a file of a never-enrolled sound is accepted at most %.1f %% of the time (per class "
                "%.2f %%: threshold %.4g, false rejects %.1f %% of a class's files%s)\n",
                n_positive, n_positive == 1 ? "" : "es", 100 * calibration->far, 100 * p.far, p.threshold, 100 * p.frr,
                calibration->by_examples.empty() ? ""
                                                 : " for a class of one recording; a class of several has its own "
                                                   "threshold, below");
    if (const std::string held = rate_outside_curve(calibration->far_curve, calibration->far, n_positive);
        !held.empty())
      std::cerr << "note: " << held << "\n";
    // Scores centred on what is scored have their own calibration and rate (centred_far: 0.03 given or not
    // is the default, which centred scores take as 0.05).
    const std::optional<Calibration> recording = library.recording_calibration();
    const std::optional<Calibration> batch = library.batch_calibration();
    const bool with_batch = batch && !batch->far_curve.empty();
    if (recording && !recording->far_curve.empty() && !library.domain()) {
      const double rate = centred_far(calibration->far);
      const FarPoint r = library_threshold(*recording, rate, n_positive);
      std::printf("  centred on what is scored (classify of 24 files or more, detect of a long recording): at most "
                  "%.1f %% (per class %.2f %%: threshold %.4g, false rejects %.1f %%)%s\n",
                  100 * rate, 100 * r.far, r.threshold, 100 * r.frr,
                  rate != calibration->far ? "; a library at the default rate is scored so at the rate of a library "
                                             "with a domain"
                                           : "");
      if (with_batch) {
        const FarPoint b = library_threshold(*batch, rate, n_positive);
        std::printf("  classify --batch-cohort of 24 files or more, centred on and normalised against them: at most "
                    "%.1f %% (per class %.2f %%: threshold %.4g, false rejects %.1f %%)\n",
                    100 * rate, 100 * b.far, b.threshold, 100 * b.frr);
      }
    }
  }
  for (const auto& c : classes) {
    if (c.negative) {
      std::printf("  %s negative, %lld windows\n", pad_to_width(c.name, 24).c_str(),
                  static_cast<long long>(c.examples));
      continue;
    }
    char threshold[64] = "none";
    if (c.threshold) std::snprintf(threshold, sizeof threshold, "%.4g (%s)", *c.threshold, c.threshold_source.c_str());
    std::printf("  %s %lld windows from %lld file%s, threshold %s\n", pad_to_width(c.name, 24).c_str(),
                static_cast<long long>(c.examples), static_cast<long long>(c.sources), c.sources == 1 ? "" : "s",
                threshold);
  }
  return 0;
}

}  // namespace

int with_replanning(const std::string& library, const std::string& what, const std::function<int()>& attempt) {
  constexpr int kAttempts = 3;
  for (int n = 1;; ++n) {
    try {
      return attempt();
    } catch (const PlanOutdated&) {
      if (n == kAttempts)
        throw file_error(library, "changed by other processes during each of " + std::to_string(kAttempts) + " " +
                                      what + "s; nothing was written: run the command again");
      std::cerr << "note: " << library << " was changed by another process during this " << what
                << "; making it again on the new state\n";
    }
  }
}

void add_enroll_command(CLI::App& app) {
  auto a = std::make_shared<EnrollArgs>();
  auto* cmd = app.add_subcommand("enroll", "Add examples of a class to a class library (one recording is enough)");
  cmd->add_option("--run", a->run, "Trained run directory whose model embeds the examples")->required();
  cmd->add_option("--library", a->library, "Class library (SQLite file; created when missing)")->required();
  cmd->add_option("--class", a->class_name, "Class name (with --negative: default \"background\")");
  cmd->add_option("FILE", a->files, "Audio files or directories of them (none: only the domain or the settings change)");
  cmd->add_flag("--negative", a->negative, "Enrol background / negative examples: they tighten every class's threshold");
  cmd->add_option("--segment", a->segment, "START:END in seconds of the single FILE");
  cmd->add_option("--annotations", a->annotations,
                  "Enrol the selections of the FILEs labelled --label (default: the class name) from this "
                  "sed_eval list, Raven selection table or Audacity label track, each one example");
  cmd->add_option("--label", a->label, "The label of the --annotations selections to enrol");
  cmd->add_option("--hop", a->hop, "Seconds between windows of a long example (default: half the model's input)")
      ->check(FinitePositive);
  cmd->add_option("--far", a->far, "False-accept rate of the library: the fraction of files of never-enrolled sounds accepted as one of its classes (default " + std::to_string(kDefaultLibraryFar).substr(0, 4) + ", " + std::to_string(kDefaultDomainFar).substr(0, 4) + " with a domain), calibrated on simulated enrolments of the run's validation classes and shared out over the classes; a new rate applies to every class not given --threshold")
      ->check(FalseAcceptRate);
  cmd->add_option("--threshold", a->threshold, "This class's decision threshold (a score), instead of the calibration's")
      ->check(FiniteNumber);
  cmd->add_option("--aggregate", a->aggregate, "Scoring of a class's examples for the stored thresholds: mean, max or prototype")
      ->check(CLI::IsMember({"mean", "max", "prototype"}));
  cmd->add_option("--views", a->views,
                  "Views of each example pooled into its class (a hop this many times finer than classify's; a "
                  "one-window example circularly shifted): stored in the library (default 4)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--score-norm", a->score_norm,
                  "as-norm (scores normalised against a cohort: the run's training-class clips, or with a domain "
                  "its recordings' windows) or none: stored in the library (default as-norm; none when --domain "
                  "sets a domain, as-norm again with --no-domain)")
      ->check(CLI::IsMember({"as-norm", "none"}));
  cmd->add_option("--cohort-top-k", a->top_k,
                  "K of AS-norm: the top-K cohort scores of each side (default 100; against a domain's windows at "
                  "most half of them, but never below 10; at least 10)")
      ->check(CLI::Range(kMinCohortTopK, std::size_t{100000}));
  cmd->add_option("--domain", a->domain,
                  "Recordings (a file or directory; repeat for more) like those the library will classify or search, without labels: "
                  "every embedding is re-centred on their mean before scoring, and the calibration is made again "
                  "on re-centred validation clips; stored in the library")
      ->expected(1)
      ->allow_extra_args(false)  // one path each time: FILE right after it stays FILE
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--no-domain", a->no_domain, "Remove the library's domain (and calibrate again without it)");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_flag("--quiet", a->quiet, "Print the summary only");
  cmd->footer(
      "An example longer than the model's input is cut into windows; the windows within 6 dB of the loudest\n"
      "one are enrolled (they hold the sound), at --views offsets per classify window. Shorter examples are\n"
      "zero-padded as in training and enrolled circularly shifted. Silence is refused.\n"
      "The first enrolment stores the score-normalisation cohort (the run's training-class clips) and the\n"
      "calibration (the run's validation classes): classify and detect then need no dataset.\n"
      "--domain RECORDINGS (with or without FILE) centres the library on recordings of your own place and\n"
      "equipment; classes the model never saw then separate better (README: \"Domain centring\").");
  cmd->callback([a] {
    if (int code = run_enroll(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
