#include "inference/classify.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/number_text.h"
#include "enroll/decision.h"
#include "inference/recording_windows.h"

namespace oneshot {
namespace {

constexpr std::size_t kScoredSlice = 256;  // windows scored at once

}  // namespace

SoundingEmbeddings embed_sounding(RunModel& run, const std::string& path, const ClassifyOptions& options) {
  SoundingEmbeddings out;
  out.path = path;
  SoundingRows sounding =
      embed_sounding_rows(run, run.open_audio(path), hop_samples(run, options.windowing), options.windowing.rule);
  if (sounding.rows.empty()) require_sound(sounding.loudest_dbfs, options.windowing.rule, path);
  out.duration = static_cast<double>(sounding.samples) / run.sample_rate();
  std::vector<std::vector<float>>& rows = sounding.rows;
  const auto dim = static_cast<std::int64_t>(rows.front().size());
  out.windows = torch::empty({static_cast<std::int64_t>(rows.size()), dim}, torch::kFloat);
  float* dst = out.windows.data_ptr<float>();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy(rows[i].begin(), rows[i].end(), dst + i * static_cast<std::size_t>(dim));
    std::vector<float>().swap(rows[i]);  // freed as copied: the peak stays near one copy
  }
  return out;
}

Classification classify_embedded(LibraryScorer& scorer, const SoundingEmbeddings& recording,
                                 const ClassifyOptions& options) {
  Classification out;
  out.path = recording.path;
  out.duration = recording.duration;
  if (scorer.domain_centred()) out.centred_on = "domain";
  const std::size_t n_classes = scorer.n_classes();
  out.windows = static_cast<std::size_t>(recording.windows.size(0));
  const std::size_t n_windows = out.windows;
  // In slices, so a long steady recording's score matrices (against the
  // AS-norm cohort too) stay a slice's size.
  std::vector<double> scores;
  scores.reserve(n_windows * n_classes);
  for (std::size_t at = 0; at < n_windows; at += kScoredSlice) {
    const auto end = static_cast<std::int64_t>(std::min(n_windows, at + kScoredSlice));
    const std::vector<double> slice = scorer.window_scores(recording.windows.slice(0, static_cast<std::int64_t>(at), end));
    scores.insert(scores.end(), slice.begin(), slice.end());
  }

  for (const ClassDecision& d : rank_classes(scores, n_windows, n_classes, scorer.positive(), options.window_aggregate))
    out.ranking.push_back({scorer.names()[d.cls], d.score, d.votes, scorer.threshold(d.cls),
                           scorer.confidence(d.cls, d.score), scorer.confidence(d.cls, scorer.threshold(d.cls))});
  // The best negative class, aggregated the same way.
  std::vector<bool> negative = scorer.negative();
  double best_negative = -std::numeric_limits<double>::infinity();
  std::string negative_name;
  if (std::find(negative.begin(), negative.end(), true) != negative.end()) {
    const auto ranked = rank_classes(scores, n_windows, n_classes, negative, options.window_aggregate);
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

Classification classify_recording(RunModel& run, LibraryScorer& scorer, const std::string& path,
                                  const ClassifyOptions& options) {
  return classify_embedded(scorer, embed_sounding(run, path, options), options);
}

}  // namespace oneshot
