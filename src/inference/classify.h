#pragma once
// Classifying a recording against a class library: the windows that hold the
// sound (enroll/windows.h) are embedded and scored against every class
// (LibraryScorer), the window scores aggregated (mean, max or majority vote,
// as MetaAudio does for long clips), the classes ranked, and the best one
// accepted when its score is above its threshold, else "unknown" (open set).
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
};

struct Classification {
  std::string path;
  std::string decision;             // the best class's name, or "unknown"
  std::string reason;               // why unknown: "below threshold" / "matches negative class X"
  std::vector<RankedClass> ranking; // positive classes, best first
  std::size_t windows = 0;          // windows scored
  double duration = 0;              // seconds
};

Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options);

}  // namespace oneshot
