#include "inference/classify.h"

#include <algorithm>
#include <limits>

#include "enroll/decision.h"

namespace oneshot {

Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options) {
  Classification out;
  out.path = path;
  const std::vector<float> samples = run.read_audio(path);
  out.duration = static_cast<double>(samples.size()) / run.sample_rate();
  const WindowPlan plan = plan_windows(samples.size(), run.window_samples(), hop_samples(run, options.windowing));
  std::vector<std::size_t> starts;
  for (std::size_t i : sounding_windows(samples, plan, options.windowing.rule, path)) starts.push_back(plan.starts[i]);
  out.windows = starts.size();
  const std::vector<double> scores = scorer.window_scores(run.embed_windows(samples, starts));
  const std::size_t n_classes = scorer.n_classes();

  for (const ClassDecision& d : rank_classes(scores, starts.size(), n_classes, scorer.positive(), options.window_aggregate))
    out.ranking.push_back({scorer.names()[d.cls], d.score, d.votes, scorer.threshold(d.cls)});
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
