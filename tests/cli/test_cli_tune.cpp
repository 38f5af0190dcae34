// `oneshot-audio tune` and `tune-report`: studies resumed across runs and
// shared by worker processes, best.toml, the training objective end to end,
// and the report's figures.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/config.h"
#include "support/synthetic_dataset.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string cli() { return test::cli_path().string(); }

struct TrialRow {
  int number = 0;
  std::string state, value;
};

// The rows of tune-report's trial table: "  NUMBER  STATE  VALUE ...".
std::vector<TrialRow> trial_rows(const std::string& report) {
  std::vector<TrialRow> rows;
  const std::regex row(R"(^\s*(\d+)\s+(running|complete|failed|pruned)\s+(\S+)\s)");
  std::istringstream in(report);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) rows.push_back({std::stoi(m[1]), m[2], m[3]});
  }
  return rows;
}

std::string report_of(const fs::path& db) {
  std::string out;
  EXPECT_EQ(test::run_command(cli() + " tune-report --study 'sqlite:///" + db.string() + "'", &out), 0) << out;
  return out;
}

TEST(CliTune, BraninStudyResumesWithTwoWorkersAndWritesBestToml) {
  TempDir dir;
  const fs::path db = dir / "s.db";
  std::string out;
  const std::string tune = cli() + " tune --objective branin --study '" + db.string() + "' --workers 2";
  ASSERT_EQ(test::run_command(tune + " --trials 12", &out), 0) << out;
  EXPECT_EQ(trial_rows(report_of(db)).size(), 12u);
  ASSERT_EQ(test::run_command(tune + " --trials 5", &out), 0) << out;

  const std::string report = report_of(db);
  const auto rows = trial_rows(report);
  ASSERT_EQ(rows.size(), 17u) << report;
  std::set<int> numbers;
  for (const auto& r : rows) {
    EXPECT_EQ(r.state, "complete") << report;
    numbers.insert(r.number);
  }
  EXPECT_EQ(numbers.size(), 17u) << "a trial listed twice:\n" << report;
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), 16);

  // The report's best is the lowest value of the table, and best.toml holds its parameters.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(report, m, std::regex(R"(Best: trial (\d+), value (\S+))"))) << report;
  double lowest = 1e300;
  for (const auto& r : rows) lowest = std::min(lowest, std::stod(r.value));
  EXPECT_NEAR(std::stod(m[2]), lowest, 1e-5 * std::abs(lowest) + 1e-9);
  ASSERT_TRUE(fs::exists(dir / "best.toml"));
  // Branin's keys are not run-config keys: best.toml holds the [branin] overrides only.
  const std::string best = read_file(dir / "best.toml");
  EXPECT_TRUE(std::regex_search(best, std::regex(R"(\[branin\]\s*\nx1 = -?[0-9.eE+-]+\s*\nx2 = [0-9.eE+-]+)"))) << best;
  EXPECT_NE(read_file(dir / "best.toml").find("trial " + std::string(m[1])), std::string::npos);

  // Figures beside the study by default, or in --out.
  for (const char* name : {"trials", "param-branin.x1", "param-branin.x2"}) {
    for (const char* ext : {".png", ".svg"}) {
      const fs::path file = dir / "tune-report" / (std::string(name) + ext);
      ASSERT_TRUE(fs::exists(file)) << file << "\n" << report;
      EXPECT_GT(fs::file_size(file), 500u) << file;
    }
  }
  std::string out2;
  ASSERT_EQ(test::run_command(cli() + " tune-report --study '" + db.string() + "' --out '" + (dir / "figs").string() + "'", &out2), 0) << out2;
  EXPECT_EQ(read_file(dir / "figs" / "trials.png").substr(1, 3), "PNG");
  EXPECT_NE(read_file(dir / "figs" / "trials.svg").find("<svg"), std::string::npos);
}

TEST(CliTune, UnknownObjectiveAndMissingDataAreClearErrors) {
  TempDir dir;
  std::string out;
  EXPECT_NE(test::run_command(cli() + " tune --objective nope --study '" + (dir / "s.db").string() + "' --trials 1", &out), 0);
  EXPECT_NE(out.find("no objective \"nope\""), std::string::npos) << out;
  EXPECT_NE(out.find("train"), std::string::npos) << out;  // listed among the available ones
  EXPECT_NE(test::run_command(cli() + " tune --study '" + (dir / "s.db").string() + "' --trials 1", &out), 0);
  EXPECT_NE(out.find("--data"), std::string::npos) << out;
  // A split that does not fit (4 classes; 5 test and 5 validation asked) fails before the feature cache is
  // written into the data, naming what to lower.
  const fs::path data = test::write_small_dataset(dir.path(), 4, 3, 8000, 0.5);
  EXPECT_NE(test::run_command(cli() + " tune --data '" + data.string() + "' --study '" + (dir / "s.db").string() +
                                  "' --trials 1",
                              &out),
            0);
  EXPECT_NE(out.find("--set split.n_test="), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(data / ".oneshot-cache")) << out;
  // So does a tune.n_val that leaves too few classes to train on (4 training classes, 3 carved).
  EXPECT_NE(test::run_command(cli() + " tune --data '" + data.string() + "' --study '" + (dir / "s.db").string() +
                                  "' --trials 1 --set split.n_test=0 --set split.n_val=0 --set tune.n_val=3",
                              &out),
            0);
  EXPECT_NE(out.find("tune.n_val = 3.0000 gives 3 validation class(es) out of the 4"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(data / ".oneshot-cache")) << out;
}

// A dataset and network small enough that a trial takes about a second: the
// original recipe (these tests are of the tuning machinery) made tiny.
const std::string kTinyRun =
    " --config '" + (fs::path(ONESHOT_FIXTURES) / "../../configs/original.toml").string() + "'"
    " --set features.log=floor --set train.pairs=batch"
    " --set features.sample_rate=8000 --set features.duration=0.5 --set features.n_fft=256"
    " --set features.hop_length=128 --set features.n_mels=16"
    " --set model.n_filters=4 --set model.n_dense=8 --set model.n_conv_layers=1"
    " --set train.batch_size=8 --set train.val_episodes=20 --set train.threads=1"
    " --set train.bn_recalibration=0"
    " --set split.n_test=2 --set split.n_val=0 --set tune.n_val=2 --set tune.max_epochs=1";

fs::path make_dataset(const TempDir& dir) { return test::write_small_dataset(dir.path(), 8, 6, 8000, 0.5); }

TEST(CliTune, TrainObjectiveRunsTrialsOnValidationClassesCarvedFromTraining) {
  TempDir dir;
  const fs::path data = make_dataset(dir);
  write_file_atomic(dir / "space.toml",
                    "[train]\nlearning_rate = { loguniform = [5e-4, 1e-2] }\n[model]\ndist = { choice = [\"l1\", \"l2\"] }\n");
  const fs::path db = dir / "study.db";
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " tune --data '" + data.string() + "' --layout esc50 --cache '" +
                                  (dir / "cache").string() + "' --study '" + db.string() + "' --trials 2 --space '" +
                                  (dir / "space.toml").string() + "'" + kTinyRun,
                              &out),
            0)
      << out;
  // The features went to --cache, not beside the data.
  EXPECT_FALSE(fs::is_empty(dir / "cache"));
  EXPECT_FALSE(fs::exists(data / ".oneshot-cache"));
  const std::string report = report_of(db);
  const auto rows = trial_rows(report);
  ASSERT_EQ(rows.size(), 2u) << report;
  for (const auto& r : rows) {
    EXPECT_EQ(r.state, "complete") << report;
    const double v = std::stod(r.value);
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  // best.toml is a full run config that `train --config` accepts, with the tuned values.
  const Config best = Config::load(dir / "best.toml", {});
  EXPECT_EQ(best.model.n_filters, 4);
  EXPECT_TRUE(best.was_set("train.learning_rate"));
  EXPECT_GE(best.train.learning_rate, 5e-4);
  EXPECT_LE(best.train.learning_rate, 1e-2);
}

TEST(CliTune, ModelTooDeepForTheInputIsAFailedTrialWithItsReason) {
  TempDir dir;
  const fs::path data = make_dataset(dir);
  write_file_atomic(dir / "space.toml", "[model]\nn_conv_layers = { choice = [8] }\n");
  const fs::path db = dir / "study.db";
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " tune --data '" + data.string() + "' --study '" + db.string() +
                                  "' --trials 1 --space '" + (dir / "space.toml").string() + "'" + kTinyRun,
                              &out),
            0)
      << out;
  const std::string report = report_of(db);
  const auto rows = trial_rows(report);
  ASSERT_EQ(rows.size(), 1u) << report;
  EXPECT_EQ(rows[0].state, "failed") << report;
  EXPECT_NE(report.find("too small for 8 convolution layers"), std::string::npos) << report;
  EXPECT_NE(out.find("no complete trial yet"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
