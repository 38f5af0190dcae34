#pragma once
// Classifying many recordings centred on themselves (classify --centre batch,
// the default): the recordings classified together are the best domain a
// library without one has (enroll --domain, README "Domain centring"), as a
// long recording is for detect (inference/domain.h recording_centre). Every
// file is embedded first (embed_sounding), their mean taken (each recording's
// mean sounding window, the recordings with equal weight, as enroll --domain
// averages its files), and every file scored re-centred on it
// (ScoringOptions::recording_centre: raw scores, the library's recording
// calibration). With BatchOptions::cohort (and the library's batch
// calibration), every score is also AS-normalised against the batch's own
// sounding windows (ScoringOptions::recording_cohort): the cohort drawn from
// the domain being scored, as a library with a domain normalises against its
// domain's windows; measured in the README ("Normalised against the files
// classified together"), and off by default. With fewer than kMinBatchCentreFiles recordings that hold
// sound, or with centring off, each file is scored as the library stores it
// (and then as soon as it is read, as before).
//
// A file's answer then depends on the files classified with it: that is the
// point (their mean is the place and the equipment), and the reason it can be
// turned off (--centre library).
#include <torch/torch.h>

#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "enroll/library.h"
#include "inference/classify.h"
#include "inference/library_scoring.h"

namespace oneshot {

// Fewer recordings holding sound than this and a batch is not centred on
// itself: a mean of 10 random clips did harm where 20 and 40 helped (README,
// "Domain centring"); the same count as detect's kMinRecordingCentreWindows.
inline constexpr std::size_t kMinBatchCentreFiles = 24;
// Window embeddings kept between the two passes (about 2 KB each with the
// default model: 128 MB). The recordings past it are embedded again in the
// second pass (twice the work for them), so memory stays bounded whatever the
// batch; a pipe or a device (not a regular file) cannot be read again and is
// kept whatever the budget.
inline constexpr std::size_t kBatchKeptWindows = 65536;

// The AS-norm cohort of a batch (BatchOptions::cohort): each recording's
// sounding windows evenly strided to domain_cohort_quota(n_files), then at
// most kMaxDomainCohort in all, evenly strided, as a domain keeps its cohort
// (enroll/domain_centre.h), so that a few long recordings do not fill it.
class BatchCohort {
 public:
  explicit BatchCohort(std::size_t n_files);
  void add(const torch::Tensor& windows);  // one recording's window embeddings (W, D), counted once
  torch::Tensor take() const;              // (N, D); undefined when nothing was added
 private:
  std::size_t quota_;
  std::vector<torch::Tensor> parts_;
};

struct BatchOptions {
  ClassifyOptions classify;
  bool centre = true;  // centre on the batch when enough of it holds sound
  // Centred, also AS-normalise every score against the batch's own windows
  // (ScoringOptions::recording_cohort; each recording's sounding windows
  // evenly strided, at most kMaxDomainCohort in all, as a domain keeps its
  // cohort), with the library's batch calibration; a library calibrated
  // before it is centred only. Off by default (classify --batch-cohort): it
  // accepts more where the batch holds the enrolled sounds and many more
  // strangers where it holds none (README, "Normalised against the files
  // classified together").
  bool cohort = false;
  std::size_t min_files = kMinBatchCentreFiles;
  std::size_t keep_windows = kBatchKeptWindows;
  bool progress = false;  // the first pass's progress on stderr (core/progress.h): no answer comes until it ends
};

struct BatchReport {
  bool centred = false;
  std::size_t sounding = 0;        // distinct recordings embedded in the first pass (readable, holding sound)
  std::size_t repeated = 0;        // files given again (another path of a recording already counted)
  std::size_t embedded_twice = 0;  // recordings past keep_windows, embedded again to be scored
  std::size_t cohort = 0;          // centred: the batch's windows scores were normalised against (0: raw)
  double far = std::numeric_limits<double>::quiet_NaN();  // centred: the library-wide rate its scorer applies
};

// One file's outcome, in the order of `files`: its classification, or the
// error that stopped it (unreadable, silent: oneshot::Error's message).
using BatchFileHandler = std::function<void(const std::string& path, const Classification* result,
                                            const std::string& error)>;

// Classifies `files` against the library: with options.centre and at least
// options.min_files sounding recordings (each counted and averaged once, by
// recording_identity, however often it is given), centred on them, scored by a
// LibraryScorer made from `library` and `scoring` with the batch's mean
// (the library needs its recording calibration: the caller checks, Error
// otherwise); else by `as_stored` (made from the same library). Errors other
// than a file's own pass through.
BatchReport classify_batch(RunModel& run, const ClassLibrary& library, const ScoringOptions& scoring,
                           LibraryScorer& as_stored, const std::vector<std::string>& files,
                           const BatchOptions& options, const BatchFileHandler& on_file);

}  // namespace oneshot
