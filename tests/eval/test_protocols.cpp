#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "core/error.h"
#include "eval/protocols.h"
#include "eval_fixtures.h"

namespace oneshot {
namespace {

using test::clips_batch;
using test::synthetic_features;
using test::tiny_model;

std::vector<int> all_classes(const FeatureSet& features) {
  std::vector<int> classes(features.class_names().size());
  for (std::size_t i = 0; i < classes.size(); ++i) classes[i] = static_cast<int>(i);
  return classes;
}

int64_t row_sum(const std::vector<int64_t>& row) {
  int64_t s = 0;
  for (auto v : row) s += v;
  return s;
}

std::size_t first_max(const torch::Tensor& logits) {
  auto v = logits.to(torch::kDouble).contiguous();
  const double* p = v.data_ptr<double>();
  return static_cast<std::size_t>(std::max_element(p, p + v.numel()) - p);  // the first maximum
}

TEST(GridPlan, FollowsTheOriginalWithFortyClipsPerClass) {
  auto features = synthetic_features({40, 40, 40, 40, 40});
  auto subset = subset_of_classes(features, {0, 1, 2, 3, 4});
  auto plan = plan_grid(subset, 1);
  ASSERT_EQ(plan.classes, (std::vector<int>{0, 1, 2, 3, 4}));
  ASSERT_EQ(plan.support_sets.size(), 20u);
  for (const auto& set : plan.support_sets) {
    ASSERT_EQ(set.size(), 5u);
    for (std::size_t c = 0; c < 5; ++c) EXPECT_EQ(subset.labels[set[c]], plan.classes[c]);
  }
  for (std::size_t c = 0; c < 5; ++c) {
    ASSERT_EQ(plan.queries[c].size(), 20u);
    std::set<std::size_t> roles;
    for (std::size_t q : plan.queries[c]) {
      EXPECT_EQ(subset.labels[q], plan.classes[c]);
      roles.insert(q);
    }
    for (const auto& set : plan.support_sets) roles.insert(set[c]);
    EXPECT_EQ(roles.size(), 40u) << "support candidates and queries of a class must be distinct clips";
  }
  // Seeded: the same seed gives the same plan, another seed another one.
  auto again = plan_grid(subset, 1), other = plan_grid(subset, 2);
  EXPECT_EQ(again.queries, plan.queries);
  EXPECT_EQ(again.support_sets, plan.support_sets);
  EXPECT_NE(other.queries, plan.queries);
}

TEST(GridPlan, SmallClassesUseHalfTheirClipsForEachRole) {
  auto features = synthetic_features({40, 13, 30, 60});
  auto subset = subset_of_classes(features, {0, 1, 2, 3});
  auto plan = plan_grid(subset, 5);
  EXPECT_EQ(plan.queries[0].size(), 20u);
  EXPECT_EQ(plan.queries[1].size(), 6u);   // floor(13 / 2)
  EXPECT_EQ(plan.queries[2].size(), 15u);
  EXPECT_EQ(plan.queries[3].size(), 20u);  // at most 20 per role
  EXPECT_EQ(plan.support_sets.size(), 6u);  // sets need a clip of every class
}

TEST(GridPlan, RejectsAClassWithOneClipAndASingleClass) {
  auto features = synthetic_features({10, 1, 10});
  auto subset = subset_of_classes(features, {0, 1, 2});
  try {
    plan_grid(subset, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class_b"), std::string::npos) << e.what();
  }
  EXPECT_THROW(plan_grid(subset_of_classes(features, {0}), 1), Error);
}

// The original runs the whole siamese network on every (query, support) pair;
// embeddings computed once and the head on pairs must decide exactly the same.
TEST(Grid, EmbeddingReuseGivesTheDecisionsOfTheFullNetwork) {
  auto features = synthetic_features({8, 8, 7, 9, 8});
  auto subset = subset_of_classes(features, all_classes(features));
  auto model = tiny_model(features, torch::kDouble);
  ASSERT_TRUE(model->is_training());
  auto embeddings = embed_subset(model, features, subset, torch::kCPU, 5);
  EXPECT_TRUE(model->is_training()) << "embed_subset must restore the training mode";
  auto result = evaluate_grid(model, embeddings, subset, 11);

  model->eval();
  torch::NoGradGuard no_grad;
  const auto plan = plan_grid(subset, 11);
  const std::size_t c = plan.classes.size();
  std::vector<std::vector<int64_t>> confusion(c, std::vector<int64_t>(c, 0));
  std::set<std::size_t> predicted_columns;
  for (std::size_t i = 0; i < c; ++i)
    for (std::size_t query : plan.queries[i])
      for (const auto& set : plan.support_sets) {
        std::vector<std::size_t> left(c, subset.clips[query]), right;
        for (std::size_t row : set) right.push_back(subset.clips[row]);
        auto logits = model->forward(clips_batch(features, left, torch::kDouble),
                                     clips_batch(features, right, torch::kDouble));
        const std::size_t guess = first_max(logits);
        ++confusion[i][guess];
        predicted_columns.insert(guess);
      }
  EXPECT_EQ(result.confusion, confusion);
  EXPECT_GE(predicted_columns.size(), 2u) << "a degenerate model would make this test weak";
  for (std::size_t i = 0; i < c; ++i)
    EXPECT_EQ(row_sum(result.confusion[i]),
              static_cast<int64_t>(plan.queries[i].size() * plan.support_sets.size()));
}

TEST(Grid, ResultIsConsistentAndSeeded) {
  auto features = synthetic_features({40, 40, 40, 40, 40});
  auto subset = subset_of_classes(features, all_classes(features));
  auto model = tiny_model(features);
  auto embeddings = embed_subset(model, features, subset);
  auto a = evaluate_grid(model, embeddings, subset, 1);
  auto b = evaluate_grid(model, embeddings, subset, 1);
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_EQ(a.decisions, 5 * 400);
  double mean = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(row_sum(a.confusion[i]), 400);  // 20 queries x 20 support sets
    EXPECT_DOUBLE_EQ(a.class_accuracy[i], a.confusion[i][i] / 400.0);
    mean += a.class_accuracy[i] / 5;
  }
  EXPECT_DOUBLE_EQ(a.mean_accuracy, mean);
  EXPECT_EQ(a.ci95, 0.0);
}

EvalConfig episode_config(int ways, int shots, int queries, int episodes, const std::string& aggregate = "mean") {
  EvalConfig config;
  config.protocol = "episodes";
  config.ways = ways;
  config.shots = shots;
  config.queries = queries;
  config.episodes = episodes;
  config.aggregate = aggregate;
  config.seed = 4;
  return config;
}

TEST(Episodes, SamplerNeverPutsAClipInBothSupportAndQuery) {
  auto features = synthetic_features({6, 9, 5, 12, 7, 8});
  auto subset = subset_of_classes(features, all_classes(features));
  std::vector<int> table;
  auto episodes = sample_episodes(subset, episode_config(4, 2, 5, 500), &table);
  ASSERT_EQ(episodes.size(), 500u);
  std::set<int> ways_seen;
  for (const auto& ep : episodes) {
    ASSERT_EQ(ep.ways.size(), 4u);
    ASSERT_EQ(std::set<int>(ep.ways.begin(), ep.ways.end()).size(), 4u) << "ways must be distinct classes";
    ASSERT_EQ(ep.support.size(), 8u);
    std::set<std::size_t> support(ep.support.begin(), ep.support.end());
    ASSERT_EQ(support.size(), 8u);
    std::set<std::size_t> queries;
    for (std::size_t qi = 0; qi < ep.queries.size(); ++qi) {
      EXPECT_EQ(support.count(ep.queries[qi]), 0u) << "a clip is both support and query";
      EXPECT_TRUE(queries.insert(ep.queries[qi]).second) << "a query repeats";
      EXPECT_EQ(subset.labels[ep.queries[qi]], table[ep.ways[ep.query_way[qi]]]);
    }
    for (std::size_t w = 0; w < 4; ++w) {
      ways_seen.insert(ep.ways[w]);
      for (int s = 0; s < 2; ++s) EXPECT_EQ(subset.labels[ep.support[w * 2 + s]], table[ep.ways[w]]);
      // q = min(Q, n - K): class 2 has 5 clips, so 3 queries after 2 shots.
      const auto n = std::count(subset.labels.begin(), subset.labels.end(), table[ep.ways[w]]);
      EXPECT_EQ(std::count(ep.query_way.begin(), ep.query_way.end(), static_cast<int>(w)),
                std::min<long>(5, n - 2));
    }
  }
  EXPECT_EQ(ways_seen.size(), 6u);
}

TEST(Episodes, RejectsTooFewClassesOrClips) {
  auto features = synthetic_features({6, 6, 3});
  auto subset = subset_of_classes(features, all_classes(features));
  EXPECT_THROW(sample_episodes(subset, episode_config(4, 1, 5, 10)), Error);
  try {
    sample_episodes(subset, episode_config(3, 3, 5, 10));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class_c"), std::string::npos) << e.what();
  }
}

// For every aggregate: the decisions equal a direct computation from the
// whole network (K = 1, mean, max) or from per-episode embeddings (prototype).
TEST(Episodes, EmbeddingReuseGivesTheDecisionsOfTheFullNetwork) {
  auto features = synthetic_features({7, 9, 8, 6, 10});
  auto subset = subset_of_classes(features, all_classes(features));
  auto model = tiny_model(features, torch::kDouble);
  auto embeddings = embed_subset(model, features, subset, torch::kCPU, 4);
  // 25 episodes compare fewer pairs than the 40 x 40 clips make, 150 more:
  // the head runs per pair in the first case, from an all-pairs table in the second.
  for (auto [shots, aggregate, n_episodes] : std::vector<std::tuple<int, std::string, int>>{
           {1, "mean", 25}, {1, "mean", 150}, {3, "mean", 25}, {3, "mean", 150}, {3, "max", 150}, {3, "prototype", 150}}) {
    SCOPED_TRACE(std::to_string(shots) + "-shot " + aggregate + ", " + std::to_string(n_episodes) + " episodes");
    const auto config = episode_config(3, shots, 2, n_episodes, aggregate);
    auto result = evaluate_episodes(model, embeddings, subset, config);

    model->eval();
    torch::NoGradGuard no_grad;
    std::vector<int> table;
    const auto episodes = sample_episodes(subset, config, &table);
    std::vector<std::vector<int64_t>> confusion(table.size(), std::vector<int64_t>(table.size(), 0));
    std::vector<double> accuracy;
    for (const auto& ep : episodes) {
      int correct = 0;
      for (std::size_t qi = 0; qi < ep.queries.size(); ++qi) {
        std::vector<double> score(3);
        for (std::size_t w = 0; w < 3; ++w) {
          std::vector<std::size_t> supports;
          for (int s = 0; s < shots; ++s) supports.push_back(subset.clips[ep.support[w * shots + s]]);
          auto support_batch = clips_batch(features, supports, torch::kDouble);
          std::vector<std::size_t> query(supports.size(), subset.clips[ep.queries[qi]]);
          auto query_batch = clips_batch(features, query, torch::kDouble);
          if (aggregate == "prototype") {
            auto proto = model->embed(support_batch).mean(0, true);
            score[w] = model->head(model->embed(query_batch.slice(0, 0, 1)), proto).item<double>();
          } else {
            auto logits = model->forward(query_batch, support_batch);
            score[w] = aggregate == "max" ? logits.max().item<double>() : torch::sigmoid(logits).mean().item<double>();
          }
        }
        const int guess = static_cast<int>(std::max_element(score.begin(), score.end()) - score.begin());
        const int truth = ep.query_way[qi];
        ++confusion[ep.ways[truth]][ep.ways[guess]];
        correct += guess == truth;
      }
      accuracy.push_back(static_cast<double>(correct) / ep.queries.size());
    }
    EXPECT_EQ(result.confusion, confusion);
    double mean = 0;
    for (double a : accuracy) mean += a / accuracy.size();
    EXPECT_NEAR(result.mean_accuracy, mean, 1e-12);
  }
}

TEST(Episodes, ResultIsConsistentAndSeeded) {
  auto features = synthetic_features({20, 20, 20, 20, 20, 20});
  auto subset = subset_of_classes(features, all_classes(features));
  auto model = tiny_model(features);
  auto embeddings = embed_subset(model, features, subset);
  auto config = episode_config(5, 1, 15, 300);
  auto a = evaluate(model, embeddings, subset, config);
  auto b = evaluate(model, embeddings, subset, config);
  EXPECT_EQ(a.protocol, "episodes");
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_EQ(a.mean_accuracy, b.mean_accuracy);
  EXPECT_EQ(a.decisions, 300 * 5 * 15);
  int64_t diagonal = 0;
  for (std::size_t i = 0; i < a.confusion.size(); ++i) {
    diagonal += a.confusion[i][i];
    EXPECT_DOUBLE_EQ(a.class_accuracy[i], static_cast<double>(a.confusion[i][i]) / row_sum(a.confusion[i]));
  }
  // Every episode has the same number of queries, so the mean of episode
  // accuracies is the overall fraction correct.
  EXPECT_NEAR(a.mean_accuracy, static_cast<double>(diagonal) / a.decisions, 1e-12);
  EXPECT_GT(a.std, 0.0);
  EXPECT_DOUBLE_EQ(a.ci95, 1.96 * a.std / std::sqrt(300.0));
  config.seed = 5;
  auto c = evaluate(model, embeddings, subset, config);
  EXPECT_NE(c.confusion, a.confusion);
}

TEST(EmbedSubset, BatchesDoNotChangeTheEmbeddingsAndProgressIsReported) {
  auto features = synthetic_features({5, 6, 4});
  auto subset = subset_of_classes(features, {0, 2});
  ASSERT_EQ(subset.clips.size(), 9u);
  auto model = tiny_model(features);
  std::vector<std::size_t> done;
  auto small = embed_subset(model, features, subset, torch::kCPU, 4,
                            [&](std::size_t n, std::size_t total) {
                              EXPECT_EQ(total, 9u);
                              done.push_back(n);
                            });
  EXPECT_EQ(done, (std::vector<std::size_t>{4, 8, 9}));
  auto whole = embed_subset(model, features, subset, torch::kCPU, 64);
  ASSERT_EQ(small.sizes(), (std::vector<int64_t>{9, model->encoder->embedding_dim()}));
  EXPECT_TRUE(torch::allclose(small, whole, 1e-5, 1e-6));
  EXPECT_FALSE(small.requires_grad());
}

}  // namespace
}  // namespace oneshot
