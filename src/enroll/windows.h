#pragma once
// Cutting a recording into the model's input windows, and the rule that picks
// the windows that hold the sound. Model-free.
//
// Windows: starts 0, hop, 2*hop, ... until a window reaches the end of the
// recording; that last one may run past the end and is zero-padded, as
// training pads short clips (audio/decode.h fit_length). A recording shorter
// than one window is one padded window. No window starts at or after the end
// (with a hop longer than the window, the samples between windows are in none).
//
// Sounding windows (enrolment and classify): each window's level is its RMS in
// dB re full scale over the samples it holds (padding excluded). A recording
// whose loudest window is below `silence_dbfs` (-60 dBFS) is silence: an
// Error. Otherwise the windows within `keep_db` (6 dB) of the loudest are
// kept: with a 1 s doorbell in a 10 s recording, the windows that hold all of
// it (they are the loudest) are enrolled and the ones that hold noise only are
// not; for a steady sound (rain, an engine) every window is kept.
#include <cstddef>
#include <string>
#include <vector>

namespace oneshot {

struct WindowPlan {
  std::size_t window = 0;  // samples per window (the model's input length)
  std::size_t hop = 0;     // samples between window starts
  std::vector<std::size_t> starts;
};

// Throws oneshot::Error when window or hop is 0.
WindowPlan plan_windows(std::size_t n_samples, std::size_t window, std::size_t hop);

// Copies window `start` of `samples` into `out` (window samples), zero-padded past the end.
void copy_window(const std::vector<float>& samples, std::size_t start, std::size_t window, float* out);

// RMS level in dB re full scale of samples[start, min(start + window, size)); -inf for digital silence.
double window_level_dbfs(const std::vector<float>& samples, std::size_t start, std::size_t window);

struct SoundingRule {
  double silence_dbfs = -60.0;
  double keep_db = 6.0;
};

// RMS level in dB re full scale of n samples at `samples`; -inf for digital silence or n = 0.
double level_dbfs(const float* samples, std::size_t n);

// The silence half of the rule: Error "NAME: is silence (...)" when the
// loudest window's level is below rule.silence_dbfs (or there is none).
void require_sound(double loudest_dbfs, const SoundingRule& rule, const std::string& name);

// Indices into plan.starts of the windows that hold the sound. Throws
// oneshot::Error "NAME: is silence (loudest window -72.3 dBFS, below -60 dBFS)".
std::vector<std::size_t> sounding_windows(const std::vector<float>& samples, const WindowPlan& plan,
                                          const SoundingRule& rule, const std::string& name);

// Parses "START:END" in seconds (either may be empty: from the start / to the
// end; END > START >= 0). Throws oneshot::Error naming the text.
struct Segment {
  double start = 0;
  double end = -1;  // -1: to the end
};
Segment parse_segment(const std::string& text);

// "START:END" of `segment` in seconds, to the millisecond ("1.000:99.000"; "1.000:" to the end).
std::string format_segment(const Segment& segment);
// A segment must lie within the recording it is cut from: Error "NAME:
// segment S:E starts/ends after the end of the recording (D s) ..." when it
// starts at or after `duration_s`, or ends more than 50 ms after it (a
// table's end rounded up, or the few milliseconds by which decoders of a
// lossy format disagree on its length, are not refused).
void check_segment_within(const Segment& segment, double duration_s, const std::string& name);

}  // namespace oneshot
