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

namespace {

float level_db(double sum, std::size_t count) {
  const double ms = sum / static_cast<double>(count);
  return ms > 0 ? static_cast<float>(10 * std::log10(ms)) : -std::numeric_limits<float>::infinity();
}

std::size_t frame_samples(int sample_rate, double frame_s) {
  if (sample_rate <= 0) throw Error("sounding spans: sample rate " + std::to_string(sample_rate) + " must be positive");
  if (!(std::isfinite(frame_s) && frame_s > 0)) throw Error("sounding spans: frames must be a positive number of seconds");
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(frame_s * sample_rate)));
}

}  // namespace

std::vector<SoundingSpan> sounding_spans(const float* samples, std::size_t n, int sample_rate,
                                         const SoundingSpanRule& rule) {
  rule.validate();
  FrameLevels meter(sample_rate, rule.frame_s);
  meter.push(samples, n);
  meter.finish();
  // Frames start at multiples of the rounded frame length, as the meter cuts them.
  return sounding_spans_of_levels(meter.levels(), 0, meter.levels().size(), meter.frame_seconds(), meter.seconds(),
                                  rule);
}

std::vector<SoundingSpan> sounding_spans_of_levels(const std::vector<float>& levels, std::size_t first,
                                                   std::size_t last, double frame_s, double end_s,
                                                   const SoundingSpanRule& rule) {
  rule.validate();
  if (!(std::isfinite(frame_s) && frame_s > 0)) throw Error("sounding spans: frames must be a positive number of seconds");
  last = std::min(last, levels.size());
  std::vector<SoundingSpan> out;
  if (first >= last) return out;
  double loudest = -std::numeric_limits<double>::infinity();
  for (std::size_t f = first; f < last; ++f) loudest = std::max<double>(loudest, levels[f]);
  for (std::size_t f = first; f < last; ++f) {
    const double level = levels[f];
    if (!(level >= loudest - rule.within_db && level > rule.silence_dbfs)) continue;
    const double on = static_cast<double>(f) * frame_s;
    const double off = std::min(end_s, static_cast<double>(f + 1) * frame_s);
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

FrameLevels::FrameLevels(int sample_rate, double frame_s)
    : sample_rate_(sample_rate), frame_s_(0), frame_(frame_samples(sample_rate, frame_s)) {
  frame_s_ = static_cast<double>(frame_) / sample_rate;
}

void FrameLevels::push(const float* samples, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    sum_ += static_cast<double>(samples[i]) * samples[i];
    if (++in_frame_ == frame_) {
      levels_.push_back(level_db(sum_, frame_));
      sum_ = 0;
      in_frame_ = 0;
    }
  }
  total_ += n;
}

void FrameLevels::finish() {
  if (in_frame_ == 0) return;
  levels_.push_back(level_db(sum_, in_frame_));
  sum_ = 0;
  in_frame_ = 0;
}

std::vector<Event> sounding_parts(const Event& event, const FrameLevels& levels, const SoundingSpanRule& rule) {
  const double frame_s = levels.frame_seconds();
  const auto first = static_cast<std::size_t>(std::max(0.0, std::floor(event.onset / frame_s)));
  const auto last = static_cast<std::size_t>(std::max(0.0, std::ceil(event.offset / frame_s - 1e-9)));
  const auto spans = sounding_spans_of_levels(levels.levels(), first, last, frame_s, levels.seconds(), rule);
  if (spans.empty()) return {event};
  std::vector<Event> out;
  for (const SoundingSpan& span : spans) {
    Event e = event;
    e.onset = std::max(event.onset, span.onset);
    e.offset = std::min(event.offset, span.offset);
    if (e.offset > e.onset) out.push_back(std::move(e));
  }
  if (out.empty()) return {event};
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
