#pragma once
// A class library: the classes a user taught from their own recordings, as one
// SQLite database (transactional, safe to copy when no process writes it,
// readable by any SQLite tool). It stores the run it was embedded with (path
// and fingerprint), each class, each enrolled window's embedding with its
// source file and segment, the calibration from the run's validation classes,
// and each class's decision threshold. Model-free: the embeddings come from
// src/inference, which also checks the fingerprint.
//
// Schema (version 2; version 3 when it holds a domain, 4 when the domain keeps
// a cohort):
//   meta(key TEXT PRIMARY KEY, value TEXT)  run, fingerprint, embedding_dim,
//       window_s, sample_rate, created, calibration_* (see Calibration),
//       score_norm, cohort_top_k, enrol_views (see LibrarySettings)
//   classes(id, name UNIQUE, negative 0/1, threshold REAL NULL,
//       threshold_source TEXT, added TEXT)
//   examples(id, class_id -> classes.id ON DELETE CASCADE, source TEXT,
//       segment_start REAL, segment_end REAL (NULL: the whole file),
//       window_start REAL (s from the start of the source), embedding BLOB
//       (embedding_dim little-endian float32), added TEXT)
//   cohort(id, source TEXT, class_name TEXT, embedding BLOB): the score
//       normalisation cohort (version 2), one embedding per training-class
//       clip of the run, stored at the first enrolment so that classify and
//       detect need no dataset.
//   domain(id = 1, embedding BLOB, files, windows, sources TEXT, added TEXT):
//       version 3, only with a domain (enroll --domain): the mean embedding of
//       the user's recordings that every embedding is re-centred on before
//       scoring (enroll/domain_centre.h); one row or none.
//   domain_cohort(id, embedding BLOB): version 4, the domain's windows kept
//       as its AS-norm cohort (DomainCentre::cohort), in the order stored.
// A version-1 library (no cohort table, a per-pair calibration) still opens
// and scores as before; open_or_create (enroll) and replace_examples
// (library --reembed) upgrade it to version 2, and enroll then adds a cohort.
//
// Concurrency: every change is one IMMEDIATE transaction in rollback-journal
// mode with a long busy timeout, so two processes enrolling at once are
// serialised and a process killed mid-enrolment leaves the library as it was
// before that enrolment (SQLite rolls the journal back on the next open). A
// command's whole change (enroll: settings, cohort, calibration, examples and
// thresholds) is one transaction through change(); every reader reads one
// snapshot through read() (each reading method alone is one too), so a change
// committed by another process between two of its statements is never half seen.
// Commands that only read open the library read-only (open_read_only).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "enroll/domain_centre.h"
#include "enroll/score_norm.h"

namespace oneshot {

// Where the library's embeddings came from. `fingerprint` is the hex hash of
// the run's weights and feature settings (src/inference/run_model.h).
struct LibraryModel {
  std::string run;          // the run directory, absolute
  std::string fingerprint;
  std::int64_t embedding_dim = 0;
  double window_s = 0;      // the model's input length, seconds
  int sample_rate = 0;      // Hz, the model's feature rate
  // Another fingerprint of the same model, accepted as equal when opening
  // (RunModel::former_fingerprint); never stored. Empty: none.
  std::string former_fingerprint;
};

// One point of a calibration's false-accept curve: at a per-class
// false-accept rate `far`, the threshold and the false-reject rate there.
struct FarPoint {
  double far = 0;
  double threshold = 0;
  double frr = 0;
};

// The library's default false-accept rate (enroll --far): the fraction of
// files of never-enrolled sounds accepted as one of the library's classes.
// Chosen on the user-path benchmark (bench/bench_user_path.cpp; README).
inline constexpr double kDefaultLibraryFar = 0.03;
// The default rate of a library with a domain (enroll --domain): its
// calibration carries over to new classes more closely, so the same rule (the
// largest rate that still rejects at least 90 % of never-enrolled files on
// the benchmark) allows more (README, "Domain centring").
inline constexpr double kDefaultDomainFar = 0.05;

// The settings whose defaults follow whether a library has a domain (enroll
// applies them as it gains or loses one, unless given; the benchmark as
// enroll does): without a domain AS-norm against the training clips at
// kDefaultLibraryFar; with one raw scores at kDefaultDomainFar (README,
// "Domain centring": AS-norm, even against the domain's own windows, accepted
// no more there and raised detection's false alarms).
struct DomainDefaults {
  const char* score_norm;
  double far;
};
constexpr DomainDefaults library_defaults(bool with_domain) {
  return with_domain ? DomainDefaults{"none", kDefaultDomainFar} : DomainDefaults{"as-norm", kDefaultLibraryFar};
}

// The rate of a library's scores centred on the recordings being scored
// (detect's recording, classify's batch of 24 files or more: the recording
// calibration). Centred so, they carry over to new classes as a domain's do,
// and the benchmark's rule (the largest rate that rejects at least 90 % of
// never-enrolled files, with one example a class and with three) allows
// kDefaultDomainFar there too (README, "The rate of centred scores"). So a
// library at the default rate of a library without a domain is scored centred
// at the domain default; any other rate is the user's choice and kept (as
// enroll keeps a chosen rate when a domain comes or goes). A run's --far
// overrides both.
constexpr double centred_far(double library_far) {
  return library_far == kDefaultLibraryFar ? kDefaultDomainFar : library_far;
}

// The global decision threshold calibrated on the run's validation classes:
// `threshold` is the score that `far` of the different-class scores exceed
// (the false-accept rate against one class); `frr` is the fraction of
// same-class scores below it (the false-reject rate at that threshold).
// method "simulated" (version 2): the scores are FILE scores of simulated
// enrolments (simulated_enrolment.h), normalised when `normalised`, `logistic`
// turns a score into a confidence, and `far_curve` holds the threshold at a
// grid of per-class rates, so that `far` can be the rate of the whole library
// (enroll/decision.h: per_class_far, library_threshold); method "pairs"
// (version 1): the scores of single clip pairs, raw, `far` per class.
// The false-accept curve of a class enrolled from `examples` recordings
// (simulated enrolments of that many clips of a validation class,
// simulated_enrolment.h): its scores average over more views, so the
// different-class ones spread less and the one-recording curve's thresholds
// would reject more strangers than its rate says (and accept fewer of the
// class's own files).
struct ExamplesCalibration {
  std::int64_t examples = 2;                   // recordings per simulated enrolment (> 1)
  std::int64_t targets = 0, non_targets = 0;   // file scores the curve was read from
  std::optional<LogisticCalibration> logistic; // score -> confidence for such a class
  std::vector<FarPoint> far_curve;             // ascending far, not empty
};

struct Calibration {
  double far = kDefaultLibraryFar;
  double threshold = 0;
  double frr = 0;
  double floor = 0;  // median different-class window score: a window without the sound (detect's hysteresis)
  std::int64_t same_pairs = 0, different_pairs = 0;  // target / non-target scores
  std::int64_t classes = 0;  // validation classes used
  std::string method = "pairs";
  bool normalised = false;                     // thresholds are on AS-norm scores
  // Thresholds are on domain-centred scores (enroll/domain_centre.h): the
  // simulated enrolments were re-centred on their own clips' mean, as the
  // library's scores are on its domain's mean.
  bool domain_centred = false;
  // What normalised scores were normalised against: "training" (the run's
  // training-class clips, the cohort table) or "domain" (with domain_centred:
  // the simulated enrolments' own windows, as a library's scores are against
  // its domain's cohort). Libraries written before the key read "training".
  std::string cohort = "training";
  std::optional<LogisticCalibration> logistic;  // score -> confidence in [0, 1]
  std::vector<FarPoint> far_curve;             // ascending far; empty before version 3 of the calibration
  // Curves for classes of several example recordings, ascending `examples`
  // (enroll/decision.h for_examples picks one); the fields above are those of
  // one recording. examples_simulated: the calibration tried every count of
  // kSimulatedExampleCounts (a count whose enrolments the validation classes
  // could not make, too few clips a class, has no curve); false for a
  // calibration made before the curves, which enroll then makes again.
  std::vector<ExamplesCalibration> by_examples;
  bool examples_simulated = false;
};

// The numbers of example recordings a calibration simulates besides one.
inline constexpr std::int64_t kSimulatedExampleCounts[] = {2, 3, 5};

// How the library scores, set at its creation and changed by enroll's flags:
// score_norm "as-norm" (score_norm.h, against the stored cohort) or "none";
// cohort_top_k: K of AS-norm; enrol_views: views of each example
// (src/inference/enrolment.h).
struct LibrarySettings {
  std::string score_norm = "as-norm";
  std::int64_t cohort_top_k = 100;
  std::int64_t enrol_views = 4;
};

// One member of the score-normalisation cohort: a training-class clip's embedding.
struct CohortMember {
  std::string source;      // the clip, relative to the run's dataset
  std::string class_name;  // its (training) class
  std::vector<float> embedding;
};

struct LibraryClass {
  std::int64_t id = 0;
  std::string name;
  bool negative = false;              // background / negative examples
  std::optional<double> threshold;    // none: use the calibration's
  std::string threshold_source;       // "calibration", "negatives", "user"
  std::int64_t examples = 0;          // enrolled windows
  std::int64_t sources = 0;           // distinct source files
  std::string added;                  // ISO 8601 UTC
};

// The classes a decision can name: not negative, with at least one example
// (what the library's false-accept rate is shared over, enroll/decision.h).
std::size_t positive_classes(const std::vector<LibraryClass>& classes);

struct LibraryExample {
  std::int64_t id = 0;
  std::string class_name;
  bool negative = false;
  std::string source;                  // the file as given (absolute)
  std::optional<double> segment_start, segment_end;  // --segment, seconds
  double window_start = 0;             // seconds from the start of the source
  std::vector<float> embedding;        // embedding_dim values
  std::string added;
};

// Thrown inside a change() when another process committed a change to what
// its plan read (planning_state, or for library --reembed the examples too):
// the change rolls back and the command plans again on the new state.
struct PlanOutdated : Error {
  PlanOutdated() : Error("the library changed while this change was planned") {}
};

class ClassLibrary {
 public:
  // Opens an existing library to change it; Error "PATH: ..." when it is
  // missing, not a SQLite database, not a class library, or read-only (the
  // file or its directory). Nothing is created.
  static ClassLibrary open(const std::filesystem::path& path);
  // The same, read-only (SQLITE_OPEN_READONLY): for commands that only read
  // (library listing, classify, detect). A change through it is an Error.
  static ClassLibrary open_read_only(const std::filesystem::path& path);
  // Opens the library, creating it for `model` when it does not exist. An
  // existing library embedded with another fingerprint is an Error naming both.
  static ClassLibrary open_or_create(const std::filesystem::path& path, const LibraryModel& model);
  // enroll's open: an existing library as open_or_create; a missing one is
  // made in a temporary file beside it (".NAME.creating-PID-N") and linked
  // into place by the first change() as it commits, so that a first enrolment
  // that fails, is interrupted or is killed leaves no library at `path` (a
  // killed one's temporary file is removed by the next enrolment there).
  // Should another process create the library meanwhile, the change is made
  // in that one instead (an Error when its model differs, as open_or_create).
  static ClassLibrary open_or_create_on_commit(const std::filesystem::path& path, const LibraryModel& model);

  ClassLibrary(ClassLibrary&&) noexcept;
  ClassLibrary& operator=(ClassLibrary&&) noexcept;
  ~ClassLibrary();

  const std::filesystem::path& path() const;

  // Runs `body` as one change, in one IMMEDIATE transaction: every change
  // method called inside it becomes part of it (a savepoint, so an Error
  // caught inside `body` undoes that method's part alone), and an exception
  // leaving `body` (or a kill) leaves the library as it was before.
  void change(const std::function<void()>& body);
  // Runs `body` in one read transaction: every reading method called inside
  // sees the same snapshot, whatever other processes commit meanwhile.
  void read(const std::function<void()>& body) const;
  // Error "PATH: ... (the library is damaged)" when a stored number is not one
  // or is out of its range (embedding_dim a whole number in [1, 2^24],
  // window_s in (0, 600], sample_rate a whole number in [1, 768000]), naming
  // the key, the value and the range.
  LibraryModel model() const;
  // What a change planned before its transaction rests on: every setting and
  // the calibration (table meta), the domain and both cohorts, as one string;
  // not the classes, examples and thresholds, which a change reads inside its
  // transaction. enroll compares it at the start of its change(): two equal
  // strings mean no other process changed what its plan read.
  std::string planning_state() const;
  // The run directory the library was embedded with; an Error naming the
  // library, the run and the ways out when it no longer exists (moved or
  // deleted). open_or_create with the same model at a new path records the
  // new path, so enrolling with the moved run repairs the library.
  std::filesystem::path run_directory() const;
  std::optional<Calibration> calibration() const;
  void set_calibration(const Calibration& calibration);
  // The calibration for scores centred on the recording being scored, for a
  // library without a domain (detect centres each recording on its own
  // windows: inference/domain.h recording_centre): simulated enrolments
  // centred on the validation clips' own mean, raw scores (domain_centred,
  // not normalised: Error otherwise). nullopt when none is stored (a library
  // with a domain, or one calibrated before it was made); stored in meta
  // under recording_calibration_*, which older programs ignore. nullopt
  // removes it.
  std::optional<Calibration> recording_calibration() const;
  void set_recording_calibration(const std::optional<Calibration>& calibration);
  // The calibration for `classify`'s batches (inference/classify_batch.h):
  // the same simulated enrolments centred on the validation clips' own mean
  // and AS-normalised against the clips' own classify windows (domain_centred,
  // normalised, cohort "domain": Error otherwise), as a batch of files is
  // centred on itself and normalised against its own windows. nullopt when
  // none is stored (a library with a domain, or one calibrated before it was
  // made); stored in meta under batch_calibration_*, which older programs
  // ignore. nullopt removes it.
  std::optional<Calibration> batch_calibration() const;
  void set_batch_calibration(const std::optional<Calibration>& calibration);

  // The library's settings; the defaults for those not stored (version 1).
  // AS-norm needs a cohort: without one, scores stay raw (LibraryScorer).
  // Error naming the library, the key, the value and the range for a damaged
  // one (cohort_top_k in [1, 100000], enrol_views in [1, 64], whole).
  LibrarySettings settings() const;
  // Error naming the setting for an unknown score_norm or a top-K or views
  // outside those ranges.
  void set_settings(const LibrarySettings& settings);
  // The score-normalisation cohort; empty when there is none (version 1, or
  // before the first enrolment). Error naming the library for a damaged embedding.
  std::vector<CohortMember> cohort() const;
  // Replaces the cohort in one transaction (embeddings of the model's embedding_dim).
  void set_cohort(const std::vector<CohortMember>& cohort);

  // The domain every embedding is re-centred on before scoring; nullopt when
  // none is set. Error naming the library for a damaged row.
  std::optional<DomainCentre> domain() const;
  // Sets the domain (its mean of the model's embedding_dim finite values, at
  // least one file and window; the library becomes schema version 3), or with
  // nullopt removes it. The calibration must follow (inference/calibration.h).
  void set_domain(const std::optional<DomainCentre>& domain);

  std::vector<LibraryClass> classes() const;
  // Every example, or only those of `class_name`; ordered by class then id.
  // Error naming the library, the example and the way out (`library
  // --reembed`) when a stored embedding is not a blob of the model's
  // embedding_dim finite values within +-1e9 (a library damaged by another
  // tool: a stored 1e38 made every score NaN).
  std::vector<LibraryExample> examples(const std::string& class_name = {}) const;
  // Every example without its embedding (left empty, never read): what
  // `library --reembed` needs from a library whose embeddings are damaged.
  std::vector<LibraryExample> example_sources() const;

  // Adds `examples` (their class_name/negative fields are ignored) to class
  // `class_name` (check_class_name), creating it, in one transaction. Adding negatives to a
  // positive class (or the reverse) is an Error.
  void add_examples(const std::string& class_name, bool negative, const std::vector<LibraryExample>& examples);
  // Removes a class and its examples; Error when there is no such class. The
  // other classes' stored thresholds, except those the user set, are cleared:
  // they were shared out over the old library (scoring recomputes them).
  void remove_class(const std::string& class_name);
  // Sets (or with nullopt clears) a class's threshold.
  void set_threshold(const std::string& class_name, std::optional<double> threshold, const std::string& source);
  // Replaces every example (each names an existing class in class_name) and
  // the model record in one transaction, and drops the calibration, the cohort,
  // the domain and the thresholds not set by the user: --reembed with a newer run, whose window
  // may differ, so the windows are chosen again.
  void replace_examples(const LibraryModel& model, const std::vector<LibraryExample>& examples);

 struct Impl;  // opaque: the SQLite connection

 private:
  explicit ClassLibrary(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A class name is an event label and a cell of every output format (table,
// JSON, CSV, event-list TSV): it must be UTF-8 text of 1 to
// kMaxClassNameCharacters characters (code points), not hold a tab, line
// break or other control character, start or end with a space, or be
// "unknown" (classify's answer when no class is accepted). Error naming it
// (the first 40 bytes of a long one) and why.
inline constexpr std::size_t kMaxClassNameCharacters = 200;
void check_class_name(const std::string& name);

// "2026-11-30T12:00:00Z"
std::string utc_now_iso8601();

// For tests: called after every statement a library runs, with its SQL (an
// exception thrown by the hook fails that statement's change; a hook may also
// commit a change through another connection to test snapshot reads). The
// environment variable ONESHOT_TEST_LIBRARY_FAULT=N[:kill] does the same for
// the programs: the N-th statement that writes (1-based, counted per process)
// throws, or with ":kill" the process kills itself with SIGKILL.
void set_library_statement_hook(std::function<void(const std::string& sql)> hook);

}  // namespace oneshot
