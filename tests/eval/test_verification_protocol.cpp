// The verification protocol on a tiny model: every pair scored by the head,
// counts that follow from the class sizes, metrics and the enrol-one-clip task
// equal to the model-free functions on the same scores, the threshold fixed
// on other classes, and the files, figures and report section.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/evaluate_run.h"
#include "eval/report.h"
#include "eval_fixtures.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

TEST(VerificationProtocol, PairScoresAreTheHeadOnEachPair) {
  auto features = test::synthetic_features({4, 3, 5});
  auto model = test::tiny_model(features);
  const auto subset = subset_of_classes(features, {0, 1, 2});
  const auto embeddings = embed_subset(model, features, subset);
  const auto scores = pair_score_matrix(model, embeddings);
  const std::size_t n = subset.clips.size();
  ASSERT_EQ(scores.size(), n * n);
  model->eval();
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const double head = model->head(embeddings[i].unsqueeze(0), embeddings[j].unsqueeze(0)).item<double>();
      EXPECT_NEAR(scores[i * n + j], head, 1e-5 * std::max(1.0, std::abs(head))) << i << "," << j;
    }
}

TEST(VerificationProtocol, CountsMetricsAndEnrolmentFollowFromThePairScores) {
  auto features = test::synthetic_features({6, 5, 4, 3, 6, 5});
  auto model = test::tiny_model(features);
  const auto subset = subset_of_classes(features, {0, 1, 2, 3});
  const auto embeddings = embed_subset(model, features, subset);

  // The threshold on the other classes (4 and 5): every different-class pair of their clips.
  const auto training = subset_of_classes(features, {4, 5});
  const auto train_embeddings = embed_subset(model, features, training);
  const auto calibration = calibrate_on_pairs(model, train_embeddings, training, 0.05);
  EXPECT_EQ(calibration.classes, 2);
  EXPECT_EQ(calibration.clips, 11);
  EXPECT_EQ(calibration.target_pairs, 15 + 10);
  EXPECT_EQ(calibration.nontarget_pairs, 6 * 5);
  std::vector<double> train_t, train_n;
  split_pair_scores(pair_score_matrix(model, train_embeddings), training.labels, train_t, train_n);
  EXPECT_EQ(calibration.threshold, threshold_at_far(train_n, 0.05));
  EXPECT_DOUBLE_EQ(calibration.frr, frr_at_far(train_t, train_n, 0.05).frr);

  VerificationOptions options;
  options.draws = 200;
  options.seed = 4;
  const auto result = evaluate_verification(model, embeddings, subset, calibration, options);
  // Same-class pairs: C(6,2) + C(5,2) + C(4,2) + C(3,2); all pairs C(18,2).
  EXPECT_EQ(result.metrics.target_pairs, 15 + 10 + 6 + 3);
  EXPECT_EQ(result.metrics.nontarget_pairs, 153 - 34);
  EXPECT_EQ(result.clips, 18);
  EXPECT_EQ(result.classes, (std::vector<int>{0, 1, 2, 3}));
  const auto scores = pair_score_matrix(model, embeddings);
  std::vector<double> t, n;
  split_pair_scores(scores, subset.labels, t, n);
  EXPECT_EQ(result.metrics.eer, equal_error_rate(t, n));
  EXPECT_EQ(result.metrics.auroc, auroc(t, n));
  EXPECT_EQ(result.metrics.at_far.frr, frr_at_far(t, n, 0.05).frr);
  std::int64_t histogram_pairs = 0;
  for (auto c : result.metrics.histogram.target) histogram_pairs += c;
  EXPECT_EQ(histogram_pairs, 34);
  EnrolmentOptions enrol;
  enrol.draws = 200;
  enrol.seed = 4;
  enrol.threshold = calibration.threshold;
  const auto expected = enrol_one_clip(scores, subset.labels, enrol);
  EXPECT_EQ(result.enrolment.enrolled_classes, 2);  // half of 4
  EXPECT_EQ(result.enrolment.top1, expected.top1);
  EXPECT_EQ(result.enrolment.accepted, expected.accepted);
  EXPECT_EQ(result.enrolment.rejected, expected.rejected);
  EXPECT_GT(result.enrolment.top1, 0.5);  // the synthetic classes are separable: 2-way, chance 0.5

  // A split of one clip per class has no same-class pair.
  auto singles = test::synthetic_features({1, 1, 1});
  auto single_model = test::tiny_model(singles);
  const auto single_subset = subset_of_classes(singles, {0, 1, 2});
  EXPECT_THROW(evaluate_verification(single_model, embed_subset(single_model, singles, single_subset), single_subset,
                                     calibration, options),
               Error);
}

TEST(VerificationProtocol, CalibrationFromThePairMatrixIsTheStreamedOne) {
  // evaluate --score-norm as-norm calibrates on the training clips' pair
  // matrix, which their own-cohort statistics needed anyway: the same
  // threshold and FRR as streaming the pairs, raw and normalised.
  auto features = test::synthetic_features({6, 5, 4, 6});
  auto model = test::tiny_model(features);
  const auto training = subset_of_classes(features, {0, 1, 2, 3});
  const auto embeddings = embed_subset(model, features, training);
  const auto pairs = pair_score_matrix(model, embeddings);
  const auto stats = cohort_statistics_of_pairs(pairs, training.clips.size(), 5);
  for (const std::vector<CohortStats>& s : {std::vector<CohortStats>{}, stats}) {
    const auto streamed = calibrate_on_pairs(model, embeddings, training, 0.1, s);
    const auto from_matrix = calibrate_on_pairs(pairs, training, 0.1, s);
    EXPECT_DOUBLE_EQ(from_matrix.threshold, streamed.threshold);
    EXPECT_DOUBLE_EQ(from_matrix.frr, streamed.frr);
    EXPECT_EQ(from_matrix.target_pairs, streamed.target_pairs);
    EXPECT_EQ(from_matrix.nontarget_pairs, streamed.nontarget_pairs);
  }
  // Normalising moves the threshold (else the loop above would test one thing twice).
  EXPECT_NE(calibrate_on_pairs(pairs, training, 0.1, stats).threshold, calibrate_on_pairs(pairs, training, 0.1).threshold);
  const std::vector<double> short_matrix(pairs.begin(), pairs.end() - 1);
  EXPECT_THROW(calibrate_on_pairs(short_matrix, training, 0.1), Error);
}

TEST(VerificationProtocol, WritesResultsFiguresAndTheReportSection) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  fs::create_directories(run);
  auto features = test::synthetic_features({6, 6, 6, 6, 6, 6});
  auto model = test::tiny_model(features);
  SplitEvaluationOptions options;
  options.progress = false;
  options.split = "val";
  options.checkpoint = "last";
  VerificationOptions verification;
  verification.draws = 50;
  verification.bins = 12;
  const auto eval = evaluate_verification_split(model, features, {0, 1, 2}, {3, 4, 5}, std::nullopt, run, options,
                                                verification);
  EXPECT_EQ(eval.name, "val_verification_last");
  const fs::path results = run / "results";
  const json j = json::parse(read_file(results / "val_verification_last.json"));
  EXPECT_EQ(j.at("protocol"), "verification");
  EXPECT_EQ(j.at("checkpoint"), "last");
  EXPECT_EQ(j.at("target_pairs"), 3 * 15);
  EXPECT_EQ(j.at("nontarget_pairs"), 153 - 45);
  EXPECT_EQ(j.at("eer").get<double>(), eval.result.metrics.eer);
  EXPECT_EQ(j.at("calibration").at("source"), "training classes");
  EXPECT_EQ(j.at("calibration").at("clips"), 18);
  EXPECT_EQ(j.at("enrolment").at("threshold").get<double>(), eval.result.calibration.threshold);
  EXPECT_EQ(j.at("histogram").at("edges").size(), 13u);
  EXPECT_GE(eval.result.embedding_seconds, 0.0);
  // Histogram CSV: a header and one row per bin, counts summing to the pairs.
  std::istringstream csv(read_file(results / "val_verification_last_histogram.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "bin_low,bin_high,same_class,different_class");
  std::int64_t same = 0, different = 0, rows = 0;
  while (std::getline(csv, line)) {
    std::istringstream cells(line);
    std::string lo, hi, s, d;
    std::getline(cells, lo, ',');
    std::getline(cells, hi, ',');
    std::getline(cells, s, ',');
    std::getline(cells, d, ',');
    same += std::stoll(s), different += std::stoll(d), ++rows;
  }
  EXPECT_EQ(rows, 12);
  EXPECT_EQ(same, 45);
  EXPECT_EQ(different, 108);
  const std::string det = read_file(results / "val_verification_last_det.csv");
  EXPECT_EQ(det.rfind("threshold,far,frr\n-inf,1,0\n", 0), 0u) << det.substr(0, 80);
  for (const char* stem : {"val_verification_last_det", "val_verification_last_histogram"}) {
    EXPECT_TRUE(fs::exists(results / (std::string(stem) + ".png"))) << stem;
    EXPECT_TRUE(fs::exists(results / (std::string(stem) + ".svg"))) << stem;
  }
  const std::string report = read_file(write_report(run));
  EXPECT_NE(report.find("enrol one clip"), std::string::npos);
  EXPECT_NE(report.find("val_verification_last_det.png"), std::string::npos);  // the figure's alt text
  EXPECT_NE(report.find("false rejects"), std::string::npos);
  EXPECT_EQ(report.find("<h2>Figures</h2>"), std::string::npos) << "the figures belong to their section";

  // A given threshold skips the training classes; none and no classes is an error.
  options.checkpoint = "best";
  const auto given = evaluate_verification_split(model, features, {0, 1, 2}, {}, 1.5, run, options, verification);
  EXPECT_EQ(given.name, "val_verification");
  EXPECT_EQ(given.result.calibration.source, "given");
  EXPECT_EQ(given.result.enrolment.threshold, 1.5);
  EXPECT_THROW(evaluate_verification_split(model, features, {0, 1, 2}, {3}, std::nullopt, run, options, verification),
               Error);
}

// The brute-force reference of the normalised protocol: the head on rows
// centred part by part on their own mean, each score AS-normalised with the
// top-k of both clips' scores against the cohort, a clip never its own member.
std::vector<CohortStats> brute_force_stats(const std::vector<double>& cohort_scores, std::size_t rows,
                                           std::size_t members, std::size_t k, bool skip_self) {
  std::vector<CohortStats> out;
  for (std::size_t i = 0; i < rows; ++i) {
    std::vector<double> row;
    for (std::size_t j = 0; j < members; ++j)
      if (!skip_self || j != i) row.push_back(cohort_scores[i * members + j]);
    std::sort(row.begin(), row.end(), std::greater<>());
    row.resize(std::min(k, row.size()));
    double mean = 0, var = 0;
    for (double v : row) mean += v / static_cast<double>(row.size());
    for (double v : row) var += (v - mean) * (v - mean) / static_cast<double>(row.size());
    out.push_back({mean, std::max(std::sqrt(var), kMinCohortSd)});
  }
  return out;
}

torch::Tensor brute_force_centred(const torch::Tensor& e, const std::vector<std::size_t>& parts) {
  auto out = e.clone();
  const auto mean = e.mean(0);
  int64_t offset = 0;
  for (auto part : parts) {
    const auto len = static_cast<int64_t>(part);
    auto slice = e.narrow(1, offset, len);
    auto centred = slice - mean.narrow(0, offset, len);
    out.narrow(1, offset, len).copy_(centred * (slice.norm(2, 1, true) / centred.norm(2, 1, true)));
    offset += len;
  }
  return out;
}

TEST(VerificationProtocol, ScoresCentredOnTheSplitAndASNormalisedAsALibraryMakesThem) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  fs::create_directories(run);
  auto features = test::synthetic_features({5, 4, 6, 5, 4, 6});
  ModelConfig config = test::tiny_model_config();
  config.descriptor = "band_stats";  // two parts, each centred on its own slice
  config.head = "distance";          // a clip scores highest against itself: the cohort must leave it out
  torch::manual_seed(5);
  Siamese model(config, test::kMels, test::kFrames);
  model->eval();
  ASSERT_EQ(model->embedding_parts().size(), 2u);
  const auto subset = subset_of_classes(features, {0, 1, 2});
  const auto training = subset_of_classes(features, {3, 4, 5});
  const auto raw = embed_subset(model, features, subset);
  const auto raw_train = embed_subset(model, features, training);
  const std::size_t n = subset.clips.size(), n_train = training.clips.size();
  ASSERT_EQ(n, 15u);
  ASSERT_EQ(n_train, 15u);

  const auto centred = centred_on_own_mean(model, raw);
  EXPECT_TRUE(torch::allclose(centred, brute_force_centred(raw, model->embedding_parts()), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(centred, raw, 1e-3, 1e-4));

  SplitEvaluationOptions options;
  options.progress = false;
  options.plots = false;
  options.split = "val";
  VerificationOptions verification;
  verification.draws = 50;
  verification.scoring.cohort_top_k = 12;

  // Centred on the split, AS-norm against its own clips: K = min(12, n / 2 = 7, floored at 10) = 10.
  verification.scoring.centre_on_split = true;
  verification.scoring.as_norm = true;
  const auto domain = evaluate_verification_split(model, features, {0, 1, 2}, {3, 4, 5}, std::nullopt, run, options,
                                                  verification);
  EXPECT_EQ(domain.name, "val_verification_centred_asnorm");
  const auto c_scores = pair_score_matrix(model, brute_force_centred(raw, model->embedding_parts()));
  const auto c_stats = brute_force_stats(c_scores, n, n, 10, true);
  std::vector<double> normalised(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      normalised[i * n + j] = 0.5 * ((c_scores[i * n + j] - c_stats[i].mean) / c_stats[i].sd +
                                     (c_scores[i * n + j] - c_stats[j].mean) / c_stats[j].sd);
  std::vector<double> t, nt;
  split_pair_scores(normalised, subset.labels, t, nt);
  EXPECT_NEAR(domain.result.metrics.eer, equal_error_rate(t, nt), 1e-9);
  EXPECT_NEAR(domain.result.metrics.auroc, auroc(t, nt), 1e-9);
  EXPECT_NEAR(domain.result.metrics.target_mean,
              std::accumulate(t.begin(), t.end(), 0.0) / static_cast<double>(t.size()), 1e-4);
  // The threshold: the training clips centred on their own mean and normalised against themselves.
  const auto tc_scores = pair_score_matrix(model, brute_force_centred(raw_train, model->embedding_parts()));
  const auto tc_stats = brute_force_stats(tc_scores, n_train, n_train, 10, true);
  std::vector<double> tt, tn;
  for (std::size_t i = 0; i < n_train; ++i)
    for (std::size_t j = i + 1; j < n_train; ++j) {
      const double s = 0.5 * ((tc_scores[i * n_train + j] - tc_stats[i].mean) / tc_stats[i].sd +
                              (tc_scores[i * n_train + j] - tc_stats[j].mean) / tc_stats[j].sd);
      (training.labels[i] == training.labels[j] ? tt : tn).push_back(s);
    }
  EXPECT_NEAR(domain.result.calibration.threshold, threshold_at_far(tn, 0.05), 1e-4);
  const json j = json::parse(read_file(run / "results" / "val_verification_centred_asnorm.json"));
  EXPECT_EQ(j.at("parameters").at("scoring").at("centre"), "split");
  EXPECT_EQ(j.at("parameters").at("scoring").at("cohort"), "evaluated clips");

  // AS-norm alone: the cohort is the training clips, uncentred, K = 12.
  verification.scoring.centre_on_split = false;
  const auto training_cohort = evaluate_verification_split(model, features, {0, 1, 2}, {3, 4, 5}, std::nullopt, run,
                                                           options, verification);
  EXPECT_EQ(training_cohort.name, "val_verification_asnorm");
  std::vector<double> cross(n * n_train);
  {
    torch::NoGradGuard no_grad;
    const auto m = model->score_matrix(raw, raw_train).to(torch::kDouble).contiguous();
    std::copy_n(m.data_ptr<double>(), n * n_train, cross.begin());
  }
  const auto r_scores = pair_score_matrix(model, raw);
  const auto r_stats = brute_force_stats(cross, n, n_train, 12, false);
  t.clear(), nt.clear();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = i + 1; k < n; ++k)
      (subset.labels[i] == subset.labels[k] ? t : nt)
          .push_back(0.5 * ((r_scores[i * n + k] - r_stats[i].mean) / r_stats[i].sd +
                            (r_scores[i * n + k] - r_stats[k].mean) / r_stats[k].sd));
  EXPECT_NEAR(training_cohort.result.metrics.eer, equal_error_rate(t, nt), 1e-9);
  EXPECT_NEAR(training_cohort.result.metrics.auroc, auroc(t, nt), 1e-9);
  // A given threshold still needs the training clips as the cohort; with none it is an error, named.
  const auto message = test::error_of([&] {
    evaluate_verification_split(model, features, {0, 1, 2}, {}, 0.5, run, options, verification);
  });
  EXPECT_NE(message.find("training clips"), std::string::npos) << message;

  // Statistics that do not match the clips are refused.
  EXPECT_THROW(evaluate_verification(model, raw, subset, domain.result.calibration, verification,
                                     std::vector<CohortStats>(n - 1)),
               Error);
}

}  // namespace
}  // namespace oneshot
