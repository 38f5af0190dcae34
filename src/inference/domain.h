#pragma once
// Domain centring with a run's model (the arithmetic: enroll/domain_centre.h):
// the mean embedding of a user's recordings, and embeddings re-centred on it.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enroll/domain_centre.h"
#include "inference/enrolment.h"
#include "inference/recording_windows.h"
#include "inference/run_model.h"

namespace oneshot {

struct DomainEstimate {
  DomainCentre centre;                // files, windows and sources filled in
  std::vector<std::string> silent;    // recordings left out: no window holds sound (classify refuses them too)
};

// What counts as one recording in a domain or a batch: its canonical absolute
// path (the lexically normal absolute path where it cannot be resolved), so
// two paths of one file, or a symbolic link and its target, count once.
std::string recording_identity(const std::string& path);

// Fewer sounding windows than this make no domain (estimate_domain refuses).
inline constexpr std::size_t kMinDomainWindows = 10;

// The domain of `files`: each recording cut into classify's windows (its
// sounding windows at `windowing`'s hop, enrolment.h), embedded, averaged; the
// files' means averaged with equal weight (mean_of_files). A recording given
// twice (by two paths or a link) counts once; sources lists them absolute.
// The cohort keeps domain_cohort_quota(files.size()) of each file's sounding
// windows, evenly strided, then at most kMaxDomainCohort of those.
// Each recording is streamed (its audio is not kept). Silent recordings
// are left out and listed; Error naming the file for one
// that cannot be read, and an Error when none holds sound or the sounding
// windows are fewer than kMinDomainWindows.
DomainEstimate estimate_domain(RunModel& run, const std::vector<std::string>& files, const WindowingOptions& windowing,
                               bool progress = false);

// A recording as its own domain (detect without a library domain): the mean
// embedding of its windows of `window` samples every `hop` (detect's window
// length; non-overlapping by default in detect, a tenth of its scoring work),
// those that hold sound (above the sounding rule's -60 dBFS silence floor),
// each with equal weight. `windows`: how many went into the mean; the mean is
// empty when none holds sound. With `keep`, every complete (unpadded)
// window's start and embedding are kept too, for the scoring pass to reuse
// (Detector::reuse_embeddings): about 2 KB a window of the default model, 1.5
// MB an hour at 5 s windows. Errors of the source pass through.
struct RecordingCentre {
  std::vector<float> mean;
  std::size_t windows = 0;
  std::vector<std::size_t> starts;  // with keep: complete windows' starts (samples)
  torch::Tensor embeddings;         // with keep: (starts.size(), D), as the run embeds them
};
RecordingCentre recording_centre(RunModel& run, const RunModel::SampleSource& source, std::size_t window,
                                 std::size_t hop, bool keep = false);

// Fewer sounding windows than this and a recording is not centred on itself
// (detect scores it as the library does): two minutes of the default 5 s
// windows. A mean of 10 random clips did harm where 20 and 40 helped (README,
// "Domain centring"); a short recording is mostly one sound, which its own
// mean would cancel.
inline constexpr std::size_t kMinRecordingCentreWindows = 24;

// The sounding windows of `window` samples a recording needs to be centred on
// itself: as many seconds of sound as kMinRecordingCentreWindows windows of
// the model's input, so a shorter --window needs more windows, never less sound.
std::size_t min_recording_centre_windows(const RunModel& run, std::size_t window);

// `embeddings` (N, D) re-centred on `centre` with the run's embedding parts
// (eval/protocols.h recentred).
torch::Tensor recentred(const RunModel& run, const torch::Tensor& embeddings, const std::vector<float>& centre);

// At most `n` rows of `rows` (R, D), evenly strided (core/evenly_strided.h):
// a cohort of window embeddings capped as a domain's is.
torch::Tensor evenly_strided_rows(const torch::Tensor& rows, std::size_t n);

// One recording's window embeddings `windows` (W, D) added to `mean`
// (enroll/domain_centre.h MeanOfRecordings; its errors).
void add_recording(MeanOfRecordings& mean, const torch::Tensor& windows);

// Each clip's mean of its rows: `rows` (N, D) with row_clip[i] the clip of
// row i (every clip in [0, n_clips) with at least one row), as the
// row-major (n_clips x D) table mean_of_files takes.
std::vector<float> clip_means(const torch::Tensor& rows, const std::vector<std::size_t>& row_clip, std::size_t n_clips);

}  // namespace oneshot
