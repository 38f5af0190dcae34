// The dev benchmark of the whole user path (issue 18, item 1): enrol real
// classes the model never trained on, classify recordings of them, and detect
// them in long recordings, with the same in-process functions the enroll,
// classify and detect commands call (src/inference), so that a change there
// shows here.
//
// Input: run directories trained with the dev protocol (e.g. 30 esc50-dev
// classes trained, 10 validation classes, no test classes):
//   train --data ../shared/data/esc50-dev --run R --set split.n_val=10 --set split.n_test=0
// For each run, its validation classes are split at random into a calibration
// half and a test half, used both ways round (--splits partitions). The
// library's calibration sees only the calibration half: the bench gives the
// model a copy of the run directory (links to its files) whose split.json
// lists the calibration half as "val" and the test half as "test", so the
// calibration is whatever enroll's calibration does with a run's validation
// classes. Then, --draws times per half (seeded):
//  a) classification: --enrolled N of the test classes are enrolled from
//     k = 1, 3, 5 (--examples) random clips each into a fresh library, as
//     enroll does (the calibration, embed_example, add_examples,
//     update_thresholds, with ensure_calibration's cohort and calibration
//     and the library's enrolment views); every other clip of the test classes is classified
//     as classify does (classify_recording). Figures: clips of enrolled
//     classes accepted as their class (and as another enrolled class: a
//     wrong answer, not "unknown"), top-1 among the enrolled (threshold
//     ignored), clips of never-enrolled classes rejected (unknown), and the
//     AUROC of target (a clip against its own class) vs non-target (against
//     any other enrolled class) file scores.
//  b) detection, with the k = --detect-examples library of the same draw:
//     recording "enrolled": every test-class clip not enrolled (of enrolled
//     and never-enrolled classes), shuffled, end to end; recording "none":
//     clips of the never-enrolled test classes and of the calibration classes,
//     shuffled, end to end, up to --minutes. Both mixed over a background of
//     training-class clips (each trimmed to its sounding part, end to end) at
//     each --snrs value. SNR: per foreground clip, 10 log10 of the mean square
//     of the clip over its sounding part (events/sounding.h) over the mean
//     square of the background under the clip; the background's gain is set
//     per clip (20 ms linear ramps between clips); "clean" = no background.
//     References: each enrolled-class clip's sounding spans (rule:
//     --ref-db, --ref-gap). The detector runs as detect does (Detector,
//     blocks of 65,536 samples). Figures: event F (DCASE rule, IoU > 0.3,
//     micro over labels) on "enrolled", false alarms per hour (events of any
//     class) on "none".
// Tables: mean and spread (min-max) over partitions, directions and draws.
//
// Usage: build/bench_user_path RUN [RUN...] [--far F] [--threshold T]
//   [--examples 1,3,5] [--enrolled 3] [--detect-examples 1] [--splits 1]
//   [--draws 3] [--seed 1] [--snrs clean,20,10,0] [--minutes 3]
//   [--window S] [--hop S] [--short-windows own|pad] [--boundaries sound|windows] [--off-drop D]
//   [--min-duration S] [--merge-gap S] [--aggregate mean|max|prototype]
//   [--score-norm as-norm|none] [--views V]
//   [--window-aggregate mean|max|vote] [--classify-hop S] [--ref-db 20]
//   [--ref-gap 0.5] [--no-classify] [--no-detect] [--threads T] [--json FILE]
//   [--rule-grid] [--grid-far LIST] [--grid-hysteresis LIST] [--grid-merge LIST]
//   [--grid-min-duration LIST] [--domain] [--one-curve] [--centre recording|library]
//   [--classify-centre batch|library] [--classify-cohort none|batch] [--classify-batch all|enrolled|never] [--classify-fars LIST]
//   [--classify-refine one|count|top [--refine-top M] [--refine-loo]]
// --classify-fars 0.03,0.05,...: every library's batch classified again at
// each of these library rates (the same embeddings and scores; only the
// thresholds move): accepted / rejected by rate, to choose a rate on.
// --one-curve: every class is decided on the calibration's curve for one
// example recording, whatever its number of examples (as before the curves
// for several, Calibration::by_examples): the before of that change.
// --domain: each half's library gets a domain (enroll --domain) estimated
// from every clip of its test classes (the recordings it is used on, enrolled
// examples included), so its embeddings are re-centred on their mean and its
// calibration on centred simulated enrolments (enroll/domain_centre.h), and
// its scores are not AS-normalised unless --score-norm as-norm (as enroll
// --domain; then against the domain's windows), at enroll --domain's
// default rate unless --far is given.
// --centre recording|library: as detect --centre. recording (the default):
// without --domain and --threshold, each long recording is first centred on
// its own non-overlapping windows (inference/domain.h recording_centre) and
// scored with the library's recording calibration at the centred rate
// (enroll/library.h centred_far), when enough of them hold sound; library:
// scored as the library stores (the before of that change).
// --classify-centre batch|library: as classify --centre. batch (the default):
// without --domain and --threshold, each library's classified clips (every
// test-half clip not enrolled) are centred on their own mean
// (inference/classify_batch.h) and scored with the library's recording
// calibration at the centred rate, when at least kMinBatchCentreFiles hold
// sound; library: each
// clip scored as the library stores (the before of that change). Each clip is
// embedded once per half (embed_sounding) and scored per library
// (classify_embedded), as classify's two passes do.
// --classify-cohort none|batch: none (the default, as classify): a centred
// batch is scored raw; batch (classify --batch-cohort): it is also
// AS-normalised against its own windows (inference/classify_batch.h
// BatchCohort) with the library's batch calibration.
// --classify-batch all|enrolled: the clips classified together (and so the
// batch's mean): every test-half clip not enrolled (the default), or only
// those of the enrolled classes (a user's folder of the sounds enrolled, no
// strangers: the rejection figure is then empty).
// --classify-batch never: only the never-enrolled classes' clips (a folder
// where none of the enrolled sounds occurs; with 3 of 5 test classes enrolled
// that is 2 classes, under kMinBatchCentreFiles: give --classify-min-files to
// centre it at all).
// --classify-refine: transductive expansion, measured and not adopted (README,
// "Expanding a class with the files classified"): each library's batch is
// classified, files are added to a copy of the library as examples of a
// class (their sounding windows), and the batch is classified again. one:
// every file accepted, counted as the class's first example recording (its
// curve unchanged); count: every file accepted, each its own recording (the
// class moves to the curve of more examples); top: each class's M
// best-scoring files of the batch (--refine-top, 1), accepted or not. With
// --refine-loo a file added to a class is scored against a library without
// itself (it cannot confirm itself).
// --classify-min-files N: a batch of fewer clips is not centred (classify's
// kMinBatchCentreFiles, 24, by default; lower to measure small batches).
// --rule-grid: every detection's score curves (the detector's windows and
// scores) are replayed through the detector's own event rules
// (events/best_class_tracker.h) for every combination of the library's
// false-accept rate (on thresholds), the hysteresis h (off = on - h (on -
// floor); 0.5 is the default rule), the merge gap and the minimum duration;
// the table lists the combinations by mean event F over the SNRs, each scored
// against two references: the clips' sounding parts (--ref-gap's rule) and
// one event per clip (its first onset to its last offset). Embedding is the
// costly part, so a grid of hundreds of rules costs little more than one.
// The replay makes window-level events (detect --boundaries windows): its
// figures are those of the rules, not of the sounding parts detect reports.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "enroll/library.h"
#include "events/best_class_tracker.h"
#include "events/event_metrics.h"
#include "events/sounding.h"
#include "inference/calibration.h"
#include "inference/domain.h"
#include "inference/classify_batch.h"
#include "inference/detector.h"
#include "inference/enrolment.h"
#include "inference/library_scoring.h"
#include "inference/recording_windows.h"
#include "inference/run_model.h"
#include "train/run_dir.h"
#include "train/split.h"

namespace fs = std::filesystem;
using namespace oneshot;

namespace {

struct Options {
  std::vector<fs::path> runs;
  double far = kDefaultLibraryFar;  // enroll's default --far (the library's rate)
  std::optional<double> threshold;
  std::vector<int> examples{1, 3, 5};
  int enrolled = 3, detect_examples = 1, splits = 1, draws = 3, threads = 0;
  std::uint64_t seed = 1;
  std::vector<std::string> snrs{"clean", "20", "10", "0"};
  double minutes = 3;
  double window = 0, hop = 0, off_drop = std::nan(""), min_duration = std::nan(""), merge_gap = 0, classify_hop = 0;
  std::string short_windows, aggregate = "mean", window_aggregate = "mean", boundaries = "sound";
  std::string score_norm;  // empty: the library's default (enroll --score-norm)
  int views = 0;           // 0: the library's default (enroll --views)
  SoundingSpanRule reference;
  bool classify = true, detect = true;
  std::string json;
  bool rule_grid = false;
  bool domain = false;  // --domain
  std::string centre = "recording";  // --centre: detection's scores centred on each recording (detect --centre)
  std::string classify_centre = "batch";  // --classify-centre: classification centred on the clips classified (classify --centre)
  std::string classify_cohort = "none";  // --classify-cohort: centred batches normalised against their windows (classify's BatchOptions::cohort)
  std::string classify_batch = "all";     // --classify-batch: the clips classified (all of the test half, or the enrolled classes')
  std::size_t classify_min_files = kMinBatchCentreFiles;  // --classify-min-files: fewer and a batch is not centred
  bool one_curve = false;  // --one-curve
  bool far_given = false;  // --far (else enroll's default: library_defaults)
  std::vector<double> classify_fars;  // --classify-fars: classification again at each of these rates (same embeddings)
  std::string classify_refine;  // --classify-refine one|count|top: the batch's accepted files added to their class, classified again
  bool refine_loo = false;      // --refine-loo: a file added to a class is not scored against itself
  int refine_top = 1;           // --refine-top M: with top, each class's M best-scoring files of the batch
  std::vector<double> grid_far{0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3}, grid_hysteresis{0, 0.25, 0.5, 0.75, 0.9},
      grid_merge{0, 0.5, 1, 2, 3}, grid_min_duration{0, 0.5, 1};
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

double number(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw Error(flag + ": not a number: \"" + text + "\"");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(flag + " needs a value");
      return argv[++i];
    };
    if (flag.rfind("--", 0) != 0) o.runs.emplace_back(flag);
    else if (flag == "--far") o.far = number(flag, value()), o.far_given = true;
    else if (flag == "--threshold") o.threshold = number(flag, value());
    else if (flag == "--examples") {
      o.examples.clear();
      for (const auto& s : split_list(value())) o.examples.push_back(static_cast<int>(number(flag, s)));
    } else if (flag == "--enrolled") o.enrolled = static_cast<int>(number(flag, value()));
    else if (flag == "--detect-examples") o.detect_examples = static_cast<int>(number(flag, value()));
    else if (flag == "--splits") o.splits = static_cast<int>(number(flag, value()));
    else if (flag == "--draws") o.draws = static_cast<int>(number(flag, value()));
    else if (flag == "--seed") o.seed = static_cast<std::uint64_t>(number(flag, value()));
    else if (flag == "--snrs") o.snrs = split_list(value());
    else if (flag == "--minutes") o.minutes = number(flag, value());
    else if (flag == "--window") o.window = number(flag, value());
    else if (flag == "--hop") o.hop = number(flag, value());
    else if (flag == "--classify-hop") o.classify_hop = number(flag, value());
    else if (flag == "--off-drop") o.off_drop = number(flag, value());
    else if (flag == "--min-duration") o.min_duration = number(flag, value());
    else if (flag == "--merge-gap") o.merge_gap = number(flag, value());
    else if (flag == "--short-windows") o.short_windows = value();
    else if (flag == "--boundaries") o.boundaries = value();
    else if (flag == "--aggregate") o.aggregate = value();
    else if (flag == "--score-norm") o.score_norm = value();
    else if (flag == "--views") o.views = static_cast<int>(number(flag, value()));
    else if (flag == "--window-aggregate") o.window_aggregate = value();
    else if (flag == "--ref-db") o.reference.within_db = number(flag, value());
    else if (flag == "--ref-gap") o.reference.merge_gap_s = number(flag, value());
    else if (flag == "--threads") o.threads = static_cast<int>(number(flag, value()));
    else if (flag == "--json") o.json = value();
    else if (flag == "--no-classify") o.classify = false;
    else if (flag == "--no-detect") o.detect = false;
    else if (flag == "--domain") o.domain = true;
    else if (flag == "--centre") o.centre = value();
    else if (flag == "--classify-centre") o.classify_centre = value();
    else if (flag == "--classify-batch") o.classify_batch = value();
    else if (flag == "--classify-cohort") o.classify_cohort = value();
    else if (flag == "--classify-min-files") o.classify_min_files = static_cast<std::size_t>(number(flag, value()));
    else if (flag == "--one-curve") o.one_curve = true;
    else if (flag == "--classify-refine") o.classify_refine = value();
    else if (flag == "--refine-loo") o.refine_loo = true;
    else if (flag == "--refine-top") o.refine_top = static_cast<int>(number(flag, value()));
    else if (flag == "--classify-fars") {
      for (const auto& x : split_list(value())) o.classify_fars.push_back(number(flag, x));
      if (o.classify_fars.empty()) throw Error("--classify-fars: a comma-separated list of rates");
    }
    else if (flag == "--rule-grid") o.rule_grid = true;
    else if (flag == "--grid-far" || flag == "--grid-hysteresis" || flag == "--grid-merge" ||
             flag == "--grid-min-duration") {
      auto& list = flag == "--grid-far" ? o.grid_far
                   : flag == "--grid-hysteresis" ? o.grid_hysteresis
                   : flag == "--grid-merge" ? o.grid_merge
                                           : o.grid_min_duration;
      list.clear();
      for (const auto& x : split_list(value())) list.push_back(number(flag, x));
      if (list.empty()) throw Error(flag + ": a comma-separated list of numbers");
      o.rule_grid = true;
    }
    else throw Error("unknown option " + flag);
  }
  if (o.runs.empty()) throw Error("give one or more run directories (dev protocol: validation classes, no test classes)");
  if (o.examples.empty() || *std::min_element(o.examples.begin(), o.examples.end()) < 1)
    throw Error("--examples: counts of at least 1");
  if (o.enrolled < 1) throw Error("--enrolled must be at least 1");
  if (o.splits < 1 || o.draws < 1) throw Error("--splits and --draws must be at least 1");
  if (!o.short_windows.empty() && o.short_windows != "pad" && o.short_windows != "own")
    throw Error("--short-windows: pad or own");
  if (o.boundaries != "sound" && o.boundaries != "windows") throw Error("--boundaries: sound or windows");
  if (o.centre != "recording" && o.centre != "library") throw Error("--centre: recording or library");
  if (o.classify_centre != "batch" && o.classify_centre != "library") throw Error("--classify-centre: batch or library");
  if (o.classify_cohort != "batch" && o.classify_cohort != "none") throw Error("--classify-cohort: batch or none");
  if (o.classify_batch != "all" && o.classify_batch != "enrolled" && o.classify_batch != "never")
    throw Error("--classify-batch: all, enrolled or never");
  if (!o.classify_refine.empty() && o.classify_refine != "one" && o.classify_refine != "count" &&
      o.classify_refine != "top")
    throw Error("--classify-refine: one, count or top");
  for (double f : o.classify_fars)
    if (!(f > 0 && f < 1)) throw Error("--classify-fars: rates between 0 and 1");
  for (const auto& s : o.snrs)
    if (s != "clean") number("--snrs", s);
  o.reference.validate();
  if (!o.far_given) o.far = library_defaults(o.domain).far;  // as enroll (--domain)
  return o;
}

// Mean and spread of a figure over splits and draws.
struct Spread {
  std::vector<double> values;
  void add(double v) {
    if (std::isfinite(v)) values.push_back(v);
  }
  double mean() const {
    return values.empty() ? std::nan("") : std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  }
  double min() const { return values.empty() ? std::nan("") : *std::min_element(values.begin(), values.end()); }
  double max() const { return values.empty() ? std::nan("") : *std::max_element(values.begin(), values.end()); }
  std::string text(int digits = 3) const {
    if (values.empty()) return "n/a";
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.*f (%.*f–%.*f)", digits, mean(), digits, min(), digits, max());
    return buf;
  }
  nlohmann::json json() const {
    if (values.empty()) return nullptr;
    return {{"mean", mean()}, {"min", min()}, {"max", max()}, {"n", values.size()}};
  }
};

// AUROC by the Mann-Whitney statistic: P(target > non-target) + P(equal) / 2.
double auroc(const std::vector<double>& target, const std::vector<double>& nontarget) {
  if (target.empty() || nontarget.empty()) return std::nan("");
  double wins = 0;
  for (double t : target)
    for (double n : nontarget) wins += t > n ? 1.0 : t == n ? 0.5 : 0.0;
  return wins / (static_cast<double>(target.size()) * static_cast<double>(nontarget.size()));
}

struct Clip {
  std::string path;
  int class_id = 0;
};

// A copy of the run directory whose split lists `val` as validation and
// `test` as test classes: links to every other file of the run.
fs::path run_view(const fs::path& run, const fs::path& dir, const ClassSplit& split,
                  const std::vector<std::string>& class_names) {
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (name == "split.json") continue;
    fs::create_symlink(fs::absolute(entry.path()), dir / name);
  }
  write_file_atomic(dir / "split.json", split.to_json(class_names));
  return dir;
}

struct Recording {
  std::vector<float> samples;
  std::vector<Event> reference;
  std::vector<std::pair<std::size_t, std::size_t>> clips;  // foreground clips' [start, end) samples
  std::vector<double> clip_power;                          // each clip's sounding-part mean square
  std::vector<Event> clip_reference;  // one event a reference clip: its first sounding onset to its last offset
};

// A detection's score curve as the detector saw it, for replaying other rules.
struct ScoreCurve {
  std::vector<std::pair<double, double>> windows;
  std::vector<double> scores;  // windows x classes
};

// One combination of the rule grid.
struct GridRule {
  double far, hysteresis, merge_gap, min_duration;
  bool operator<(const GridRule& o) const {
    return std::tie(far, hysteresis, merge_gap, min_duration) < std::tie(o.far, o.hysteresis, o.merge_gap, o.min_duration);
  }
};
struct GridFigures {
  std::map<std::string, Spread> event_f, clip_f, false_alarms;  // per SNR
};

class Bench {
 public:
  Bench(Options options) : o_(std::move(options)) {
    dir_ = fs::temp_directory_path() / ("oneshot-bench-user-path-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  ~Bench() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  nlohmann::json run_all();

 private:
  void bench_run(const fs::path& run_dir, std::size_t run_index);
  void bench_half(RunModel& run, const std::vector<int>& calibration, const std::vector<int>& test, std::mt19937_64& rng,
                  const std::string& tag);
  const std::vector<float>& audio(RunModel& run, const std::string& path);
  std::vector<float> background(RunModel& run, std::size_t length, std::mt19937_64& rng);
  Recording build(RunModel& run, const std::vector<Clip>& clips, const std::set<int>& reference_classes,
                  const std::string& name);
  std::vector<float> mix(const Recording& r, const std::vector<float>& bg, double snr_db, int sample_rate) const;
  std::vector<Event> detect(RunModel& run, LibraryScorer& scorer, const std::vector<float>& samples,
                            const std::string& name, ScoreCurve* curve = nullptr);
  void replay_grid(const ClassLibrary& library, RunModel& run, const ScoringOptions& scoring, const std::string& snr,
                   const Recording& with, const ScoreCurve& with_curve, const ScoreCurve& without_curve, double hours);
  void print_grid(nlohmann::json& out) const;

  Options o_;
  fs::path dir_;
  std::vector<std::string> class_names_;
  std::map<int, std::vector<std::string>> clips_of_;  // class id -> clip paths (sorted)
  std::vector<int> train_classes_;
  std::map<std::string, std::vector<float>> audio_cache_;
  int library_counter_ = 0;
  // Figures, keyed for the tables.
  std::map<int, Spread> accepted_, wrong_class_, top1_, rejected_, auroc_;
  std::map<std::pair<double, int>, Spread> swept_accepted_, swept_rejected_;  // (rate, k): --classify-fars
  std::map<std::string, Spread> event_f_, precision_, recall_, false_alarms_;
  std::map<GridRule, GridFigures> grid_;
  Spread calibration_threshold_;
  std::size_t recordings_detected_ = 0, recordings_centred_ = 0;  // detection's recordings, and those centred on themselves
  std::size_t batches_classified_ = 0, batches_centred_ = 0;  // classification's libraries, and those centred on their clips
  std::size_t batches_normalised_ = 0;  // and those normalised against their clips' windows (--classify-cohort)
  nlohmann::json draws_ = nlohmann::json::array();
  std::string run_tag_;
};

const std::vector<float>& Bench::audio(RunModel& run, const std::string& path) {
  auto it = audio_cache_.find(path);
  if (it == audio_cache_.end()) it = audio_cache_.emplace(path, run.read_audio(path)).first;
  return it->second;
}

// Training-class clips trimmed to their sounding part (first onset to last
// offset), end to end, to `length` samples.
std::vector<float> Bench::background(RunModel& run, std::size_t length, std::mt19937_64& rng) {
  std::vector<float> out;
  out.reserve(length);
  std::vector<std::string> pool;
  for (int c : train_classes_)
    for (const auto& p : clips_of_[c]) pool.push_back(p);
  if (pool.empty()) throw Error("the run has no training classes to make a background from");
  while (out.size() < length) {
    const std::string& path = pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)];
    const std::vector<float>& x = audio(run, path);
    const auto spans = sounding_spans(x, run.sample_rate(), o_.reference);
    if (spans.empty()) continue;
    const auto lo = static_cast<std::size_t>(spans.front().onset * run.sample_rate());
    const auto hi = std::min(x.size(), static_cast<std::size_t>(spans.back().offset * run.sample_rate()));
    for (std::size_t i = lo; i < hi && out.size() < length; ++i) out.push_back(x[i]);
  }
  return out;
}

Recording Bench::build(RunModel& run, const std::vector<Clip>& clips, const std::set<int>& reference_classes,
                       const std::string& name) {
  Recording r;
  const int sr = run.sample_rate();
  for (const Clip& clip : clips) {
    const std::vector<float>& x = audio(run, clip.path);
    const std::size_t start = r.samples.size();
    r.samples.insert(r.samples.end(), x.begin(), x.end());
    const auto spans = sounding_spans(x, sr, o_.reference);
    r.clips.emplace_back(start, r.samples.size());
    r.clip_power.push_back(sounding_power(x.data(), x.size(), sr, spans));
    if (reference_classes.count(clip.class_id)) {
      const std::string& label = class_names_[static_cast<std::size_t>(clip.class_id)];
      const double at = static_cast<double>(start) / sr;
      for (const auto& s : spans) r.reference.push_back({name, at + s.onset, at + s.offset, label});
      if (!spans.empty()) r.clip_reference.push_back({name, at + spans.front().onset, at + spans.back().offset, label});
    }
  }
  return r;
}

std::vector<float> Bench::mix(const Recording& r, const std::vector<float>& bg, double snr_db, int sample_rate) const {
  std::vector<float> out = r.samples;
  if (!std::isfinite(snr_db)) return out;  // clean
  // Per clip: the background's gain that puts it snr_db below the clip's sounding part.
  std::vector<double> gain(r.clips.size(), 0.0);
  for (std::size_t i = 0; i < r.clips.size(); ++i) {
    double sum = 0;
    for (std::size_t t = r.clips[i].first; t < r.clips[i].second; ++t) sum += static_cast<double>(bg[t]) * bg[t];
    const double bg_power = sum / std::max<std::size_t>(1, r.clips[i].second - r.clips[i].first);
    if (bg_power > 0 && r.clip_power[i] > 0) gain[i] = std::sqrt(r.clip_power[i] / (bg_power * std::pow(10.0, snr_db / 10)));
    else if (i > 0) gain[i] = gain[i - 1];
  }
  const auto ramp = static_cast<std::size_t>(0.02 * sample_rate);
  for (std::size_t i = 0; i < r.clips.size(); ++i) {
    for (std::size_t t = r.clips[i].first; t < r.clips[i].second; ++t) {
      double g = gain[i];
      // A linear ramp over the first `ramp` samples from the previous clip's gain.
      if (i > 0 && t - r.clips[i].first < ramp) {
        const double a = static_cast<double>(t - r.clips[i].first) / ramp;
        g = (1 - a) * gain[i - 1] + a * gain[i];
      }
      out[t] += static_cast<float>(g * bg[t]);
    }
  }
  return out;
}

std::vector<Event> Bench::detect(RunModel& run, LibraryScorer& scorer, const std::vector<float>& samples,
                                 const std::string& name, ScoreCurve* curve) {
  DetectOptions options;
  options.window_s = o_.window;
  options.hop_s = o_.hop;
  options.min_duration = o_.min_duration;
  options.merge_gap = o_.merge_gap;
  options.off_threshold_drop = o_.off_drop;
  options.sound_boundaries = o_.boundaries == "sound";
  Detector detector(run, scorer, options, name);
  std::vector<Event> events;
  const std::size_t block = 1u << 16;  // detect's block from a file
  for (std::size_t at = 0; at < samples.size(); at += block) {
    auto e = detector.push(samples.data() + at, std::min(block, samples.size() - at));
    events.insert(events.end(), e.begin(), e.end());
  }
  auto e = detector.finish();
  events.insert(events.end(), e.begin(), e.end());
  if (curve) {
    curve->windows = detector.windows();
    curve->scores = detector.scores();
  }
  return events;
}

// The detector's decisions on a stored curve under RULES (one per class).
std::vector<Event> replay(const ScoreCurve& curve, const LibraryScorer& scorer, const std::vector<EventRules>& rules,
                          const std::string& name) {
  return events_from_curves(scorer.names(), scorer.negative(), rules, curve.windows, curve.scores, name);
}

void Bench::replay_grid(const ClassLibrary& library, RunModel& run, const ScoringOptions& scoring,
                        const std::string& snr, const Recording& with, const ScoreCurve& with_curve,
                        const ScoreCurve& without_curve, double hours) {
  for (double far : o_.grid_far) {
    ScoringOptions at_far = scoring;
    at_far.far = far;
    const LibraryScorer scorer(library, run, at_far);
    for (double h : o_.grid_hysteresis)
      for (double gap : o_.grid_merge)
        for (double min_duration : o_.grid_min_duration) {
          std::vector<EventRules> rules(scorer.n_classes());
          for (std::size_t c = 0; c < rules.size(); ++c) {
            if (scorer.negative()[c]) continue;  // BestClassTracker never lets a negative class make events
            rules[c].on_threshold = scorer.threshold(c);
            rules[c].off_threshold = default_off_threshold(rules[c].on_threshold, scorer.floor(), h);
            rules[c].merge_gap = gap;
            rules[c].min_duration = min_duration;
          }
          GridFigures& g = grid_[{far, h, gap, min_duration}];
          const auto events = replay(with_curve, scorer, rules, "enrolled");
          g.event_f[snr].add(score_events(with.reference, events).micro.f_measure());
          g.clip_f[snr].add(score_events(with.clip_reference, events).micro.f_measure());
          g.false_alarms[snr].add(static_cast<double>(replay(without_curve, scorer, rules, "none").size()) / hours);
        }
  }
}

void Bench::print_grid(nlohmann::json& out) const {
  auto mean_over_snrs = [&](const std::map<std::string, Spread>& m) {
    double sum = 0;
    for (const std::string& snr : o_.snrs) sum += m.at(snr).mean();
    return sum / static_cast<double>(o_.snrs.size());
  };
  std::vector<std::pair<GridRule, const GridFigures*>> rows;
  for (const auto& [rule, fig] : grid_) rows.emplace_back(rule, &fig);
  std::sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    return mean_over_snrs(a.second->event_f) > mean_over_snrs(b.second->event_f);
  });
  std::string snrs;
  for (const auto& snr : o_.snrs) snrs += (snrs.empty() ? "" : ",") + snr;
  std::printf("\nRule grid (%zu rules; event F and false alarms per hour: mean over SNRs %s; event F against the "
              "sounding parts and against one event per clip):\n| far | hysteresis | merge gap | min duration | "
              "event F | F, one event per clip | false alarms / h |\n|---|---|---|---|---|---|---|\n",
              rows.size(), snrs.c_str());
  const std::size_t shown = std::min<std::size_t>(rows.size(), 25);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& [r, g] = rows[i];
    std::printf("| %g | %g | %g | %g | %.3f | %.3f | %.1f |\n", r.far, r.hysteresis, r.merge_gap, r.min_duration,
                mean_over_snrs(g->event_f), mean_over_snrs(g->clip_f), mean_over_snrs(g->false_alarms));
  }
  for (const auto& [r, g] : rows) {
    nlohmann::json row = {{"far", r.far}, {"hysteresis", r.hysteresis}, {"merge_gap", r.merge_gap},
                          {"min_duration", r.min_duration}};
    for (const std::string& snr : o_.snrs)
      row[snr] = {{"event_f", g->event_f.at(snr).json()},
                  {"clip_f", g->clip_f.at(snr).json()},
                  {"false_alarms_per_hour", g->false_alarms.at(snr).json()}};
    out["rule_grid"].push_back(row);
  }
}

void Bench::bench_half(RunModel& run, const std::vector<int>& calibration_classes, const std::vector<int>& test,
                       std::mt19937_64& rng, const std::string& tag) {
  // The library as enroll's first enrolment leaves it (its settings, the
  // score-normalisation cohort and the calibration on the run's validation
  // classes, here the calibration half: ensure_calibration), made once per
  // half and copied for every library of the half.
  const fs::path template_path = dir_ / ("template-" + std::to_string(library_counter_++) + ".db");
  LibrarySettings settings;
  {
    ClassLibrary templ = ClassLibrary::open_or_create(template_path, run.library_model());
    settings = templ.settings();
    if (o_.domain) settings.score_norm = library_defaults(true).score_norm;  // as enroll --domain sets it
    if (!o_.score_norm.empty()) settings.score_norm = o_.score_norm;
    if (o_.views > 0) settings.enrol_views = o_.views;
    templ.set_settings(settings);
    if (o_.domain) {
      std::vector<std::string> files;
      for (int c : test) files.insert(files.end(), clips_of_[c].begin(), clips_of_[c].end());
      WindowingOptions windowing;
      windowing.hop_s = o_.classify_hop;
      templ.set_domain(estimate_domain(run, files, windowing).centre);
    }
    ensure_calibration(templ, run, o_.far, true, false);
    if (o_.one_curve) {  // as a calibration made before the curves for several example recordings
      Calibration c = *templ.calibration();
      c.by_examples.clear();
      templ.set_calibration(c);
    }
  }
  const Calibration calibration = *ClassLibrary::open(template_path).calibration();
  calibration_threshold_.add(calibration.threshold);
  ScoringOptions scoring;
  scoring.aggregate = o_.aggregate;
  scoring.threshold = o_.threshold;
  WindowingOptions windowing;
  windowing.hop_s = o_.classify_hop;
  ClassifyOptions classify_options;
  classify_options.windowing = windowing;
  classify_options.window_aggregate = o_.window_aggregate;
  const int n_enrolled = std::min<int>(o_.enrolled, static_cast<int>(test.size()) - 1);
  if (n_enrolled < 1) throw Error("the test half needs at least 2 classes");
  std::map<std::string, SoundingEmbeddings> embedded;  // the half's clips as classify embeds them

  for (int draw = 0; draw < o_.draws; ++draw) {
    std::vector<int> classes = test;
    std::shuffle(classes.begin(), classes.end(), rng);
    const std::vector<int> enrolled(classes.begin(), classes.begin() + n_enrolled);
    const std::vector<int> never(classes.begin() + n_enrolled, classes.end());
    std::map<int, std::vector<std::string>> order;  // each enrolled class's clips in enrolment order
    for (int c : enrolled) {
      order[c] = clips_of_[c];
      std::shuffle(order[c].begin(), order[c].end(), rng);
    }
    nlohmann::json record = {{"run", run_tag_}, {"half", tag}, {"draw", draw}, {"calibration_threshold", calibration.threshold}};
    for (int c : enrolled) record["enrolled"].push_back(class_names_[static_cast<std::size_t>(c)]);
    for (int c : never) record["never_enrolled"].push_back(class_names_[static_cast<std::size_t>(c)]);

    std::vector<int> ks = o_.examples;
    if (o_.detect && std::find(ks.begin(), ks.end(), o_.detect_examples) == ks.end()) ks.push_back(o_.detect_examples);
    for (int k : ks) {
      // A fresh library, as enroll makes it.
      const fs::path lib_path = dir_ / ("library-" + std::to_string(library_counter_++) + ".db");
      fs::copy_file(template_path, lib_path);
      ClassLibrary library = ClassLibrary::open(lib_path);
      std::set<std::string> used;
      std::map<std::string, std::string> first_source;  // class -> its first example's source
      for (int c : enrolled) {
        std::vector<LibraryExample> rows;
        const auto& files = order[c];
        for (int i = 0; i < std::min<int>(k, static_cast<int>(files.size()) - 1); ++i) {
          auto e = embed_example(run, files[static_cast<std::size_t>(i)], windowing, std::nullopt,
                                 static_cast<int>(settings.enrol_views));
          rows.insert(rows.end(), e.begin(), e.end());
          used.insert(files[static_cast<std::size_t>(i)]);
        }
        first_source[class_names_[static_cast<std::size_t>(c)]] = rows.front().source;
        library.add_examples(class_names_[static_cast<std::size_t>(c)], false, rows);
      }
      update_thresholds(library, run, o_.aggregate);
      LibraryScorer scorer(library, run, scoring);

      const bool in_table = std::find(o_.examples.begin(), o_.examples.end(), k) != o_.examples.end();
      if (o_.classify && in_table) {
        // As classify: every clip to classify embedded (once per half:
        // `embedded`), centred on their mean where it can be, then scored.
        std::vector<std::pair<int, const SoundingEmbeddings*>> batch;  // (class, clip)
        MeanOfRecordings centre;
        for (int c : test)
          for (const std::string& path : clips_of_[c]) {
            if (used.count(path)) continue;
            const bool of_enrolled = std::find(enrolled.begin(), enrolled.end(), c) != enrolled.end();
            if ((o_.classify_batch == "enrolled" && !of_enrolled) || (o_.classify_batch == "never" && of_enrolled))
              continue;
            auto it = embedded.find(path);
            if (it == embedded.end()) it = embedded.emplace(path, embed_sounding(run, path, classify_options)).first;
            batch.emplace_back(c, &it->second);
            add_recording(centre, it->second.windows);
          }
        ++batches_classified_;
        std::optional<LibraryScorer> centred;
        ScoringOptions batch_scoring = scoring;
        if (o_.classify_centre == "batch" && !o_.domain && !o_.threshold && library.recording_calibration() &&
            centre.recordings() >= o_.classify_min_files) {
          batch_scoring.recording_centre = centre.mean();
          if (o_.classify_cohort == "batch" && library.batch_calibration()) {
            BatchCohort cohort(batch.size());
            for (const auto& member : batch) cohort.add(member.second->windows);
            batch_scoring.recording_cohort = cohort.take();
            ++batches_normalised_;
          }
          centred.emplace(library, run, batch_scoring);
          ++batches_centred_;
        }
        // Every clip of the batch classified with `batch_scorer`.
        struct Figures {
          double accepted, wrong, top1, rejected, auroc;
        };
        auto classify_batch = [&](LibraryScorer& batch_scorer,
                                  const std::map<const SoundingEmbeddings*, LibraryScorer*>* own = nullptr) {
          std::size_t n_target = 0, accepted = 0, wrong = 0, top1 = 0, n_never = 0, rejected = 0;
          std::vector<double> target, nontarget;
          for (const auto& [c, clip] : batch) {
            const std::string truth = class_names_[static_cast<std::size_t>(c)];
            const bool is_enrolled = std::find(enrolled.begin(), enrolled.end(), c) != enrolled.end();
            LibraryScorer* mine = nullptr;
            if (own)
              if (auto it = own->find(clip); it != own->end()) mine = it->second;
            const Classification result = classify_embedded(mine ? *mine : batch_scorer, *clip, classify_options);
            for (const RankedClass& r : result.ranking) (r.name == truth ? target : nontarget).push_back(r.score);
            if (is_enrolled) {
              ++n_target;
              accepted += result.decision == truth;
              wrong += result.decision != truth && result.decision != "unknown";
              top1 += !result.ranking.empty() && result.ranking.front().name == truth;
            } else {
              ++n_never;
              rejected += result.decision == "unknown";
            }
          }
          auto share = [](std::size_t n, std::size_t of) { return static_cast<double>(n) / std::max<std::size_t>(1, of); };
          return Figures{share(accepted, n_target), share(wrong, n_target), share(top1, n_target),
                         share(rejected, n_never), auroc(target, nontarget)};
        };
        // --classify-refine: every file accepted by `first` added to its class
        // (its sounding windows), then the batch classified again.
        auto refined = [&](LibraryScorer& first, const ScoringOptions& again) {
          // The files each class is expanded with: (class, clip).
          std::vector<std::pair<std::string, const SoundingEmbeddings*>> members;
          std::map<std::string, std::vector<std::pair<double, const SoundingEmbeddings*>>> by_class;
          for (const auto& [c, clip] : batch) {
            const Classification result = classify_embedded(first, *clip, classify_options);
            if (o_.classify_refine == "top") {
              for (const RankedClass& rc : result.ranking) by_class[rc.name].emplace_back(rc.score, clip);
              continue;
            }
            if (result.decision != "unknown") members.emplace_back(result.decision, clip);
          }
          for (auto& [name, scored] : by_class) {
            std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
            for (int m = 0; m < std::min<int>(o_.refine_top, static_cast<int>(scored.size())); ++m)
              members.emplace_back(name, scored[static_cast<std::size_t>(m)].second);
          }
          // The library with every member but `without` (leave-one-out: a member is not scored against itself).
          auto make = [&](const SoundingEmbeddings* without) {
            const fs::path path = dir_ / ("refined-" + std::to_string(library_counter_++) + ".db");
            fs::copy_file(lib_path, path);
            ClassLibrary r = ClassLibrary::open(path);
            std::map<std::string, std::vector<LibraryExample>> added;
            for (const auto& [name, clip] : members) {
              if (clip == without && o_.refine_loo) continue;
              const torch::Tensor w = clip->windows.contiguous();
              for (std::int64_t i = 0; i < w.size(0); ++i) {
                LibraryExample e;
                e.class_name = name;
                e.source = o_.classify_refine == "count" ? clip->path : first_source.at(name);
                e.embedding.assign(w[i].data_ptr<float>(), w[i].data_ptr<float>() + w.size(1));
                added[name].push_back(std::move(e));
              }
            }
            for (const auto& [name, rows] : added) r.add_examples(name, false, rows);
            return path;
          };
          std::vector<fs::path> made{make(nullptr)};
          std::vector<std::unique_ptr<LibraryScorer>> scorers;
          {
            const ClassLibrary r = ClassLibrary::open(made.front());
            scorers.push_back(std::make_unique<LibraryScorer>(r, run, again));
          }
          std::map<const SoundingEmbeddings*, LibraryScorer*> own;
          if (o_.refine_loo)
            for (const auto& m : members) {
              if (own.count(m.second)) continue;
              made.push_back(make(m.second));
              const ClassLibrary r = ClassLibrary::open(made.back());
              scorers.push_back(std::make_unique<LibraryScorer>(r, run, again));
              own[m.second] = scorers.back().get();
            }
          const Figures g = classify_batch(*scorers.front(), &own);
          for (const auto& p : made) fs::remove(p);
          return g;
        };
        const Figures f = o_.classify_refine.empty() ? classify_batch(centred ? *centred : scorer)
                                                     : refined(centred ? *centred : scorer,
                                                               centred ? batch_scoring : scoring);
        const double a = f.accepted, wr = f.wrong, t1 = f.top1, rj = f.rejected, au = f.auroc;
        const std::size_t n_target = static_cast<std::size_t>(std::count_if(batch.begin(), batch.end(), [&](const auto& b) {
          return std::find(enrolled.begin(), enrolled.end(), b.first) != enrolled.end();
        }));
        const std::size_t n_never = batch.size() - n_target;
        accepted_[k].add(a);
        wrong_class_[k].add(wr);
        top1_[k].add(t1);
        rejected_[k].add(rj);
        auroc_[k].add(au);
        for (double rate : o_.classify_fars) {  // the same scores at another rate
          ScoringOptions at_rate = batch_scoring;
          at_rate.far = rate;
          LibraryScorer swept(library, run, at_rate);
          const Figures g = o_.classify_refine.empty() ? classify_batch(swept) : refined(swept, at_rate);
          swept_accepted_[{rate, k}].add(g.accepted);
          swept_rejected_[{rate, k}].add(g.rejected);
          record["classify_fars"][std::to_string(k)][std::to_string(rate)] = {{"accepted", g.accepted},
                                                                               {"rejected", g.rejected}};
        }
        record["classify"][std::to_string(k)] = {{"accepted", a},     {"wrong_class", wr}, {"top1", t1},          {"rejected", rj},
                                                 {"auroc", au},       {"target_clips", n_target},
                                                 {"never_enrolled_clips", n_never}};
      }

      if (o_.detect && k == o_.detect_examples) {
        // "enrolled": every test-class clip not enrolled; "none": never-enrolled and calibration clips.
        std::vector<Clip> with, without;
        for (int c : test)
          for (const auto& p : clips_of_[c])
            if (!used.count(p)) with.push_back({p, c});
        for (int c : never)
          for (const auto& p : clips_of_[c]) without.push_back({p, c});
        for (int c : calibration_classes)
          for (const auto& p : clips_of_[c]) without.push_back({p, c});
        std::shuffle(with.begin(), with.end(), rng);
        std::shuffle(without.begin(), without.end(), rng);
        const std::set<int> reference_classes(enrolled.begin(), enrolled.end());
        const Recording rec_with = build(run, with, reference_classes, "enrolled");
        Recording rec_without = build(run, without, {}, "none");
        const auto cap = static_cast<std::size_t>(o_.minutes * 60 * run.sample_rate());
        while (rec_without.clips.size() > 1 && rec_without.clips.back().second > cap) {
          rec_without.samples.resize(rec_without.clips.back().first);
          rec_without.clips.pop_back();
          rec_without.clip_power.pop_back();
        }
        const std::vector<float> bg_with = background(run, rec_with.samples.size(), rng);
        const std::vector<float> bg_without = background(run, rec_without.samples.size(), rng);
        const double hours = static_cast<double>(rec_without.samples.size()) / run.sample_rate() / 3600;
        for (const std::string& snr : o_.snrs) {
          const double snr_db = snr == "clean" ? std::numeric_limits<double>::infinity() : std::stod(snr);
          ScoreCurve with_curve, without_curve;
          // As detect --centre recording: each recording scored centred on
          // its own windows where the library has no domain.
          auto detect_in = [&](const std::vector<float>& samples, const std::string& name, ScoreCurve* curve) {
            ++recordings_detected_;
            if (o_.centre != "recording" || o_.domain || o_.threshold) return detect(run, scorer, samples, name, curve);
            const std::size_t window =
                o_.window > 0 ? static_cast<std::size_t>(std::llround(o_.window * run.sample_rate())) : run.window_samples();
            std::size_t at = 0;
            const RecordingCentre centre = recording_centre(
                run,
                [&](float* out, std::size_t n) {
                  const std::size_t k = std::min(n, samples.size() - at);
                  std::copy_n(samples.data() + at, k, out);
                  at += k;
                  return k;
                },
                window, window);
            if (centre.windows < min_recording_centre_windows(run, window)) return detect(run, scorer, samples, name, curve);
            ++recordings_centred_;
            ScoringOptions centred = scoring;
            centred.recording_centre = centre.mean;
            LibraryScorer own(library, run, centred);
            return detect(run, own, samples, name, curve);
          };
          const auto events = detect_in(mix(rec_with, bg_with, snr_db, run.sample_rate()), "enrolled", &with_curve);
          const EventScores s = score_events(rec_with.reference, events);
          const auto alarms = detect_in(mix(rec_without, bg_without, snr_db, run.sample_rate()), "none", &without_curve);
          if (o_.rule_grid) replay_grid(library, run, scoring, snr, rec_with, with_curve, without_curve, hours);
          const double fa = static_cast<double>(alarms.size()) / hours;
          event_f_[snr].add(s.micro.f_measure());
          precision_[snr].add(s.micro.precision());
          recall_[snr].add(s.micro.recall());
          false_alarms_[snr].add(fa);
          record["detect"][snr] = {{"event_f", s.micro.f_measure()},
                                   {"precision", s.micro.precision()},
                                   {"recall", s.micro.recall()},
                                   {"macro_f", s.macro_f},
                                   {"references", s.micro.reference},
                                   {"estimates", s.micro.estimate},
                                   {"tp", s.micro.tp},
                                   {"false_alarms", alarms.size()},
                                   {"false_alarms_per_hour", fa},
                                   {"seconds_enrolled", static_cast<double>(rec_with.samples.size()) / run.sample_rate()},
                                   {"seconds_none", hours * 3600}};
        }
      }
    }
    draws_.push_back(record);
    std::fprintf(stderr, ".");
  }
}

void Bench::bench_run(const fs::path& run_dir, std::size_t run_index) {
  const RunPaths paths{fs::absolute(run_dir)};
  const RunInfo info = RunInfo::load(paths.info());
  DatasetOptions dataset_options;
  dataset_options.layout = info.layout;
  dataset_options.esc10 = info.esc10;
  const Dataset dataset = load_dataset(info.data_dir, dataset_options);
  class_names_ = dataset.class_names;
  clips_of_.clear();
  for (const ClipEntry& clip : dataset.clips) clips_of_[clip.class_id].push_back(fs::absolute(clip.path).string());
  const ClassSplit split = ClassSplit::from_json(read_file(paths.split()), class_names_, paths.split().string());
  if (split.val.size() < 4)
    throw file_error(paths.split(), "the run has " + std::to_string(split.val.size()) +
                                        " validation classes; the bench needs at least 4 (two halves of 2)");
  train_classes_ = split.train;
  run_tag_ = paths.dir.string();

  for (int s = 0; s < o_.splits; ++s) {
    std::mt19937_64 rng(o_.seed * 1000003 + run_index * 1009 + static_cast<std::uint64_t>(s));
    std::vector<int> val = split.val;
    std::shuffle(val.begin(), val.end(), rng);
    const std::size_t half = val.size() / 2;
    const std::vector<int> a(val.begin(), val.begin() + static_cast<std::ptrdiff_t>(half));
    const std::vector<int> b(val.begin() + static_cast<std::ptrdiff_t>(half), val.end());
    for (int direction = 0; direction < 2; ++direction) {
      const std::vector<int>& calibration = direction == 0 ? a : b;
      const std::vector<int>& test = direction == 0 ? b : a;
      ClassSplit view;
      view.train = split.train;
      view.val = calibration;
      view.test = test;
      std::sort(view.val.begin(), view.val.end());
      std::sort(view.test.begin(), view.test.end());
      const std::string tag = "split" + std::to_string(s) + (direction == 0 ? "a" : "b");
      const fs::path view_dir = run_view(paths.dir, dir_ / ("run-" + std::to_string(run_index) + "-" + tag), view, class_names_);
      auto run = RunModel::load(view_dir, o_.threads);
      // As detect: by default own for a --window shorter than the input, pad otherwise.
      const bool own = o_.short_windows.empty() ? o_.window > 0 && o_.window < run->window_seconds()
                                                : o_.short_windows == "own";
      run->set_short_windows(own ? RunModel::ShortWindows::own : RunModel::ShortWindows::pad);
      std::mt19937_64 draw_rng(rng());
      bench_half(*run, calibration, test, draw_rng, tag);
    }
  }
}

nlohmann::json Bench::run_all() {
  const double start = now();
  for (std::size_t r = 0; r < o_.runs.size(); ++r) bench_run(o_.runs[r], r);
  std::fprintf(stderr, "\n");
  const double seconds = now() - start;

  std::printf("bench_user_path: %zu run(s), %d partition(s) x 2 directions x %d draws; --far %g (centred scores %g)%s; "
              "%d of the test classes enrolled; %s%s; wall %.0f s\n",
              o_.runs.size(), o_.splits, o_.draws, o_.far, centred_far(o_.far),
              o_.threshold ? (" --threshold " + std::to_string(*o_.threshold)).c_str() : "", o_.enrolled,
              o_.short_windows.empty() ? "short windows as detect embeds them"
              : o_.short_windows == "own" ? "short windows at their own length"
                                          : "short windows padded",
              o_.domain                 ? "; centred on each test half's domain"
              : o_.centre == "library" ? "; detection scored as the library stores (--centre library)"
                                       : "; detection centred on each recording",
              seconds);
  std::printf("calibrated threshold: %s\n", calibration_threshold_.text(3).c_str());
  nlohmann::json out;
  if (o_.classify) {
    std::printf("\nclassification: %zu of %zu libraries' clips centred on themselves, %zu normalised against their "
                "windows\n", batches_centred_, batches_classified_, batches_normalised_);
    out["batches_centred"] = batches_centred_;
    out["batches_normalised"] = batches_normalised_;
    std::printf("\n| examples per class | enrolled clips accepted as their class | top-1 among the enrolled | "
                "never-enrolled clips rejected | AUROC | enrolled clips accepted as another class |\n"
                "|---|---|---|---|---|---|\n");
    for (int k : o_.examples) {
      std::printf("| %d | %s | %s | %s | %s | %s |\n", k, accepted_[k].text().c_str(), top1_[k].text().c_str(),
                  rejected_[k].text().c_str(), auroc_[k].text().c_str(), wrong_class_[k].text().c_str());
      out["classify"][std::to_string(k)] = {{"accepted", accepted_[k].json()},
                                            {"wrong_class", wrong_class_[k].json()},
                                            {"top1", top1_[k].json()},
                                            {"rejected", rejected_[k].json()},
                                            {"auroc", auroc_[k].json()}};
    }
  }
  if (o_.classify && !o_.classify_fars.empty()) {
    std::printf("\nthe same scores at other rates (--classify-fars): enrolled clips accepted as their class / "
                "never-enrolled clips rejected\n\n| rate |");
    for (int k : o_.examples) std::printf(" %d example%s |", k, k == 1 ? "" : "s");
    std::printf("\n|---|");
    for (std::size_t i = 0; i < o_.examples.size(); ++i) std::printf("---|");
    std::printf("\n");
    for (double rate : o_.classify_fars) {
      std::printf("| %g |", rate);
      for (int k : o_.examples) {
        std::printf(" %s / %s |", swept_accepted_[{rate, k}].text().c_str(), swept_rejected_[{rate, k}].text().c_str());
        out["classify_fars"][std::to_string(rate)][std::to_string(k)] = {
            {"accepted", swept_accepted_[{rate, k}].json()}, {"rejected", swept_rejected_[{rate, k}].json()}};
      }
      std::printf("\n");
    }
  }
  if (o_.detect) {
    std::printf("\ndetection: %zu of %zu recordings centred on themselves\n", recordings_centred_, recordings_detected_);
    out["recordings_centred"] = recordings_centred_;
    std::printf("\n| SNR (dB) | event F | precision | recall | false alarms per hour |\n|---|---|---|---|---|\n");
    for (const std::string& snr : o_.snrs) {
      std::printf("| %s | %s | %s | %s | %s |\n", snr.c_str(), event_f_[snr].text().c_str(),
                  precision_[snr].text().c_str(), recall_[snr].text().c_str(), false_alarms_[snr].text(1).c_str());
      out["detect"][snr] = {{"event_f", event_f_[snr].json()},
                            {"precision", precision_[snr].json()},
                            {"recall", recall_[snr].json()},
                            {"false_alarms_per_hour", false_alarms_[snr].json()}};
    }
  }
  if (o_.rule_grid && o_.detect) print_grid(out);
  out["calibration_threshold"] = calibration_threshold_.json();
  out["draws"] = draws_;
  out["seconds"] = seconds;
  out["options"] = {{"far", o_.far},
                    {"threshold", o_.threshold ? nlohmann::json(*o_.threshold) : nlohmann::json(nullptr)},
                    {"examples", o_.examples},
                    {"enrolled", o_.enrolled},
                    {"detect_examples", o_.detect_examples},
                    {"splits", o_.splits},
                    {"draws", o_.draws},
                    {"seed", o_.seed},
                    {"snrs", o_.snrs},
                    {"minutes", o_.minutes},
                    {"window", o_.window},
                    {"hop", o_.hop},
                    {"short_windows", o_.short_windows},
                    {"boundaries", o_.boundaries},
                    {"off_drop", std::isnan(o_.off_drop) ? nlohmann::json(nullptr) : nlohmann::json(o_.off_drop)},
                    {"min_duration", std::isnan(o_.min_duration) ? nlohmann::json("default") : nlohmann::json(o_.min_duration)},
                    {"merge_gap", o_.merge_gap},
                    {"aggregate", o_.aggregate},
                    {"score_norm", o_.score_norm.empty() ? "default" : o_.score_norm},
                    {"domain", o_.domain},
                    {"centre", o_.centre},
                    {"classify_centre", o_.classify_centre},
                    {"classify_cohort", o_.classify_cohort},
                    {"classify_batch", o_.classify_batch},
                    {"classify_min_files", o_.classify_min_files},
                    {"one_curve", o_.one_curve},
                    {"classify_fars", o_.classify_fars},
                    {"views", o_.views},
                    {"window_aggregate", o_.window_aggregate},
                    {"ref_db", o_.reference.within_db},
                    {"ref_gap", o_.reference.merge_gap_s}};
  for (const auto& r : o_.runs) out["runs"].push_back(fs::absolute(r).string());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    Bench bench(options);
    const nlohmann::json out = bench.run_all();
    if (!options.json.empty()) write_file_atomic(options.json, out.dump(2) + "\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_user_path: %s\n", e.what());
    return 1;
  }
}
