// `oneshot-audio run`, `evaluate` and `demo` end to end: the results JSON
// agrees with its own confusion matrix, the CSV tables, figures and report
// are written, a second `run` resumes instead of retraining, and the demo's
// test accuracy is well above chance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "support/synthetic_dataset.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

std::string cli() { return test::cli_path().string(); }

// A small model on short clips: a run of a few epochs takes seconds.
const char* const kSmallRun =
    " --quiet --threads 1 --set features.sample_rate=22050 --set features.duration=1.0"
    " --set features.n_fft=1024 --set features.n_mels=32 --set model.n_filters=8 --set model.n_dense=32"
    " --set model.n_conv_layers=2 --set train.val_episodes=200 --set train.patience=2";

const fs::path& synthetic_root() { return test::shared_small_dataset(12, 8, 22050, 1.0); }

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

// The JSON's numbers must follow from its confusion matrix: row sums are the
// decisions per class, the diagonal over the row sum is the class accuracy,
// the mean is the mean of the class accuracies (grid).
void expect_consistent(const json& r) {
  const auto& confusion = r.at("confusion");
  const auto& classes = r.at("classes");
  ASSERT_EQ(confusion.size(), classes.size());
  ASSERT_EQ(r.at("class_accuracy").size(), classes.size());
  std::int64_t total = 0;
  double accuracy_sum = 0;
  int queried = 0;
  for (std::size_t i = 0; i < confusion.size(); ++i) {
    ASSERT_EQ(confusion[i].size(), classes.size());
    std::int64_t row = 0;
    for (const auto& v : confusion[i]) row += v.get<std::int64_t>();
    EXPECT_EQ(row, r.at("class_decisions")[i].get<std::int64_t>()) << "class " << classes[i];
    total += row;
    if (row == 0) continue;
    const double expected = confusion[i][i].get<double>() / static_cast<double>(row);
    EXPECT_NEAR(r.at("class_accuracy")[i].get<double>(), expected, 1e-12) << "class " << classes[i];
    accuracy_sum += expected;
    ++queried;
  }
  EXPECT_EQ(total, r.at("decisions").get<std::int64_t>());
  if (r.at("protocol") == "grid") EXPECT_NEAR(r.at("mean_accuracy").get<double>(), accuracy_sum / queried, 1e-12);
  EXPECT_GE(r.at("seconds").get<double>(), r.at("embedding_seconds").get<double>());
  EXPECT_GT(r.at("embedding_seconds").get<double>(), 0.0);
}

bool starts_with_bytes(const fs::path& path, const std::string& magic) {
  std::ifstream in(path, std::ios::binary);
  std::string head(magic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return in && head == magic;
}

void expect_figure(const fs::path& stem) {
  const fs::path png = stem.string() + ".png", svg = stem.string() + ".svg";
  ASSERT_TRUE(fs::exists(png)) << png;
  ASSERT_TRUE(fs::exists(svg)) << svg;
  EXPECT_TRUE(starts_with_bytes(png, "\x89PNG\r\n\x1a\n")) << png;
  EXPECT_GT(fs::file_size(png), 1000u) << png;
  EXPECT_NE(read_file(svg).find("<svg"), std::string::npos) << svg;
}

// Every artefact `run` promises, for the grid test on the test classes.
void expect_run_outputs(const fs::path& run, std::size_t n_test_classes) {
  const fs::path results = run / "results";
  const json grid = read_json(results / "test_grid.json");
  EXPECT_EQ(grid.at("protocol"), "grid");
  EXPECT_EQ(grid.at("split"), "test");
  EXPECT_EQ(grid.at("classes").size(), n_test_classes);
  expect_consistent(grid);
  const std::string table = read_file(results / "test_grid_class_accuracy.csv");
  EXPECT_EQ(table.rfind("class,accuracy,correct,decisions\n", 0), 0u) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), static_cast<long>(n_test_classes + 1)) << table;
  EXPECT_TRUE(fs::exists(results / "test_grid_confusion.csv"));
  for (const char* figure : {"test_grid_accuracy", "test_grid_confusion", "test_embeddings_pca", "training_curves"})
    expect_figure(results / figure);
  const std::string report = read_file(run / "report.html");
  EXPECT_NE(report.find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(report.find("src=\"http"), std::string::npos) << "the report must open without a network";
  EXPECT_EQ(report.find("src=\"results/"), std::string::npos) << "the report must embed its images";
}

// val_accuracy of the first row of RUN/metrics.csv.
double first_validation_accuracy(const fs::path& run) {
  std::istringstream csv(read_file(run / "metrics.csv"));
  std::string header, row, cell;
  std::getline(csv, header);
  std::getline(csv, row);
  std::istringstream h(header), r(row);
  while (std::getline(h, cell, ',')) {
    std::string value;
    std::getline(r, value, ',');
    if (cell == "val_accuracy") return std::stod(value);
  }
  ADD_FAILURE() << "no val_accuracy column in " << header;
  return 0;
}

std::size_t metrics_rows(const fs::path& run) {
  const std::string csv = read_file(run / "metrics.csv");
  return static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')) - 1;  // less the header
}

TEST(CliRun, SyntheticRunWritesResultsAndResumesThenEvaluatesEpisodes) {
  TempDir tmp;
  const fs::path run = tmp / "run";
  const std::string command = cli() + " run --data " + synthetic_root().string() + " --out " + run.string() +
                              " --cache " + (tmp / "cache").string() + kSmallRun +
                              " --set split.n_test=4 --set split.n_val=3 --set train.epochs=2";
  std::string out;
  ASSERT_EQ(test::run_command(command, &out), 0) << out;
  EXPECT_NE(out.find("grid test on the test classes"), std::string::npos) << out;
  expect_run_outputs(run, 4);
  EXPECT_EQ(metrics_rows(run), 2u);

  // The same command again continues the run: no epoch is trained twice.
  const auto best_time = fs::last_write_time(run / "best.pt");
  ASSERT_EQ(test::run_command(command, &out), 0) << out;
  EXPECT_NE(out.find("continuing"), std::string::npos) << out;
  EXPECT_EQ(metrics_rows(run), 2u);
  EXPECT_EQ(fs::last_write_time(run / "best.pt"), best_time);

  // evaluate needs only the run directory; the flags pick the protocol.
  ASSERT_EQ(test::run_command(cli() + " evaluate --quiet --run " + run.string() +
                                  " --protocol episodes --ways 3 --shots 2 --queries 3 --episodes 400"
                                  " --aggregate prototype --seed 5",
                              &out),
            0)
      << out;
  const json episodes = read_json(run / "results" / "test_episodes_3way_2shot_prototype.json");
  EXPECT_EQ(episodes.at("parameters").at("ways"), 3);
  EXPECT_EQ(episodes.at("parameters").at("shots"), 2);
  EXPECT_EQ(episodes.at("parameters").at("aggregate"), "prototype");
  EXPECT_EQ(episodes.at("decisions"), 400 * 3 * 3);
  expect_consistent(episodes);
  const double std = episodes.at("std").get<double>();
  EXPECT_NEAR(episodes.at("ci95").get<double>(), 1.96 * std / std::sqrt(400.0), 1e-9);
  // The report now lists both results.
  const std::string report = read_file(run / "report.html");
  EXPECT_NE(report.find("test_episodes_3way_2shot_prototype"), std::string::npos);

  // Validation classes on request; a bad run directory is a clear error.
  ASSERT_EQ(test::run_command(cli() + " evaluate --quiet --no-plots --run " + run.string() + " --split val", &out), 0)
      << out;
  EXPECT_EQ(read_json(run / "results" / "val_grid.json").at("classes").size(), 3u);
  EXPECT_NE(test::run_command(cli() + " evaluate --run " + tmp.path().string(), &out), 0);
  EXPECT_NE(out.find("config.toml"), std::string::npos) << out;
}

TEST(CliRun, Esc50MiniRunProducesTheReport) {
  const fs::path mini = test::esc50_mini();
  if (mini.empty()) GTEST_SKIP() << "../shared/data/esc50-mini is absent";
  TempDir tmp;
  std::string out;
  // 6 classes x 4 clips at the real 128 x 431 size: 2 train, 2 validation, 2 test; a tiny model.
  const int rc = test::run_command(
      cli() + " run --quiet --threads 1 --data " + mini.string() + " --out " + (tmp / "run").string() + " --cache " +
          (tmp / "cache").string() +
          " --set model.n_filters=4 --set model.n_dense=16 --set model.n_conv_layers=2 --set split.n_val=2"
          " --set split.n_test=2 --set train.epochs=1 --set train.val_episodes=50",
      &out);
  ASSERT_EQ(rc, 0) << out;
  expect_run_outputs(tmp / "run", 2);
}

// The README's first command: the demo must show a working system, so its
// test accuracy (5 unseen classes, chance 0.2) is checked, not just its files.
TEST(CliRun, DemoScoresWellAboveChanceOnUnseenClasses) {
  TempDir tmp;
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " demo --quiet --out " + (tmp / "demo").string(), &out), 0) << out;
  const fs::path run = tmp / "demo" / "run";
  expect_run_outputs(run, 5);
  const json grid = read_json(run / "results" / "test_grid.json");
  EXPECT_GT(grid.at("mean_accuracy").get<double>(), 0.5) << grid.dump(1);
  EXPECT_NE(out.find("report.html"), std::string::npos) << out;
  // No below-chance start (5-way: chance 0.2), from the very first validation.
  EXPECT_GT(first_validation_accuracy(run), 0.3);
}

// The below-chance start on real sounds: the default recipe's first
// validation (after one 25-step interval) on 10 unseen esc50-dev classes.
TEST(CliRun, Esc50DevFirstValidationIsAboveChance) {
  const fs::path dev = test::esc50_dev();
  if (dev.empty()) GTEST_SKIP() << "../shared/data/esc50-dev is absent";
  TempDir tmp;
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " train --quiet --threads 2 --data " + dev.string() + " --run " +
                                  (tmp / "run").string() + " --cache " + (tmp / "cache").string() +
                                  " --set train.epochs=1 --set split.n_val=10 --set split.n_test=0"
                                  " --set train.val_queries=5 --set train.val_episodes=2000",
                              &out),
            0)
      << out;
  EXPECT_GT(first_validation_accuracy(tmp / "run"), 0.3) << read_file(tmp / "run" / "metrics.csv");
}

// train checks the whole dataset in one pass, as features does: a CSV row
// whose file is missing and two undecodable files are listed in one error,
// and nothing is trained.
TEST(CliRun, TrainListsEveryDatasetProblemAtOnce) {
  test::TempDir tmp;
  const fs::path data = test::write_small_dataset(tmp.path(), 4, 4, 8000, 0.5);
  std::vector<fs::path> audio;
  for (const auto& entry : fs::directory_iterator(data / "audio")) audio.push_back(entry.path());
  std::sort(audio.begin(), audio.end());
  ASSERT_GE(audio.size(), 3u);
  fs::remove(audio[0]);                                   // a row without its file
  std::ofstream(audio[1], std::ios::trunc) << "not audio";  // undecodable
  std::ofstream(audio[2], std::ios::trunc);                 // empty
  std::string out;
  EXPECT_NE(test::run_command(cli() + " train --quiet --data " + data.string() + " --run " +
                                  (tmp.path() / "run").string() + " --cache " + (tmp.path() / "cache").string(),
                              &out),
            0);
  for (int i = 0; i < 3; ++i) EXPECT_NE(out.find(audio[static_cast<std::size_t>(i)].filename().string()), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(tmp.path() / "run" / "best.pt"));
}

// A new run whose split cannot be made fails before the feature step: the
// error names the keys to lower, and no cache is written into the data.
TEST(CliRun, SplitThatDoesNotFitFailsBeforeTheCacheIsBuilt) {
  test::TempDir tmp;
  const fs::path data = test::write_small_dataset(tmp.path(), 4, 3, 8000, 0.5);  // 4 classes; 5 + 5 asked
  std::string out;
  EXPECT_NE(test::run_command(cli() + " train --quiet --data " + data.string() + " --run " +
                                  (tmp.path() / "run").string(),
                              &out),
            0);
  EXPECT_NE(out.find("split.n_test"), std::string::npos) << out;
  EXPECT_NE(out.find("--set split.n_val="), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(data / ".oneshot-cache")) << out;
  EXPECT_FALSE(fs::exists(tmp.path() / "run" / "best.pt"));
}

}  // namespace
}  // namespace oneshot

