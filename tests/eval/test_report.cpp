// Evaluating a split into a run directory, and the self-contained report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/evaluate_run.h"
#include "eval/report.h"
#include "eval_fixtures.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

TEST(Report, Base64AndEscaping) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\x89PNG\r\n\x1a\n", 8)), "iVBORw0KGgo=");
  EXPECT_EQ(html_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
}

// A run directory as the training writes it, minus the weights.
void write_run_files(const fs::path& run) {
  write_file_atomic(run / "config.toml", "[model]\nn_filters = 4\n# <not a tag>\n");
  write_file_atomic(run / "split.json",
                    R"({"train": ["class_a", "class_b"], "val": ["class_c"], "test": ["class_d", "class_e"]})");
  write_file_atomic(run / "run.json", R"({"data_dir": "/data/esc50", "layout": "esc50", "n_clips": 50})");
  write_file_atomic(run / "metrics.csv",
                    "epoch,train_loss,train_accuracy,val_accuracy,val_ci95,seconds,learning_rate\n"
                    "1,0.69,0.5,0.4,0.02,3.5,0.001\n2,0.6,0.6,0.5,0.02,3.4,0.000999\n");
}

TEST(EvaluateSplit, WritesResultsFiguresAndASelfContainedReport) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  fs::create_directories(run);
  write_run_files(run);
  auto features = test::synthetic_features({10, 10, 10, 10, 10});
  auto model = test::tiny_model(features);
  SplitEvaluationOptions options;
  options.progress = false;
  options.config.seed = 3;
  auto eval = evaluate_split(model, features, {3, 4, 1}, run, options);
  EXPECT_EQ(eval.name, "test_grid");
  EXPECT_EQ(eval.result.classes, (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(eval.result.decisions, 3 * 5 * 5);  // floor(10 / 2) queries x 5 support sets per class
  ASSERT_TRUE(fs::exists(run / "results" / "test_grid.json"));
  const auto j = nlohmann::json::parse(read_file(run / "results" / "test_grid.json"));
  EXPECT_EQ(j["classes"], (std::vector<std::string>{"class_b", "class_d", "class_e"}));
  for (const char* stem : {"test_grid_accuracy", "test_grid_confusion", "test_embeddings_pca", "training_curves"}) {
    EXPECT_TRUE(fs::exists(run / "results" / (std::string(stem) + ".png"))) << stem;
    EXPECT_TRUE(fs::exists(run / "results" / (std::string(stem) + ".svg"))) << stem;
  }
  options.config.protocol = "episodes";
  options.config.ways = 3;
  options.config.episodes = 50;
  options.split = "val";
  evaluate_split(model, features, {0, 2, 4}, run, options);
  EXPECT_TRUE(fs::exists(run / "results" / "val_episodes_3way_1shot.json"));

  const fs::path report = write_report(run);
  EXPECT_EQ(report, run / "report.html");
  const std::string html = read_file(report);
  // Self-contained: no external references of any kind.
  for (const char* forbidden : {"http://", "https://", "<link", "<script", "<iframe", "@import", "file:"})
    EXPECT_EQ(html.find(forbidden), std::string::npos) << forbidden;
  // (A manual scan: std::regex recurses per character and overflows the stack on base64.)
  int images = 0;
  for (const std::string attribute : {"src=\"", "href=\""})
    for (std::size_t at = html.find(attribute); at != std::string::npos; at = html.find(attribute, at + 1)) {
      EXPECT_EQ(html.compare(at + attribute.size(), 33, "data:image/png;base64,iVBORw0KGgo"), 0)
          << html.substr(at, 80);
      ++images;
    }
  // Both results' accuracy and confusion figures, two PCA figures, the training curves.
  EXPECT_EQ(images, 7);
  for (const char* text : {"test_grid", "val_episodes_3way_1shot", "class_d", "/data/esc50", "n_filters = 4",
                           "&lt;not a tag&gt;", "learning_rate", "Mean accuracy"})
    EXPECT_NE(html.find(text), std::string::npos) << text;
  EXPECT_EQ(html.find("<not a tag>"), std::string::npos) << "config text must be escaped";
}

TEST(Report, ARunWithoutResultsStillGetsAPage) {
  test::TempDir tmp;
  write_run_files(tmp.path());
  const std::string html = read_file(write_report(tmp.path()));
  EXPECT_NE(html.find("Class split"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_THROW(write_report(tmp / "missing"), Error);
}

}  // namespace
}  // namespace oneshot
