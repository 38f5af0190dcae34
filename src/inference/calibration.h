#pragma once
// What a class library needs from its run besides the model, made once at its
// first enrolment so that classify and detect need no dataset:
//  - the score-normalisation cohort: the run's training-class clips embedded
//    (enroll/score_norm.h, AS-norm);
//  - the calibration on simulated enrolments of the run's validation classes
//    (enroll/simulated_enrolment.h): each validation clip enrolled as
//    `enroll` would (its sounding windows, the library's views), every other
//    validation clip classified as `classify` does (sounding windows at
//    classify's hop, the example aggregate, AS-norm, the window aggregate),
//    so that --far is the false-accept rate of a FILE against one enrolled
//    class; plus the logistic calibration that gives each score a confidence;
//    and the same for enrolments of 2, 3 and 5 clips of a class
//    (Calibration::by_examples), whose scores average over more examples.
// These are the functions enroll, library --reembed and benchmarks call.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "enroll/library.h"
#include "inference/enrolment.h"
#include "inference/run_model.h"

namespace oneshot {

// One embedding per training-class clip of the run (RUN/split.json "train",
// features from the run's dataset and cache): the clip's model input as
// training saw it (its first features.duration seconds, zero-padded), so the
// cohort costs no decoding. At most `max_members`, evenly strided over the
// clips. Error (naming the run, and suggesting --score-norm none) when the run
// records no dataset or split, or has no training classes.
std::vector<CohortMember> embed_cohort(RunModel& run, bool progress = false, std::size_t max_members = 2000);

struct SimulationOptions {
  double far = kDefaultLibraryFar;
  WindowingOptions windowing;             // classify's windows (its hop)
  int views = 4;                          // enrolment views (enrolment.h)
  std::string aggregate = "mean";         // a class's examples: mean, max or prototype
  std::string window_aggregate = "mean";  // a file's windows: mean, max or vote
  std::size_t top_k = 100;                // AS-norm's K
  std::size_t max_clips = 400;            // validation clips used at most (evenly strided)
  // Domain centring (enroll/domain_centre.h): the validation clips are
  // their own domain: every embedding (examples, windows, cohort) is
  // re-centred on the mean of the clips' classify windows (each clip's mean,
  // averaged), as a library with a domain re-centres on its domain's mean.
  bool domain_centred = false;
  // With domain_centred: AS-norm against the clips' own classify windows
  // (at most kMaxDomainCohort, evenly strided; K domain_top_k), as a library
  // normalises against its domain's cohort; the `cohort` argument is then
  // unused. Calibration::cohort says which.
  bool domain_cohort = false;
  // Numbers of example recordings (> 1, ascending) whose enrolments are
  // simulated too (Calibration::by_examples), and the seed of their draws.
  std::vector<std::int64_t> example_counts{std::begin(kSimulatedExampleCounts), std::end(kSimulatedExampleCounts)};
  std::uint64_t seed = 1;
};

// The calibration on simulated enrolments of the run's validation classes;
// AS-norm against `cohort` when it is not empty (or against the domain's
// own windows: SimulationOptions::domain_cohort), raw scores otherwise. Reads
// each validation clip from the run's dataset (RUN/run.json data_dir).
// Error asking for --threshold when the run has no validation data, fewer
// than 2 validation classes, or no class with 2 clips.
// With `recording`, the recording calibration too (ClassLibrary::
// recording_calibration: the same simulations centred on the clips' own mean,
// raw scores), from the same embeddings; with `recording` and `batch`, the
// batch calibration too (ClassLibrary::batch_calibration: centred, and
// AS-normalised against the clips' own windows).
Calibration calibrate_on_simulated_enrolments(RunModel& run, const std::vector<CohortMember>& cohort,
                                              const SimulationOptions& options, bool progress = false,
                                              Calibration* recording = nullptr, Calibration* batch = nullptr);

// The library's settings as simulation options (views, top-K), with `far`,
// domain centring and the domain's cohort.
SimulationOptions simulation_options(const LibrarySettings& settings, double far, bool domain_centred = false,
                                     bool domain_cohort = false);

// Makes what `library` lacks for its settings: a cohort when its score_norm
// is "as-norm" and it has none (stored), and the calibration when it has none,
// one of another kind (per pair, version 1), one made before the curves for
// several example recordings (Calibration::examples_simulated), on other scores (normalised or
// not, domain-centred or not: centred when the library has a domain), or
// when `force` (a setting changed). Another `far` (when given) is
// stored (with the threshold of one class at it, read off the stored
// false-accept curve; a calibration without a curve is made again). Returns
// the new or changed calibration, or nullopt when the stored one stands. A
// new calibration keeps the stored far unless `far` is given (default
// kDefaultLibraryFar).
std::optional<Calibration> ensure_calibration(ClassLibrary& library, RunModel& run, std::optional<double> far,
                                              bool force, bool progress = false);

// ensure_calibration in two halves, so that a command computes (minutes: the
// cohort's and the simulations' embeddings) before its one change and stores
// within it: plan_calibration reads `library` only and takes the settings the
// change will store (an Error of the calibration itself is kept in the plan's
// `error`, as ensure_calibration stores the cohort before throwing it); store_calibration writes the plan (inside the caller's
// ClassLibrary::change, or as one change of its own).
struct CalibrationPlan {
  std::optional<std::vector<CohortMember>> cohort;  // a new cohort to store
  std::optional<Calibration> calibration;           // a new or changed calibration to store
  // A new recording calibration and batch calibration to store
  // (ClassLibrary::recording_calibration, batch_calibration; made with every
  // new calibration of a library without a domain), or the stored ones to
  // drop (a library that gets a domain).
  std::optional<Calibration> recording;
  std::optional<Calibration> batch;
  bool drop_recording = false;
  std::string error;  // why a needed calibration cannot be made (the cohort is still stored)
  // Set when a new calibration normalises against a cohort of at most K
  // members: AS-norm's top-K then takes every member, the same for every
  // example and window (a plain S-norm), and a smaller K would adapt.
  std::string note;
};
// `domain_centred`: whether the library will have a domain when the plan is
// stored (nullopt: whether it has one now; true: a domain set now, by
// estimate_domain, with its cohort). With AS-norm and a domain that keeps a
// cohort, the calibration normalises against the validation clips' own
// windows (Calibration::cohort "domain") and needs no training cohort.
CalibrationPlan plan_calibration(const ClassLibrary& library, RunModel& run, const LibrarySettings& settings,
                                 std::optional<double> far, bool force, bool progress = false,
                                 std::optional<bool> domain_centred = std::nullopt);
void store_calibration(ClassLibrary& library, const CalibrationPlan& plan);

}  // namespace oneshot
