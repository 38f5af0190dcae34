// LibraryScorer reads its library as one snapshot (issue 22): a `library
// --remove` committed by another process between its reads used to leave a
// class with no examples, scored 0, that won every file; an `enroll` committed
// between them ended in a bare map::at. Here another connection commits the
// change from another thread right after the scorer has read the class list.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "tiny_run.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

LibraryExample example(const std::string& source, float value, std::int64_t dim) {
  LibraryExample e;
  e.source = source;
  e.embedding.assign(static_cast<std::size_t>(dim), value);
  e.embedding[0] = -value;
  return e;
}

// Builds a scorer while `change` is committed by another connection right
// after the scorer's class-list query (given half a second to commit).
std::vector<std::string> scorer_names_while(const fs::path& path, RunModel& run,
                                            std::function<void(ClassLibrary&)> change, std::vector<double>* scores) {
  const auto reader_thread = std::this_thread::get_id();
  std::atomic<bool> fired{false};
  std::future<void> writer;
  set_library_statement_hook([&](const std::string& sql) {
    if (std::this_thread::get_id() != reader_thread || sql.find("FROM classes c LEFT JOIN") == std::string::npos ||
        fired.exchange(true))
      return;
    writer = std::async(std::launch::async, [&path, change] {
      ClassLibrary other = ClassLibrary::open(path);
      change(other);
    });
    writer.wait_for(std::chrono::milliseconds(500));
  });
  std::vector<std::string> names;
  std::string error;
  try {
    const ClassLibrary library = ClassLibrary::open_read_only(path);
    LibraryScorer scorer(library, run, ScoringOptions{});
    names = scorer.names();
    *scores = scorer.window_scores(torch::randn({3, run.embedding_dim()}));
  } catch (const std::exception& e) {
    error = e.what();
  }
  set_library_statement_hook(nullptr);
  EXPECT_TRUE(fired.load());
  if (writer.valid()) writer.get();
  EXPECT_EQ(error, "") << "the scorer failed on a change committed during its reads";
  return names;
}

TEST(LibraryScorerSnapshot, AChangeCommittedWhileTheScorerReadsIsSeenWholeOrNotAtAll) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::int64_t dim = run->embedding_dim();
  const fs::path path = dir / "lib.db";
  {
    ClassLibrary lib = ClassLibrary::open_or_create(path, run->library_model());
    lib.add_examples("bell", false, {example("/bell.wav", 0.5f, dim), example("/bell2.wav", 0.25f, dim)});
    lib.add_examples("dog", false, {example("/dog.wav", -0.5f, dim)});
  }
  // A remove between the scorer's reads: the class is scored with its examples (the snapshot before).
  std::vector<double> scores;
  auto names = scorer_names_while(path, *run, [](ClassLibrary& lib) { lib.remove_class("dog"); }, &scores);
  EXPECT_EQ(names, (std::vector<std::string>{"bell", "dog"}));
  ASSERT_EQ(scores.size(), 3u * names.size());
  for (double s : scores) EXPECT_TRUE(std::isfinite(s)) << "a class scored without examples";
  // Scores of each class differ from a constant 0: computed from its examples.
  EXPECT_NE(scores[1], 0.0);
  EXPECT_EQ(ClassLibrary::open_read_only(path).classes().size(), 1u);  // the remove went through after

  // An enrol between them: no bare map::at, and the new class whole or absent.
  names = scorer_names_while(
      path, *run, [dim](ClassLibrary& lib) { lib.add_examples("bird", false, {example("/bird.wav", 0.75f, dim)}); },
      &scores);
  EXPECT_EQ(names, (std::vector<std::string>{"bell"}));
  for (double s : scores) EXPECT_TRUE(std::isfinite(s));
  EXPECT_EQ(ClassLibrary::open_read_only(path).classes().size(), 2u);
}

}  // namespace
}  // namespace oneshot
