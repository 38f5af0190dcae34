// The few-shot literature's standard test: seeded N-way K-shot episodes, each
// query classified against K support clips of N classes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/clock.h"
#include "eval/protocols.h"
#include "eval/sampling.h"
#include "eval/scoring.h"

namespace oneshot {
namespace {

constexpr std::size_t kPairsPerBlock = 1 << 15;  // bounds the memory of one batch of episodes
constexpr std::size_t kMaxTableRows = 8192;       // an all-pairs table of at most 512 MiB of doubles

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The head's logit for every ordered pair of rows, row-major: worth it when
// the episodes compare more pairs than there are (10,000 5-way 1-shot
// episodes on 200 clips: 3.75 million comparisons of 40,000 distinct pairs).
std::vector<double> all_pair_logits(Siamese& model, const torch::Tensor& embeddings) {
  const auto n = embeddings.size(0);
  const int64_t rows_per_block = std::max<int64_t>(1, static_cast<int64_t>(kPairsPerBlock) / n);
  std::vector<double> table;
  table.reserve(static_cast<std::size_t>(n * n));
  for (int64_t first = 0; first < n; first += rows_per_block) {  // index vectors of one block at a time
    std::vector<int64_t> a, b;
    for (int64_t i = first; i < std::min(n, first + rows_per_block); ++i)
      for (int64_t j = 0; j < n; ++j) a.push_back(i), b.push_back(j);
    const auto block = detail::head_logits(model, embeddings, a, embeddings, b);
    table.insert(table.end(), block.begin(), block.end());
  }
  return table;
}

// One block of episodes scored together; returns per query its predicted way.
// `pair_logits` (all_pair_logits) replaces the head when given.
std::vector<int> classify_block(Siamese& model, const torch::Tensor& embeddings,
                                const std::vector<Episode>& episodes, std::size_t first, std::size_t last,
                                const EvalConfig& config, const std::vector<double>* pair_logits) {
  const std::size_t ways = static_cast<std::size_t>(config.ways);
  const std::size_t shots = static_cast<std::size_t>(config.shots);
  const bool prototype = config.aggregate == "prototype" && shots > 1;
  const std::size_t per_way = prototype ? 1 : shots;  // right-hand rows compared per way

  // The right-hand table: raw embeddings, or the block's prototypes (one per episode way).
  torch::Tensor right = embeddings;
  std::vector<int64_t> proto_rows;
  if (prototype) {
    for (std::size_t e = first; e < last; ++e)
      for (std::size_t s : episodes[e].support) proto_rows.push_back(static_cast<int64_t>(s));
    auto index = torch::tensor(proto_rows, torch::kLong).to(embeddings.device());
    right = embeddings.index_select(0, index).view({-1, static_cast<int64_t>(shots), embeddings.size(1)}).mean(1);
  }

  std::vector<int64_t> a, b;
  std::size_t proto_base = 0;
  for (std::size_t e = first; e < last; ++e) {
    const Episode& ep = episodes[e];
    for (std::size_t q : ep.queries)
      for (std::size_t w = 0; w < ways; ++w)
        for (std::size_t s = 0; s < per_way; ++s) {
          a.push_back(static_cast<int64_t>(q));
          b.push_back(static_cast<int64_t>(prototype ? proto_base + w : ep.support[w * shots + s]));
        }
    proto_base += ways;
  }
  std::vector<double> logits;
  if (pair_logits) {
    const auto n = static_cast<std::size_t>(embeddings.size(0));
    logits.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      logits.push_back((*pair_logits)[static_cast<std::size_t>(a[i]) * n + static_cast<std::size_t>(b[i])]);
  } else {
    logits = detail::head_logits(model, embeddings, a, right, b);
  }

  std::vector<int> predicted;
  std::vector<double> way_score(ways);
  std::size_t k = 0;
  for (std::size_t e = first; e < last; ++e)
    for (std::size_t qi = 0; qi < episodes[e].queries.size(); ++qi) {
      for (std::size_t w = 0; w < ways; ++w) {
        const double* s = logits.data() + k;
        k += per_way;
        if (per_way == 1) way_score[w] = s[0];
        else if (config.aggregate == "max") way_score[w] = *std::max_element(s, s + per_way);
        else {  // "mean" of the same-class probabilities
          double sum = 0;
          for (std::size_t i = 0; i < per_way; ++i) sum += sigmoid(s[i]);
          way_score[w] = sum / per_way;
        }
      }
      predicted.push_back(static_cast<int>(detail::argmax_first(way_score.data(), ways)));
    }
  return predicted;
}

}  // namespace

std::vector<Episode> sample_episodes(const EvalSubset& subset, const EvalConfig& config,
                                     std::vector<int>* table_classes) {
  config.validate();
  auto table = detail::class_table(subset);
  if (table_classes) *table_classes = table.classes;
  const std::size_t ways = static_cast<std::size_t>(config.ways);
  const std::size_t shots = static_cast<std::size_t>(config.shots);
  if (table.classes.size() < ways)
    throw Error("episodes protocol: " + std::to_string(ways) + "-way episodes need " + std::to_string(ways) +
                " classes, the split has " + std::to_string(table.classes.size()));
  for (std::size_t c = 0; c < table.classes.size(); ++c)
    if (table.rows[c].size() < shots + 1)
      throw Error("episodes protocol: " + detail::class_label(subset, table.classes[c]) + " has " +
                  std::to_string(table.rows[c].size()) + " clips; " + std::to_string(shots) +
                  "-shot episodes need at least " + std::to_string(shots + 1));

  std::mt19937_64 rng(static_cast<std::uint64_t>(config.seed));
  std::vector<int> order(table.classes.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<Episode> episodes(static_cast<std::size_t>(config.episodes));
  for (Episode& ep : episodes) {
    partial_shuffle(order, ways, rng);
    ep.ways.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(ways));
    for (std::size_t w = 0; w < ways; ++w) {
      auto& rows = table.rows[static_cast<std::size_t>(ep.ways[w])];
      const std::size_t n_queries = std::min<std::size_t>(config.queries, rows.size() - shots);
      // A partial shuffle draws shots + queries distinct rows: support and queries never overlap.
      partial_shuffle(rows, shots + n_queries, rng);
      ep.support.insert(ep.support.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(shots));
      ep.queries.insert(ep.queries.end(), rows.begin() + static_cast<std::ptrdiff_t>(shots),
                        rows.begin() + static_cast<std::ptrdiff_t>(shots + n_queries));
      ep.query_way.insert(ep.query_way.end(), n_queries, static_cast<int>(w));
    }
  }
  return episodes;
}

EvalResult evaluate_episodes(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                             const EvalConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  if (embeddings.size(0) != static_cast<int64_t>(subset.clips.size()))
    throw Error("episodes protocol: " + std::to_string(embeddings.size(0)) + " embeddings for " +
                std::to_string(subset.clips.size()) + " clips");
  EvalResult result;
  result.protocol = "episodes";
  std::vector<int> table_classes;
  const auto episodes = sample_episodes(subset, config, &table_classes);
  result.classes = table_classes;
  const std::size_t n_classes = table_classes.size();
  result.confusion.assign(n_classes, std::vector<int64_t>(n_classes, 0));

  const std::size_t pairs_per_query =
      static_cast<std::size_t>(config.ways) * (config.aggregate == "prototype" ? 1 : config.shots);
  std::size_t total_pairs = 0;
  for (const auto& ep : episodes) total_pairs += ep.queries.size() * pairs_per_query;
  const auto n_rows = static_cast<std::size_t>(embeddings.size(0));
  std::vector<double> pair_logits;
  const bool use_table = config.aggregate != "prototype" || config.shots == 1;
  if (use_table && n_rows * n_rows < total_pairs && n_rows <= kMaxTableRows)
    pair_logits = all_pair_logits(model, embeddings);

  std::vector<double> accuracy;  // per episode
  accuracy.reserve(episodes.size());
  for (std::size_t first = 0; first < episodes.size();) {
    std::size_t last = first, pairs = 0;
    while (last < episodes.size() && (last == first || pairs + episodes[last].queries.size() * pairs_per_query <=
                                                           kPairsPerBlock))
      pairs += episodes[last++].queries.size() * pairs_per_query;
    const auto predicted = classify_block(model, embeddings, episodes, first, last, config,
                                          pair_logits.empty() ? nullptr : &pair_logits);
    std::size_t k = 0;
    for (std::size_t e = first; e < last; ++e) {
      const Episode& ep = episodes[e];
      std::size_t correct = 0;
      for (std::size_t qi = 0; qi < ep.queries.size(); ++qi, ++k) {
        const int truth = ep.ways[ep.query_way[qi]], guess = ep.ways[predicted[k]];
        ++result.confusion[truth][guess];
        correct += truth == guess;
      }
      accuracy.push_back(static_cast<double>(correct) / ep.queries.size());
    }
    first = last;
  }

  detail::summarise_confusion(result);
  const double n = static_cast<double>(accuracy.size());
  result.mean_accuracy = std::accumulate(accuracy.begin(), accuracy.end(), 0.0) / n;
  double ss = 0;
  for (double a : accuracy) ss += (a - result.mean_accuracy) * (a - result.mean_accuracy);
  result.std = accuracy.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;  // sample standard deviation
  result.ci95 = 1.96 * result.std / std::sqrt(n);
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace oneshot
