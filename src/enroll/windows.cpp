#include "enroll/windows.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "core/error.h"

namespace oneshot {

WindowPlan plan_windows(std::size_t n_samples, std::size_t window, std::size_t hop) {
  if (window == 0 || hop == 0) throw Error("window and hop must be positive");
  WindowPlan plan{window, hop, {}};
  plan.starts.push_back(0);
  // Until a window reaches the end: the last one may be padded. None starts at
  // or after the end (a hop longer than the window skips the gaps' samples).
  while (plan.starts.back() + window < n_samples && plan.starts.back() + hop < n_samples)
    plan.starts.push_back(plan.starts.back() + hop);
  return plan;
}

void copy_window(const std::vector<float>& samples, std::size_t start, std::size_t window, float* out) {
  const std::size_t n = start < samples.size() ? std::min(window, samples.size() - start) : 0;
  if (n) std::copy_n(samples.data() + start, n, out);
  std::fill(out + n, out + window, 0.0f);
}

double level_dbfs(const float* samples, std::size_t n) {
  if (n == 0) return -std::numeric_limits<double>::infinity();
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(samples[i]) * samples[i];
  const double rms = std::sqrt(sum / static_cast<double>(n));
  return rms > 0 ? 20.0 * std::log10(rms) : -std::numeric_limits<double>::infinity();
}

double window_level_dbfs(const std::vector<float>& samples, std::size_t start, std::size_t window) {
  const std::size_t end = std::min(samples.size(), start + window);
  return start >= end ? -std::numeric_limits<double>::infinity() : level_dbfs(samples.data() + start, end - start);
}

void require_sound(double loudest, const SoundingRule& rule, const std::string& name) {
  if (loudest >= rule.silence_dbfs) return;
  char buf[160];
  if (std::isfinite(loudest))
    std::snprintf(buf, sizeof buf, "is silence (loudest window %.1f dBFS, below %.0f dBFS)", loudest,
                  rule.silence_dbfs);
  else
    std::snprintf(buf, sizeof buf, "is silence (every sample is zero)");
  throw Error(name + ": " + buf);
}

std::vector<std::size_t> sounding_windows(const std::vector<float>& samples, const WindowPlan& plan,
                                          const SoundingRule& rule, const std::string& name) {
  std::vector<double> level(plan.starts.size());
  for (std::size_t i = 0; i < level.size(); ++i) level[i] = window_level_dbfs(samples, plan.starts[i], plan.window);
  const double loudest = level.empty() ? -std::numeric_limits<double>::infinity()
                                       : *std::max_element(level.begin(), level.end());
  require_sound(loudest, rule, name);
  std::vector<std::size_t> keep;
  for (std::size_t i = 0; i < level.size(); ++i)
    if (level[i] >= loudest - rule.keep_db) keep.push_back(i);
  return keep;
}

Segment parse_segment(const std::string& text) {
  const auto colon = text.find(':');
  auto bad = [&](const std::string& why) { return Error("--segment " + text + ": " + why + " (START:END in seconds)"); };
  if (colon == std::string::npos) throw bad("no ':'");
  auto number = [&](const std::string& s, double fallback) {
    if (s.empty()) return fallback;
    // Decimal seconds only: strtod also reads hexadecimal (0x10 = 16) and skips leading blanks.
    if (s.find_first_not_of("0123456789.eE+-") != std::string::npos) throw bad("\"" + s + "\" is not a number");
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(v)) throw bad("\"" + s + "\" is not a number");
    return v;
  };
  Segment seg{number(text.substr(0, colon), 0.0), number(text.substr(colon + 1), -1.0)};
  if (seg.start < 0) throw bad("START is negative");
  // A given END must be after START (a negative one too: -1 is only the "to the end" of an empty END).
  if (colon + 1 < text.size() && seg.end <= seg.start) throw bad("END is not after START");
  return seg;
}

namespace {
// Seconds to the millisecond ("99.000"); past a billion seconds (no recording)
// in six significant digits ("1e+308"), not the 309 digits %.3f writes.
std::string seconds_text(double s) {
  char buf[48];
  std::snprintf(buf, sizeof buf, std::fabs(s) < 1e9 ? "%.3f" : "%.6g", s);
  return buf;
}
}  // namespace

std::string format_segment(const Segment& segment) {
  return seconds_text(segment.start) + ":" + (segment.end < 0 ? std::string() : seconds_text(segment.end));
}

void check_segment_within(const Segment& segment, double duration_s, const std::string& name) {
  if (segment.start > 0 && segment.start >= duration_s)
    throw Error(name + ": segment " + format_segment(segment) + " starts at " + seconds_text(segment.start) +
                " s, after the end of the recording (" + seconds_text(duration_s) + " s)");
  constexpr double kTolerance = 0.05;  // seconds
  if (segment.end >= 0 && segment.end > duration_s + kTolerance)
    throw Error(name + ": segment " + format_segment(segment) + " ends at " + seconds_text(segment.end) +
                " s, after the end of the recording (" + seconds_text(duration_s) + " s): give an END of at most " +
                seconds_text(duration_s));
}

}  // namespace oneshot
