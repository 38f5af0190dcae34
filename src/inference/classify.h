#pragma once
// Classifying a recording against a class library: the windows that hold the
// sound (enroll/windows.h) are embedded and scored against every class
// (LibraryScorer), the window scores aggregated (mean, max or majority vote,
// as MetaAudio does for long clips), the classes ranked, and the best one
// accepted when its score is above its threshold, else "unknown" (open set).
// With an AS-norm library every window score is normalised before the
// window aggregate; each ranked class carries the calibrated confidence of
// its score (LibraryScorer::confidence; NaN without a logistic calibration).
#include <torch/torch.h>

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
  // What the scores were centred on: "" as the library stores them (AS-norm
  // against the training clips, or raw), "domain" (the library's, enroll
  // --domain), "batch" (the files classified together, classify_batch.h).
  std::string centred_on;
};

// A recording's sounding windows embedded as classify cuts them, before any
// score: classifying is embed_sounding then classify_embedded, so many files
// can be embedded once and scored after (classify centred on its batch,
// inference/classify_batch.h).
struct SoundingEmbeddings {
  std::string path;
  double duration = 0;    // seconds
  torch::Tensor windows;  // (W, D), W >= 1: the sounding windows as the run embeds them, in order
};

// Reads `path` streaming (inference/recording_windows.h: one block of audio
// and one batch of windows at a time) and keeps the embeddings of its
// sounding windows (enroll/windows.h; about 2 KB a window of the default
// model, those within 6 dB of the loudest). Error naming the file when it is
// unreadable or silent.
SoundingEmbeddings embed_sounding(RunModel& run, const std::string& path, const ClassifyOptions& options);
// Scores them against every class and decides (the window aggregate, the
// threshold, the negatives).
Classification classify_embedded(LibraryScorer& scorer, const SoundingEmbeddings& recording,
                                 const ClassifyOptions& options);

// embed_sounding then classify_embedded.
Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options);

}  // namespace oneshot
