#include "inference/detector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "inference/enrolment.h"

namespace oneshot {

namespace {

// Events as reported. The score column: the calibrated confidence in [0, 1]
// of the best window's score when the library has a logistic calibration
// (sigmoid is increasing, so it is also the best window's confidence), else
// that score. Times to the microsecond: they are products and sums of frame
// and hop lengths (764 x 0.02 s = 15.280000000000001 s), and a microsecond is
// finer than the sample period of any rate the reader takes (768 kHz: 1.3 us).
std::vector<Event> as_reported(std::vector<Event> events, const LibraryScorer& scorer) {
  auto to_microsecond = [](double t) { return std::round(t * 1e6) / 1e6; };
  for (Event& e : events) {
    e.onset = to_microsecond(e.onset);
    e.offset = to_microsecond(e.offset);
    if (!scorer.has_confidence()) continue;
    const auto& names = scorer.names();
    const auto c = static_cast<std::size_t>(std::find(names.begin(), names.end(), e.label) - names.begin());
    if (c < names.size()) e.score = scorer.confidence(c, e.score);
  }
  return events;
}

}  // namespace

Detector::Detector(RunModel& run, LibraryScorer& scorer, const DetectOptions& options, std::string filename)
    : run_(run),
      scorer_(scorer),
      options_(options),
      filename_(std::move(filename)),
      sample_rate_(run.sample_rate()),
      levels_(run.sample_rate(), options.sounding.frame_s) {
  options.sounding.validate();
  input_ = run.window_samples();
  if (!std::isfinite(options.window_s) || options.window_s < 0)
    throw Error("--window must be a positive number of seconds");
  // Compared in seconds first: a huge --window would overflow the sample count.
  if (options.window_s > 0 && options.window_s * sample_rate_ > static_cast<double>(input_) + 0.5) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "--window %g s is longer than the model's input (%g s)", options.window_s,
                  run.window_seconds());
    throw Error(buf);
  }
  window_ = options.window_s > 0 ? static_cast<std::size_t>(std::llround(options.window_s * sample_rate_)) : input_;
  // A window shorter than the model's input is embedded padded or at its own
  // length (RunModel::short_windows()); below one FFT window it holds no frame.
  const auto n_fft = static_cast<std::size_t>(std::max(1, run.config().features.n_fft));
  if (window_ < n_fft) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "--window %g s is shorter than one FFT window of the model's input (%g s)",
                  options.window_s, static_cast<double>(n_fft) / sample_rate_);
    throw Error(buf);
  }
  // The hop: classify's and enroll's rule (hop_samples: at least one frame hop,
  // at most a day). The default, min(0.5 s, window / 4), is raised to one
  // frame hop for a window of a few frames: a hop the user did not give is
  // never the error.
  const double window_s = static_cast<double>(window_) / sample_rate_;
  const double frame_s = static_cast<double>(std::max(1, run.config().features.hop_length)) / sample_rate_;
  const double hop_s = options.hop_s != 0 ? options.hop_s : std::max(frame_s, std::min(0.5, window_s / 4));
  hop_ = hop_samples(run, WindowingOptions{hop_s, {}});
  if (options_.batch == 0) options_.batch = 1;
  stream_ = std::make_unique<WindowStream>(window_, hop_);
  min_duration_ = std::isnan(options.min_duration) ? kDefaultMinDurationOfWindow * window_s : options.min_duration;
  for (std::size_t c = 0; c < scorer.n_classes(); ++c) {
    EventRules rules;
    if (scorer.negative()[c]) {
      rules.on_threshold = std::numeric_limits<double>::max();  // negatives never make events
    } else {
      rules.on_threshold = scorer.threshold(c);
      rules.floor = scorer.floor();
      if (std::isfinite(options.off_threshold_drop)) rules.off_threshold = rules.on_threshold - options.off_threshold_drop;
    }
    rules.min_duration = min_duration_;
    rules.merge_gap = options.merge_gap;
    rules_.push_back(rules);
  }
  tracker_ = std::make_unique<BestClassTracker>(scorer.names(), scorer.negative(), rules_, filename_);
}

void Detector::reuse_embeddings(const std::vector<std::size_t>& starts, torch::Tensor embeddings) {
  if (embeddings.dim() != 2 || embeddings.size(0) != static_cast<int64_t>(starts.size()))
    throw Error("detector: " + std::to_string(starts.size()) + " window starts for embeddings of shape " +
                std::to_string(embeddings.dim() == 2 ? embeddings.size(0) : -1) + " rows");
  known_.clear();
  for (std::size_t i = 0; i < starts.size(); ++i) known_[starts[i]] = static_cast<int64_t>(i);
  known_embeddings_ = std::move(embeddings);
}

double Detector::window_seconds() const { return static_cast<double>(window_) / sample_rate_; }
double Detector::hop_seconds() const { return static_cast<double>(hop_) / sample_rate_; }

std::vector<Event> Detector::push(const float* samples, std::size_t n) {
  std::vector<Event> out;
  stream_->push(samples, n);
  if (options_.sound_boundaries) levels_.push(samples, n);
  while (const auto start = stream_->pop(pending_)) {
    pending_starts_.push_back(*start);
    if (pending_starts_.size() >= options_.batch) {
      auto events = score_pending(false);
      out.insert(out.end(), events.begin(), events.end());
    }
  }
  return as_reported(bounded(std::move(out)), scorer_);
}

std::vector<Event> Detector::bounded(std::vector<Event> events) const {
  if (!options_.sound_boundaries) return events;
  std::vector<Event> out;
  for (const Event& e : events) {
    auto parts = sounding_parts(e, levels_, options_.sounding);
    out.insert(out.end(), std::make_move_iterator(parts.begin()), std::make_move_iterator(parts.end()));
  }
  return out;
}

std::vector<Event> Detector::finish() {
  // The last window, zero-padded, when the audio after the last full window
  // would otherwise go unscored (or when the recording is shorter than one window).
  if (const auto start = stream_->pop_last(pending_)) pending_starts_.push_back(*start);
  std::vector<Event> out = score_pending(true);
  auto open = tracker_->finish();
  out.insert(out.end(), open.begin(), open.end());
  if (options_.sound_boundaries) levels_.finish();
  out = bounded(std::move(out));
  std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.onset < b.onset; });
  return as_reported(std::move(out), scorer_);
}

torch::Tensor Detector::embed_pending() {
  // The windows a first pass embedded are taken from it; the others are
  // packed together and embedded here.
  std::vector<int64_t> rows(pending_starts_.size(), -1), fresh;
  for (std::size_t w = 0; w < pending_starts_.size(); ++w) {
    if (const auto it = known_.find(pending_starts_[w]); it != known_.end()) rows[w] = it->second;
    else fresh.push_back(static_cast<int64_t>(w));
  }
  if (fresh.size() == pending_starts_.size()) return run_.embed_packed(pending_.data(), pending_starts_.size(), window_);
  torch::Tensor out = torch::empty({static_cast<int64_t>(rows.size()), known_embeddings_.size(1)},
                                   known_embeddings_.options());
  if (!fresh.empty()) {
    std::vector<float> packed;
    packed.reserve(fresh.size() * window_);
    for (const int64_t w : fresh) {
      const auto from = pending_.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(w) * window_);
      packed.insert(packed.end(), from, from + static_cast<std::ptrdiff_t>(window_));
    }
    out.index_copy_(0, torch::tensor(fresh, torch::kLong),
                    run_.embed_packed(packed.data(), fresh.size(), window_).to(known_embeddings_.dtype()));
  }
  for (std::size_t w = 0; w < rows.size(); ++w)
    if (rows[w] >= 0) out[static_cast<int64_t>(w)].copy_(known_embeddings_[rows[w]]);
  return out;
}

std::vector<Event> Detector::score_pending(bool final_batch) {
  std::vector<Event> out;
  if (pending_starts_.empty()) return out;
  // Windows of window_ samples; shorter than the model's input, RunModel pads
  // them or embeds them at their own length (RunModel::short_windows()).
  const torch::Tensor embeddings = embed_pending();
  const std::vector<double> scores = scorer_.window_scores(embeddings);
  const std::size_t n_classes = scorer_.n_classes();
  const double duration = static_cast<double>(stream_->total()) / sample_rate_;
  for (std::size_t w = 0; w < pending_starts_.size(); ++w) {
    const double* row = scores.data() + w * n_classes;
    const double start = static_cast<double>(pending_starts_[w]) / sample_rate_;
    // The window's span, clamped to the recording (a padded last window).
    const double end = std::min(start + window_seconds(), final_batch ? duration : start + window_seconds());
    windows_.emplace_back(start, end);
    scores_.insert(scores_.end(), row, row + n_classes);
    auto events = tracker_->push(start, end, std::span<const double>(row, n_classes));
    out.insert(out.end(), events.begin(), events.end());
  }
  pending_.clear();
  pending_starts_.clear();
  return out;
}

}  // namespace oneshot
