#pragma once
// The reference events of a clip from its sounding part, model-free: where in
// a recording of one sound (an ESC-50 clip: a dog barking, then digital
// silence or room noise) the sound is. The benchmark of the user path
// (bench/bench_user_path.cpp) builds long recordings from such clips end to
// end and scores detections against these spans.
//
// The rule (state it with any figure made from it):
//  1. frames: non-overlapping frames of `frame_s` seconds (the last one may be
//     shorter); each frame's level is its RMS in dB re full scale,
//     20 log10(sqrt(mean(x^2))) (-inf for digital silence);
//  2. a frame is sounding when its level is at least the loudest frame's
//     level - `within_db` AND above `silence_dbfs` (so a clip of
//     near-silence has no event);
//  3. sounding frames closer than `merge_gap_s` (the silent stretch between
//     them, in seconds) are merged into one span: a dog's barks 0.3 s apart
//     are one event;
//  4. spans shorter than `min_duration_s` are dropped.
// Each span runs from the start of its first sounding frame to the end of its
// last one (clamped to the clip), in seconds from the start of the samples.
//
// `detect` uses the same rule to report where in a detected event the sound
// is (sounding_parts): a window-level event spans the sound plus about a
// window, so a short sound would otherwise never match its annotation
// (events/event_tracker.h, "Time span").
#include <cstddef>
#include <utility>
#include <vector>
#include "events/event.h"

namespace oneshot {

struct SoundingSpanRule {
  double frame_s = 0.02;         // 20 ms frames
  double within_db = 20.0;       // frames within 20 dB of the loudest
  double silence_dbfs = -60.0;   // and above -60 dBFS
  double merge_gap_s = 0.5;      // gaps shorter than this are bridged
  double min_duration_s = 0.0;   // spans shorter than this are dropped

  // Throws oneshot::Error naming the field when a value is out of range
  // (frame_s > 0, within_db >= 0, merge_gap_s >= 0, min_duration_s >= 0, all finite).
  void validate() const;
};

struct SoundingSpan {
  double onset = 0;   // seconds
  double offset = 0;  // seconds, > onset
};

// The sounding spans of `samples` at `sample_rate` Hz under `rule`, in time
// order; empty when no frame passes (silence, or an empty clip). Throws
// oneshot::Error for sample_rate <= 0 or an invalid rule.
std::vector<SoundingSpan> sounding_spans(const float* samples, std::size_t n, int sample_rate,
                                         const SoundingSpanRule& rule = {});
inline std::vector<SoundingSpan> sounding_spans(const std::vector<float>& samples, int sample_rate,
                                                const SoundingSpanRule& rule = {}) {
  return sounding_spans(samples.data(), samples.size(), sample_rate, rule);
}

// The sounding spans of frame levels already measured: levels[f] is frame
// f's RMS level in dB re full scale (-inf for digital silence), frames of
// frame_s seconds from time 0, the last one ending at `end_s` (clamped: a
// shorter last frame); rule.frame_s is not used. Only frames [first, last)
// are looked at, and "the loudest" is theirs. Throws oneshot::Error for an
// invalid rule or frame_s <= 0.
std::vector<SoundingSpan> sounding_spans_of_levels(const std::vector<float>& levels, std::size_t first,
                                                   std::size_t last, double frame_s, double end_s,
                                                   const SoundingSpanRule& rule);

// Frame levels of a stream, as sounding_spans measures them: push samples in
// any blocks; levels() holds one RMS level (dB re full scale) per complete
// frame of `frame_s` seconds, and finish() adds the last partial frame. Four
// bytes a frame (12 hours at 20 ms: 8.6 MB).
class FrameLevels {
 public:
  // Throws oneshot::Error for sample_rate <= 0 or frame_s not > 0.
  FrameLevels(int sample_rate, double frame_s);
  void push(const float* samples, std::size_t n);
  void finish();
  const std::vector<float>& levels() const { return levels_; }
  double frame_seconds() const { return frame_s_; }
  double seconds() const { return static_cast<double>(total_) / sample_rate_; }  // samples pushed

 private:
  int sample_rate_;
  double frame_s_;
  std::size_t frame_, in_frame_ = 0, total_ = 0;
  double sum_ = 0;
  std::vector<float> levels_;
};

// The sounding parts of a detected event: the frames of `levels` that
// overlap [event.onset, event.offset), under `rule` (the loudest frame is
// theirs), each span (clamped to the event) an event with the event's
// filename, label and score. The event itself when none of its frames sounds
// (all below rule.silence_dbfs) or none has been measured.
std::vector<Event> sounding_parts(const Event& event, const FrameLevels& levels, const SoundingSpanRule& rule);

// Mean square of samples[lo, hi) over the given spans (seconds): the power of
// the sounding part, for setting a signal-to-noise ratio. 0 when the spans
// hold no samples.
double sounding_power(const float* samples, std::size_t n, int sample_rate, const std::vector<SoundingSpan>& spans);

}  // namespace oneshot
