#pragma once
// Domain centring, model-free: embeddings re-centred on the mean embedding of
// the recordings they will be used on, before any score.
//
// Why: a run's embeddings are centred on its TRAINING clips' mean
// (model.embedding_norm = "centered_l2", SimpleShot). Clips of classes the
// model never saw sit away from that centre, all in much the same direction,
// so every pair of them looks a little alike and one clip against one clip
// separates classes less well than it could. Subtracting the mean of
// unlabelled recordings of the user's own domain, and normalising again, is
// the speaker-verification recipe for this (the "in-domain" global mean
// subtracted before scoring, as Kaldi's ivector-subtract-global-mean with the
// mean of in-domain data; Wang et al., SimpleShot 2019, centre on the base
// classes for the same reason). Measured in the README ("Domain centring").
//
// The embedding may be the concatenation of parts that were each normalised
// on their own (the learned embedding, then the band-statistics descriptor
// scaled by the square root of its weight; model/siamese.h): each part is
// centred on its own slice of the mean and scaled back to the length it had,
// so the parts keep their weights in every score.
//
// The domain's cohort: some of the domain's windows are kept as the AS-norm
// cohort of a library with a domain (enroll/score_norm.h). A cohort of the
// run's training clips is out of the domain the scores are made in, and
// normalising against it cost acceptance and rejection on real sounds; a
// cohort of in-domain recordings is the speaker-verification practice (the
// cohort drawn from the evaluation domain). Measured in the README ("Domain
// centring").
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/evenly_strided.h"

namespace oneshot {

// The mean embedding of a domain and where it came from.
struct DomainCentre {
  std::vector<float> mean;  // embedding_dim values
  std::int64_t files = 0;   // recordings it was estimated from
  std::int64_t windows = 0; // their windows
  std::string sources;      // what they were: a JSON list of the paths as given
  std::string added;        // ISO 8601 UTC
  // Windows kept as the score-normalisation cohort (each embedding_dim values,
  // as the run embeds them, not centred): at most kMaxDomainCohort, each
  // file's sounding windows evenly strided (domain_cohort_quota). Empty for a
  // domain stored before the cohort was kept (it scores without AS-norm).
  std::vector<std::vector<float>> cohort;
};

// The most windows a domain keeps as its cohort (the training cohort's cap).
inline constexpr std::size_t kMaxDomainCohort = 2000;

// How many of each file's sounding windows a domain of `n_files` keeps as
// its cohort: kMaxDomainCohort shared out over the files, at least one each
// (rounded up, so that a few long files fill it).
std::size_t domain_cohort_quota(std::size_t n_files);

// AS-norm's K against a domain's cohort of `cohort_size` windows: the
// library's K, at most half the cohort, so that a cohort of a few dozen
// recordings still adapts to each side rather than averaging all of it; the
// half never below kMinCohortTopK (enroll/score_norm.h) or the whole cohort
// when it is smaller. A half, not a fifth: on the user-path benchmark's
// domains of 40-50 clips it accepted more at the same rejection (README,
// "The domain's own cohort").
std::size_t domain_top_k(std::size_t library_top_k, std::size_t cohort_size);

// The mean of recordings' mean window embeddings, every recording counting
// the same whatever its length (an hour of background does not outweigh the
// other recordings): a domain's mean (enroll --domain), classify's batch, the
// calibration's validation clips. Streaming, one recording at a time: each
// recording's windows averaged in double and rounded to float (its mean, as
// a domain lists it), the means summed in double, so the order of the
// recordings changes nothing but rounding. Errors (oneshot::Error): a
// recording without windows or of 0 values, another width than the first, a
// value that is not finite, and mean() before any recording.
class MeanOfRecordings {
 public:
  // One recording's windows: `n_rows` rows of `dim` values, row-major.
  void add(const float* rows, std::size_t n_rows, std::size_t dim);
  void add(const std::vector<std::vector<float>>& rows);  // rows of equal width
  std::size_t recordings() const { return recordings_; }
  std::vector<float> mean() const;  // dim values

 private:
  std::vector<double> sum_;
  std::size_t recordings_ = 0;
};

// The domain's mean of `n` files whose means are known: each row of
// `file_means` (n x dim, row-major) is one file's mean window embedding
// (MeanOfRecordings over one row each). Throws oneshot::Error when n or dim
// is 0, the table's size is not n x dim, or a value is not finite.
std::vector<float> mean_of_files(const std::vector<float>& file_means, std::size_t n, std::size_t dim);

// The recordings a domain was estimated from (DomainCentre::sources, a JSON
// list of paths). Error when it is not one.
std::vector<std::string> domain_sources(const DomainCentre& domain);

// Re-centres `n` rows of `dim` values in place: in each part [offset,
// offset + parts[i]) of a row, subtracts the centre's slice and scales the
// result back to the slice's length before (a part of length 0 stays 0, and
// so does a part equal to the centre's slice). `parts` must add up to dim and
// `centre` hold dim values; else oneshot::Error.
void recentre_rows(float* rows, std::size_t n, std::size_t dim, const std::vector<std::size_t>& parts,
                   const std::vector<float>& centre);

}  // namespace oneshot
