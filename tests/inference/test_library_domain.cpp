// A library with a domain scores every window as the model's head scores the
// window and the examples each re-centred on the domain's mean, part by part
// (the learned embedding, then the band statistics), computed here by hand;
// and a domain and calibration that disagree are named as damage.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

// Re-centred by hand: each part minus its slice of the centre, scaled back
// to the part's length before.
torch::Tensor by_hand(const torch::Tensor& x, const std::vector<std::size_t>& parts, const std::vector<float>& centre) {
  torch::Tensor out = x.clone();
  const torch::Tensor c = torch::tensor(centre);
  int64_t at = 0;
  for (const std::size_t len : parts) {
    const auto n = static_cast<int64_t>(len);
    const torch::Tensor part = x.narrow(1, at, n);
    const torch::Tensor moved = part - c.narrow(0, at, n);
    out.narrow(1, at, n).copy_(moved * (part.norm(2, 1, true) / moved.norm(2, 1, true)));
    at += n;
  }
  return out;
}

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
  const torch::Tensor s = run->score(by_hand(windows, parts, centre), by_hand(examples, parts, centre))
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
  try {
    LibraryScorer damaged(ClassLibrary::open_read_only(dir / "lib.db"), *run, options);
    FAIL() << "a domain beside an uncentred calibration was used";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("calibration was made without it"), std::string::npos) << e.what();
  }
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

}  // namespace
}  // namespace oneshot
