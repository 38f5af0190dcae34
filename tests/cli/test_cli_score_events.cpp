// `oneshot-audio score-events`: hand-computed counts in each output format,
// --iou reaching the matching, bad lists reported with file and line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

// dog: 3 references, 3 estimates, 1 match at IoU 0.3 (IoU 0.9: TP; 0.25: not;
// another file: not); cat: 1 and 1, IoU exactly 0.3 (a match only below 0.3);
// bird only in the estimate.
void write_lists(const TempDir& dir) {
  std::ofstream(dir / "ref.tsv") << "filename\tonset\toffset\tevent_label\n"
                                    "a.wav\t1\t2\tdog\n"
                                    "a.wav\t5\t6\tdog\n"
                                    "b.wav\t0\t1\tdog\n"
                                    "a.wav\t10\t20\tcat\n";
  std::ofstream(dir / "est.tsv") << "filename\tonset\toffset\tevent_label\tscore\n"
                                    "a.wav\t1.1\t2.1\tdog\t0.9\n"
                                    "a.wav\t5.5\t7\tdog\t0.8\n"
                                    "c.wav\t0\t1\tdog\t0.7\n"
                                    "a.wav\t10\t13\tcat\t0.6\n"
                                    "a.wav\t0\t1\tbird\t0.5\n";
}

std::string command(const TempDir& dir, const std::string& extra = "") {
  return test::cli_path().string() + " score-events --reference '" + (dir / "ref.tsv").string() + "' --estimate '" +
         (dir / "est.tsv").string() + "'" + extra;
}

TEST(CliScoreEvents, TablePerLabelMacroAndMicro) {
  TempDir dir;
  write_lists(dir);
  std::string out;
  ASSERT_EQ(test::run_command(command(dir), &out), 0) << out;
  // label ref est TP FP FN precision recall F
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\ndog +3 +3 +1 +2 +2 +0\.333 +0\.333 +0\.333\n)"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\ncat +1 +1 +0 +1 +1 +0\.000 +0\.000 +0\.000\n)"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nbird\* +0 +1 +0 +1 +0 +0\.000 +0\.000 +0\.000\n)"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nmacro \(3 labels\) +0\.111 +0\.111 +0\.111\n)"))) << out;
  // micro: 4 references, 5 estimates, 1 TP: P 0.2, R 0.25, F 2/9.
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nmicro +4 +5 +1 +4 +3 +0\.200 +0\.250 +0\.222\n)"))) << out;
  EXPECT_NE(out.find("IoU > 0.3"), std::string::npos) << out;
}

TEST(CliScoreEvents, JsonAndIouOption) {
  TempDir dir;
  write_lists(dir);
  std::string out;
  // At --iou 0.2 the cat pair (IoU 0.3) and the second dog pair (0.25) match too.
  ASSERT_EQ(test::run_command(command(dir, " --format json --iou 0.2") + " 2>/dev/null", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_DOUBLE_EQ(j["iou_threshold"].get<double>(), 0.2);
  EXPECT_EQ(j["micro"]["tp"].get<int>(), 3);
  EXPECT_EQ(j["micro"]["fn"].get<int>(), 1);
  EXPECT_EQ(j["micro"]["fp"].get<int>(), 2);
  ASSERT_EQ(j["labels"].size(), 3u);
  EXPECT_EQ(j["labels"][0]["label"], "bird");
  EXPECT_FALSE(j["labels"][0]["in_reference"].get<bool>());
  EXPECT_EQ(j["labels"][1]["label"], "cat");
  EXPECT_DOUBLE_EQ(j["labels"][1]["f_measure"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["labels"][2]["f_measure"].get<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(j["macro"]["f_measure"].get<double>(), (0 + 1 + 2.0 / 3) / 3);
}

TEST(CliScoreEvents, Csv) {
  TempDir dir;
  write_lists(dir);
  std::string out;
  ASSERT_EQ(test::run_command(command(dir, " --format csv"), &out), 0) << out;
  EXPECT_EQ(out.rfind("scope,label,reference,estimate,tp,fp,fn,precision,recall,f_measure\n", 0), 0u) << out;
  EXPECT_NE(out.find("\nlabel,dog,3,3,1,2,2,0.333333,0.333333,0.333333\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nlabel_only_in_estimate,bird,0,1,0,1,0,"), std::string::npos) << out;
  EXPECT_NE(out.find("\nmacro,,,,,,,0.111111,0.111111,0.111111\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nmicro,,4,5,1,4,3,0.200000,0.250000,0.222222\n"), std::string::npos) << out;
}

TEST(CliScoreEvents, BadListsAndOptionsAreClearErrors) {
  TempDir dir;
  write_lists(dir);
  std::ofstream(dir / "est.tsv") << "a.wav\t1\t2\tdog\na.wav\t3\tx\tdog\na.wav 5 6 dog\n";
  std::string out;
  EXPECT_EQ(test::run_command(command(dir), &out), 1) << out;
  EXPECT_NE(out.find("2 bad lines in event list " + (dir / "est.tsv").string()), std::string::npos) << out;
  EXPECT_NE(out.find("est.tsv line 2: offset 'x' is not a number"), std::string::npos) << out;
  EXPECT_NE(out.find("est.tsv line 3: expected 4 or 5 tab-separated columns"), std::string::npos) << out;

  fs::remove(dir / "est.tsv");
  EXPECT_EQ(test::run_command(command(dir), &out), 1) << out;
  EXPECT_NE(out.find("est.tsv: event list not found"), std::string::npos) << out;

  write_lists(dir);
  EXPECT_NE(test::run_command(command(dir, " --iou 1"), &out), 0) << out;
  EXPECT_NE(out.find("--iou"), std::string::npos) << out;
  EXPECT_NE(test::run_command(test::cli_path().string() + " score-events --estimate x", &out), 0);
  EXPECT_NE(out.find("--reference is required"), std::string::npos) << out;
}

TEST(CliScoreEvents, WarnsWhenNoFilenameIsShared) {
  TempDir dir;
  std::ofstream(dir / "ref.tsv") << "a.wav\t1\t2\tdog\n";
  std::ofstream(dir / "est.tsv") << "/data/a.wav\t1\t2\tdog\n";
  std::string out;
  ASSERT_EQ(test::run_command(command(dir), &out), 0) << out;
  EXPECT_NE(out.find("warning: no filename appears in both lists"), std::string::npos) << out;
}

// The same references as a Raven table per recording and the same estimates
// as an Audacity label track per recording score exactly as the TSV lists do,
// matched on the recordings' names.
TEST(CliScoreEvents, RavenAndAudacityTablesScoreAsTheTsvLists) {
  TempDir dir;
  write_lists(dir);
  std::ofstream(dir / "ref.txt") <<  // a.wav and b.wav, Raven's columns, two views of selection 1
      "Selection\tView\tChannel\tBegin File\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
      "1\tWaveform 1\t1\ta.wav\t1\t2\tdog\n"
      "1\tSpectrogram 1\t1\ta.wav\t1\t2\tdog\n"
      "2\tSpectrogram 1\t1\ta.wav\t5\t6\tdog\n"
      "3\tSpectrogram 1\t1\tb.wav\t0\t1\tdog\n"
      "4\tSpectrogram 1\t1\ta.wav\t10\t20\tcat\n";
  std::ofstream(dir / "a.labels.txt") << "1.100000\t2.100000\tdog\n5.500000\t7.000000\tdog\n"
                                         "10.000000\t13.000000\tcat\n0.000000\t1.000000\tbird\n";
  std::string tsv, tables, mixed;
  ASSERT_EQ(test::run_command(command(dir, " --format json") + " 2>/dev/null", &tsv), 0) << tsv;
  const std::string base = test::cli_path().string() + " score-events --format json --reference '";
  ASSERT_EQ(test::run_command(base + (dir / "ref.txt").string() + "' --estimate '" + (dir / "a.labels.txt").string() +
                                  "' 2>/dev/null",
                              &tables),
            0)
      << tables;
  const auto t = nlohmann::json::parse(tsv), r = nlohmann::json::parse(tables);
  // The TSV estimate's c.wav event is not in the Audacity track (a.wav only): one estimate fewer, the same matches.
  EXPECT_EQ(r["micro"]["tp"], t["micro"]["tp"]);
  EXPECT_EQ(r["micro"]["reference"], t["micro"]["reference"]);
  EXPECT_EQ(r["micro"]["estimate"].get<int>(), t["micro"]["estimate"].get<int>() - 1);
  // A TSV reference against the Audacity track: matched on "a", the stem of a.wav.
  ASSERT_EQ(test::run_command(base + (dir / "ref.tsv").string() + "' --estimate '" + (dir / "a.labels.txt").string() +
                                  "' 2>/dev/null",
                              &mixed),
            0)
      << mixed;
  EXPECT_EQ(nlohmann::json::parse(mixed)["micro"]["tp"], t["micro"]["tp"]);

  // Two recordings that differ only in folder cannot be told apart by stem: an error naming both.
  std::ofstream(dir / "two.tsv") << "x/a.wav\t1\t2\tdog\ny/a.wav\t1\t2\tdog\n";
  std::string out;
  EXPECT_EQ(test::run_command(base + (dir / "two.tsv").string() + "' --estimate '" + (dir / "a.labels.txt").string() +
                                  "'",
                              &out),
            1)
      << out;
  EXPECT_NE(out.find("'x/a.wav' and 'y/a.wav'"), std::string::npos) << out;
  // A bad Audacity line is named with its file and line.
  std::ofstream(dir / "bad.labels.txt") << "1\t2\tdog\n3\t2\tdog\n";
  EXPECT_EQ(test::run_command(base + (dir / "ref.tsv").string() + "' --estimate '" + (dir / "bad.labels.txt").string() +
                                  "'",
                              &out),
            1)
      << out;
  EXPECT_NE(out.find("bad.labels.txt line 2: onset 3 is after offset 2"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
