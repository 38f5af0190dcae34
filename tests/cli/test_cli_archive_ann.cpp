// index --ann and search --approx end to end on the demo (issue 19 item 3):
// the approximate search of a small archive (every window a candidate) gives
// exact search's hits; `index --ann ivf` alone rebuilds the index without a
// run; a stale index (a recording indexed since) says so and still finds the
// new windows; a damaged or missing index is a named error with the way out,
// never a crash; knobs of the other index kind and out of range are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/cli_run.h"
#include "support/demo_run.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

using Result = test::CliResult;
std::string q(const fs::path& p) { return test::quoted(p); }
Result run(const std::string& args, bool stdout_only = false) {
  return stdout_only ? test::run_cli_stdout(args) : test::run_cli(args);
}

// The hits of a --format json answer: (file, onset, best window) and score.
struct Hit {
  std::string file;
  double onset = 0, score = 0;
  std::int64_t window = 0;
};
std::vector<Hit> hits_of(const std::string& json) {
  std::vector<Hit> out;
  const nlohmann::json doc = nlohmann::json::parse(json);  // kept: a range-for over a temporary's member dangles
  for (const auto& h : doc.at("hits"))
    out.push_back({h.at("file"), h.at("onset_s"), h.at("score"), h.at("best_window_id")});
  return out;
}

void expect_same_hits(const std::vector<Hit>& a, const std::vector<Hit>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].file, b[i].file) << "hit " << i;
    EXPECT_EQ(a[i].window, b[i].window) << "hit " << i;
    EXPECT_DOUBLE_EQ(a[i].onset, b[i].onset) << "hit " << i;
    EXPECT_NEAR(a[i].score, b[i].score, 1e-6 * std::max(1.0, std::fabs(a[i].score))) << "hit " << i;
  }
}

TEST(ArchiveAnnCli, ApproximateSearchMatchesExactStaysHonestWhenStaleAndRefusesADamagedIndex) {
  const fs::path& demo = test::shared_demo();
  ASSERT_FALSE(demo.empty());
  test::TempDir dir;
  const fs::path archive = dir / "demo.archive";
  const fs::path ann = dir / "demo.archive.ann";
  const std::string classes = test::demo_test_classes(demo).front();
  const auto clips = test::demo_clips_of(demo, classes);
  ASSERT_GE(clips.size(), 2u);
  // The class's clips and a few others, with the HNSW index built after them.
  std::string files;
  for (const auto& c : clips) files += " " + q(c);
  for (const auto& other : test::demo_test_classes(demo))
    if (other != classes)
      for (const auto& c : test::demo_clips_of(demo, other)) files += " " + q(c);
  Result r = run("index --quiet --run " + q(demo / "run") + " --archive " + q(archive) + " --ann hnsw" + files);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("approximate index (hnsw): " + ann.string()), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(ann));

  const std::string search = "search --archive " + q(archive) + " --example " + q(clips[0]) + " --top 8 --format json";
  const Result exact = run(search, true);
  ASSERT_EQ(exact.status, 0) << exact.out;
  const Result approx = run(search + " --approx", true);
  ASSERT_EQ(approx.status, 0) << approx.out;
  // Fewer windows than candidates: every window is a candidate, so the hits are exact search's.
  ASSERT_FALSE(hits_of(exact.out).empty()) << exact.out;
  expect_same_hits(hits_of(exact.out), hits_of(approx.out));
  ASSERT_FALSE(hits_of(approx.out).empty()) << approx.out;
  EXPECT_EQ(hits_of(approx.out).front().file, fs::absolute(clips[0]).lexically_normal().string());
  r = run(search + " --approx");
  EXPECT_NE(r.out.find("approximate (hnsw index"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("out of date"), std::string::npos) << r.out;

  // Knobs: of the other kind, out of range, without --approx.
  r = run(search + " --approx --nprobe 4");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--nprobe is the IVF index's knob"), std::string::npos) << r.out;
  r = run(search + " --approx --candidates 1000000");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--candidates: must be a whole number from 1 to 100000, got 1000000"), std::string::npos) << r.out;
  r = run(search + " --ef 64");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("belong to --approx"), std::string::npos) << r.out;

  // index --ann alone (no run, no recordings): an IVF index of the archive as it is.
  r = run("index --archive " + q(archive) + " --ann ivf");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("approximate index (ivf, "), std::string::npos) << r.out;
  const Result ivf = run(search + " --approx --nprobe 1", true);
  ASSERT_EQ(ivf.status, 0) << ivf.out;
  ASSERT_FALSE(hits_of(ivf.out).empty()) << ivf.out;
  EXPECT_EQ(hits_of(ivf.out).front().file, fs::absolute(clips[0]).lexically_normal().string());

  // Stale: the long recording indexed since; its windows are scored exactly, and search says so.
  r = run("index --quiet --run " + q(demo / "run") + " --archive " + q(archive) + " " + q(demo / "long" / "recording.wav"));
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string long_search = "search --archive " + q(archive) + " --example " + q(demo / "long" / "recording.wav") +
                                  " --segment 0:5 --top 5 --format json";
  r = run(long_search + " --approx");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("the approximate index is out of date"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--ann ivf` brings it up to date"), std::string::npos) << r.out;
  const Result stale = run(long_search + " --approx", true);
  const Result stale_exact = run(long_search, true);
  ASSERT_EQ(stale.status, 0);
  expect_same_hits(hits_of(stale_exact.out), hits_of(stale.out));

  // Damaged: truncated. A named error with the way out, exit 1, no crash.
  const auto size = fs::file_size(ann);
  fs::resize_file(ann, size / 2);
  r = run(search + " --approx");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(ann.string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("damaged"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("index --archive " + archive.string() + " --ann"), std::string::npos) << r.out;
  // Missing: the way to build one, and exact search still works.
  fs::remove(ann);
  r = run(search + " --approx");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no approximate index"), std::string::npos) << r.out;
  EXPECT_EQ(run(search, true).status, 0);

  // Another archive's index, of the same model and with the same window ids
  // (an archive made again at the same path, its old index left beside it;
  // or one copied over): refused, naming it, not searched.
  const fs::path again = dir / "again.archive";
  r = run("index --quiet --run " + q(demo / "run") + " --archive " + q(again) + " --ann hnsw" + files);
  ASSERT_EQ(r.status, 0) << r.out;
  fs::remove(again);
  r = run("index --quiet --run " + q(demo / "run") + " --archive " + q(again) + files);
  ASSERT_EQ(r.status, 0) << r.out;
  r = run("search --archive " + q(again) + " --example " + q(clips[0]) + " --approx");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("the approximate index was built for another archive"), std::string::npos) << r.out;
  r = run("index --archive " + q(archive) + " --ann hnsw");
  ASSERT_EQ(r.status, 0) << r.out;
  fs::copy_file(ann, fs::path(again.string() + ".ann"), fs::copy_options::overwrite_existing);
  r = run("search --archive " + q(again) + " --example " + q(clips[0]) + " --approx");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("the approximate index was built for another archive"), std::string::npos) << r.out;

  // The index's file never replaces another file (the archive itself, a
  // recording), and search --out never replaces what search reads.
  const auto archive_bytes = fs::file_size(archive);
  r = run("index --archive " + q(archive) + " --ann hnsw --ann-file " + q(archive));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("exists and is not an approximate index"), std::string::npos) << r.out;
  EXPECT_EQ(fs::file_size(archive), archive_bytes);
  const fs::path example = dir / "example.wav";  // a copy: the shared demo's clips stay as they are if this fails
  fs::copy_file(clips[0], example);
  for (const fs::path& input : {archive, example}) {
    const auto before = fs::file_size(input);
    r = run("search --archive " + q(archive) + " --example " + q(example) + " --out " + q(input));
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("which search reads: give --out another file name"), std::string::npos) << r.out;
    EXPECT_EQ(fs::file_size(input), before) << input;
  }
  EXPECT_EQ(run(search, true).status, 0);
}

}  // namespace
}  // namespace oneshot
