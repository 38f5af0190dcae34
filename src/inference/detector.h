#pragma once
// Detection in long recordings, streaming: samples go in as they are read
// (from a file or a pipe), the window slides by `hop`, every window is scored
// against every class of the library, and each class's score curve becomes
// events (events/event_tracker.h). Memory holds one window of audio and one
// score row per window (an hour at a 0.5 s hop: 7,200 rows), never the recording.
//
// Per window, only the best-scoring positive class is eligible, and only when
// it scores above every negative class: a window holds at most one enrolled
// sound, and enrolled background suppresses it. The other classes' trackers see
// the lowest score for that window.
//
// Boundaries: the score curve says which class sounds and roughly when; the
// onset and offset are then where the sound is, from the recording's frame
// levels inside the event (DetectOptions::sound_boundaries): one window-level
// event of a dog barking three times a second apart becomes three events.
// The rules above (thresholds, merging, minimum duration) apply to the
// window-level event first.
//
// Scores are the library's (AS-normalised for a version-2 library: each
// window's embedding is scored against the cohort once, one score matrix per
// batch). An event's score (the event list's 5th column) is the calibrated
// confidence in [0, 1] of its best window when the library has a logistic
// calibration, else that window's score.
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "events/event.h"
#include "events/best_class_tracker.h"
#include "events/sounding.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"
#include "inference/window_stream.h"

namespace oneshot {

// detect's default minimum event duration as a fraction of the window (1.75 s
// for the default 5 s window), chosen on the user-path benchmark's rule grid
// (bench/bench_user_path --rule-grid; README, "Your own sounds").
inline constexpr double kDefaultMinDurationOfWindow = 0.35;

struct DetectOptions {
  // 0: the model's input length; shorter windows (down to one FFT window) as RunModel::short_windows() says
  double window_s = 0;
  // 0: the default, min(0.5 s, window / 4) but at least one frame hop; a given
  // hop follows hop_samples (inference/enrolment.h): one frame hop to a day
  double hop_s = 0;
  // Seconds (EventRules). NaN: kDefaultMinDurationOfWindow x the window; an
  // event of a few windows is most often a stranger scoring high for a moment.
  double min_duration = std::numeric_limits<double>::quiet_NaN();
  double merge_gap = 0;     // seconds (EventRules)
  double off_threshold_drop = std::numeric_limits<double>::quiet_NaN();  // on - off; NaN: EventRules' default
  std::size_t batch = 16;   // windows embedded together (1 for a live pipe: lower latency)
  // Each event is reported as its sounding parts (events/sounding.h,
  // sounding_parts, under `sounding`): the frames within sounding.within_db
  // of the event's loudest, gaps under sounding.merge_gap_s bridged. false:
  // the window-level span (the sound plus about a window; event_tracker.h).
  bool sound_boundaries = true;
  SoundingSpanRule sounding;
};

class Detector {
 public:
  // Throws oneshot::Error naming --window or --hop when options are out of range.
  Detector(RunModel& run, LibraryScorer& scorer, const DetectOptions& options, std::string filename);

  double window_seconds() const;
  double hop_seconds() const;
  std::size_t window_samples() const { return window_; }
  std::size_t samples_per_hop() const { return hop_; }
  // Embeddings already computed for this recording (its windows of this
  // detector's length at `starts`, complete, unpadded: a first pass such as
  // recording_centre's), used instead of embedding those windows again.
  // `embeddings`: (starts.size(), D).
  void reuse_embeddings(const std::vector<std::size_t>& starts, torch::Tensor embeddings);
  // Feeds samples at the model's rate; returns the events that have ended.
  std::vector<Event> push(const float* samples, std::size_t n);
  // End of the recording: the last (padded) window, then every open event.
  std::vector<Event> finish();

  // The score curve so far: each window's span (s) and per window n_classes scores.
  const std::vector<std::pair<double, double>>& windows() const { return windows_; }
  const std::vector<double>& scores() const { return scores_; }
  const EventRules& rules(std::size_t c) const { return rules_[c]; }
  const std::vector<EventRules>& rules() const { return rules_; }
  double min_duration() const { return min_duration_; }
  double duration() const { return static_cast<double>(stream_->total()) / sample_rate_; }

 private:
  std::vector<Event> score_pending(bool final_batch);
  torch::Tensor embed_pending();  // the pending windows' embeddings, known ones reused
  std::vector<Event> bounded(std::vector<Event> events) const;  // sounding parts, when asked
  RunModel& run_;
  LibraryScorer& scorer_;
  DetectOptions options_;
  std::string filename_;
  int sample_rate_;
  std::size_t window_, hop_, input_;
  double min_duration_ = 0;
  std::unique_ptr<WindowStream> stream_;
  FrameLevels levels_;
  std::vector<float> pending_;      // packed windows (window_ samples each) waiting to be embedded
  std::vector<std::size_t> pending_starts_;
  std::unordered_map<std::size_t, int64_t> known_;  // window start -> row of known_embeddings_
  torch::Tensor known_embeddings_;
  std::vector<EventRules> rules_;
  std::unique_ptr<BestClassTracker> tracker_;
  std::vector<std::pair<double, double>> windows_;
  std::vector<double> scores_;
};

}  // namespace oneshot
