#include "inference/library_scoring.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "core/error.h"
#include "enroll/decision.h"
#include "enroll/score_norm.h"
#include "inference/domain.h"

namespace oneshot {

LibraryScorer::LibraryScorer(const ClassLibrary& library, RunModel& run, const ScoringOptions& options)
    : run_(run),
      options_(options),
      far_(std::numeric_limits<double>::quiet_NaN()),
      floor_(std::numeric_limits<double>::quiet_NaN()) {
  // One snapshot: a class removed or enrolled by another process between two
  // of these reads would otherwise leave a class without examples (scored 0)
  // or an example of a class not read.
  library.read([&] { load(library); });
}

void LibraryScorer::load(const ClassLibrary& library) {
  RunModel& run = run_;
  const ScoringOptions& options = options_;
  const LibraryModel stored = library.model();
  if (!run.made(stored.fingerprint))
    throw file_error(library.path(), "the library was embedded with model " + stored.fingerprint + " (run " +
                                         stored.run + "), but " + run.weights_file().string() + " is model " +
                                         run.fingerprint() + "; re-embed it with `library --reembed --run RUN`");
  if (options.aggregate != "mean" && options.aggregate != "max" && options.aggregate != "prototype")
    throw Error("--aggregate must be mean, max or prototype, got " + options.aggregate);
  calibration_ = library.calibration();
  const auto domain = library.domain();
  const double library_far = calibration_ ? calibration_->far : std::numeric_limits<double>::quiet_NaN();
  if (!options.recording_centre.empty()) {
    // Scores centred on the recording, on the calibration made for them, at
    // the centred rate (centred_far: the library's unless it is the default).
    if (domain)
      throw file_error(library.path(), "the library has a domain, so its scores are centred on it, not on the "
                                       "recording");
    if (static_cast<std::int64_t>(options.recording_centre.size()) != run.embedding_dim())
      throw Error("a recording's centre has " + std::to_string(options.recording_centre.size()) +
                  " values, the run's embeddings " + std::to_string(run.embedding_dim()));
    if (options.recording_cohort.defined()) {
      if (options.recording_cohort.dim() != 2 || options.recording_cohort.size(0) == 0 ||
          options.recording_cohort.size(1) != run.embedding_dim())
        throw Error("a recording's cohort must be (N > 0, " + std::to_string(run.embedding_dim()) +
                    ") window embeddings");
      calibration_ = library.batch_calibration();
      if (!calibration_ || !calibration_->domain_centred || !calibration_->normalised || calibration_->cohort != "domain")
        throw file_error(library.path(), "the library holds no calibration for scores centred on the files "
                                         "classified together and normalised against them (it was calibrated by an "
                                         "older version); the next `enroll` (or `enroll --run RUN --library LIB "
                                         "--far F`) makes it");
    } else {
      calibration_ = library.recording_calibration();
      if (!calibration_ || !calibration_->domain_centred || calibration_->normalised)
        throw file_error(library.path(), "the library holds no calibration for scores centred on a recording (it was "
                                         "calibrated by an older version); the next `enroll` (or `enroll --run RUN "
                                         "--library LIB --far F`) makes it");
    }
    centre_ = options.recording_centre;
  }
  if (calibration_) floor_ = calibration_->floor;
  if (domain) {
    if (calibration_ && !calibration_->domain_centred)
      throw file_error(library.path(), "the library has a domain (" + std::to_string(domain->files) +
                                           " recordings) but its calibration was made without it (the library is "
                                           "damaged); `enroll --domain` sets both again");
    centre_ = domain->mean;
  } else if (centre_.empty() && calibration_ && calibration_->domain_centred) {
    throw file_error(library.path(), "the library's calibration is on domain-centred scores but it holds no domain "
                                     "(the library is damaged); `enroll --domain` sets both again");
  }

  const auto classes = library.classes();
  std::map<std::string, std::size_t> index;
  for (const auto& c : classes) {
    // enroll never stores a class without examples: one listed without any
    // (deleted by another tool) is damage, named, not a class that silently
    // never answers.
    if (c.examples == 0)
      throw file_error(library.path(), "class \"" + c.name + "\" has no examples to score with (the library is "
                                       "damaged); `library --remove` it and enroll it again");
    index[c.name] = names_.size();
    names_.push_back(c.name);
    negative_.push_back(c.negative);
    stored_threshold_.push_back(c.threshold);
    stored_source_.push_back(c.threshold_source);
    sources_.push_back(c.sources);
  }
  const std::size_t n_positive = positive_classes(classes);
  if (n_positive == 0) throw file_error(library.path(), "the library has no class yet: enroll one first");
  if (options.far && !(*options.far >= 0 && *options.far < 1))
    throw Error("--far must be in [0, 1), got " + std::to_string(*options.far));
  if (calibration_) {
    if (options.far && calibration_->far_curve.empty())
      throw file_error(library.path(), "the library's calibration (per clip pair, an older version) has one "
                                       "threshold and no false-accept curve, so --far cannot change it here; "
                                       "`enroll --far F` or `library --reembed --run RUN` calibrates it again");
    far_ = options.far.value_or(options.recording_centre.empty() ? calibration_->far : centred_far(library_far));
    calibrated_ = library_threshold(*calibration_, far_, n_positive);
    // Each class at the curve of its number of example recordings.
    for (std::size_t c = 0; c < names_.size(); ++c) {
      class_calibration_.push_back(for_examples(*calibration_, sources_[c]));
      class_point_.push_back(library_threshold(class_calibration_.back(), far_, n_positive));
    }
  }

  const auto examples = library.examples();
  const int64_t dim = run.embedding_dim();
  examples_ = torch::empty({static_cast<int64_t>(examples.size()), dim}, torch::kFloat);
  for (std::size_t e = 0; e < examples.size(); ++e) {
    // examples() checks the library's own embedding_dim; the run's must agree too (a short copy would read past the end).
    if (static_cast<int64_t>(examples[e].embedding.size()) != dim)
      throw file_error(library.path(), "example " + std::to_string(examples[e].id) + " of class \"" +
                                           examples[e].class_name + "\" (" + examples[e].source + "): its stored "
                                           "embedding has " + std::to_string(examples[e].embedding.size()) +
                                           " values, the run " + run.run_dir().string() + " gives " +
                                           std::to_string(dim) + ": the library's embedding_dim is damaged; "
                                           "`oneshot-audio library " + library.path().string() +
                                           " --reembed --run " + run.run_dir().string() +
                                           "` embeds every example again from its source file");
    std::memcpy(examples_[static_cast<int64_t>(e)].data_ptr<float>(), examples[e].embedding.data(),
                static_cast<std::size_t>(dim) * sizeof(float));
    const auto it = index.find(examples[e].class_name);
    if (it == index.end())
      throw file_error(library.path(), "example " + std::to_string(examples[e].id) + " (" + examples[e].source +
                                           ") belongs to class \"" + examples[e].class_name +
                                           "\", which the library's class list does not hold (the library is damaged)");
    example_class_.push_back(it->second);
  }
  // A class listed with examples that were not read (a damaged count) is never scored.
  for (std::size_t c = 0; c < names_.size(); ++c)
    if (std::find(example_class_.begin(), example_class_.end(), c) == example_class_.end())
      throw file_error(library.path(), "class \"" + names_[c] + "\" has no examples to score with (the library is "
                                       "damaged); `library --remove` it and enroll it again");
  examples_ = centred(examples_);
  prototypes_ = torch::zeros({static_cast<int64_t>(names_.size()), dim}, torch::kFloat);
  std::vector<double> count(names_.size(), 0);
  for (std::size_t e = 0; e < examples.size(); ++e) {
    prototypes_[static_cast<int64_t>(example_class_[e])] += examples_[static_cast<int64_t>(e)];
    ++count[example_class_[e]];
  }
  for (std::size_t c = 0; c < names_.size(); ++c) prototypes_[static_cast<int64_t>(c)] /= count[c];

  // AS-norm: the cohort (the windows of the recordings scored with a
  // recording cohort; the domain's windows when the calibration was made
  // against a domain's cohort; else the run's training clips) and each
  // class's statistics against it.
  const LibrarySettings settings = library.settings();
  const bool recording_cohort = recording_centred() && options.recording_cohort.defined();
  const bool domain_cohort = domain && !domain->cohort.empty() &&
                             (calibration_ ? calibration_->normalised && calibration_->cohort == "domain"
                                           : settings.score_norm == "as-norm");
  if (calibration_ && calibration_->normalised && calibration_->cohort == "domain" && !domain_cohort &&
      !recording_cohort)
    throw file_error(library.path(), "the calibration is on scores normalised against the domain's cohort, but the "
                                     "library holds no domain cohort (the library is damaged); `enroll --domain` "
                                     "sets both again");
  if (recording_cohort) {
    cohort_ = options.recording_cohort.to(torch::kFloat).contiguous().clone();
  } else {
    std::vector<std::vector<float>> members;
    if (domain_cohort) {
      members = domain->cohort;
    } else {
      for (auto& m : library.cohort()) members.push_back(std::move(m.embedding));
    }
    cohort_ = torch::empty({static_cast<int64_t>(members.size()), dim}, torch::kFloat);
    for (std::size_t i = 0; i < members.size(); ++i)
      std::memcpy(cohort_[static_cast<int64_t>(i)].data_ptr<float>(), members[i].data(),
                  static_cast<std::size_t>(dim) * sizeof(float));
  }
  const auto n_members = static_cast<std::size_t>(cohort_.size(0));
  top_k_ = domain_cohort || recording_cohort ? domain_top_k(static_cast<std::size_t>(settings.cohort_top_k), n_members)
                                             : static_cast<std::size_t>(settings.cohort_top_k);
  cohort_ = centred(cohort_);
  if (calibration_) {
    normalised_ = calibration_->normalised;
    if (normalised_ && n_members == 0)
      throw file_error(library.path(), "the calibration is on normalised scores but the library has no cohort (the "
                                       "library is damaged); `library --reembed --run RUN` makes both again");
  } else {
    normalised_ = settings.score_norm == "as-norm" && n_members > 0;
  }
  if (n_members == 0 && settings.score_norm == "as-norm")
    note_ = library.path().string() +
            ": no score-normalisation cohort (a library made by an older version): scores are raw and the "
            "threshold is calibrated per clip pair; `library --reembed --run " + stored.run +
            "` (the same run) adds a cohort and calibrates on simulated enrolments";
  // A rate past the ends of the calibration's curve is held at its end (far_point_at): said, with the rate
  // that then holds, rather than the rate asked for printed as if it applied.
  if (calibration_ && !options.threshold)
    if (const std::string held = rate_outside_curve(calibration_->far_curve, far_, n_positive); !held.empty())
      note_ += std::string(note_.empty() ? "" : "\nnote: ") + library.path().string() + ": " + held;
  if (normalised_) {
    const std::vector<double> cohort_scores = raw_scores_of_centred(cohort_);
    class_stats_ = top_k_stats_columns(cohort_scores, n_members, names_.size(), top_k_);
  }

  // Each class's highest score against a negative example: its threshold is
  // raised to it, so that no enrolled background would be accepted as the class.
  negative_max_.assign(names_.size(), -std::numeric_limits<double>::infinity());
  std::vector<int64_t> negative_rows;
  for (std::size_t e = 0; e < examples.size(); ++e)
    if (negative_[example_class_[e]]) negative_rows.push_back(static_cast<int64_t>(e));
  if (!negative_rows.empty()) {
    const auto scores = scores_of_centred(examples_.index_select(0, torch::tensor(negative_rows, torch::kLong)));
    for (std::size_t r = 0; r < negative_rows.size(); ++r)
      for (std::size_t c = 0; c < names_.size(); ++c)
        negative_max_[c] = std::max(negative_max_[c], scores[r * names_.size() + c]);
  }
}

std::vector<bool> LibraryScorer::positive() const {
  std::vector<bool> p(negative_.size());
  for (std::size_t c = 0; c < p.size(); ++c) p[c] = !negative_[c];
  return p;
}

double LibraryScorer::threshold(std::size_t c) const {
  if (options_.threshold) return *options_.threshold;
  if (stored_threshold_[c] && stored_source_[c] == "user") return *stored_threshold_[c];
  if (!calibration_)
    throw Error("class \"" + names_[c] +
                "\" has no threshold: the library has no calibration (enroll with a run that has validation "
                "classes, or give --threshold)");
  return tighten_with_negatives(class_point_[c].threshold, {negative_max_[c]});
}

std::string LibraryScorer::threshold_source(std::size_t c) const {
  if (options_.threshold) return "--threshold";
  if (stored_threshold_[c] && stored_source_[c] == "user") return "user";
  if (!calibration_) return "none";
  return negative_max_[c] > class_point_[c].threshold ? "negatives" : "calibration";
}

std::int64_t LibraryScorer::calibration_examples(std::size_t c) const {
  if (!calibration_) return 0;
  const ExamplesCalibration* curve = examples_curve(*calibration_, sources_[c]);
  return curve ? curve->examples : 1;
}

double LibraryScorer::confidence(std::size_t c, double score) const {
  if (!has_confidence()) return std::numeric_limits<double>::quiet_NaN();
  const auto& logistic = class_calibration_[c].logistic;
  return (logistic ? *logistic : *calibration_->logistic).confidence(score);
}

torch::Tensor LibraryScorer::centred(const torch::Tensor& embeddings) const {
  return centre_.empty() ? embeddings : recentred(run_, embeddings, centre_);
}

std::vector<double> LibraryScorer::window_scores(const torch::Tensor& window_embeddings) {
  return scores_of_centred(centred(window_embeddings));
}

std::vector<double> LibraryScorer::scores_of_centred(const torch::Tensor& window_embeddings) {
  std::vector<double> scores = raw_scores_of_centred(window_embeddings);
  if (!normalised_ || scores.empty()) return scores;
  const auto n_windows = static_cast<std::size_t>(window_embeddings.size(0));
  const torch::Tensor c = run_.score(window_embeddings, cohort_);  // (W, N)
  const std::vector<double> table(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  as_norm_table(scores, n_windows, class_stats_, top_k_stats_rows(table, n_windows, cohort_size(), top_k_));
  return scores;
}

std::vector<double> LibraryScorer::raw_scores_of_centred(const torch::Tensor& window_embeddings) {
  const auto n_windows = static_cast<std::size_t>(window_embeddings.size(0));
  if (n_windows == 0) return {};
  if (options_.aggregate == "prototype") {
    const torch::Tensor s = run_.score(window_embeddings, prototypes_);
    return std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  }
  // A few windows at a time: the table of each window against every example
  // grows with the library (the cohort's 251 clips against the 69,120
  // windows a 12-hour recording enrols: 139 MB of doubles, and as much again
  // copied); each window's row is aggregated on its own, so chunks of rows
  // give the same scores in a few MB.
  constexpr std::size_t kMaxTableEntries = std::size_t{1} << 19;
  const auto n_examples = static_cast<std::size_t>(examples_.size(0));
  const std::size_t rows = std::max<std::size_t>(1, kMaxTableEntries / std::max<std::size_t>(n_examples, 1));
  std::vector<double> out;
  out.reserve(n_windows * names_.size());
  for (std::size_t from = 0; from < n_windows; from += rows) {
    const std::size_t n = std::min(rows, n_windows - from);
    const torch::Tensor s =
        run_.score(window_embeddings.narrow(0, static_cast<int64_t>(from), static_cast<int64_t>(n)), examples_)
            .contiguous();
    const std::vector<double> table(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
    const auto part = aggregate_examples(table, n, example_class_, names_.size(), options_.aggregate);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

void update_thresholds(ClassLibrary& library, RunModel& run, const std::string& aggregate) {
  library.change([&] {  // the scores read and the thresholds written: one snapshot, one change
  if (!library.calibration()) return;
  ScoringOptions options;
  options.aggregate = aggregate;
  LibraryScorer scorer(library, run, options);
  for (std::size_t c = 0; c < scorer.n_classes(); ++c) {
    if (scorer.negative()[c]) continue;
    const std::string source = scorer.threshold_source(c);
    if (source == "user") continue;
    library.set_threshold(scorer.names()[c], scorer.threshold(c), source);
  }
  });
}

}  // namespace oneshot
