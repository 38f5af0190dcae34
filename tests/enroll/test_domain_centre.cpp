// Domain centring's arithmetic (enroll/domain_centre.h) against values worked
// by hand, and the effect it exists for: embeddings of new classes that share
// an offset from the training centre score closer than their classes are;
// centred on their own mean, different classes score further apart while
// each class's rows stay together.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "enroll/domain_centre.h"

namespace oneshot {
namespace {

TEST(DomainCentre, TheMeanWeighsEveryFileTheSame) {
  // Two files' means (dim 2): (1, 0) and (0, 3) -> (0.5, 1.5).
  const std::vector<float> mean = mean_of_files({1, 0, 0, 3}, 2, 2);
  ASSERT_EQ(mean.size(), 2u);
  EXPECT_FLOAT_EQ(mean[0], 0.5f);
  EXPECT_FLOAT_EQ(mean[1], 1.5f);
  EXPECT_THROW(mean_of_files({}, 0, 2), Error);
  EXPECT_THROW(mean_of_files({1, 2, 3}, 2, 2), Error);
  EXPECT_THROW(mean_of_files({1, std::numeric_limits<float>::quiet_NaN()}, 1, 2), Error);
}

TEST(DomainCentre, TheMeanOfRecordingsAveragesEachRecordingThenTheRecordings) {
  const std::vector<float> a = {1, 0, 3, 0, 5, 6};  // 3 windows, mean (3, 2)
  const std::vector<float> b = {-1, 4};             // 1 window, mean (-1, 4)
  MeanOfRecordings mean;
  EXPECT_THROW(mean.mean(), Error);
  mean.add(a.data(), 3, 2);
  mean.add(std::vector<std::vector<float>>{{-1, 4}});
  EXPECT_EQ(mean.recordings(), 2u);
  const std::vector<float> m = mean.mean();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_FLOAT_EQ(m[0], 1.0f);  // (3 + -1) / 2, not the mean of the 4 windows (2)
  EXPECT_FLOAT_EQ(m[1], 3.0f);
  MeanOfRecordings reversed;
  reversed.add(b.data(), 1, 2);
  reversed.add(a.data(), 3, 2);
  EXPECT_EQ(reversed.mean(), m);
  // The same as the means given as a table.
  EXPECT_EQ(mean_of_files({3, 2, -1, 4}, 2, 2), m);
  const float three[3] = {0, 0, 0};
  EXPECT_THROW(mean.add(three, 1, 3), Error);  // another width
  const float nan_row[2] = {std::numeric_limits<float>::quiet_NaN(), 0};
  EXPECT_THROW(mean.add(nan_row, 1, 2), Error);  // not finite
  EXPECT_THROW(mean.add(a.data(), 0, 2), Error);  // no window
  EXPECT_THROW(mean.add(std::vector<std::vector<float>>{{1, 2}, {3}}), Error);  // ragged
  EXPECT_EQ(mean.recordings(), 2u);  // a refused recording is not counted
  EXPECT_EQ(mean.mean(), m);
}

TEST(DomainCentre, TheCohortSharesItsCapOverTheFilesAndStridesEvenly) {
  // 2000 over 3 files: 667 each (rounded up); over 5000 files: one each.
  EXPECT_EQ(domain_cohort_quota(1), kMaxDomainCohort);
  EXPECT_EQ(domain_cohort_quota(3), 667u);
  EXPECT_EQ(domain_cohort_quota(5000), 1u);
  // 10 rows to 4: rows 0, 2, 5, 7 (i * 10 / 4); to 20 or 10: all of them, in order.
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 10; ++i) rows.push_back({static_cast<float>(i)});
  const auto four = evenly_strided(rows, 4);
  ASSERT_EQ(four.size(), 4u);
  EXPECT_EQ(four[0][0], 0);
  EXPECT_EQ(four[1][0], 2);
  EXPECT_EQ(four[2][0], 5);
  EXPECT_EQ(four[3][0], 7);
  EXPECT_EQ(evenly_strided(rows, 20), rows);
  EXPECT_EQ(evenly_strided(rows, 10), rows);
  // K: the library's, at most half the cohort, the half at least 10 or the whole cohort.
  EXPECT_EQ(domain_top_k(100, 2000), 100u);
  EXPECT_EQ(domain_top_k(100, 50), 25u);
  EXPECT_EQ(domain_top_k(3, 50), 3u);
  EXPECT_EQ(domain_top_k(100, 15), 10u);  // half is 7: too few scores for a deviation
  EXPECT_EQ(domain_top_k(100, 4), 4u);    // the whole cohort
}

TEST(DomainCentre, EachPartIsCentredAndKeepsItsLength) {
  // One part: (1, 0) - (0.5, 0.5) = (0.5, -0.5), scaled back to length 1.
  std::vector<float> row{1, 0};
  recentre_rows(row.data(), 1, 2, {2}, {0.5f, 0.5f});
  EXPECT_NEAR(row[0], std::sqrt(0.5), 1e-6);
  EXPECT_NEAR(row[1], -std::sqrt(0.5), 1e-6);
  // Two parts, the second of length sqrt(0.2) (the band statistics at weight
  // 0.2): (0, 1 | 0.4472, 0) with centre (0, 0.5 | 0, 0.4472):
  // part 1 -> (0, 0.5) -> (0, 1); part 2 -> (0.4472, -0.4472) -> length 0.4472.
  const float w = std::sqrt(0.2f);
  std::vector<float> two{0, 1, w, 0};
  recentre_rows(two.data(), 1, 4, {2, 2}, {0, 0.5f, 0, w});
  EXPECT_NEAR(two[0], 0, 1e-6);
  EXPECT_NEAR(two[1], 1, 1e-6);
  EXPECT_NEAR(two[2], w / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(two[3], -w / std::sqrt(2.0), 1e-6);
  // A row equal to the centre becomes 0 (not NaN).
  std::vector<float> same{0.6f, 0.8f};
  recentre_rows(same.data(), 1, 2, {2}, {0.6f, 0.8f});
  EXPECT_EQ(same[0], 0.0f);
  EXPECT_EQ(same[1], 0.0f);
  // Parts that do not cover the row, or a centre of another size: errors.
  EXPECT_THROW(recentre_rows(row.data(), 1, 2, {1}, {0, 0}), Error);
  EXPECT_THROW(recentre_rows(row.data(), 1, 2, {2}, {0}), Error);
}

double cosine(const float* a, const float* b, std::size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < n; ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / std::sqrt(aa * bb);
}

TEST(DomainCentre, CentringOnTheDomainSeparatesClassesThatShareAnOffset) {
  // 6 classes x 8 rows in 16 dimensions: each row = a shared offset (the
  // domain's direction away from the training centre) + its class's direction
  // + noise, L2-normalised as the model's embeddings are.
  const std::size_t dim = 16, classes = 6, per = 8, n = classes * per;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> offset(dim), rows(n * dim);
  for (auto& v : offset) v = 2.0f * normal(rng);
  std::vector<std::vector<float>> direction(classes, std::vector<float>(dim));
  for (auto& d : direction)
    for (auto& v : d) v = normal(rng);
  for (std::size_t r = 0; r < n; ++r) {
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) {
      float& v = rows[r * dim + d];
      v = offset[d] + direction[r / per][d] + 0.5f * normal(rng);
      norm += v * v;
    }
    for (std::size_t d = 0; d < dim; ++d) rows[r * dim + d] /= static_cast<float>(std::sqrt(norm));
  }
  auto mean_cosines = [&](const std::vector<float>& x) {
    double same = 0, different = 0;
    std::size_t ns = 0, nd = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        const double c = cosine(&x[i * dim], &x[j * dim], dim);
        (i / per == j / per ? (same += c, ns++) : (different += c, nd++));
      }
    return std::pair{same / ns, different / nd};
  };
  const auto [same_before, different_before] = mean_cosines(rows);
  std::vector<float> centred = rows;
  recentre_rows(centred.data(), n, dim, {dim}, mean_of_files(rows, n, dim));
  const auto [same_after, different_after] = mean_cosines(centred);
  EXPECT_GT(different_before, 0.6);  // the shared offset: strangers look alike
  EXPECT_LT(different_after, 0.05);   // centred: about orthogonal
  // The gap between a class and the others widens.
  EXPECT_GT(same_after - different_after, 1.5 * (same_before - different_before));
}

}  // namespace
}  // namespace oneshot
