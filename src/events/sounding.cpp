#include "events/sounding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace oneshot {

void SoundingSpanRule::validate() const {
  auto require = [](bool ok, const char* field, const char* why) {
    if (!ok) throw Error(std::string("sounding-span rule: ") + field + " " + why);
  };
  require(std::isfinite(frame_s) && frame_s > 0, "frame_s", "must be a positive number of seconds");
  require(std::isfinite(within_db) && within_db >= 0, "within_db", "must be >= 0 dB");
  require(std::isfinite(silence_dbfs), "silence_dbfs", "must be a finite level in dBFS");
  require(std::isfinite(merge_gap_s) && merge_gap_s >= 0, "merge_gap_s", "must be >= 0 s");
  require(std::isfinite(min_duration_s) && min_duration_s >= 0, "min_duration_s", "must be >= 0 s");
}

std::vector<SoundingSpan> sounding_spans(const float* samples, std::size_t n, int sample_rate,
                                         const SoundingSpanRule& rule) {
  if (sample_rate <= 0) throw Error("sounding spans: sample rate " + std::to_string(sample_rate) + " must be positive");
  rule.validate();
  std::vector<SoundingSpan> out;
  if (n == 0) return out;
  const std::size_t frame = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(rule.frame_s * sample_rate)));
  const std::size_t n_frames = (n + frame - 1) / frame;
  std::vector<double> level(n_frames);
  double loudest = -std::numeric_limits<double>::infinity();
  for (std::size_t f = 0; f < n_frames; ++f) {
    const std::size_t lo = f * frame, hi = std::min(n, lo + frame);
    double sum = 0;
    for (std::size_t i = lo; i < hi; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    const double ms = sum / static_cast<double>(hi - lo);
    level[f] = ms > 0 ? 10 * std::log10(ms) : -std::numeric_limits<double>::infinity();
    loudest = std::max(loudest, level[f]);
  }
  const double sr = sample_rate;
  for (std::size_t f = 0; f < n_frames; ++f) {
    if (!(level[f] >= loudest - rule.within_db && level[f] > rule.silence_dbfs)) continue;
    const double on = static_cast<double>(f * frame) / sr;
    const double off = static_cast<double>(std::min(n, (f + 1) * frame)) / sr;
    // Touching frames are one span; a gap shorter than merge_gap_s is bridged
    // (one of exactly merge_gap_s is kept).
    const double gap = out.empty() ? 0 : on - out.back().offset;
    if (!out.empty() && (gap < 1e-12 || gap < rule.merge_gap_s - 1e-12)) out.back().offset = off;
    else out.push_back({on, off});
  }
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](const SoundingSpan& s) { return s.offset - s.onset < rule.min_duration_s - 1e-12; }),
            out.end());
  return out;
}

double sounding_power(const float* samples, std::size_t n, int sample_rate, const std::vector<SoundingSpan>& spans) {
  if (sample_rate <= 0) throw Error("sounding power: sample rate " + std::to_string(sample_rate) + " must be positive");
  double sum = 0;
  std::size_t count = 0;
  for (const SoundingSpan& s : spans) {
    const auto lo = std::min(n, static_cast<std::size_t>(std::llround(std::max(0.0, s.onset) * sample_rate)));
    const auto hi = std::min(n, static_cast<std::size_t>(std::llround(std::max(0.0, s.offset) * sample_rate)));
    for (std::size_t i = lo; i < hi; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    count += hi > lo ? hi - lo : 0;
  }
  return count ? sum / static_cast<double>(count) : 0.0;
}

}  // namespace oneshot
