// `oneshot-audio evaluate --protocol verification` end to end on a small
// synthetic run: pair counts that follow from the split, rates in range, the
// threshold from the training classes or given, --checkpoint last's own
// result names, and verification-only flags refused with other protocols.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "support/synthetic_dataset.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

std::string cli() { return test::cli_path().string(); }

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

TEST(CliEvaluate, VerificationProtocolOnBothCheckpoints) {
  TempDir tmp;
  const fs::path run = tmp / "run";
  // 12 classes x 8 clips: 4 test, 3 validation, 5 training classes; one short epoch of a small model.
  const fs::path& data = test::shared_small_dataset(12, 8, 22050, 1.0);
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " train --quiet --threads 1 --data " + data.string() + " --run " + run.string() +
                                  " --cache " + (tmp / "cache").string() +
                                  " --set features.sample_rate=22050 --set features.duration=1.0"
                                  " --set features.n_fft=1024 --set features.n_mels=32 --set model.n_filters=8"
                                  " --set model.n_dense=32 --set model.n_conv_layers=2 --set train.val_episodes=100"
                                  " --set split.n_test=4 --set split.n_val=3 --set train.epochs=1",
                              &out),
            0)
      << out;

  const std::string evaluate = cli() + " evaluate --quiet --no-plots --run " + run.string();
  // A read-only report.html is refused before any work, results/ untouched
  // (it used to be named only after results/*.json had been overwritten).
  {
    const fs::path report = run / "report.html";
    test::write_text(report, "old report\n");
    fs::permissions(report, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
    EXPECT_NE(test::run_command(evaluate + " --protocol verification --draws 100", &out), 0) << out;
    EXPECT_NE(out.find("report.html"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(run / "results" / "test_verification.json")) << "results written before the check";
    fs::permissions(report, fs::perms::owner_write, fs::perm_options::add);
  }
  // Figures of an earlier evaluation of this result would stand beside the new numbers in the report:
  // --no-plots removes them (once the result is written); the run's other figures stay.
  fs::create_directories(run / "results");
  for (const char* figure : {"test_verification_det.png", "test_verification_histogram.svg", "training_curves.png"})
    test::write_text(run / "results" / figure, "an earlier figure\n");
  ASSERT_EQ(test::run_command(evaluate + " --protocol verification --draws 100", &out), 0) << out;
  EXPECT_NE(out.find("EER"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(run / "results" / "test_verification_det.png"));
  EXPECT_FALSE(fs::exists(run / "results" / "test_verification_histogram.svg"));
  EXPECT_TRUE(fs::exists(run / "results" / "training_curves.png"));
  EXPECT_NE(out.find("removed " + (run / "results" / "test_verification_det.png").string()), std::string::npos) << out;
  EXPECT_NE(out.find("rejected as unknown"), std::string::npos) << out;
  const json v = read_json(run / "results" / "test_verification.json");
  EXPECT_EQ(v.at("checkpoint"), "best");
  EXPECT_EQ(v.at("clips"), 32);
  EXPECT_EQ(v.at("target_pairs"), 4 * 28);         // 4 classes x C(8, 2)
  EXPECT_EQ(v.at("nontarget_pairs"), 496 - 112);   // C(32, 2) less the same-class pairs
  const double eer = v.at("eer").get<double>(), auroc = v.at("auroc").get<double>();
  EXPECT_GE(eer, 0.0);
  EXPECT_LE(eer, 0.5);
  EXPECT_GE(auroc, 0.0);
  EXPECT_LE(auroc, 1.0);
  EXPECT_LE(v.at("far_reached").get<double>(), 0.05);
  EXPECT_EQ(v.at("calibration").at("source"), "training classes");
  EXPECT_EQ(v.at("calibration").at("classes"), 5);
  EXPECT_EQ(v.at("calibration").at("clips"), 40);
  EXPECT_EQ(v.at("enrolment").at("enrolled_classes"), 2);  // half of 4
  EXPECT_EQ(v.at("enrolment").at("draws"), 100);
  EXPECT_EQ(v.at("enrolment").at("threshold"), v.at("calibration").at("threshold"));
  EXPECT_NE(read_file(run / "report.html").find("test_verification"), std::string::npos);

  // last.pt's model, under its own names; a given threshold and enrolled classes.
  ASSERT_EQ(test::run_command(evaluate + " --protocol verification --checkpoint last --split val --threshold 0"
                                         " --enrol-classes 3 --draws 50",
                              &out),
            0)
      << out;
  const json last = read_json(run / "results" / "val_verification_last.json");
  EXPECT_EQ(last.at("checkpoint"), "last");
  EXPECT_EQ(last.at("calibration").at("source"), "given");
  EXPECT_EQ(last.at("enrolment").at("threshold"), 0.0);
  EXPECT_EQ(last.at("enrolment").at("enrolled_classes"), 3);
  EXPECT_EQ(last.at("enrolment").at("unknown_queries"), 0);  // all 3 validation classes enrolled
  ASSERT_EQ(test::run_command(evaluate + " --checkpoint last", &out), 0) << out;
  EXPECT_EQ(read_json(run / "results" / "test_grid_last.json").at("checkpoint"), "last");

  // Verification's flags with another protocol are refused, naming the flag.
  EXPECT_NE(test::run_command(evaluate + " --protocol grid --far 0.1", &out), 0);
  EXPECT_NE(out.find("--far applies to --protocol verification only"), std::string::npos) << out;
  // More enrolled classes than the split has: refused before the model loads (a run without its
  // weights says so, not "train the run first"), naming the split's count.
  fs::rename(run / "best.pt", tmp / "best.pt");
  EXPECT_NE(test::run_command(evaluate + " --protocol verification --enrol-classes 9", &out), 0);
  EXPECT_NE(out.find("--enrol-classes 9: the test split has 4 classes (" + (run / "split.json").string() +
                     "); give at most 4"),
            std::string::npos)
      << out;
  fs::rename(tmp / "best.pt", run / "best.pt");
  // Draws past a million (2e9 ran for days) are refused naming the range.
  EXPECT_NE(test::run_command(evaluate + " --protocol verification --draws 2000000000", &out), 0);
  EXPECT_NE(out.find("--draws"), std::string::npos) << out;
  EXPECT_NE(out.find("1000000"), std::string::npos) << out;

  // Scores made as a library with a domain makes them: their own result, beside the raw one.
  ASSERT_EQ(test::run_command(evaluate + " --protocol verification --draws 50 --domain split --score-norm as-norm"
                                         " --cohort-top-k 20",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("centred on the evaluated clips, AS-norm against them"), std::string::npos) << out;
  const json domain = read_json(run / "results" / "test_verification_centred_asnorm.json");
  EXPECT_EQ(domain.at("parameters").at("scoring").at("cohort"), "evaluated clips");
  EXPECT_EQ(domain.at("parameters").at("scoring").at("cohort_top_k"), 20);
  EXPECT_EQ(domain.at("target_pairs"), v.at("target_pairs"));
  EXPECT_NE(domain.at("eer"), v.at("eer")) << "the same scores as the raw result";
  EXPECT_EQ(read_json(run / "results" / "test_verification.json").at("eer"), v.at("eer")) << "the raw result changed";
  EXPECT_NE(test::run_command(evaluate + " --protocol grid --domain split", &out), 0);
  EXPECT_NE(out.find("--domain applies to --protocol verification only"), std::string::npos) << out;
  EXPECT_NE(test::run_command(evaluate + " --protocol verification --cohort-top-k 15", &out), 0);
  EXPECT_NE(out.find("--cohort-top-k applies to --score-norm as-norm only"), std::string::npos) << out;
  EXPECT_NE(test::run_command(evaluate + " --protocol verification --score-norm as-norm --cohort-top-k 1", &out), 0);
  EXPECT_NE(out.find("--cohort-top-k"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
