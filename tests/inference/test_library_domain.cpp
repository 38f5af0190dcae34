// A library with a domain scores every window as the model's head scores the
// window and the examples each re-centred on the domain's mean, part by part
// (the learned embedding, then the band statistics), computed here by hand;
// and a domain and calibration that disagree are named as damage. With a
// calibration against the domain's cohort, scores are AS-normalised against
// the domain's windows (centred), never the training cohort, with K half
// of the cohort: worked by hand from the head's scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstring>
#include <random>

#include "core/error.h"
#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

TEST(LibraryDomain, ScoresAreTheHeadsOnEmbeddingsCentredPartByPart) {
  test::TempDir dir;
  auto run = test::tiny_run(dir, "band_stats");
  const std::int64_t dim = run->embedding_dim();
  const std::vector<std::size_t> parts = run->embedding_parts();
  ASSERT_EQ(parts, (std::vector<std::size_t>{static_cast<std::size_t>(dim - 3 * 32), 3 * 32}));
  torch::manual_seed(7);
  const torch::Tensor examples = torch::randn({6, dim}), windows = torch::randn({5, dim});
  std::vector<float> centre(static_cast<std::size_t>(dim));
  for (std::size_t d = 0; d < centre.size(); ++d) centre[d] = 0.3f * std::sin(static_cast<float>(d));
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    for (int c = 0; c < 2; ++c) {
      std::vector<LibraryExample> rows;
      for (int i = 0; i < 3; ++i) {
        LibraryExample e;
        e.source = "/c" + std::to_string(c) + "-" + std::to_string(i) + ".wav";
        const torch::Tensor row = examples[c * 3 + i].contiguous();
        e.embedding.assign(row.data_ptr<float>(), row.data_ptr<float>() + dim);
        rows.push_back(std::move(e));
      }
      lib.add_examples(c == 0 ? "bell" : "dog", false, rows);
    }
  }
  const ClassLibrary plain = ClassLibrary::open_read_only(dir / "lib.db");
  ScoringOptions options;
  options.threshold = 0.0;  // no calibration here
  LibraryScorer before(plain, *run, options);
  EXPECT_FALSE(before.domain_centred());
  const std::vector<double> raw = before.window_scores(windows);
  {
    ClassLibrary lib = ClassLibrary::open(dir / "lib.db");
    DomainCentre d;
    d.mean = centre;
    d.files = d.windows = 1;
    lib.set_domain(d);
  }
  const ClassLibrary centred = ClassLibrary::open_read_only(dir / "lib.db");
  LibraryScorer scorer(centred, *run, options);
  EXPECT_TRUE(scorer.domain_centred());
  const std::vector<double> scores = scorer.window_scores(windows);
  const torch::Tensor s = run->score(test::recentred_by_hand(windows, parts, centre), test::recentred_by_hand(examples, parts, centre))
                              .to(torch::kDouble);  // (5, 6)
  double moved = 0;
  for (int64_t w = 0; w < 5; ++w)
    for (int64_t c = 0; c < 2; ++c) {
      const double expected = s[w].narrow(0, c * 3, 3).mean().item<double>();  // mean over the class's examples
      EXPECT_NEAR(scores[static_cast<std::size_t>(w * 2 + c)], expected, 1e-5 * std::max(1.0, std::abs(expected)));
      moved = std::max(moved, std::abs(scores[static_cast<std::size_t>(w * 2 + c)] - raw[static_cast<std::size_t>(w * 2 + c)]));
    }
  EXPECT_GT(moved, 1e-3);  // the centre changed the scores

  // A calibration made without the domain, beside a domain: damage, named.
  {
    ClassLibrary lib = ClassLibrary::open(dir / "lib.db");
    Calibration c;
    c.method = "simulated";
    c.domain_centred = false;
    lib.set_calibration(c);
  }
  const std::string uncentred = test::error_of([&] { LibraryScorer(ClassLibrary::open_read_only(dir / "lib.db"), *run, options); });
  EXPECT_NE(uncentred.find("calibration was made without it"), std::string::npos) << uncentred;
  // And a centred calibration without a domain.
  {
    ClassLibrary lib = ClassLibrary::open(dir / "lib.db");
    lib.set_domain(std::nullopt);
    Calibration c;
    c.method = "simulated";
    c.domain_centred = true;
    lib.set_calibration(c);
  }
  EXPECT_THROW(LibraryScorer(ClassLibrary::open_read_only(dir / "lib.db"), *run, options), Error);
}

// Mean and population deviation of the k highest of v.
std::pair<double, double> top_k(std::vector<double> v, std::size_t k) {
  std::sort(v.begin(), v.end(), std::greater<double>());
  double m = 0, q = 0;
  for (std::size_t i = 0; i < k; ++i) m += v[i];
  m /= static_cast<double>(k);
  for (std::size_t i = 0; i < k; ++i) q += (v[i] - m) * (v[i] - m);
  return {m, std::sqrt(q / static_cast<double>(k))};
}

TEST(LibraryDomain, AgainstTheDomainsCohortScoresAreASNormalisedOnItsCentredWindows) {
  test::TempDir dir;
  auto run = test::tiny_run(dir, "band_stats");
  const std::int64_t dim = run->embedding_dim();
  const std::vector<std::size_t> parts = run->embedding_parts();
  torch::manual_seed(11);
  const torch::Tensor examples = torch::randn({4, dim}), windows = torch::randn({3, dim});
  const torch::Tensor members = torch::randn({20, dim}), training = torch::randn({30, dim});
  std::vector<float> centre(static_cast<std::size_t>(dim));
  for (std::size_t d = 0; d < centre.size(); ++d) centre[d] = 0.2f * std::cos(static_cast<float>(d));
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    test::enrol_bell_and_dog(lib, examples);
    lib.set_cohort(test::cohort_of(training));  // the training cohort: stored, and not to be used
    DomainCentre d;
    d.mean = centre;
    d.files = 20;
    d.windows = 20;
    for (int64_t i = 0; i < 20; ++i) d.cohort.push_back(test::row_of(members, i));
    lib.set_domain(d);
    Calibration c;
    c.method = "simulated";
    c.far = 0.05;
    c.far_curve = {{1e-4, 3.0, 0.9}, {0.5, -3.0, 0.0}};
    c.normalised = c.domain_centred = true;
    c.cohort = "domain";
    lib.set_calibration(c);
  }
  ScoringOptions options;
  LibraryScorer scorer(ClassLibrary::open_read_only(dir / "lib.db"), *run, options);
  ASSERT_TRUE(scorer.normalised());
  EXPECT_EQ(scorer.cohort_size(), 20u);
  const std::vector<double> scores = scorer.window_scores(windows);

  const torch::Tensor e = test::recentred_by_hand(examples, parts, centre), w = test::recentred_by_hand(windows, parts, centre),
                      m = test::recentred_by_hand(members, parts, centre);
  const std::size_t k = 10;  // half the 20 windows (the library's K is 100)
  auto class_score = [&](const torch::Tensor& x, int64_t c) {  // mean over the class's 2 examples
    return run->score(x.unsqueeze(0), e.narrow(0, c * 2, 2)).to(torch::kDouble).mean().item<double>();
  };
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<double> class_side;
    for (int64_t i = 0; i < 20; ++i) class_side.push_back(class_score(m[i], c));
    const auto [mc, sc] = top_k(class_side, k);
    for (int64_t q = 0; q < 3; ++q) {
      const torch::Tensor against = run->score(w[q].unsqueeze(0), m).to(torch::kDouble).contiguous();
      const auto [mw, sw] = top_k(std::vector<double>(against.data_ptr<double>(), against.data_ptr<double>() + 20), k);
      const double s = class_score(w[q], c);
      const double expected = 0.5 * ((s - mc) / sc + (s - mw) / sw);
      EXPECT_NEAR(scores[static_cast<std::size_t>(q * 2 + c)], expected, 1e-4 * std::max(1.0, std::abs(expected)));
    }
  }
  // A calibration against the domain's cohort with no cohort to use: damage, named.
  {
    ClassLibrary lib = ClassLibrary::open(dir / "lib.db");
    DomainCentre d = *lib.domain();
    d.cohort.clear();
    lib.set_domain(d);
  }
  const std::string no_cohort = test::error_of([&] { LibraryScorer(ClassLibrary::open_read_only(dir / "lib.db"), *run, options); });
  EXPECT_NE(no_cohort.find("domain's cohort"), std::string::npos) << no_cohort;
}

}  // namespace
}  // namespace oneshot
