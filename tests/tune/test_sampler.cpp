// Each parameter kind: prior draws, TPE posterior draws against the
// posterior's own density, and the sampler's behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/config.h"
#include "core/error.h"
#include "tune/sampler.h"
#include "tune/test_functions.h"

namespace oneshot::tune {
namespace {

Param make(ParamKind kind, double low, double high, double q = 0) {
  Param p;
  p.name = "s.x";
  p.kind = kind;
  p.low = low;
  p.high = high;
  p.q = q;
  return p;
}

TEST(PriorSampling, UniformCoversTheRange) {
  const Param p = make(ParamKind::uniform, -5, 10);
  Rng rng(1);
  double sum = 0, lo = 1e9, hi = -1e9;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = p.sample_prior(rng).get<double>();
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  EXPECT_GE(lo, -5);
  EXPECT_LT(hi, 10);
  EXPECT_NEAR(sum / n, 2.5, 0.1);
  EXPECT_LT(lo, -4.99);
  EXPECT_GT(hi, 9.99);
}

TEST(PriorSampling, LogUniformIsUniformInLogs) {
  const Param p = make(ParamKind::loguniform, 1e-7, 1e-5);
  Rng rng(2);
  int below_geometric_mean = 0, below_tenth = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = p.sample_prior(rng).get<double>();
    ASSERT_GE(x, 1e-7);
    ASSERT_LE(x, 1e-5);
    below_geometric_mean += x < 1e-6;
    below_tenth += x < 1e-7 * std::pow(100.0, 0.1);
  }
  EXPECT_NEAR(below_geometric_mean / double(n), 0.5, 0.015);
  EXPECT_NEAR(below_tenth / double(n), 0.1, 0.01);
}

TEST(PriorSampling, QuantisedAndIntegerFollowHyperopt) {
  // uniformint(1, 4) = round(uniform(1, 4)): the ends get half the mass.
  const Param i = make(ParamKind::integer, 1, 4);
  Rng rng(3);
  std::map<std::int64_t, int> counts;
  const int n = 30000;
  for (int k = 0; k < n; ++k) {
    const auto v = i.sample_prior(rng);
    ASSERT_TRUE(v.is_number_integer());
    counts[v.get<std::int64_t>()]++;
  }
  ASSERT_EQ(counts.size(), 4u);
  EXPECT_NEAR(counts[1] / double(n), 1.0 / 6, 0.01);
  EXPECT_NEAR(counts[2] / double(n), 1.0 / 3, 0.01);
  EXPECT_NEAR(counts[4] / double(n), 1.0 / 6, 0.01);
  const Param q = make(ParamKind::quniform, 0, 10, 2.5);
  for (int k = 0; k < 1000; ++k) {
    const double x = q.sample_prior(rng).get<double>();
    EXPECT_EQ(std::fmod(x, 2.5), 0.0);
    EXPECT_GE(x, 0);
    EXPECT_LE(x, 10);
  }
}

TEST(PriorSampling, ChoiceIsUniformOverValuesOfAnyType) {
  Param p;
  p.name = "s.c";
  p.kind = ParamKind::choice;
  p.choices = {16, "l2", 0.5, true};
  Rng rng(4);
  std::map<std::string, int> counts;
  for (int k = 0; k < 20000; ++k) counts[p.sample_prior(rng).dump()]++;
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [v, c] : counts) EXPECT_NEAR(c / 20000.0, 0.25, 0.015) << v;
  EXPECT_EQ(p.encode("l2"), 1.0);
  EXPECT_EQ(p.decode(3.0), true);
  EXPECT_THROW(p.encode(17), Error);
}

// Draws from a TPE posterior agree with its log-density.
TEST(Posterior, ContinuousDrawsMatchTheDensity) {
  const Param p = make(ParamKind::uniform, 0, 10);
  const std::vector<double> obs{2.0, 2.5, 7.0, 9.5};
  const Posterior post(p, obs, TpeOptions{});
  Rng rng(5);
  const int n = 40000, bins = 20;
  std::vector<int> hist(bins);
  for (int i = 0; i < n; ++i) {
    const double x = post.sample(rng);
    ASSERT_GE(x, 0);
    ASSERT_LT(x, 10);
    hist[static_cast<int>(x / 10 * bins)]++;
  }
  double total = 0;
  for (int b = 0; b < bins; ++b) {
    // Midpoint rule with 50 steps per bin.
    double mass = 0;
    for (int s = 0; s < 50; ++s) mass += std::exp(post.log_pdf((b + (s + 0.5) / 50) * 10.0 / bins)) * (10.0 / bins / 50);
    total += mass;
    EXPECT_NEAR(hist[b] / double(n), mass, 0.006) << "bin " << b;
  }
  EXPECT_NEAR(total, 1.0, 1e-3);
}

TEST(Posterior, LogUniformDrawsMatchTheDensityShape) {
  const Param p = make(ParamKind::loguniform, 1e-4, 1);
  const std::vector<double> obs{1e-3, 2e-3, 0.5};
  const Posterior post(p, obs, TpeOptions{});
  Rng rng(6);
  const int n = 40000, bins = 16;
  const double lo = std::log(1e-4), hi = 0;
  std::vector<int> hist(bins);
  for (int i = 0; i < n; ++i) {
    const double x = post.sample(rng);
    ASSERT_GE(x, 1e-4);
    ASSERT_LE(x, 1.0);
    hist[std::min(bins - 1, static_cast<int>((std::log(x) - lo) / (hi - lo) * bins))]++;
  }
  // hyperopt's LGMM1_lpdf is not renormalised for the truncation, so compare
  // the shape: each bin's share of the density's mass inside the bounds.
  std::vector<double> mass(bins);
  double total = 0;
  for (int b = 0; b < bins; ++b) {
    for (int s = 0; s < 50; ++s) {
      const double a = lo + (hi - lo) * (b + s / 50.0) / bins, c = lo + (hi - lo) * (b + (s + 1) / 50.0) / bins;
      const double x = std::exp(0.5 * (a + c));
      mass[b] += std::exp(post.log_pdf(x)) * (std::exp(c) - std::exp(a));
    }
    total += mass[b];
  }
  EXPECT_LE(total, 1.0 + 1e-3);
  EXPECT_GT(total, 0.5);
  for (int b = 0; b < bins; ++b) EXPECT_NEAR(hist[b] / double(n), mass[b] / total, 0.006) << "bin " << b;
}

TEST(Posterior, DiscreteDrawsMatchTheProbabilities) {
  for (const Param& p : {make(ParamKind::integer, 1, 6), make(ParamKind::quniform, 0, 3, 0.5)}) {
    const std::vector<double> obs{p.low, p.low + (p.kind == ParamKind::integer ? 1 : 0.5), p.high};
    const Posterior post(p, obs, TpeOptions{});
    Rng rng(7);
    std::map<double, int> counts;
    const int n = 40000;
    for (int i = 0; i < n; ++i) counts[post.sample(rng)]++;
    const double step = p.kind == ParamKind::integer ? 1 : p.q;
    double total = 0;
    for (double x = p.low; x <= p.high + 1e-9; x += step) {
      const double prob = std::exp(post.log_pdf(x));
      total += prob;
      EXPECT_NEAR(counts[x] / double(n), prob, 0.008) << kind_name(p.kind) << " " << x;
    }
    EXPECT_NEAR(total, 1.0, 1e-9) << kind_name(p.kind);
  }
}

TEST(Posterior, ChoiceDrawsMatchTheProbabilities) {
  Param p;
  p.name = "s.c";
  p.kind = ParamKind::choice;
  p.choices = {"a", "b", "c"};
  const std::vector<double> obs{0, 0, 2};
  const Posterior post(p, obs, TpeOptions{});
  Rng rng(8);
  std::vector<int> counts(3);
  for (int i = 0; i < 30000; ++i) counts[static_cast<std::size_t>(post.sample(rng))]++;
  const double expected[3] = {3.0 / 6, 1.0 / 6, 2.0 / 6};
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(std::exp(post.log_pdf(k)), expected[k], 1e-12);
    EXPECT_NEAR(counts[k] / 30000.0, expected[k], 0.01);
  }
}

TEST(Tpe, SuggestsNearTheGoodGroup) {
  const Param p = make(ParamKind::uniform, 0, 10);
  const TpeSampler tpe(TpeOptions{});
  const std::vector<double> below{1.0, 1.2, 0.8};
  const std::vector<double> above{3, 4, 5, 6, 7, 8, 9, 9.5, 2.5, 5.5};
  Rng rng(9);
  for (int i = 0; i < 50; ++i) {
    const double x = tpe.suggest_param(p, below, above, rng);
    EXPECT_LT(x, 2.5) << "a candidate far from l(x)";
  }
}

TEST(Tpe, RandomUntilStartupJobsThenModelBased) {
  const auto fn = branin_function();
  TpeOptions o;
  o.n_startup_jobs = 5;
  const TpeSampler tpe(o);
  std::vector<Observation> history;
  for (int i = 0; i < 4; ++i) history.push_back({fn.space.sample_prior(*std::make_unique<Rng>(i)), double(i)});
  // Below n_startup_jobs TPE is random search with the same seed.
  EXPECT_EQ(tpe.suggest(fn.space, history, 42), RandomSampler().suggest(fn.space, history, 42));
  history.push_back({history[0].params, 5.0});
  EXPECT_NE(tpe.suggest(fn.space, history, 42), RandomSampler().suggest(fn.space, history, 42));
  // Deterministic for a history and seed.
  EXPECT_EQ(tpe.suggest(fn.space, history, 43), tpe.suggest(fn.space, history, 43));
}

TEST(Tpe, MakeSamplerFollowsTheConfig) {
  TuneConfig c;
  c.sampler = "random";
  EXPECT_NE(dynamic_cast<RandomSampler*>(make_sampler(c).get()), nullptr);
  c.sampler = "tpe";
  c.gamma = 0.5;
  auto s = make_sampler(c);
  ASSERT_NE(dynamic_cast<TpeSampler*>(s.get()), nullptr);
  EXPECT_EQ(dynamic_cast<TpeSampler*>(s.get())->options().gamma, 0.5);
}

// The small version of bench/bench_tpe.cpp: median best of 100 trials over
// 15 seeds on Branin (about a quarter of a second).
TEST(Tpe, BeatsRandomSearchOnBranin) {
  const auto fn = branin_function();
  const TpeSampler tpe(TpeOptions{});
  const RandomSampler random;
  std::vector<double> tpe_best, random_best;
  for (std::uint64_t seed = 1; seed <= 15; ++seed) {
    tpe_best.push_back(minimize_in_memory(tpe, fn, 100, seed).back());
    random_best.push_back(minimize_in_memory(random, fn, 100, seed).back());
  }
  std::sort(tpe_best.begin(), tpe_best.end());
  std::sort(random_best.begin(), random_best.end());
  EXPECT_LT(tpe_best[7], random_best[7]);
  EXPECT_GE(tpe_best[0], fn.minimum - 1e-5);
}

}  // namespace
}  // namespace oneshot::tune
