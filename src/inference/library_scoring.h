#pragma once
// A class library loaded against its run's model for scoring: the enrolled
// embeddings, each class's prototype and effective threshold, and the scores
// of recording windows against every class.
//
// Score normalisation: when the library's calibration was made on AS-norm
// scores (or, without a calibration, when its setting is "as-norm" and it has
// a cohort), every window score is AS-normalised (enroll/score_norm.h): the
// class side's top-K statistics are its class scores of the cohort members
// (computed once, here), the window side's those of the window against the
// cohort (one score matrix of the window batch against the cohort, then a
// top-K per row). A version-1 library (no cohort, per-pair calibration) scores
// raw, as before; note() says how to upgrade it.
//
// Domain centring: when the library has a domain (enroll --domain), every
// embedding (examples, cohort, windows) is re-centred on the domain's mean
// before any score (enroll/domain_centre.h, inference/domain.h); its
// calibration was made on centred simulated enrolments. When that
// calibration normalised against the domain's cohort (Calibration::cohort
// "domain"), the cohort is the domain's kept windows (centred too), with K
// domain_top_k, not the run's training clips.
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "enroll/library.h"
#include "inference/run_model.h"

namespace oneshot {

struct ScoringOptions {
  std::string aggregate = "mean";    // over a class's examples: mean, max or prototype
  std::optional<double> threshold;   // overrides every class's threshold (--threshold)
  std::optional<double> far;         // overrides the library's false-accept rate (--far), in [0, 1)
  // Not empty: every embedding is re-centred on this mean of the recording
  // being scored (inference/domain.h recording_centre) and thresholds come
  // from the library's recording calibration (ClassLibrary::
  // recording_calibration), raw scores, at the centred rate
  // (enroll/library.h centred_far: the library's rate, or kDefaultDomainFar
  // where the library keeps the default kDefaultLibraryFar), unless `far` is
  // given. Error for a library with a domain or without that calibration.
  std::vector<float> recording_centre;
  // With recording_centre, defined: (N > 0, D) window embeddings of what is
  // scored, as the run embeds them (not centred): every score is AS-normalised
  // against them (centred too; K domain_top_k of N) and thresholds come from
  // the library's batch calibration (ClassLibrary::batch_calibration) instead,
  // at the same centred rate. classify's batches (inference/classify_batch.h).
  // Error for a library without that calibration, or of another shape.
  torch::Tensor recording_cohort;
};

class LibraryScorer {
 public:
  // Checks the library's fingerprint against the run's (Error naming both);
  // Error when the library has no positive class.
  LibraryScorer(const ClassLibrary& library, RunModel& run, const ScoringOptions& options);

  std::size_t n_classes() const { return names_.size(); }  // positive and negative
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<bool>& negative() const { return negative_; }
  std::vector<bool> positive() const;
  // The effective decision threshold of class c (accept when score > it):
  // --threshold, else the class's stored threshold, else the calibration's
  // for this library and this class (its false-accept rate over the
  // library's positive classes, enroll/decision.h library_threshold, on the
  // curve of the class's number of example recordings, for_examples),
  // each raised by the class's negatives. Error asking for --threshold when
  // there is none.
  double threshold(std::size_t c) const;
  std::string threshold_source(std::size_t c) const;
  // The calibration's threshold for this library: the library-wide
  // false-accept rate (--far, else the stored one, centred_far of it for
  // recording-centred scores) split over its positive
  // classes, the threshold there and the false-reject rate of one class at it.
  // nullopt without a calibration.
  // (A class of several recordings has its own: threshold(c).)
  std::optional<FarPoint> calibrated() const { return calibrated_; }
  // The number of example recordings whose curve class c is calibrated on
  // (1, or a count of Calibration::by_examples); 0 without a calibration.
  std::int64_t calibration_examples(std::size_t c) const;
  // The library-wide false-accept rate in use (NaN without a calibration).
  double far() const { return far_; }
  // Median different-class calibration score (detect's hysteresis floor); NaN without a calibration.
  double floor() const { return floor_; }
  const std::string& aggregate() const { return options_.aggregate; }
  // Whether scores (and thresholds) are AS-normalised.
  bool normalised() const { return normalised_; }
  std::size_t cohort_size() const { return static_cast<std::size_t>(cohort_.size(0)); }
  // Whether embeddings are re-centred on the library's domain.
  bool domain_centred() const { return !centre_.empty(); }
  // Whether they are re-centred on the recording (ScoringOptions::recording_centre).
  bool recording_centred() const { return !options_.recording_centre.empty(); }
  // The calibrated confidence in [0, 1] of a (normalised) score of class c:
  // sigmoid(a s + b) of the library's logistic calibration for the class's
  // number of example recordings; NaN when the library has none (a
  // version-1 library, or no calibration).
  double confidence(std::size_t c, double score) const;
  bool has_confidence() const { return calibration_ && calibration_->logistic.has_value(); }
  // A note for the user about this library (empty when none): a version-1
  // library without a cohort, and how to add one.
  const std::string& note() const { return note_; }

  // Scores (W, n_classes) of window embeddings (W, D) as the run embeds them
  // against every class, row-major doubles; re-centred on the domain when
  // domain_centred(), AS-normalised when normalised().
  std::vector<double> window_scores(const torch::Tensor& window_embeddings);

 private:
  void load(const ClassLibrary& library);  // the constructor's reads, in one snapshot
  torch::Tensor centred(const torch::Tensor& embeddings) const;  // on the domain, or as they are
  // window_scores of embeddings already centred, and the same before normalisation.
  std::vector<double> scores_of_centred(const torch::Tensor& window_embeddings);
  std::vector<double> raw_scores_of_centred(const torch::Tensor& window_embeddings);
  RunModel& run_;
  ScoringOptions options_;
  std::vector<std::string> names_;
  std::vector<bool> negative_;
  std::vector<std::optional<double>> stored_threshold_;
  std::vector<std::string> stored_source_;
  std::vector<std::int64_t> sources_;  // per class: its distinct example recordings
  std::vector<double> negative_max_;  // per class: the highest score of a negative example against it
  std::optional<Calibration> calibration_;
  std::optional<FarPoint> calibrated_;
  std::vector<Calibration> class_calibration_;  // per class: for_examples (with a calibration)
  std::vector<FarPoint> class_point_;           // per class: its library_threshold
  double far_;
  double floor_;
  torch::Tensor examples_;            // (E, D)
  std::vector<std::size_t> example_class_;
  torch::Tensor prototypes_;          // (C, D)
  bool normalised_ = false;
  std::size_t top_k_ = 100;
  torch::Tensor cohort_;              // (N, D); (0, D) without one
  std::vector<float> centre_;         // the domain's mean (D); empty without domain centring
  std::vector<CohortStats> class_stats_;
  std::string note_;
};

// Recomputes and stores every positive class's threshold from the library's
// calibration and negatives (source "calibration" or "negatives"), leaving
// thresholds set by the user alone.
void update_thresholds(ClassLibrary& library, RunModel& run, const std::string& aggregate);

}  // namespace oneshot
