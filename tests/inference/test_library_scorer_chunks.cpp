// LibraryScorer scores windows against every example a few windows at a time
// (a 12-hour enrolment's 69,120 examples against the 251-clip cohort was a
// 139 MB table, twice): the chunked scores equal the whole table's, computed
// here with the model's head and the published aggregates (mean or max over a
// class's examples) by brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>

#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "tiny_run.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

TEST(LibraryScorerChunks, ManyWindowsAgainstManyExamplesGiveTheWholeTablesScores) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::int64_t dim = run->embedding_dim();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  const std::vector<std::string> classes{"bell", "dog", "rain"};
  const std::size_t per_class = 700;  // 2,100 examples: 1,200 windows need several chunks
  std::vector<std::vector<float>> embeddings;
  std::vector<std::size_t> example_class;
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    for (std::size_t c = 0; c < classes.size(); ++c) {
      std::vector<LibraryExample> rows;
      for (std::size_t i = 0; i < per_class; ++i) {
        LibraryExample e;
        e.source = "/" + classes[c] + std::to_string(i) + ".wav";
        for (std::int64_t d = 0; d < dim; ++d) e.embedding.push_back(normal(rng) + static_cast<float>(c));
        embeddings.push_back(e.embedding);
        example_class.push_back(c);
        rows.push_back(std::move(e));
      }
      lib.add_examples(classes[c], false, rows);
    }
  }
  const torch::Tensor windows = torch::randn({1200, dim});
  torch::Tensor examples = torch::empty({static_cast<int64_t>(embeddings.size()), dim});
  for (std::size_t e = 0; e < embeddings.size(); ++e)
    std::memcpy(examples[static_cast<int64_t>(e)].data_ptr<float>(), embeddings[e].data(), dim * sizeof(float));
  const torch::Tensor whole = run->score(windows, examples).to(torch::kDouble).contiguous();  // (1200, 2100)
  const auto table = whole.accessor<double, 2>();
  const ClassLibrary library = ClassLibrary::open_read_only(dir / "lib.db");
  for (const std::string how : {"mean", "max"}) {
    ScoringOptions options;
    options.aggregate = how;
    LibraryScorer scorer(library, *run, options);
    ASSERT_EQ(scorer.names(), classes);
    const std::vector<double> scores = scorer.window_scores(windows);
    ASSERT_EQ(scores.size(), 1200 * classes.size());
    for (std::size_t w = 0; w < 1200; ++w)
      for (std::size_t c = 0; c < classes.size(); ++c) {
        double expected = how == "max" ? -std::numeric_limits<double>::infinity() : 0.0;
        for (std::size_t e = 0; e < embeddings.size(); ++e) {
          if (example_class[e] != c) continue;
          const double s = table[static_cast<int64_t>(w)][static_cast<int64_t>(e)];
          expected = how == "max" ? std::max(expected, s) : expected + s / per_class;
        }
        // Relative, at float32's scale: the model scores a chunk's windows in another batch, whose float32
        // products round differently (-412.687953775 against -412.687954298, 1.3e-9, was seen on another
        // CPU); a chunking mistake gives another window's or class's score, far outside this.
        ASSERT_NEAR(scores[w * classes.size() + c], expected, 1e-6 * std::max(1.0, std::abs(expected)))
            << how << " window " << w << " class " << c;
      }
  }
}

// A class listed with no examples (all deleted by another tool) is damage,
// named: it used to drop silently out of classify's answers.
TEST(LibraryScorerChunks, AClassWithNoExamplesIsNamedAsDamage) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    LibraryExample e;
    e.source = "/bell.wav";
    e.embedding.assign(static_cast<std::size_t>(run->embedding_dim()), 0.1f);
    lib.add_examples("bell", false, {e});
    lib.add_examples("dog", false, {});  // listed, with no examples
  }
  const ClassLibrary library = ClassLibrary::open_read_only(dir / "lib.db");
  try {
    LibraryScorer scorer(library, *run, ScoringOptions{});
    FAIL() << "a class with no examples was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\"dog\" has no examples"), std::string::npos) << what;
    EXPECT_NE(what.find("lib.db"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace oneshot
