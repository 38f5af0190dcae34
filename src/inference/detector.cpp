#include "inference/detector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"

namespace oneshot {

namespace {

// An event's score column: the calibrated confidence in [0, 1] of its best
// window's score when the library has a logistic calibration (sigmoid is
// increasing, so it is also the best window's confidence), else that score.
std::vector<Event> with_confidence(std::vector<Event> events, const LibraryScorer& scorer) {
  if (scorer.has_confidence())
    for (Event& e : events) e.score = scorer.confidence(e.score);
  return events;
}

}  // namespace

Detector::Detector(RunModel& run, LibraryScorer& scorer, const DetectOptions& options, std::string filename)
    : run_(run), scorer_(scorer), options_(options), filename_(std::move(filename)), sample_rate_(run.sample_rate()) {
  input_ = run.window_samples();
  if (!std::isfinite(options.window_s) || !std::isfinite(options.hop_s))
    throw Error("--window and --hop must be finite numbers of seconds");
  if (options.window_s < 0 || options.hop_s < 0) throw Error("--window and --hop must not be negative");
  // Beyond this a sample count overflows; no recording is that long anyway.
  if (options.hop_s * sample_rate_ > 1e15) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "--hop %g s is too long", options.hop_s);
    throw Error(buf);
  }
  window_ = options.window_s > 0 ? static_cast<std::size_t>(std::llround(options.window_s * sample_rate_)) : input_;
  if (window_ == 0) throw Error("--window is shorter than one sample");
  if (window_ > input_) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "--window %.3f s is longer than the model's input (%.3f s)", options.window_s,
                  run.window_seconds());
    throw Error(buf);
  }
  const double window_s = static_cast<double>(window_) / sample_rate_;
  const double hop_s = options.hop_s > 0 ? options.hop_s : std::min(0.5, window_s / 4);
  hop_ = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(hop_s * sample_rate_)));
  // Below one STFT frame a window or hop adds no information, only time (a
  // 2.5 ms hop embeds 24,000 windows a minute).
  const auto frame = static_cast<std::size_t>(run.config().features.hop_length);
  if (window_ < static_cast<std::size_t>(run.config().features.n_fft) || hop_ < frame) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "--window must be at least one FFT window (%.4f s) and --hop at least one frame hop (%.4f s)",
                  static_cast<double>(run.config().features.n_fft) / sample_rate_,
                  static_cast<double>(frame) / sample_rate_);
    throw Error(buf);
  }
  if (options_.batch == 0) options_.batch = 1;
  stream_ = std::make_unique<WindowStream>(window_, hop_);
  for (std::size_t c = 0; c < scorer.n_classes(); ++c) {
    EventRules rules;
    if (!scorer.negative()[c]) {
      rules.on_threshold = scorer.threshold(c);
      rules.floor = scorer.floor();
      if (std::isfinite(options.off_threshold_drop)) rules.off_threshold = rules.on_threshold - options.off_threshold_drop;
    } else {
      rules.on_threshold = std::numeric_limits<double>::max();  // negatives never make events
    }
    rules.min_duration = options.min_duration;
    rules.merge_gap = options.merge_gap;
    rules.validate();
    rules_.push_back(rules);
    trackers_.emplace_back(scorer.names()[c], rules, filename_);
  }
}

double Detector::window_seconds() const { return static_cast<double>(window_) / sample_rate_; }
double Detector::hop_seconds() const { return static_cast<double>(hop_) / sample_rate_; }

std::vector<Event> Detector::push(const float* samples, std::size_t n) {
  std::vector<Event> out;
  stream_->push(samples, n);
  while (const auto start = stream_->pop(pending_)) {
    pending_starts_.push_back(*start);
    if (pending_starts_.size() >= options_.batch) {
      auto events = score_pending(false);
      out.insert(out.end(), events.begin(), events.end());
    }
  }
  return with_confidence(std::move(out), scorer_);
}

std::vector<Event> Detector::finish() {
  // The last window, zero-padded, when the audio after the last full window
  // would otherwise go unscored (or when the recording is shorter than one window).
  if (const auto start = stream_->pop_last(pending_)) pending_starts_.push_back(*start);
  std::vector<Event> out = score_pending(true);
  for (auto& tracker : trackers_) {
    auto events = tracker.finish();
    out.insert(out.end(), events.begin(), events.end());
  }
  std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.onset < b.onset; });
  return with_confidence(std::move(out), scorer_);
}

std::vector<Event> Detector::score_pending(bool final_batch) {
  std::vector<Event> out;
  if (pending_starts_.empty()) return out;
  // Windows of window_ samples; shorter than the model's input, RunModel pads
  // them or embeds them at their own length (RunModel::short_windows()).
  const torch::Tensor embeddings = run_.embed_packed(pending_.data(), pending_starts_.size(), window_);
  const std::vector<double> scores = scorer_.window_scores(embeddings);
  const std::size_t n_classes = scorer_.n_classes();
  const double duration = static_cast<double>(stream_->total()) / sample_rate_;
  for (std::size_t w = 0; w < pending_starts_.size(); ++w) {
    const double* row = scores.data() + w * n_classes;
    const double start = static_cast<double>(pending_starts_[w]) / sample_rate_;
    // The window's span, clamped to the recording (a padded last window).
    const double end = std::min(start + window_seconds(), final_batch ? duration : start + window_seconds());
    std::size_t best = n_classes;
    double best_negative = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < n_classes; ++c) {
      if (scorer_.negative()[c]) best_negative = std::max(best_negative, row[c]);
      else if (best == n_classes || row[c] > row[best]) best = c;
    }
    windows_.emplace_back(start, end);
    scores_.insert(scores_.end(), row, row + n_classes);
    for (std::size_t c = 0; c < n_classes; ++c) {
      const bool eligible = c == best && row[c] > best_negative;
      const double s = eligible ? row[c] : std::numeric_limits<double>::lowest();
      auto events = trackers_[c].push(start, end, s);
      out.insert(out.end(), events.begin(), events.end());
    }
  }
  pending_.clear();
  pending_starts_.clear();
  return out;
}

}  // namespace oneshot
