// Sampling a search's windows for review (src/archive/review_sample.h): top
// is the K best, random is reproducible from its seed whatever the candidates'
// order, balanced takes one window from each score quantile, margin those
// nearest the threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "archive/review_sample.h"
#include "core/error.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {

// n windows, ids 1..n, scores drawn at random (seeded), in a shuffled order.
std::vector<ScoredWindow> candidates(std::size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> score(0, 1);
  std::vector<ScoredWindow> c;
  for (std::size_t i = 0; i < n; ++i)
    c.push_back({score(rng), static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(i % 5), 2.5 * i});
  std::shuffle(c.begin(), c.end(), rng);
  return c;
}

std::vector<std::int64_t> ids(const std::vector<ScoredWindow>& w) {
  std::vector<std::int64_t> out;
  for (const auto& x : w) out.push_back(x.id);
  return out;
}

TEST(ReviewSample, MethodNames) {
  for (const char* m : {"top", "random", "balanced", "margin"}) EXPECT_STREQ(sample_method_name(parse_sample_method(m)), m);
  EXPECT_NE(test::error_of([] { parse_sample_method("best"); }).find("--sample must be top, random, balanced or margin, got \"best\""),
            std::string::npos);
}

TEST(ReviewSample, TopIsTheKBestBestFirst) {
  auto c = candidates(500);
  SampleOptions o;
  o.k = 12;
  const auto got = sample_for_review(c, o);
  std::sort(c.begin(), c.end(), better);
  ASSERT_EQ(got.size(), 12u);
  for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(got[i].id, c[i].id);
}

TEST(ReviewSample, RandomIsReproducibleFromTheSeedWhateverTheOrder) {
  auto c = candidates(1000);
  SampleOptions o;
  o.method = SampleMethod::random;
  o.k = 20;
  o.seed = 42;
  const auto a = sample_for_review(c, o);
  std::reverse(c.begin(), c.end());  // threads merge in any order
  const auto b = sample_for_review(c, o);
  EXPECT_EQ(ids(a), ids(b));
  ASSERT_EQ(a.size(), 20u);
  const auto a_ids = ids(a);
  EXPECT_EQ(std::set<std::int64_t>(a_ids.begin(), a_ids.end()).size(), 20u);  // without replacement
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end(), better));
  o.seed = 43;
  EXPECT_NE(ids(sample_for_review(c, o)), ids(a));
  // Not the top: a uniform draw of 20 of 1000 has a median near the candidates' (0), not near the best.
  std::vector<double> s;
  for (const auto& w : a) s.push_back(w.score);
  std::sort(s.begin(), s.end());
  EXPECT_LT(std::abs(s[10]), 1.0);
  // Every window equally likely: over many seeds each id is drawn about K/n of the time.
  std::vector<int> count(1001);
  o.k = 10;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    o.seed = seed;
    for (const auto& w : sample_for_review(c, o)) ++count[static_cast<std::size_t>(w.id)];
  }
  // Expected 20 per id; the first and last 100 ids (by id) together ~4000 +- 3 sigma.
  int low = 0, high = 0;
  for (int i = 1; i <= 100; ++i) low += count[i], high += count[1001 - i];
  EXPECT_NEAR(low, 2000, 200);
  EXPECT_NEAR(high, 2000, 200);
}

TEST(ReviewSample, BalancedTakesOneWindowFromEveryScoreQuantile) {
  auto c = candidates(1003);
  SampleOptions o;
  o.method = SampleMethod::balanced;
  o.k = 10;
  o.seed = 5;
  const auto got = sample_for_review(c, o);
  ASSERT_EQ(got.size(), 10u);
  std::sort(c.begin(), c.end(), better);
  // The rank of each chosen window among all; one in each tenth.
  std::vector<int> per_bin(10);
  for (const auto& w : got) {
    const auto rank = static_cast<std::size_t>(
        std::find_if(c.begin(), c.end(), [&](const ScoredWindow& x) { return x.id == w.id; }) - c.begin());
    int bin = 0;  // quantile b holds ranks [b n / 10, (b + 1) n / 10)
    while (bin < 9 && (bin + 1) * c.size() / 10 <= rank) ++bin;
    ++per_bin[bin];
  }
  for (int b = 0; b < 10; ++b) EXPECT_EQ(per_bin[b], 1) << "quantile bin " << b;
  EXPECT_EQ(ids(sample_for_review(c, o)), ids(got));  // seeded
}

TEST(ReviewSample, MarginPicksThoseNearestTheThreshold) {
  auto c = candidates(400);
  SampleOptions o;
  o.method = SampleMethod::margin;
  o.k = 15;
  o.threshold = 0.8;
  const auto got = sample_for_review(c, o);
  ASSERT_EQ(got.size(), 15u);
  double worst_chosen = 0;
  for (const auto& w : got) worst_chosen = std::max(worst_chosen, std::abs(w.score - 0.8));
  const auto got_ids = ids(got);
  const std::set<std::int64_t> chosen(got_ids.begin(), got_ids.end());
  for (const auto& w : c)
    if (!chosen.count(w.id)) EXPECT_GE(std::abs(w.score - 0.8), worst_chosen) << "window " << w.id;
  // Both sides of the threshold when the scores lie on both.
  EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const ScoredWindow& w) { return w.score > 0.8; }));
  EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const ScoredWindow& w) { return w.score < 0.8; }));
  o.threshold = std::nan("");
  EXPECT_NE(test::error_of([&] { sample_for_review(c, o); }).find("--library"), std::string::npos);
}

TEST(ReviewSample, FewCandidatesNaNScoresAndMistakes) {
  auto c = candidates(5);
  c.push_back({std::nan(""), 99, 0, 0});
  for (SampleMethod m : {SampleMethod::top, SampleMethod::random, SampleMethod::balanced, SampleMethod::margin}) {
    SampleOptions o;
    o.method = m;
    o.k = 10;
    o.threshold = 0;
    const auto got = sample_for_review(c, o);
    EXPECT_EQ(got.size(), 5u) << sample_method_name(m);  // all but the NaN
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end(), better));
  }
  SampleOptions o;
  o.k = 0;
  EXPECT_NE(test::error_of([&] { sample_for_review(c, o); }).find("at least 1"), std::string::npos);
  o.k = 3;
  c.push_back(c.front());
  EXPECT_NE(test::error_of([&] { sample_for_review(c, o); }).find("offered twice"), std::string::npos);
}

}  // namespace
}  // namespace oneshot::archive
