#include "inference/classify.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/number_text.h"
#include "enroll/decision.h"
#include "inference/recording_windows.h"

namespace oneshot {
namespace {

// One window's scores against every class (a row of window_scores).
struct ScoredWindow {
  std::vector<double> scores;
};

Classification classify_source(RunModel& run, LibraryScorer& scorer, const RunModel::SampleSource& source,
                               const std::string& path, const ClassifyOptions& options) {
  Classification out;
  out.path = path;
  const std::size_t n_classes = scorer.n_classes();
  SoundingWindows<ScoredWindow> sounding(options.windowing.rule);
  const std::size_t total = embed_recording(run, source, hop_samples(run, options.windowing), [&](const WindowBatch& b) {
    const std::vector<double> scores = scorer.window_scores(b.embeddings);
    for (std::size_t i = 0; i < b.count(); ++i)
      sounding.add(b.levels_dbfs[i], {{scores.begin() + static_cast<std::ptrdiff_t>(i * n_classes),
                                       scores.begin() + static_cast<std::ptrdiff_t>((i + 1) * n_classes)}});
  });
  out.duration = static_cast<double>(total) / run.sample_rate();
  const std::vector<ScoredWindow> windows = sounding.finish(path);
  out.windows = windows.size();
  std::vector<double> scores;
  scores.reserve(windows.size() * n_classes);
  for (const ScoredWindow& w : windows) scores.insert(scores.end(), w.scores.begin(), w.scores.end());

  for (const ClassDecision& d : rank_classes(scores, windows.size(), n_classes, scorer.positive(), options.window_aggregate))
    out.ranking.push_back({scorer.names()[d.cls], d.score, d.votes, scorer.threshold(d.cls),
                           scorer.confidence(d.cls, d.score), scorer.confidence(d.cls, scorer.threshold(d.cls))});
  // The best negative class, aggregated the same way.
  std::vector<bool> negative = scorer.negative();
  double best_negative = -std::numeric_limits<double>::infinity();
  std::string negative_name;
  if (std::find(negative.begin(), negative.end(), true) != negative.end()) {
    const auto ranked = rank_classes(scores, windows.size(), n_classes, negative, options.window_aggregate);
    best_negative = ranked.front().score;
    negative_name = scorer.names()[ranked.front().cls];
  }
  const RankedClass& best = out.ranking.front();
  if (!(best.score > best.threshold)) {
    out.decision = "unknown";
    // A confidence well above 0.5 can still be below what the threshold needs: said, so that
    // "unknown" beside a high confidence reads as the decision it is.
    const bool calibrated = !std::isnan(best.confidence);
    out.reason = "below threshold: best " + best.name + ", " +
                 (calibrated ? "confidence " + fixed_number(best.confidence, 3) + " below the " +
                                   fixed_number(best.confidence_needed, 3) + " its threshold needs"
                             : "score " + short_number(best.score) + " below its threshold " +
                                   short_number(best.threshold));
  } else if (best_negative >= best.score) {
    out.decision = "unknown";
    out.reason = "matches negative class " + negative_name;
  } else {
    out.decision = best.name;
  }
  return out;
}

}  // namespace

Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options) {
  return classify_source(run, scorer, run.open_audio(path), path, options);
}

Classification classify_samples(RunModel& run, LibraryScorer& scorer, const std::vector<float>& samples,
                                const std::string& path, const ClassifyOptions& options) {
  std::size_t at = 0;
  RunModel::SampleSource source = [&](float* out, std::size_t n) {
    n = std::min(n, samples.size() - at);
    std::copy_n(samples.data() + at, n, out);
    at += n;
    return n;
  };
  return classify_source(run, scorer, source, path, options);
}

}  // namespace oneshot
