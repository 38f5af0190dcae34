#include "inference/classify.h"

#include <algorithm>
#include <limits>

#include "enroll/decision.h"

namespace oneshot {

Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options) {
  return classify_samples(run, scorer, run.read_audio(path), path, options);
}

Classification classify_samples(RunModel& run, LibraryScorer& scorer, const std::vector<float>& samples,
                                const std::string& path, const ClassifyOptions& options) {
  Classification out;
  out.path = path;
  out.duration = static_cast<double>(samples.size()) / run.sample_rate();
  const std::vector<std::size_t> starts = classify_window_starts(run, samples, options.windowing, path);
  out.windows = starts.size();
  const std::vector<double> scores = scorer.window_scores(run.embed_windows(samples, starts));
  const std::size_t n_classes = scorer.n_classes();

  for (const ClassDecision& d : rank_classes(scores, starts.size(), n_classes, scorer.positive(), options.window_aggregate))
    out.ranking.push_back({scorer.names()[d.cls], d.score, d.votes, scorer.threshold(d.cls), scorer.confidence(d.score)});
  // The best negative class, aggregated the same way.
  std::vector<bool> negative = scorer.negative();
  double best_negative = -std::numeric_limits<double>::infinity();
  std::string negative_name;
  if (std::find(negative.begin(), negative.end(), true) != negative.end()) {
    const auto ranked = rank_classes(scores, starts.size(), n_classes, negative, options.window_aggregate);
    best_negative = ranked.front().score;
    negative_name = scorer.names()[ranked.front().cls];
  }
  const RankedClass& best = out.ranking.front();
  if (!(best.score > best.threshold)) {
    out.decision = "unknown";
    out.reason = "below threshold";
  } else if (best_negative >= best.score) {
    out.decision = "unknown";
    out.reason = "matches negative class " + negative_name;
  } else {
    out.decision = best.name;
  }
  return out;
}

}  // namespace oneshot
