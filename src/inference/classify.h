#pragma once
// Classifying a recording against a class library: the windows that hold the
// sound (enroll/windows.h) are embedded and scored against every class
// (LibraryScorer), the window scores aggregated (mean, max or majority vote,
// as MetaAudio does for long clips), the classes ranked, and the best one
// accepted when its score is above its threshold, else "unknown" (open set).
// With an AS-norm library every window score is normalised before the
// window aggregate; each ranked class carries the calibrated confidence of
// its score (LibraryScorer::confidence; NaN without a logistic calibration).
#include <string>
#include <vector>

#include "inference/enrolment.h"
#include "inference/library_scoring.h"

namespace oneshot {

struct ClassifyOptions {
  WindowingOptions windowing;
  std::string window_aggregate = "mean";  // mean, max or vote
};

struct RankedClass {
  std::string name;
  double score = 0;
  std::size_t votes = 0;
  double threshold = 0;
  double confidence = 0;  // in [0, 1]; NaN when the library has no logistic calibration
  // The confidence at `threshold`: the class is accepted when its confidence
  // exceeds this (the logistic is fitted at an even prior, the threshold is
  // set for the library's false-accept rate, so this is often well above
  // 0.5). NaN without a logistic calibration.
  double confidence_needed = 0;
};

struct Classification {
  std::string path;
  std::string decision;             // the best class's name, or "unknown"
  // Why unknown: "below threshold: ..." (naming the best class, its score
  // and threshold, and their confidences) / "matches negative class X".
  std::string reason;
  std::vector<RankedClass> ranking; // positive classes, best first
  std::size_t windows = 0;          // windows scored
  double duration = 0;              // seconds
};

// Reads `path` (Error naming it when unreadable or silent) and classifies it,
// streaming (inference/recording_windows.h): memory does not grow with the
// recording's length.
Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options);
// The same on samples already at the model's rate (`name` names them in errors
// and in Classification::path): in-process callers such as benchmarks.
Classification classify_samples(RunModel& run, LibraryScorer& scorer, const std::vector<float>& samples,
                                const std::string& name, const ClassifyOptions& options);

}  // namespace oneshot
