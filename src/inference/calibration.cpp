#include "inference/calibration.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/evenly_strided.h"
#include "enroll/decision.h"
#include "enroll/score_norm.h"
#include "enroll/simulated_enrolment.h"
#include "eval/protocols.h"
#include "inference/domain.h"
#include "train/run_dir.h"
#include "train/split.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

const char* const kAskThreshold = "; give a threshold with --threshold";

struct RunData {
  RunInfo info;
  FeatureSet features;
  ClassSplit split;
};

RunData load_run_data(RunModel& run, bool progress, const std::string& why) {
  const RunPaths paths{run.run_dir()};
  if (!fs::exists(paths.info()) || !fs::exists(paths.split()))
    throw file_error(run.run_dir(), "the run records no dataset or split (" + why + ")");
  RunInfo info = RunInfo::load(paths.info());
  FeatureSet features = [&] {
    try {
      return load_run_features(info, run.config().features, 0, progress);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + "\n(" + why + ")");
    }
  }();
  ClassSplit split = ClassSplit::from_json(read_file(paths.split()), features.class_names(), paths.split().string());
  return {std::move(info), std::move(features), std::move(split)};
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

std::vector<CohortMember> embed_cohort(RunModel& run, bool progress, std::size_t max_members) {
  const RunData data = load_run_data(run, progress, "the training classes are the score-normalisation cohort; "
                                                    "without them use --score-norm none");
  if (data.split.train.empty())
    throw file_error(RunPaths{run.run_dir()}.split(), "the run has no training classes for the score-normalisation "
                                                      "cohort; use --score-norm none");
  EvalSubset subset = subset_of_classes(data.features, data.split.train);
  std::vector<std::size_t> order(subset.clips.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  order = evenly_strided(std::move(order), max_members);
  EvalSubset chosen;
  for (std::size_t i : order) {
    chosen.clips.push_back(subset.clips[i]);
    chosen.labels.push_back(subset.labels[i]);
  }
  if (progress) std::fprintf(stderr, "score-normalisation cohort: %zu training-class clips\n", chosen.clips.size());
  const torch::Tensor embeddings =
      embed_subset(run.model(), data.features, chosen, torch::kCPU, 64, {}).to(torch::kFloat).contiguous();
  const auto dim = static_cast<std::size_t>(embeddings.size(1));
  std::vector<CohortMember> out;
  for (std::size_t i = 0; i < chosen.clips.size(); ++i) {
    CohortMember m;
    m.source = data.features.file_names().empty() ? std::to_string(chosen.clips[i])
                                                  : data.features.file_names()[chosen.clips[i]];
    m.class_name = data.features.class_names()[static_cast<std::size_t>(chosen.labels[i])];
    m.embedding.resize(dim);
    std::memcpy(m.embedding.data(), embeddings[static_cast<int64_t>(i)].data_ptr<float>(), dim * sizeof(float));
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

// The validation clips as a calibration sees them: each clip's enrolment
// views and classify windows, embedded.
struct ValidationClips {
  torch::Tensor examples, windows;  // (views, D), (windows, D)
  std::vector<std::size_t> example_clip, window_clip;
  std::vector<int> labels;  // per clip
  std::size_t classes = 0;
};

// The calibration of `options` on `clips` (AS-norm against `cohort` when not
// empty, or against the clips' own windows with domain_cohort).
Calibration calibrate_embedded(RunModel& run, const ValidationClips& clips, const std::vector<CohortMember>& cohort,
                               const SimulationOptions& options, const fs::path& split_file);

}  // namespace

Calibration calibrate_on_simulated_enrolments(RunModel& run, const std::vector<CohortMember>& cohort,
                                              const SimulationOptions& options, bool progress, Calibration* recording,
                                              Calibration* batch) {
  if (options.aggregate != "mean" && options.aggregate != "max" && options.aggregate != "prototype")
    throw Error("--aggregate must be mean, max or prototype, got " + options.aggregate);
  const RunData data =
      load_run_data(run, progress, std::string("the run's validation classes calibrate the threshold") + kAskThreshold);
  const fs::path split_file = RunPaths{run.run_dir()}.split();
  if (data.split.val.size() < 2)
    throw file_error(split_file, "the run has " + std::to_string(data.split.val.size()) +
                                     " validation classes; calibration needs at least 2" + kAskThreshold);
  if (data.features.file_names().empty())
    throw file_error(run.run_dir(), "the run's feature cache names no files to read the validation clips from" +
                                        std::string(kAskThreshold));
  EvalSubset subset = subset_of_classes(data.features, data.split.val);
  std::vector<std::size_t> order(subset.clips.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  order = evenly_strided(std::move(order), options.max_clips);

  // Each clip's enrolment views and classify windows, embedded; the audio is
  // not kept.
  std::vector<torch::Tensor> example_parts, window_parts;
  std::vector<std::size_t> example_clip, window_clip;
  std::vector<int> labels;
  if (progress)
    std::fprintf(stderr, "calibrating on simulated enrolments of %zu validation clips of %zu classes\n", order.size(),
                 data.split.val.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t clip = subset.clips[order[k]];
    const fs::path path = fs::path(data.info.data_dir) / data.features.file_names()[clip];
    std::vector<float> samples;
    try {
      samples = run.read_audio(path.string());
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + "\n(a validation clip of the run, read to calibrate the threshold)" +
                  kAskThreshold);
    }
    std::vector<std::size_t> starts;
    EnrolmentViews views;
    try {
      starts = classify_window_starts(run, samples, options.windowing, path.string());
      views = enrolment_views(run, samples, options.windowing, options.views, path.string());
    } catch (const Error&) {
      continue;  // a silent validation clip: neither enrol nor classify would take it
    }
    const std::size_t index = labels.size();
    labels.push_back(subset.labels[order[k]]);
    example_parts.push_back(run.embed_packed(views.packed.data(), views.count()));
    example_clip.insert(example_clip.end(), views.count(), index);
    window_parts.push_back(run.embed_windows(samples, starts));
    window_clip.insert(window_clip.end(), starts.size(), index);
  }
  if (labels.size() < 2) throw file_error(split_file, "fewer than 2 validation clips hold sound" + std::string(kAskThreshold));
  ValidationClips clips{torch::cat(example_parts, 0), torch::cat(window_parts, 0), std::move(example_clip),
                        std::move(window_clip), std::move(labels), data.split.val.size()};
  // The recording calibration from the same embeddings: centred on the
  // clips' own mean, raw scores, as detect scores a recording centred on itself.
  if (recording) {
    SimulationOptions centred = options;
    centred.domain_centred = true;
    centred.domain_cohort = false;
    *recording = calibrate_embedded(run, clips, {}, centred, split_file);
    // The batch calibration: the same, AS-normalised against the clips' own
    // windows, as classify normalises a batch against its own windows.
    if (batch) {
      centred.domain_cohort = true;
      *batch = calibrate_embedded(run, clips, {}, centred, split_file);
    }
  }
  return calibrate_embedded(run, clips, cohort, options, split_file);
}

namespace {

Calibration calibrate_embedded(RunModel& run, const ValidationClips& clips, const std::vector<CohortMember>& cohort,
                               const SimulationOptions& options, const fs::path& split_file) {
  const auto dim = run.embedding_dim();
  torch::Tensor examples = clips.examples, windows = clips.windows;
  const std::vector<std::size_t>& example_clip = clips.example_clip;
  const std::vector<std::size_t>& window_clip = clips.window_clip;
  const std::vector<int>& labels = clips.labels;
  const std::size_t n_clips = labels.size(), n_windows = window_clip.size();
  std::vector<float> centre;  // the validation clips' own domain
  if (options.domain_centred) {
    centre = mean_of_files(clip_means(windows, window_clip, n_clips), n_clips, static_cast<std::size_t>(dim));
    examples = recentred(run, examples, centre);
    windows = recentred(run, windows, centre);
  }

  // The class scores of `queries` against enrolments of one or several clips:
  // with "prototype", each enrolment's mean example embedding scored by the
  // model; with "mean" or "max", the scores against each clip's examples
  // (clip_table, queries x clips) aggregated as the library aggregates a
  // class's examples.
  std::vector<std::size_t> clip_examples(n_clips, 0);
  for (std::size_t c : example_clip) ++clip_examples[c];
  torch::Tensor clip_sums;  // (clips, D): the sum of each clip's example embeddings
  if (options.aggregate == "prototype") {
    clip_sums = torch::zeros({static_cast<int64_t>(n_clips), dim}, torch::kFloat);
    clip_sums.index_add_(0, torch::tensor(std::vector<int64_t>(example_clip.begin(), example_clip.end()), torch::kLong),
                         examples);
  }
  auto clip_table = [&](const torch::Tensor& queries) {
    if (options.aggregate == "prototype") return std::vector<double>{};
    return aggregate_examples(to_vector(run.score(queries, examples)), static_cast<std::size_t>(queries.size(0)),
                              example_clip, n_clips, options.aggregate);
  };
  auto enrolment_table = [&](const torch::Tensor& queries, const std::vector<double>& per_clip,
                             const std::vector<std::vector<std::size_t>>& enrolments) {
    if (options.aggregate != "prototype")
      return enrolment_scores(per_clip, static_cast<std::size_t>(queries.size(0)), clip_examples, enrolments,
                              options.aggregate);
    torch::Tensor prototypes = torch::empty({static_cast<int64_t>(enrolments.size()), dim}, torch::kFloat);
    for (std::size_t e = 0; e < enrolments.size(); ++e) {
      torch::Tensor sum = torch::zeros({dim}, torch::kFloat);
      double count = 0;
      for (std::size_t i : enrolments[e]) {
        sum += clip_sums[static_cast<int64_t>(i)];
        count += static_cast<double>(clip_examples[i]);
      }
      prototypes[static_cast<int64_t>(e)] = sum / count;
    }
    return to_vector(run.score(queries, prototypes));
  };
  if (options.domain_cohort && !options.domain_centred)
    throw Error("calibration: the domain's cohort needs domain centring");
  const bool normalise = !cohort.empty() || options.domain_cohort;
  torch::Tensor c;  // the AS-norm cohort
  std::size_t top_k = options.top_k;
  std::vector<CohortStats> window_stats;
  if (normalise) {
    if (options.domain_cohort) {  // the clips' own windows, already centred
      c = evenly_strided_rows(windows, kMaxDomainCohort);
      top_k = domain_top_k(options.top_k, static_cast<std::size_t>(c.size(0)));
    } else {
      c = torch::empty({static_cast<int64_t>(cohort.size()), dim}, torch::kFloat);
      for (std::size_t i = 0; i < cohort.size(); ++i) {
        if (static_cast<int64_t>(cohort[i].embedding.size()) != dim)
          throw Error("the score-normalisation cohort's embeddings have " + std::to_string(cohort[i].embedding.size()) +
                      " values, the run's model " + std::to_string(dim));
        std::memcpy(c[static_cast<int64_t>(i)].data_ptr<float>(), cohort[i].embedding.data(),
                    static_cast<std::size_t>(dim) * sizeof(float));
      }
      if (options.domain_centred) c = recentred(run, c, centre);
    }
    window_stats = top_k_stats_rows(to_vector(run.score(windows, c)), n_windows, static_cast<std::size_t>(c.size(0)), top_k);
  }
  const std::vector<double> window_clip_table = clip_table(windows);
  const std::vector<double> cohort_clip_table = normalise ? clip_table(c) : std::vector<double>{};
  // File scores of every query clip against each enrolment of k clips,
  // AS-normalised as the library normalises (the enrolment's class side
  // from its own scores of the cohort).
  auto simulate = [&](const std::vector<std::vector<std::size_t>>& enrolments) {
    std::vector<double> table = enrolment_table(windows, window_clip_table, enrolments);
    if (normalise) {
      const auto n_cohort = static_cast<std::size_t>(c.size(0));
      const auto class_stats =
          top_k_stats_columns(enrolment_table(c, cohort_clip_table, enrolments), n_cohort, enrolments.size(), top_k);
      as_norm_table(table, n_windows, class_stats, window_stats);
    }
    return simulated_file_scores(table, window_clip, labels, enrolments, options.window_aggregate);
  };
  const SimulatedScores scores = simulate(enrolment_sets(labels, 1, options.seed));
  Calibration calibration = [&] {
    try {
      return calibrate_simulated(scores, options.far, normalise);
    } catch (const Error& e) {
      throw file_error(split_file, std::string(e.what()) + kAskThreshold);
    }
  }();
  for (std::int64_t k : options.example_counts) {
    const auto enrolments = enrolment_sets(labels, static_cast<std::size_t>(k), options.seed);
    if (enrolments.empty()) continue;  // no validation class has k + 1 clips
    if (auto curve = calibrate_examples(simulate(enrolments), k)) calibration.by_examples.push_back(std::move(*curve));
  }
  calibration.examples_simulated = true;
  calibration.classes = static_cast<std::int64_t>(clips.classes);
  calibration.domain_centred = options.domain_centred;
  calibration.cohort = options.domain_cohort ? "domain" : "training";
  return calibration;
}

}  // namespace

SimulationOptions simulation_options(const LibrarySettings& settings, double far, bool domain_centred,
                                     bool domain_cohort) {
  SimulationOptions o;
  o.far = far;
  o.domain_centred = domain_centred;
  o.domain_cohort = domain_cohort;
  o.views = static_cast<int>(settings.enrol_views);
  o.top_k = static_cast<std::size_t>(settings.cohort_top_k);
  return o;
}

CalibrationPlan plan_calibration(const ClassLibrary& library, RunModel& run, const LibrarySettings& settings,
                                 std::optional<double> far, bool force, bool progress,
                                 std::optional<bool> domain_centred) {
  CalibrationPlan plan;
  const bool normalise = settings.score_norm == "as-norm";
  std::vector<CohortMember> cohort;
  std::optional<Calibration> stored;
  bool has_recording = false;  // a recording calibration and a batch calibration are stored
  bool has_any_recording = false;  // either of them is
  // A domain set now (domain_centred given true) comes from estimate_domain,
  // which keeps its cohort; a stored one may predate the cohort.
  bool domain_cohort = domain_centred.value_or(false);
  library.read([&] {
    stored = library.calibration();
    const bool recording = library.recording_calibration().has_value(), batch = library.batch_calibration().has_value();
    has_recording = recording && batch;
    has_any_recording = recording || batch;
    if (!domain_centred) {
      const auto domain = library.domain();
      domain_centred = domain.has_value();
      domain_cohort = domain && !domain->cohort.empty();
    }
    if (normalise && !domain_cohort) cohort = library.cohort();
  });
  domain_cohort = domain_cohort && normalise;
  const std::string cohort_kind = domain_cohort ? "domain" : "training";
  if (normalise && !domain_cohort && cohort.empty()) {
    cohort = embed_cohort(run, progress);
    plan.cohort = cohort;
    force = true;
  }
  // A new rate needs no new simulation where the stored calibration has its
  // false-accept curve (the rate is the library's, applied at use time).
  const bool needed = force || !stored || stored->method != "simulated" || stored->normalised != normalise ||
                      stored->domain_centred != *domain_centred || (normalise && stored->cohort != cohort_kind) ||
                      (far && *far != stored->far && stored->far_curve.empty());
  // The stored calibration at the new rate, read off its curve.
  const auto at_rate = [&] {
    if (!far || *far == stored->far) return;
    Calibration c = *stored;
    c.far = *far;
    const FarPoint one = far_point_at(c.far_curve, c.far);
    c.threshold = one.threshold;
    c.frr = one.frr;
    plan.calibration = c;
  };
  // A library without a domain also keeps the recording and batch
  // calibrations (detect centres a recording on itself, classify a batch on
  // itself); a library with one does not need them.
  const bool with_recording = !*domain_centred;
  if (!with_recording && has_any_recording) plan.drop_recording = true;
  // A calibration made before the curves for several example recordings, or
  // before the recording or batch calibration, is made again, so that such
  // classes get their own thresholds and detect and classify can centre;
  // where it cannot be (the run's dataset moved), the stored one still serves.
  const bool upgrade = !needed && (!stored->examples_simulated || (with_recording && !has_recording));
  if (!needed && !upgrade) {
    at_rate();
    return plan;
  }
  const double rate = far ? *far : stored ? stored->far : kDefaultLibraryFar;
  const auto top_k = static_cast<std::size_t>(settings.cohort_top_k);
  if (normalise && !domain_cohort && cohort.size() <= top_k)
    plan.note = "the score-normalisation cohort has " + std::to_string(cohort.size()) +
                " training-class clips, no more than --cohort-top-k " + std::to_string(top_k) +
                ": AS-norm takes all of them for every score, which no longer adapts to the example; give "
                "--cohort-top-k " + std::to_string(std::max(kMinCohortTopK, cohort.size() / 5)) +
                " (a fifth of the cohort, at least 10) or train on more clips";
  try {
    Calibration recording, batch;
    plan.calibration = calibrate_on_simulated_enrolments(run, normalise ? cohort : std::vector<CohortMember>{},
                                                         simulation_options(settings, rate, *domain_centred, domain_cohort),
                                                         progress, with_recording ? &recording : nullptr,
                                                         with_recording ? &batch : nullptr);
    if (with_recording) {
      plan.recording = recording;
      plan.batch = batch;
    }
  } catch (const Error& e) {
    if (!upgrade) {
      plan.error = e.what();
      return plan;
    }
    plan.note += std::string(plan.note.empty() ? "" : "; ") +
                 "the library's calibration predates the curves for classes of several example recordings or the "
                 "calibration for scores centred on a recording, and could not be made again (" + e.what() +
                 "); every class keeps the one-recording curve and detect scores as before";
    plan.calibration.reset();
    at_rate();
  }
  return plan;
}

void store_calibration(ClassLibrary& library, const CalibrationPlan& plan) {
  library.change([&] {
    if (plan.cohort) library.set_cohort(*plan.cohort);
    if (plan.calibration) library.set_calibration(*plan.calibration);
    if (plan.recording) library.set_recording_calibration(*plan.recording);
    else if (plan.drop_recording) library.set_recording_calibration(std::nullopt);
    if (plan.batch) library.set_batch_calibration(*plan.batch);
    else if (plan.drop_recording) library.set_batch_calibration(std::nullopt);
  });
}

std::optional<Calibration> ensure_calibration(ClassLibrary& library, RunModel& run, std::optional<double> far,
                                              bool force, bool progress) {
  const CalibrationPlan plan = plan_calibration(library, run, library.settings(), far, force, progress);
  store_calibration(library, plan);
  if (!plan.error.empty()) throw Error(plan.error);
  return plan.calibration;
}

}  // namespace oneshot
