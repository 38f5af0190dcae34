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
#include <cstddef>
#include <utility>
#include <vector>

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

// Mean square of samples[lo, hi) over the given spans (seconds): the power of
// the sounding part, for setting a signal-to-noise ratio. 0 when the spans
// hold no samples.
double sounding_power(const float* samples, std::size_t n, int sample_rate, const std::vector<SoundingSpan>& spans);

}  // namespace oneshot
