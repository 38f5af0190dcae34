#include "inference/classify_batch.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/progress.h"
#include "enroll/domain_centre.h"
#include "inference/domain.h"

namespace oneshot {

BatchCohort::BatchCohort(std::size_t n_files) : quota_(domain_cohort_quota(n_files)) {}

void BatchCohort::add(const torch::Tensor& windows) {
  if (windows.size(0) > 0) parts_.push_back(evenly_strided_rows(windows, quota_));
}

torch::Tensor BatchCohort::take() const {
  if (parts_.empty()) return {};
  return evenly_strided_rows(torch::cat(parts_, 0), kMaxDomainCohort);
}

BatchReport classify_batch(RunModel& run, const ClassLibrary& library, const ScoringOptions& scoring,
                           LibraryScorer& as_stored, const std::vector<std::string>& files,
                           const BatchOptions& options, const BatchFileHandler& on_file) {
  BatchReport report;
  if (!options.centre) {  // each file as soon as it is read
    for (const std::string& file : files) {
      try {
        const Classification c = classify_recording(run, as_stored, file, options.classify);
        on_file(file, &c, "");
      } catch (const Error& e) {
        on_file(file, nullptr, e.what());
      }
    }
    return report;
  }

  // First pass: every file embedded, its embeddings kept while the budget
  // lasts, its mean added to the batch's.
  struct Pending {
    std::optional<SoundingEmbeddings> kept;
    std::string error;
  };
  std::vector<Pending> pending(files.size());
  MeanOfRecordings centre;  // each recording's mean with equal weight (enroll --domain's)
  std::set<std::string> counted;  // a recording given twice counts once in the mean
  std::size_t kept_windows = 0;
  // The AS-norm cohort: each recording's windows evenly strided, as a domain
  // keeps its cohort (domain_cohort_quota), when the library has the batch
  // calibration that scores need then (older libraries are centred only).
  const bool with_cohort = options.cohort && library.batch_calibration().has_value();
  BatchCohort cohort(files.size());
  Progress bar("embedding the files to centre on", files.size(), options.progress);
  for (std::size_t f = 0; f < files.size(); ++f, bar.advance()) {
    try {
      SoundingEmbeddings e = embed_sounding(run, files[f], options.classify);
      if (counted.insert(recording_identity(files[f])).second) {
        add_recording(centre, e.windows);
        if (with_cohort) cohort.add(e.windows);
      } else {
        ++report.repeated;
      }
      const auto w = static_cast<std::size_t>(e.windows.size(0));
      // A pipe or a device cannot be read again: kept whatever the budget.
      std::error_code ec;
      const bool read_again = files[f] != "-" && std::filesystem::is_regular_file(files[f], ec);
      if (!read_again || kept_windows + w <= options.keep_windows) {
        if (read_again) kept_windows += w;
        pending[f].kept = std::move(e);
      }
    } catch (const Error& e) {
      pending[f].error = e.what();
    }
  }
  bar.finish();
  report.sounding = centre.recordings();

  std::unique_ptr<LibraryScorer> centred;
  if (report.sounding >= options.min_files) {
    ScoringOptions with_centre = scoring;
    with_centre.recording_centre = centre.mean();
    if (with_cohort) {
      with_centre.recording_cohort = cohort.take();
      report.cohort = static_cast<std::size_t>(with_centre.recording_cohort.size(0));
    }
    centred = std::make_unique<LibraryScorer>(library, run, with_centre);
    report.centred = true;
    report.far = centred->far();
  }
  LibraryScorer& scorer = centred ? *centred : as_stored;

  // Second pass: scored in the files' order.
  for (std::size_t f = 0; f < files.size(); ++f) {
    Pending& p = pending[f];
    if (!p.error.empty()) {
      on_file(files[f], nullptr, p.error);
      continue;
    }
    try {
      if (!p.kept) {
        p.kept = embed_sounding(run, files[f], options.classify);
        ++report.embedded_twice;
      }
      Classification c = classify_embedded(scorer, *p.kept, options.classify);
      if (report.centred) c.centred_on = "batch";
      p.kept.reset();
      on_file(files[f], &c, "");
    } catch (const Error& e) {  // a file changed or removed between the passes
      on_file(files[f], nullptr, e.what());
    }
  }
  return report;
}

}  // namespace oneshot
