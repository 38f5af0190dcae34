// enroll, classify, detect, library and score-events end to end on the demo:
// a small model trained on the demo's synthetic sounds enrols three unseen
// classes from one example each, classifies clips of them (and of a class
// never enrolled), and detects them in a minute of background noise where
// never-enrolled sounds also occur.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/atomic_file.h"
#include "core/npy.h"
#include "data/synthetic.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

std::string cli() { return test::cli_path().string(); }

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  for (std::string field; std::getline(s, field, '\t');) out.push_back(field);
  return out;
}

class EnrollCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new test::TempDir();
    demo_ = tmp_->path() / "demo";
    std::string out;
    ASSERT_EQ(test::run_command(cli() + " demo --quiet --out " + demo_.string(), &out), 0) << out;
    const auto split = nlohmann::json::parse(std::ifstream(demo_ / "run" / "split.json"));
    test_classes_ = split.at("test").get<std::vector<std::string>>();
    ASSERT_GE(test_classes_.size(), 5u);
    library_ = demo_ / "sounds.db";
    for (int i = 0; i < 3; ++i) {
      const std::string& c = test_classes_[static_cast<std::size_t>(i)];
      ASSERT_EQ(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                      library_.string() + " --class " + c + " " +
                                      (demo_ / "examples" / (c + ".wav")).string(),
                                  &out),
                0)
          << out;
    }
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  // The dataset's clips of class `name` (ESC-50 layout of the demo).
  static std::vector<fs::path> clips_of(const std::string& name) {
    std::vector<fs::path> out;
    for (const std::string& line : read_lines(demo_ / "data" / "meta" / "esc50.csv")) {
      std::stringstream s(line);
      std::vector<std::string> cols;
      for (std::string f; std::getline(s, f, ',');) cols.push_back(f);
      if (cols.size() > 3 && cols[3] == name) out.push_back(demo_ / "data" / "audio" / cols[0]);
    }
    return out;
  }

  static nlohmann::json classify_json(const std::vector<fs::path>& files) {
    std::string command = cli() + " classify --format json --library " + library_.string();
    for (const auto& f : files) command += " " + f.string();
    std::string out;
    EXPECT_EQ(test::run_command(command + " 2>/dev/null", &out), 0) << out;
    return nlohmann::json::parse(out);
  }

  // Runs `command` with its N-th write failing (ONESHOT_WRITE_FAULT=enospc@N)
  // for N = 1, 2, ... 16, `fresh()` before each, until its output holds
  // `marker`: that run's status and output, or nothing when no step did.
  static std::optional<std::pair<int, std::string>> run_until_fault(const std::string& command,
                                                                    const std::string& marker,
                                                                    const std::function<void()>& fresh) {
    for (int step = 1; step <= 16; ++step) {
      fresh();
      std::string out;
      const int rc = test::run_command("ONESHOT_WRITE_FAULT=enospc@" + std::to_string(step) + " " + command, &out);
      if (out.find(marker) != std::string::npos) return std::make_pair(rc, out);
    }
    return std::nullopt;
  }

  static nlohmann::json score_json(const fs::path& reference, const fs::path& estimate) {
    std::string out;
    EXPECT_EQ(test::run_command(cli() + " score-events --format json --reference " + reference.string() +
                                    " --estimate " + estimate.string() + " 2>/dev/null",
                                &out),
              0)
        << out;
    return nlohmann::json::parse(out);
  }

  // The scenario's parts: one test runs them all, so the demo trains once
  // (CTest runs every test in its own process).
  void LibraryListsTheEnrolledClassesWithCalibratedThresholds();
  void ClassifiesEnrolledSoundsAndRejectsANeverEnrolledOne();
  void DetectFindsTheEnrolledEventsFarBetterThanChance();
  void DetectReadsAWavStreamFromStandardInputAndPrintsEventsAsTheyEnd();
  void DetectEmbedsAShorterWindowAtItsOwnLengthByDefault();
  void AnotherModelIsRefusedNamingBothFingerprintsUntilReembedded();
  void SilenceAndBadFilesAreRefusedNamingTheFileAndNothingIsAdded();
  void RepeatsAndUselessOptionsAreRefused();
  void AnnotatedSelectionsEnrolAsTheirSegmentsOneByOne();
  void EmbedWritesEveryWindowWithItsIndex();
  void ADamagedLibraryIsNamedAndReembedRepairsIt();
  void ExportedOnnxEmbedsAsEmbedDoesWithTheLibrarysThresholdsInItsCard();
  void OptionsAndSegmentsAreRefusedBeforeTheCalibration();
  void NotesBesideTheRecordingsAreSkippedByEveryCommand();
  void AScorePlotThatCannotBeWrittenKeepsTheRecordingsEvents();
  void PathsThatAreNotUtf8AreWrittenToJsonAsReplacementCharacters();
  void ADomainCentresTheLibraryAndTravelsWithIt();
  void AClassOfSeveralRecordingsIsDecidedOnItsOwnCurve();
  void DetectCentresEachRecordingOnItselfWhereItCan();
  void ClassifyCentresTheFilesClassifiedTogetherWhereItCan();
  void AnUnfinishedDetectLeavesItsPartialListNotAFinishedOne();

  static test::TempDir* tmp_;
  static fs::path demo_, library_;
  static std::vector<std::string> test_classes_;
};

test::TempDir* EnrollCli::tmp_ = nullptr;
fs::path EnrollCli::demo_, EnrollCli::library_;
std::vector<std::string> EnrollCli::test_classes_;

void EnrollCli::LibraryListsTheEnrolledClassesWithCalibratedThresholds() {
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + library_.string(), &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["classes"].size(), 3u);
  ASSERT_TRUE(j.contains("calibration"));
  // --far is the library's: the rate at which files of never-enrolled sounds
  // are accepted as any of its 3 classes, shared out as 1 - (1 - far)^(1/3)
  // a class, which needs a higher threshold than one class alone would.
  const double far = j["calibration"]["far"];
  EXPECT_GT(far, 0);
  EXPECT_LT(far, 0.5);
  ASSERT_TRUE(j["calibration"].contains("library")) << j.dump();
  const auto& shared = j["calibration"]["library"];
  EXPECT_EQ(shared["classes"], 3);
  EXPECT_NEAR(shared["far_per_class"].get<double>(), 1 - std::pow(1 - far, 1.0 / 3), 1e-12);
  const double threshold = shared["threshold"];
  EXPECT_GE(threshold, j["calibration"]["threshold"].get<double>());
  EXPECT_GE(shared["frr"].get<double>(), j["calibration"]["frr"].get<double>());
  // Calibrated on simulated enrolments, on AS-norm scores against the run's
  // training-class clips stored in the library, with a logistic confidence.
  EXPECT_EQ(j["calibration"]["method"], "simulated");
  EXPECT_EQ(j["calibration"]["normalised"], true);
  EXPECT_GT(j["calibration"]["logistic"]["a"].get<double>(), 0);
  EXPECT_EQ(j["settings"]["score_norm"], "as-norm");
  EXPECT_GE(j["cohort"].get<int>(), 10);
  // And the calibration of scores centred on what is scored (detect's recording, classify's batch), at the
  // centred rate: the library's, or the domain default where the library keeps the default.
  ASSERT_TRUE(j.contains("recording_calibration")) << j.dump();
  const double centred = j["recording_calibration"]["library_far"];
  EXPECT_EQ(centred, far == kDefaultLibraryFar ? kDefaultDomainFar : far);
  EXPECT_NEAR(j["recording_calibration"]["far_per_class"].get<double>(), 1 - std::pow(1 - centred, 1.0 / 3), 1e-12);
  EXPECT_TRUE(std::isfinite(j["recording_calibration"]["threshold"].get<double>()));
  // A K that takes the whole cohort no longer adapts: said, with a K that would.
  const int cohort = j["cohort"];
  for (const int k : {cohort, cohort - 1}) {
    const fs::path small_k = tmp_->path() / ("k" + std::to_string(k) + ".db");
    std::string log;
    ASSERT_EQ(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                    small_k.string() + " --cohort-top-k " + std::to_string(k) + " --class a " +
                                    (demo_ / "examples" / (test_classes_[0] + ".wav")).string(),
                                &log),
              0)
        << log;
    EXPECT_EQ(log.find("AS-norm takes all of them") != std::string::npos, k >= cohort) << log;
    if (k >= cohort) EXPECT_NE(log.find("give --cohort-top-k " + std::to_string(cohort / 5)), std::string::npos) << log;
  }
  const int views = j["settings"]["enrol_views"];
  EXPECT_GE(views, 1);
  for (const auto& c : j["classes"]) {
    // A 1 s example is one window of the 1 s model, enrolled as `views` circularly shifted views.
    EXPECT_EQ(c["examples"], views) << c.dump();
    EXPECT_EQ(c["threshold_source"], "calibration");
    EXPECT_DOUBLE_EQ(c["threshold"].get<double>(), threshold);
  }
  EXPECT_EQ(j["model"]["fingerprint"].get<std::string>().size(), 32u);

  // Removing a class shares the rate out over 2 classes: a lower threshold for
  // the library, and the stored 3-class thresholds are no longer listed.
  const fs::path copy = tmp_->path() / "removed.db";
  fs::copy_file(library_, copy, fs::copy_options::overwrite_existing);
  ASSERT_EQ(test::run_command(cli() + " library --remove " + test_classes_[0] + " " + copy.string(), &out), 0) << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &out), 0) << out;
  const auto r = nlohmann::json::parse(out);
  ASSERT_EQ(r["classes"].size(), 2u);
  EXPECT_EQ(r["calibration"]["library"]["classes"], 2);
  EXPECT_LT(r["calibration"]["library"]["threshold"].get<double>(), threshold);
  // No negatives: each class's threshold is the library's for 2 classes, as classify uses it.
  for (const auto& c : r["classes"]) {
    EXPECT_DOUBLE_EQ(c["threshold"].get<double>(), r["calibration"]["library"]["threshold"].get<double>()) << c.dump();
    EXPECT_EQ(c["threshold_source"], "calibration");
  }
  const auto decided = nlohmann::json::parse([&] {
    std::string json;
    EXPECT_EQ(test::run_command(cli() + " classify --format json --library " + copy.string() + " " +
                                    clips_of(test_classes_[1]).front().string() + " 2>/dev/null",
                                &json),
              0);
    return json;
  }());
  EXPECT_DOUBLE_EQ(decided[0]["ranking"][0]["threshold"].get<double>(),
                   r["calibration"]["library"]["threshold"].get<double>());
  ASSERT_EQ(test::run_command(cli() + " library " + copy.string(), &out), 0) << out;
  EXPECT_NE(out.find("with 2 classes"), std::string::npos) << out;
}

void EnrollCli::ClassifiesEnrolledSoundsAndRejectsANeverEnrolledOne() {
  std::size_t right = 0, top1 = 0, total = 0;
  double confidence_enrolled = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string& c = test_classes_[static_cast<std::size_t>(i)];
    auto clips = clips_of(c);
    ASSERT_GE(clips.size(), 5u);
    clips.resize(5);
    for (const auto& r : classify_json(clips)) {
      ++total;
      right += r["decision"] == c;
      // Every ranked class has a confidence in [0, 1], higher for a higher score.
      const auto& ranking = r["ranking"];
      ASSERT_FALSE(ranking.empty());
      top1 += ranking[0]["class"] == c;
      EXPECT_EQ(r["confidence"], ranking[0]["confidence"]);
      for (std::size_t k = 0; k < ranking.size(); ++k) {
        const double p = ranking[k]["confidence"];
        EXPECT_GE(p, 0.0);
        EXPECT_LE(p, 1.0);
        if (k > 0) EXPECT_LE(p, ranking[k - 1]["confidence"].get<double>());
      }
      confidence_enrolled += ranking[0]["confidence"].get<double>() / 15;
      // Accepted: its score is above its threshold, and so its confidence above what the threshold needs.
      const double needed = ranking[0]["confidence_needed"];
      EXPECT_GT(needed, 0.0);
      EXPECT_LT(needed, 1.0);
      const bool above = ranking[0]["confidence"].get<double>() > needed;
      EXPECT_EQ(r["decision"] == "unknown", !above) << r.dump();
      if (r["decision"] == c) EXPECT_GT(ranking[0]["score"].get<double>(), ranking[0]["threshold"].get<double>());
      // Unknown says which class came nearest, with both confidences.
      if (r["decision"] == "unknown")
        EXPECT_EQ(r["reason"].get<std::string>().rfind("below threshold: best " + ranking[0]["class"].get<std::string>() +
                                                           ", confidence ", 0),
                  0u)
            << r["reason"];
    }
  }
  // The right class ranks first for nearly all; at the library's threshold for
  // 3 % false accepts of a FILE (simulated enrolments), five files at a time
  // (not centred), at least 6 of 15 are accepted as it. The demo model trains
  // differently on each CPU: it gave 9 of 15 on an AMD EPYC family 26 (Zen 5)
  // and 6 of 15 on a family 25 (Zen 4), top-1 15 of 15 on both; the issue's
  // failure was 1 of 15. The per-pair threshold before accepted more here (at
  // least 13 of 15) but 0.41 of real clips.
  EXPECT_GE(top1, total - 2) << top1 << " of " << total << " enrolled-class clips ranked right";
  EXPECT_GE(right, 6u) << right << " of " << total << " enrolled-class clips classified right";

  // Clips of the two test classes never enrolled: at the calibrated
  // threshold most must come out "unknown", with a lower confidence.
  std::vector<fs::path> others;
  for (int i = 3; i < 5; ++i) {
    auto clips = clips_of(test_classes_[static_cast<std::size_t>(i)]);
    clips.resize(5);
    others.insert(others.end(), clips.begin(), clips.end());
  }
  std::size_t unknown = 0;
  double confidence_others = 0;
  for (const auto& r : classify_json(others)) {
    unknown += r["decision"] == "unknown";
    confidence_others += r["confidence"].get<double>() / 10;
  }
  EXPECT_GE(unknown, 7u) << unknown << " of 10 never-enrolled clips rejected";
  EXPECT_GT(confidence_enrolled, confidence_others + 0.2);
}

void EnrollCli::DetectFindsTheEnrolledEventsFarBetterThanChance() {
  const fs::path out = tmp_->path() / "detections";
  std::string log;
  ASSERT_EQ(test::run_command(cli() + " detect --quiet --format tsv,raven,audacity --library " + library_.string() +
                                  " --out " + out.string() + " " + (demo_ / "long" / "recording.wav").string(),
                              &log),
            0)
      << log;
  EXPECT_TRUE(fs::exists(out / "recording_scores.png"));
  // The Raven and Audacity tables hold the same events as events.tsv (scored alike against the reference below).
  for (const char* table : {"recording.Table.1.selections.txt", "recording.labels.txt"}) {
    ASSERT_TRUE(fs::exists(out / table)) << table;
    const auto a = score_json(demo_ / "long" / "reference.tsv", out / table);
    const auto b = score_json(demo_ / "long" / "reference.tsv", out / "events.tsv");
    EXPECT_EQ(a["micro"]["estimate"], b["micro"]["estimate"]) << table;
    EXPECT_EQ(a["micro"]["tp"], b["micro"]["tp"]) << table;
  }
  EXPECT_TRUE(fs::exists(out / "recording_scores.svg"));
  // The score column of every event is its confidence in [0, 1].
  const auto lines = read_lines(out / "events.tsv");
  ASSERT_GT(lines.size(), 1u);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto cols = split_tabs(lines[i]);
    ASSERT_EQ(cols.size(), 5u) << lines[i];
    EXPECT_GE(std::stod(cols[4]), 0.0) << lines[i];
    EXPECT_LE(std::stod(cols[4]), 1.0) << lines[i];
  }
  // --format before the recordings takes one value: both files are detected. Two files of one name are refused.
  const fs::path out2 = tmp_->path() / "detections2";
  const std::string clip = (demo_ / "examples" / (test_classes_[0] + ".wav")).string();
  ASSERT_EQ(test::run_command(cli() + " detect --quiet --no-plots --library " + library_.string() + " --out " +
                                  out2.string() + " --format raven,audacity " + clip + " " +
                                  (demo_ / "long" / "recording.wav").string(),
                              &log),
            0)
      << log;
  EXPECT_TRUE(fs::exists(out2 / (test_classes_[0] + ".labels.txt")));
  EXPECT_TRUE(fs::exists(out2 / "recording.labels.txt"));
  fs::create_directories(tmp_->path() / "other");
  fs::copy_file(clip, tmp_->path() / "other" / "recording.wav", fs::copy_options::overwrite_existing);
  EXPECT_NE(test::run_command(cli() + " detect --quiet --no-plots --library " + library_.string() + " --out " +
                                  out2.string() + " " + (demo_ / "long" / "recording.wav").string() + " " +
                                  (tmp_->path() / "other" / "recording.wav").string(),
                              &log),
            0);
  EXPECT_NE(log.find("have the same file name"), std::string::npos) << log;
  // A file whose name holds a tab (events.tsv cannot name it) costs that file
  // alone, named before any work; the others' events are written, and an
  // earlier run's events.tsv is not left behind looking current.
  const fs::path batch = tmp_->path() / "batch", out3 = tmp_->path() / "detections3";
  fs::create_directories(batch);
  fs::create_directories(out3);
  fs::copy_file(demo_ / "long" / "recording.wav", batch / "good.wav", fs::copy_options::overwrite_existing);
  fs::copy_file(clip, batch / "tab\there.wav", fs::copy_options::overwrite_existing);
  std::ofstream(out3 / "events.tsv") << "filename\tonset\toffset\tevent_label\nstale.wav\t0\t1\tstale\n";
  EXPECT_NE(test::run_command(cli() + " detect --quiet --no-plots --library " + library_.string() + " --out " +
                                  out3.string() + " " + batch.string(),
                              &log),
            0);
  EXPECT_NE(log.find("holds a tab"), std::string::npos) << log;
  const std::string kept = read_file(out3 / "events.tsv");
  EXPECT_EQ(kept.find("stale"), std::string::npos) << kept;
  EXPECT_NE(kept.find("good.wav\t"), std::string::npos) << kept;

  const fs::path reference = demo_ / "long" / "reference.tsv";
  const auto detected = score_json(reference, out / "events.tsv");
  const double f = detected["macro"]["f_measure"];
  EXPECT_GE(f, 0.6) << detected.dump();

  // Randomly placed events of the same count, lengths and labels.
  const auto ref_lines = read_lines(reference);
  std::mt19937 rng(3);
  std::ostringstream random_list;
  random_list << "filename\tonset\toffset\tevent_label\n";
  for (std::size_t i = 1; i < ref_lines.size(); ++i) {
    const auto cols = split_tabs(ref_lines[i]);
    const double length = std::stod(cols[2]) - std::stod(cols[1]);
    const double onset = std::uniform_real_distribution<double>(0, 60 - length)(rng);
    random_list << cols[0] << '\t' << onset << '\t' << onset + length << '\t' << cols[3] << '\n';
  }
  const fs::path random_file = tmp_->path() / "random.tsv";
  std::ofstream(random_file) << random_list.str();
  const double f_random = score_json(reference, random_file)["macro"]["f_measure"];
  EXPECT_LE(f_random, 0.2);
  EXPECT_GT(f, f_random + 0.4);
}

// A --window shorter than the model's input is embedded at its own length
// unless --short-windows pad says otherwise: on esc50-dev, 2 s windows scored
// event F 0.308 that way against 0.043 padded (README, "On real sounds").
// Every window is an event at this threshold, so the event scores (each its
// best window's) show which embedding was used.
void EnrollCli::DetectEmbedsAShorterWindowAtItsOwnLengthByDefault() {
  const std::string recording = (demo_ / "long" / "recording.wav").string();
  auto events = [&](const std::string& mode, const std::string& dir) {
    std::string out;
    EXPECT_EQ(test::run_command(cli() + " detect --quiet --no-plots --window 0.5 --threshold -1e6 " + mode +
                                    " --library " + library_.string() + " --out " + (tmp_->path() / dir).string() +
                                    " " + recording + " 2>/dev/null",
                                &out),
              0)
        << out;
    return out;
  };
  const std::string by_default = events("", "short_default"), own = events("--short-windows own", "short_own"),
                    pad = events("--short-windows pad", "short_pad");
  ASSERT_FALSE(by_default.empty());
  EXPECT_EQ(by_default, own);
  EXPECT_NE(own, pad);
}

void EnrollCli::DetectReadsAWavStreamFromStandardInputAndPrintsEventsAsTheyEnd() {
  std::string from_file, from_pipe;
  const std::string recording = (demo_ / "long" / "recording.wav").string();
  // A pipe is read once, so it is scored as the library stores (--centre library for the file).
  ASSERT_EQ(test::run_command(cli() + " detect --quiet --no-plots --centre library --library " + library_.string() +
                                  " --out " + (tmp_->path() / "d1").string() + " " + recording + " 2>/dev/null",
                              &from_file),
            0);
  ASSERT_EQ(test::run_command("cat " + recording + " | " + cli() + " detect --quiet --no-plots --library " +
                                  library_.string() + " --out " + (tmp_->path() / "d2").string() + " - 2>/dev/null",
                              &from_pipe),
            0);
  std::stringstream a(from_file), b(from_pipe);
  std::vector<std::vector<std::string>> ea, eb;
  for (std::string l; std::getline(a, l);) ea.push_back(split_tabs(l));
  for (std::string l; std::getline(b, l);) eb.push_back(split_tabs(l));
  ASSERT_FALSE(ea.empty());
  ASSERT_EQ(ea.size(), eb.size()) << from_file << "\n---\n" << from_pipe;
  for (std::size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(eb[i][0], "stdin");
    EXPECT_EQ(ea[i][3], eb[i][3]);
    EXPECT_NEAR(std::stod(ea[i][1]), std::stod(eb[i][1]), 1e-6);
  }
}

void EnrollCli::AnotherModelIsRefusedNamingBothFingerprintsUntilReembedded() {
  // A copy of the run with other feature settings has another fingerprint.
  const fs::path run2 = tmp_->path() / "run2";
  fs::copy(demo_ / "run", run2, fs::copy_options::recursive);
  {
    std::ifstream in(run2 / "config.toml");
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    const auto pos = s.find("log_floor");
    ASSERT_NE(pos, std::string::npos);
    const auto eol = s.find('\n', pos);
    s.replace(pos, eol - pos, "log_floor = 1e-09");
    std::ofstream(run2 / "config.toml") << s;
  }
  const fs::path copy = tmp_->path() / "copy.db";
  fs::copy_file(library_, copy);
  std::string out;
  EXPECT_NE(test::run_command(cli() + " enroll --quiet --run " + run2.string() + " --library " + copy.string() +
                                  " --class x " + (demo_ / "examples" / (test_classes_[0] + ".wav")).string(),
                              &out),
            0);
  std::string listing;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0);
  const std::string old_fp = nlohmann::json::parse(listing)["model"]["fingerprint"];
  EXPECT_NE(out.find(old_fp), std::string::npos) << out;
  EXPECT_NE(out.find("fingerprint") == std::string::npos ? out.find("model") : out.find("fingerprint"),
            std::string::npos);

  ASSERT_EQ(test::run_command(cli() + " library --reembed --run " + run2.string() + " " + copy.string(), &out), 0)
      << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0);
  const auto j = nlohmann::json::parse(listing);
  EXPECT_NE(j["model"]["fingerprint"], old_fp);
  EXPECT_EQ(j["model"]["run"], fs::absolute(run2).lexically_normal().string());
  EXPECT_EQ(j["classes"].size(), 3u);
  EXPECT_TRUE(j.contains("calibration"));
  // A new cohort from the new run, and a calibration on simulated enrolments again.
  EXPECT_GE(j["cohort"].get<int>(), 10);
  EXPECT_EQ(j["calibration"]["method"], "simulated");
}

void EnrollCli::SilenceAndBadFilesAreRefusedNamingTheFileAndNothingIsAdded() {
  const fs::path silent = tmp_->path() / "silent.wav";
  write_wav16(silent, std::vector<float>(22050, 0.0f), 22050);
  const fs::path junk = tmp_->path() / "junk.wav";
  std::ofstream(junk) << "not audio at all";
  // 2 ms of a loud tone: shorter than one analysis frame (it was enrolled as four views of padding,
  // and classified as its class at confidence 0.98).
  const fs::path blip = tmp_->path() / "blip.wav";
  std::vector<float> tone(44);
  for (std::size_t i = 0; i < tone.size(); ++i) tone[i] = 0.5f * static_cast<float>(std::sin(0.3 * static_cast<double>(i)));
  write_wav16(blip, tone, 22050);
  const fs::path copy = tmp_->path() / "bad.db";
  fs::copy_file(library_, copy);
  std::string out;
  EXPECT_NE(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                  copy.string() + " --class quiet " + silent.string() + " " + junk.string() + " " +
                                  blip.string() + " " + (demo_ / "examples" / (test_classes_[0] + ".wav")).string(),
                              &out),
            0);
  EXPECT_NE(out.find(silent.string() + ": is silence"), std::string::npos) << out;
  EXPECT_NE(out.find(junk.string()), std::string::npos) << out;
  EXPECT_NE(out.find(blip.string() + ": is 2.0 ms long, shorter than one analysis frame of the run ("),
            std::string::npos)
      << out;
  EXPECT_NE(test::run_command(cli() + " classify --library " + library_.string() + " " + blip.string(), &out), 0);
  EXPECT_NE(out.find(blip.string() + ": is 2.0 ms long"), std::string::npos) << out;
  std::string listing;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0);
  EXPECT_EQ(nlohmann::json::parse(listing)["classes"].size(), 3u);  // nothing added

  EXPECT_NE(test::run_command(cli() + " classify --library " + (tmp_->path() / "missing.db").string() + " " +
                                  silent.string(),
                              &out),
            0);
  EXPECT_NE(out.find("missing.db"), std::string::npos) << out;
}

void EnrollCli::RepeatsAndUselessOptionsAreRefused() {
  const fs::path copy = tmp_->path() / "again.db";
  fs::copy_file(library_, copy);
  const std::string example = (demo_ / "examples" / (test_classes_[0] + ".wav")).string();
  std::string out;
  EXPECT_NE(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                  copy.string() + " --class " + test_classes_[0] + " " + example,
                              &out),
            0);
  EXPECT_NE(out.find("already enrolled"), std::string::npos) << out;
  std::string listing;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0);
  const auto lib = nlohmann::json::parse(listing);
  for (const auto& c : lib["classes"]) EXPECT_EQ(c["examples"], lib["settings"]["enrol_views"]) << c.dump();

  EXPECT_NE(test::run_command(cli() + " library --run " + (demo_ / "run").string() + " " + copy.string(), &out), 0);
  EXPECT_NE(out.find("--reembed"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli() + " detect --quiet --hop 0.001 --library " + copy.string() + " --out " +
                                  (tmp_->path() / "d3").string() + " " +
                                  (demo_ / "long" / "recording.wav").string(),
                              &out),
            0);
  EXPECT_NE(out.find("frame hop"), std::string::npos) << out;
}

// Enrolling the selections of a Raven table of the long recording gives the
// library that enrolling each selection's segment by hand gives.
void EnrollCli::AnnotatedSelectionsEnrolAsTheirSegmentsOneByOne() {
  const std::string label = test_classes_[0];
  const fs::path recording = demo_ / "long" / "recording.wav";
  std::string table = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\n";
  std::vector<std::string> segments;
  for (const auto& line : read_lines(demo_ / "long" / "reference.tsv")) {
    const auto cols = split_tabs(line);
    if (cols.size() < 4 || cols[3] != label) continue;
    segments.push_back(cols[1] + ":" + cols[2]);
    table += std::to_string(segments.size()) + "\tSpectrogram 1\t1\t" + cols[1] + "\t" + cols[2] + "\t" + label + "\n";
  }
  ASSERT_GE(segments.size(), 2u) << "the demo's recording holds each enrolled class at least twice";
  // Every selection twice (rows copied under new numbers): each is one example, not two
  // (5,000 copies of one row were enrolled as 20,000 windows).
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    table += std::to_string(100 + i) + "\tSpectrogram 1\t1\t" + seg.substr(0, seg.find(':')) + "\t" +
             seg.substr(seg.find(':') + 1) + "\t" + label + "\n";
  }
  const fs::path raven = tmp_->path() / "recording.Table.1.selections.txt";
  std::ofstream(raven) << table;
  const std::string enroll = cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --class " + label;
  const fs::path annotated = tmp_->path() / "annotated.db", by_hand = tmp_->path() / "by_hand.db";
  std::string out;
  ASSERT_EQ(test::run_command(enroll + " --library " + annotated.string() + " --annotations " + raven.string() + " " +
                                  recording.string(),
                              &out),
            0)
      << out;
  EXPECT_NE(out.find(std::to_string(segments.size()) + " selections labelled \"" + label + "\" repeated in " +
                     raven.string() + " (the same recording, onset and offset): each enrolled once"),
            std::string::npos)
      << out;
  for (const auto& segment : segments)
    ASSERT_EQ(test::run_command(enroll + " --library " + by_hand.string() + " --segment " + segment + " " +
                                    recording.string(),
                                &out),
              0)
        << out;
  auto windows = [&](const fs::path& library) {
    std::string listing;
    EXPECT_EQ(test::run_command(cli() + " library --format json --examples " + library.string(), &listing), 0);
    return nlohmann::json::parse(listing)["classes"][0]["windows"];
  };
  const auto a = windows(annotated), b = windows(by_hand);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_GE(a.size(), segments.size());
  std::multiset<std::string> wa, wb;
  for (const auto& w : a) wa.insert(w["source"].get<std::string>() + " " + w["segment"].get<std::string>() + " " +
                                    std::to_string(w["window_start_s"].get<double>()));
  for (const auto& w : b) wb.insert(w["source"].get<std::string>() + " " + w["segment"].get<std::string>() + " " +
                                    std::to_string(w["window_start_s"].get<double>()));
  EXPECT_EQ(wa, wb);
  // The same embeddings: the same scores for a clip.
  auto score = [&](const fs::path& library) {
    std::string json;
    EXPECT_EQ(test::run_command(cli() + " classify --format json --library " + library.string() + " " +
                                    clips_of(label).front().string() + " 2>/dev/null",
                                &json),
              0);
    return nlohmann::json::parse(json)[0]["ranking"][0]["score"].get<double>();
  };
  EXPECT_DOUBLE_EQ(score(annotated), score(by_hand));
  // A label the table does not hold is named with the labels it does.
  EXPECT_NE(test::run_command(enroll + " --library " + annotated.string() + " --label nope --annotations " +
                                  raven.string() + " " + recording.string(),
                              &out),
            0);
  EXPECT_NE(out.find("no selection labelled \"nope\" (labels: " + label + ")"), std::string::npos) << out;
  // A point label (Audacity's start == end) is named as empty, not enrolled as silence.
  const fs::path point = tmp_->path() / "recording.labels.txt";
  std::ofstream(point) << "5.000000\t5.000000\t" << label << "\n";
  EXPECT_NE(test::run_command(enroll + " --library " + annotated.string() + " --annotations " + point.string() + " " +
                                  recording.string(),
                              &out),
            0);
  EXPECT_NE(out.find("is empty (its end is its start)"), std::string::npos) << out;
}

// embed: one row per planned window of each recording, index row i = array
// row i, the same recording twice gives the same rows, a bad file writes nothing.
void EnrollCli::EmbedWritesEveryWindowWithItsIndex() {
  const fs::path out = tmp_->path() / "embedded";
  const fs::path recording = demo_ / "long" / "recording.wav";
  const fs::path clip = demo_ / "examples" / (test_classes_[0] + ".wav");
  fs::create_directories(tmp_->path() / "again");
  const fs::path copy = tmp_->path() / "again" / "recording.wav";
  fs::copy_file(recording, copy, fs::copy_options::overwrite_existing);
  std::string log;
  ASSERT_EQ(test::run_command(cli() + " embed --quiet --run " + (demo_ / "run").string() + " --out " + out.string() +
                                  " --hop 0.25 " + recording.string() + " " + clip.string() + " " + copy.string(),
                              &log),
            0)
      << log;
  const auto card = nlohmann::json::parse(std::ifstream(out / "embeddings.json"));
  const NpyArray e = read_npy(out / "embeddings.npy");
  const auto index = read_lines(out / "index.csv");
  ASSERT_EQ(e.shape.size(), 2u);
  EXPECT_EQ(e.shape[1], card["embedding_dim"].get<std::size_t>());
  EXPECT_EQ(index.front(), "row,file,start_s,end_s");
  ASSERT_EQ(index.size(), e.shape[0] + 1);
  const double hop = card["hop_s"];  // 0.25 s in whole samples
  EXPECT_NEAR(hop, 0.25, 1.0 / card["sample_rate"].get<double>());
  const double window = card["window_s"];
  // The recording's windows: every hop until one reaches its end (60 s), the last one clipped to the end.
  std::size_t n_recording = 0;
  double last_end = 0;
  for (std::size_t i = 1; i < index.size(); ++i) {
    std::stringstream row(index[i]);
    std::vector<std::string> cols;
    for (std::string f; std::getline(row, f, ',');) cols.push_back(f);
    ASSERT_EQ(cols.size(), 4u) << index[i];
    EXPECT_EQ(std::stoul(cols[0]), i - 1);
    if (cols[1] != recording.string()) continue;
    EXPECT_NEAR(std::stod(cols[2]), hop * static_cast<double>(n_recording), 1e-6) << index[i];
    last_end = std::stod(cols[3]);
    ++n_recording;
  }
  const double duration = 60.0;
  EXPECT_EQ(n_recording, static_cast<std::size_t>(std::ceil((duration - window) / hop)) + 1);
  EXPECT_NEAR(last_end, duration, 1e-3);
  // The copy's rows are the recording's, row by row; the clip's rows lie between.
  const std::size_t d = e.shape[1], rows = e.shape[0];
  const std::size_t n_clip = rows - 2 * n_recording;
  EXPECT_GE(n_clip, 1u);
  for (std::size_t r = 0; r < n_recording; ++r)
    for (std::size_t k = 0; k < d; ++k)
      ASSERT_EQ(e.data[r * d + k], e.data[(n_recording + n_clip + r) * d + k]) << "row " << r;
  for (float v : e.data) ASSERT_TRUE(std::isfinite(v));

  // A file that cannot be read costs itself alone: named, the exit status
  // says so, and the other file's windows are written with their index.
  const fs::path bad = tmp_->path() / "bad.wav";
  std::ofstream(bad) << "not audio";
  const fs::path out2 = tmp_->path() / "embedded2";
  EXPECT_NE(test::run_command(cli() + " embed --quiet --run " + (demo_ / "run").string() + " --out " + out2.string() +
                                  " " + bad.string() + " " + clip.string(),
                              &log),
            0);
  EXPECT_NE(log.find(bad.string()), std::string::npos) << log;
  const NpyArray kept = read_npy(out2 / "embeddings.npy");
  EXPECT_EQ(kept.shape[0], n_clip);
  const auto kept_index = read_lines(out2 / "index.csv");
  ASSERT_EQ(kept_index.size(), n_clip + 1);
  EXPECT_EQ(kept_index[1].rfind("0,", 0), 0u) << kept_index[1];
  EXPECT_EQ(kept_index[1].find("bad.wav"), std::string::npos) << kept_index[1];
  // --out that is a file, and a hop below one frame: named, not a library exception or hours of rows.
  const std::string embed = cli() + " embed --quiet --run " + (demo_ / "run").string();
  EXPECT_NE(test::run_command(embed + " --out " + bad.string() + " " + clip.string(), &log), 0);
  EXPECT_NE(log.find(bad.string()), std::string::npos) << log;
  EXPECT_EQ(log.find("filesystem error"), std::string::npos) << log;
  EXPECT_NE(test::run_command(embed + " --out " + out2.string() + " --hop 1e-9 " + clip.string(), &log), 0);
  EXPECT_NE(log.find("--hop must be at least one frame hop"), std::string::npos) << log;
}

// export: both formats with the library's thresholds in the card, and the
// ONNX file, run in ONNX Runtime for Node on `logmel`'s log-mel of an example,
// gives `embed`'s embedding of it (skipped where onnxruntime-node is absent).
void EnrollCli::ExportedOnnxEmbedsAsEmbedDoesWithTheLibrarysThresholdsInItsCard() {
  const fs::path dir = tmp_->path() / "exported";
  fs::create_directories(dir);  // export, as every file named on its own, makes no directory
  const std::string run = (demo_ / "run").string();
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " export --run " + run + " --format onnx --out " + (dir / "m.onnx").string() +
                                  " --library " + library_.string(),
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(cli() + " export --run " + run + " --format torchscript --out " + (dir / "m.pt").string(),
                              &out),
            0)
      << out;
  EXPECT_GT(fs::file_size(dir / "m.pt"), 10000u);
  EXPECT_TRUE(fs::exists(dir / "m.pt.json"));
  const auto card = nlohmann::json::parse(std::ifstream(dir / "m.onnx.json"));
  std::string listing;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + library_.string(), &listing), 0) << listing;
  EXPECT_EQ(card["fingerprint"], nlohmann::json::parse(listing)["model"]["fingerprint"]);
  ASSERT_EQ(card["library"]["classes"].size(), 3u) << card.dump(2);
  for (const auto& c : card["library"]["classes"]) EXPECT_TRUE(c["threshold"].is_number()) << c.dump();
  // The thresholds for scores centred on the recordings (detect's, classify's batch) travel with it.
  const auto& recording = card["library"]["recording_calibration"];
  ASSERT_TRUE(recording.is_object()) << card.dump(2);
  EXPECT_FALSE(recording["far_curve"].empty()) << recording.dump();
  EXPECT_EQ(recording["normalised"], false) << recording.dump();
  EXPECT_FALSE(recording["parts"].empty()) << recording.dump();
  EXPECT_EQ(recording["library_far"], nlohmann::json::parse(listing)["recording_calibration"]["library_far"]);
  // The threshold that applies to centred scores, as library lists it (not the stored one-class point).
  EXPECT_EQ(recording["library_threshold"]["threshold"],
            nlohmann::json::parse(listing)["recording_calibration"]["threshold"]);
  // Refused before any work: an exported file needs a name for its card.
  EXPECT_NE(test::run_command(cli() + " export --run " + run + " --format onnx --out -", &out), 0);
  EXPECT_NE(out.find("--out must name a file"), std::string::npos) << out;
  // Never over a file it reads (--out RUN/best.pt replaced the trained weights;
  // --out RUN/run made its card RUN/run.json), nor into a missing directory.
  const std::string best = read_file(demo_ / "run" / "best.pt");
  for (const std::string target : {run + "/best.pt", run + "/run", library_.string()}) {
    EXPECT_EQ(test::run_command(cli() + " export --run " + run + " --format onnx --out " + target +
                                    " --library " + library_.string(),
                                &out),
              1)
        << target;
    EXPECT_NE(out.find("which export reads"), std::string::npos) << out;
  }
  EXPECT_EQ(read_file(demo_ / "run" / "best.pt"), best);
  // Another class library (not one it reads): a SQLite database is refused, not replaced.
  const fs::path other = dir / "other-library.db";
  fs::copy_file(library_, other);
  const std::string other_bytes = read_file(other);
  EXPECT_EQ(test::run_command(cli() + " export --run " + run + " --format onnx --out " + other.string(), &out), 1)
      << out;
  EXPECT_NE(out.find(other.string() + ": is a SQLite database"), std::string::npos) << out;
  EXPECT_EQ(read_file(other), other_bytes);
  // The library was enrolled with best.pt: its thresholds do not hold for
  // last.pt, and the refusal says which weights to export it with.
  ASSERT_TRUE(fs::exists(demo_ / "run" / "last.pt"));
  EXPECT_EQ(test::run_command(cli() + " export --run " + run + " --weights last --format onnx --out " +
                                  (dir / "last.onnx").string() + " --library " + library_.string(),
                              &out),
            1);
  EXPECT_NE(out.find("embedded with this run's best.pt"), std::string::npos) << out;
  EXPECT_NE(out.find("export --weights best with --library"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "last.onnx"));
  EXPECT_EQ(test::run_command(cli() + " export --run " + run + " --format onnx --out " + (dir / "none" / "m.onnx").string(),
                              &out),
            1);
  EXPECT_NE(out.find("no such directory"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "none"));
  // A full disk at any write step of another export leaves the previous model
  // and card, a pair, and no staged file (the model was renamed into place
  // before its card was written: a model of one export beside another's card).
  const std::string model = read_file(dir / "m.onnx"), card_text = read_file(dir / "m.onnx.json");
  for (int step = 1; step <= 12; ++step) {
    const int code = test::run_command("ONESHOT_WRITE_FAULT=enospc@" + std::to_string(step) + " " + cli() +
                                           " export --run " + run + " --format onnx --with-frontend --out " +
                                           (dir / "m.onnx").string(),
                                       &out);
    if (code == 0) break;  // past the last write step
    EXPECT_NE(out.find("the disk is full"), std::string::npos) << step << ": " << out;
    EXPECT_EQ(read_file(dir / "m.onnx"), model) << "step " << step;
    EXPECT_EQ(read_file(dir / "m.onnx.json"), card_text) << "step " << step;
    for (const auto& e : fs::directory_iterator(dir))
      EXPECT_EQ(e.path().filename().string().find(".m.onnx.export-"), std::string::npos) << "step " << step;
  }
  ASSERT_EQ(test::run_command(cli() + " export --run " + run + " --format onnx --out " + (dir / "m.onnx").string() +
                                  " --library " + library_.string(),
                              &out),
            0)
      << out;

  const fs::path node_modules = test::cli_path().parent_path() / "onnx-node" / "node_modules";
  if (test::run_command("node --version >/dev/null 2>&1") != 0 || !fs::exists(node_modules / "onnxruntime-node")) {
    std::printf("[ SKIPPED part ] ONNX Runtime check of export: node or %s/onnxruntime-node is missing\n",
                node_modules.c_str());
    return;
  }
  const fs::path clip = demo_ / "examples" / (test_classes_[0] + ".wav");
  ASSERT_EQ(test::run_command(cli() + " embed --quiet --run " + run + " --out " + (dir / "embedded").string() + " " +
                                  clip.string(),
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(cli() + " logmel --config " + run + "/config.toml " + clip.string() + " " +
                                  (dir / "x.npy").string(),
                              &out),
            0)
      << out;
  const NpyArray ours = read_npy(dir / "embedded" / "embeddings.npy");
  const NpyArray x = read_npy(dir / "x.npy");
  ASSERT_EQ(x.shape.size(), 2u);
  {
    std::ofstream raw(dir / "x.f32", std::ios::binary);
    raw.write(reinterpret_cast<const char*>(x.data.data()), static_cast<std::streamsize>(x.data.size() * 4));
  }
  const fs::path script = fs::path(ONESHOT_FIXTURES).parent_path() / "model" / "export" / "onnx_embed.js";
  ASSERT_EQ(test::run_command("node " + script.string() + " " + node_modules.string() + " " + (dir / "m.onnx").string() +
                                  " log_mel " + (dir / "x.f32").string() + " 1,1," + std::to_string(x.shape[0]) + "," +
                                  std::to_string(x.shape[1]) + " " + (dir / "e.f32").string(),
                              &out),
            0)
      << out;
  std::vector<float> theirs(ours.shape[1]);
  std::ifstream(dir / "e.f32", std::ios::binary)
      .read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(theirs.size() * 4));
  double max_diff = 0;
  for (std::size_t i = 0; i < theirs.size(); ++i) max_diff = std::max(max_diff, std::abs(double(theirs[i]) - ours.data[i]));
  EXPECT_LT(max_diff, 1e-4);  // the first window of embed is the clip from its start, as logmel's
}

// A stored embedding of finite but huge values (1e38: every score NaN,
// classify exited 0) and a damaged setting are named with the library and the
// way out, and that way out (`library --reembed`) repairs the library.
void EnrollCli::ADamagedLibraryIsNamedAndReembedRepairsIt() {
  const fs::path copy = tmp_->path() / "damaged.db";
  fs::copy_file(library_, copy);
  std::string out;
  std::string listing;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0) << listing;
  const int dim = nlohmann::json::parse(listing)["model"]["embedding_dim"];
  std::string hex = "x'";
  for (int i = 0; i < dim; ++i) hex += i == 1 ? "9976967e" : "00000000";  // value 2 is 1e38f (little-endian)
  hex += "'";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(copy.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         ("UPDATE examples SET embedding = " + hex + " WHERE id = (SELECT MIN(id) FROM examples); "
                          "UPDATE meta SET value = '1e12' WHERE key = 'cohort_top_k'")
                             .c_str(),
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const fs::path clip = demo_ / "examples" / (test_classes_[0] + ".wav");
  EXPECT_NE(test::run_command(cli() + " classify --library " + copy.string() + " " + clip.string(), &out), 0) << out;
  EXPECT_NE(out.find(copy.string() + ": class library: the embedding of example 1 of class"), std::string::npos) << out;
  EXPECT_NE(out.find("holds 1e+38 at value 2"), std::string::npos) << out;
  const std::string way_out = "oneshot-audio library " + copy.string() + " --reembed --run ";
  EXPECT_NE(out.find(way_out), std::string::npos) << out;
  EXPECT_EQ(out.find("nan"), std::string::npos) << out;

  ASSERT_EQ(test::run_command(cli() + " library --reembed --run " + (demo_ / "run").string() + " " + copy.string(), &out),
            0)
      << out;
  EXPECT_NE(out.find("cohort_top_k \"1e12\" (table meta) is out of range"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli() + " classify --format json --library " + copy.string() + " " + clip.string(), &out),
            0)
      << out;
  EXPECT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0) << listing;
  EXPECT_EQ(nlohmann::json::parse(listing)["settings"]["cohort_top_k"], 100);  // the default, written anew
  // A damaged false-accept rate: the re-embedded library is calibrated at the default rate, as a new one.
  ASSERT_EQ(sqlite3_open(copy.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '7' WHERE key = 'calibration_far'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_EQ(test::run_command(cli() + " library --reembed --run " + (demo_ / "run").string() + " " + copy.string(), &out),
            0)
      << out;
  EXPECT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &listing), 0) << listing;
  const auto reembedded = nlohmann::json::parse(listing);
  ASSERT_TRUE(reembedded.contains("calibration")) << listing;
  EXPECT_DOUBLE_EQ(reembedded["calibration"]["far"].get<double>(), 0.03) << out;  // kDefaultLibraryFar, as enroll
  // A damaged false-accept curve: `library` still lists the rest (its classes), names the damage with the
  // way out, and exits 1; that way out repairs it.
  ASSERT_EQ(sqlite3_open(copy.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '0.0001 x' WHERE key = 'calibration_far_curve'", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(test::run_command(cli() + " library " + copy.string(), &out), 1) << out;
  EXPECT_NE(out.find("calibration: cannot be read"), std::string::npos) << out;
  EXPECT_NE(out.find(test_classes_[0]), std::string::npos) << out;
  EXPECT_NE(out.find("calibration_far_curve point 1 \"0.0001 x\""), std::string::npos) << out;
  EXPECT_NE(out.find(way_out), std::string::npos) << out;
  EXPECT_NE(out.find("computes the calibration again"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(cli() + " library --reembed --run " + (demo_ / "run").string() + " " + copy.string(), &out),
            0)
      << out;
  EXPECT_EQ(test::run_command(cli() + " library " + copy.string(), &out), 0) << out;
}

// enroll --domain: the library is re-centred on recordings of the test
// classes (unlabelled), calibrated again on centred simulated enrolments, and
// still ranks the enrolled classes' clips first; --no-domain gives back the
// uncentred scores exactly; re-embedding keeps the domain; damage is named.
void EnrollCli::ADomainCentresTheLibraryAndTravelsWithIt() {
  const fs::path lib = tmp_->path() / "domain.db", domain = tmp_->path() / "domain-recordings";
  fs::copy_file(library_, lib);
  fs::create_directories(domain);
  std::size_t n_recordings = 0;
  for (const auto& c : test_classes_)
    for (const auto& clip : clips_of(c)) fs::create_symlink(clip, domain / clip.filename()), ++n_recordings;
  const std::string enroll = cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " + lib.string();
  std::string out;
  ASSERT_EQ(test::run_command(enroll + " --domain " + domain.string() + " 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("domain set in " + lib.string()), std::string::npos) << out;
  std::string listing;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &listing), 0) << listing;
  const auto listed = nlohmann::json::parse(listing);
  EXPECT_EQ(listed["domain"]["files"].get<std::size_t>(), n_recordings) << listing;
  EXPECT_TRUE(listed["calibration"]["domain_centred"].get<bool>()) << listing;

  auto classify = [&](const fs::path& library, const std::vector<fs::path>& files) {
    std::string command = cli() + " classify --format json --library " + library.string();
    for (const auto& f : files) command += " " + f.string();
    std::string json;
    EXPECT_EQ(test::run_command(command + " 2>&1", &json), 0) << json;
    return nlohmann::json::parse(json);
  };
  std::vector<fs::path> clips;
  std::vector<std::string> truth;
  for (int i = 0; i < 3; ++i) {
    auto of = clips_of(test_classes_[static_cast<std::size_t>(i)]);
    of.resize(4);
    for (const auto& f : of) clips.push_back(f), truth.push_back(test_classes_[static_cast<std::size_t>(i)]);
  }
  const auto plain = classify(library_, clips), centred = classify(lib, clips);
  std::size_t top1 = 0;
  double moved = 0;
  for (std::size_t k = 0; k < clips.size(); ++k) {
    top1 += centred[k]["ranking"][0]["class"] == truth[k];
    moved = std::max(moved, std::abs(centred[k]["ranking"][0]["score"].get<double>() -
                                     plain[k]["ranking"][0]["score"].get<double>()));
  }
  EXPECT_GE(top1, clips.size() - 2) << centred.dump();  // the uncentred library ranks every one first (above)
  EXPECT_GT(moved, 1e-3);

  // Re-embedding reads the domain's recordings again.
  ASSERT_EQ(test::run_command(cli() + " library --reembed --run " + (demo_ / "run").string() + " " + lib.string() + " 2>&1", &out), 0) << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &listing), 0) << listing;
  EXPECT_EQ(nlohmann::json::parse(listing)["domain"]["files"].get<std::size_t>(), n_recordings) << listing;
  const auto reembedded = classify(lib, clips);
  for (std::size_t k = 0; k < clips.size(); ++k)
    EXPECT_NEAR(reembedded[k]["ranking"][0]["score"].get<double>(), centred[k]["ranking"][0]["score"].get<double>(), 1e-4);

  // Damage by another tool: named, with the library.
  sqlite3* db = nullptr;
  const fs::path damaged = tmp_->path() / "domain-damaged.db";
  fs::copy_file(lib, damaged);
  ASSERT_EQ(sqlite3_open(damaged.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE domain SET windows = -3", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_NE(test::run_command(cli() + " classify --library " + damaged.string() + " " + clips[0].string() + " 2>&1", &out), 0);
  EXPECT_NE(out.find(damaged.string() + ": class library: the domain's windows count"), std::string::npos) << out;
  // The way out the message names: enroll --domain sets it again.
  ASSERT_EQ(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                  damaged.string() + " --domain " + domain.string() + " 2>&1",
                              &out),
            0)
      << out;
  EXPECT_EQ(test::run_command(cli() + " classify --library " + damaged.string() + " " + clips[0].string() + " 2>&1", &out), 0) << out;

  // --no-domain: the uncentred scores again, exactly.
  ASSERT_EQ(test::run_command(enroll + " --no-domain 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("domain removed from"), std::string::npos) << out;
  const auto back = classify(lib, clips);
  for (std::size_t k = 0; k < clips.size(); ++k)
    EXPECT_NEAR(back[k]["ranking"][0]["score"].get<double>(), plain[k]["ranking"][0]["score"].get<double>(), 1e-9);

  // What cannot be meant: refused, naming why.
  EXPECT_NE(test::run_command(enroll + " --class x --domain " + domain.string() + " 2>&1", &out), 0);
  EXPECT_NE(out.find("need recordings to enrol (FILE)"), std::string::npos) << out;
  EXPECT_NE(test::run_command(enroll + " --no-domain --domain " + domain.string() + " 2>&1", &out), 0);
  EXPECT_NE(out.find("exclude each other"), std::string::npos) << out;
  EXPECT_NE(test::run_command(enroll + " 2>&1", &out), 0);
  EXPECT_NE(out.find("give the recordings to enrol (FILE)"), std::string::npos) << out;
  // One recording given twice is one window: no domain's mean, refused, the library unchanged.
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &listing), 0) << listing;
  EXPECT_NE(test::run_command(enroll + " --domain " + clips[0].string() + " --domain " + clips[0].string() + " 2>&1", &out), 0);
  EXPECT_NE(out.find("too few for a domain's mean"), std::string::npos) << out;
  std::string after;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &after), 0) << after;
  EXPECT_EQ(after, listing);
  // FILE after --domain DIR is enrolled, not taken into the domain, even right after it.
  ASSERT_EQ(test::run_command(enroll + " --class extra --domain " + domain.string() + " " + clips[0].string() + " 2>&1", &out), 0) << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &listing), 0) << listing;
  const auto with_extra = nlohmann::json::parse(listing);
  EXPECT_EQ(with_extra["domain"]["files"].get<std::size_t>(), n_recordings) << listing;
  EXPECT_EQ(with_extra["domain"]["recordings"].size(), n_recordings) << listing;

  // AS-norm with a domain normalises against the domain's own windows, kept
  // with it; without the domain, against the training clips again.
  ASSERT_EQ(test::run_command(enroll + " --score-norm as-norm --domain " + domain.string() + " 2>&1", &out), 0) << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &listing), 0) << listing;
  const auto normalised = nlohmann::json::parse(listing);
  EXPECT_EQ(normalised["calibration"]["cohort"], "domain") << listing;
  EXPECT_TRUE(normalised["calibration"]["normalised"].get<bool>()) << listing;
  const auto kept = normalised["domain"]["cohort_windows"].get<std::size_t>();
  EXPECT_GE(kept, n_recordings) << listing;  // every recording's sounding windows, under the cap
  EXPECT_LE(kept, normalised["domain"]["windows"].get<std::size_t>()) << listing;
  ASSERT_EQ(test::run_command(cli() + " library " + lib.string(), &listing), 0) << listing;
  EXPECT_NE(listing.find("AS-norm against " + std::to_string(kept) + " windows of the domain"), std::string::npos) << listing;
  const auto against_domain = classify(lib, clips);
  std::size_t top1_normalised = 0;
  for (std::size_t k = 0; k < clips.size(); ++k) {  // "extra" was enrolled above from a clip of the first class
    const auto& best = against_domain[k]["ranking"][0]["class"];
    top1_normalised += best == truth[k] || (best == "extra" && truth[k] == test_classes_[0]);
  }
  EXPECT_GE(top1_normalised, clips.size() - 2) << against_domain.dump();
  ASSERT_EQ(test::run_command(enroll + " --no-domain 2>&1", &out), 0) << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + lib.string(), &listing), 0) << listing;
  EXPECT_EQ(nlohmann::json::parse(listing)["calibration"]["cohort"], "training") << listing;

  // A library's first class without a domain points to --domain; its second
  // class, and a first class enrolled with a domain, do not.
  const std::string loud = cli() + " enroll --run " + (demo_ / "run").string() + " --library ";
  const fs::path tip_plain = tmp_->path() / "tip.db", tip_centred = tmp_->path() / "tip-domain.db";
  ASSERT_EQ(test::run_command(loud + tip_plain.string() + " --class a " + clips[0].string() + " 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("tip: scores of new sounds are calibrated on the run's validation classes; classify of 24"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("`enroll --domain DIR`"), std::string::npos) << out;
  // And the rate centred scores take: the default library's, at the domain default.
  EXPECT_NE(out.find("centred on what is scored (classify of 24 files or more, detect of a long recording): at most "
                     "5.0 %"),
            std::string::npos)
      << out;
  ASSERT_EQ(test::run_command(loud + tip_plain.string() + " --class b " + clips[1].string() + " 2>&1", &out), 0) << out;
  EXPECT_EQ(out.find("tip:"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(loud + tip_centred.string() + " --domain " + domain.string() + " --class a " +
                                  clips[0].string() + " 2>&1",
                              &out),
            0)
      << out;
  EXPECT_EQ(out.find("tip:"), std::string::npos) << out;
}

// A full disk while detect writes a recording's score plot: the recording
// was detected, and its events are kept in events.tsv; it used to be counted
// failed. The plot is named as what was not written, and the exit status is 1.
void EnrollCli::AScorePlotThatCannotBeWrittenKeepsTheRecordingsEvents() {
  const std::string recording = (demo_ / "long" / "recording.wav").string();
  const std::string detect = cli() + " detect --quiet --library " + library_.string() + " --out ";
  const fs::path plain = tmp_->path() / "plot_plain", faulty = tmp_->path() / "plot_faulty";
  std::string out;
  ASSERT_EQ(test::run_command(detect + plain.string() + " " + recording, &out), 0) << out;
  const std::size_t events = read_lines(plain / "events.tsv").size();
  ASSERT_GT(events, 1u);
  // The write steps before the plot's: the partial list's first write; then the plot's fsync.
  const auto fault = run_until_fault(detect + faulty.string() + " " + recording, "recording_scores.png: the disk is full",
                                     [&] { fs::remove_all(faulty); });
  ASSERT_TRUE(fault) << "no write step of the score plot was reached";
  const auto& [rc, fault_out] = *fault;
  EXPECT_EQ(rc, 1);
  EXPECT_NE(fault_out.find("error: recording.wav: detected, but a table or score plot of its events could not be "
                           "written"),
            std::string::npos)
      << fault_out;
  // Where the events are is said once events.tsv holds them.
  EXPECT_NE(fault_out.find("1 of 1 recordings were detected (their events are in " + (faulty / "events.tsv").string()),
            std::string::npos)
      << fault_out;
  EXPECT_EQ(fault_out.find("recordings failed"), std::string::npos) << fault_out;
  EXPECT_EQ(read_lines(faulty / "events.tsv").size(), events);
  EXPECT_FALSE(fs::exists(faulty / "recording_scores.png"));
}

// Notes and metadata beside the recordings in a folder are skipped by every
// command that takes folders, and named in one note: classify and embed used
// to exit 1 for them though every recording was processed.
void EnrollCli::NotesBesideTheRecordingsAreSkippedByEveryCommand() {
  const fs::path folder = tmp_->path() / "with_notes";
  fs::create_directories(folder);
  for (int i = 0; i < 2; ++i) {
    const fs::path clip = clips_of(test_classes_[static_cast<std::size_t>(i)]).front();
    fs::copy_file(clip, folder / clip.filename(), fs::copy_options::overwrite_existing);
  }
  std::ofstream(folder / "a.txt") << "recorded at the pond";
  std::ofstream(folder / "meta.json") << "{}";
  const std::string note = "note: skipped 2 files that are not audio (no audio extension): " +
                           (folder / "a.txt").string() + ", " + (folder / "meta.json").string();
  const fs::path copy = tmp_->path() / "notes.db";
  fs::copy_file(library_, copy, fs::copy_options::overwrite_existing);
  for (const std::string& command :
       {" classify --library " + library_.string(),
        " embed --quiet --run " + (demo_ / "run").string() + " --out " + (tmp_->path() / "notes_embedded").string(),
        " detect --quiet --no-plots --library " + library_.string() + " --out " +
            (tmp_->path() / "notes_detected").string(),
        " enroll --quiet --run " + (demo_ / "run").string() + " --library " + copy.string() + " --class pond"}) {
    std::string out;
    EXPECT_EQ(test::run_command(cli() + command + " " + folder.string(), &out), 0) << command << ": " << out;
    EXPECT_NE(out.find(note), std::string::npos) << command << ": " << out;
  }
  EXPECT_GT(read_lines(tmp_->path() / "notes_embedded" / "index.csv").size(), 1u);
}

// What sizes enroll's work is checked before the calibration (tens of
// seconds with real data): --hop 1e-5 was refused only after it, and a
// --segment past the end of a 1 s example was cut short to its end, silently.
void EnrollCli::OptionsAndSegmentsAreRefusedBeforeTheCalibration() {
  const fs::path fresh = tmp_->path() / "fresh.db";
  const std::string example = (demo_ / "examples" / (test_classes_[0] + ".wav")).string();
  const std::string enroll = cli() + " enroll --run " + (demo_ / "run").string() + " --library " + fresh.string() +
                             " --class " + test_classes_[0] + " ";
  std::string out;
  EXPECT_NE(test::run_command(enroll + "--hop 0.00001 " + example, &out), 0);
  EXPECT_NE(out.find("--hop must be at least one frame hop"), std::string::npos) << out;
  EXPECT_EQ(out.find("calibrat"), std::string::npos) << "refused after the calibration: " << out;
  EXPECT_NE(test::run_command(enroll + "--segment 0.5:99 " + example, &out), 0);
  EXPECT_NE(out.find(example + ": segment 0.500:99.000 ends at 99.000 s, after the end of the recording (1.000 s)"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("calibrat"), std::string::npos) << "refused after the calibration: " << out;
  // A segment shorter than one analysis frame (1 ms was enrolled as four views of padding).
  EXPECT_NE(test::run_command(enroll + "--segment 0.5:0.501 " + example, &out), 0);
  EXPECT_NE(out.find(example + ": segment 0.500:0.501 is 1.0 ms long, shorter than one analysis frame of the run ("),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("give a longer --segment"), std::string::npos) << out;
  EXPECT_EQ(out.find("calibrat"), std::string::npos) << "refused after the calibration: " << out;
  EXPECT_FALSE(fs::exists(fresh));
  // classify names a bad --hop once, not once for each file.
  const auto clips = clips_of(test_classes_[1]);
  EXPECT_NE(test::run_command(cli() + " classify --hop 0.00001 --library " + library_.string() + " " +
                                  clips[0].string() + " " + clips[1].string(),
                              &out),
            0);
  std::size_t times = 0;
  for (auto at = out.find("--hop must"); at != std::string::npos; at = out.find("--hop must", at + 1)) ++times;
  EXPECT_EQ(times, 1u) << out;
  EXPECT_EQ(out.find("could not be classified"), std::string::npos) << out;
}

// A file, library or run directory whose name is not UTF-8 (byte 0xFF: any
// bytes make a Linux file name) ended classify --format json, library
// --format json, embed and export in a bare json.exception.type_error.316,
// exit 2, with nothing written: the JSON holds U+FFFD for such a byte.
void EnrollCli::PathsThatAreNotUtf8AreWrittenToJsonAsReplacementCharacters() {
  const fs::path dir = tmp_->path() / "not_utf8";
  fs::create_directories(dir);
  const fs::path clip = dir / "b\xFF.wav";
  fs::copy_file(clips_of(test_classes_[0]).front(), clip, fs::copy_options::overwrite_existing);
  const fs::path library = dir / "l\xFF.db";
  fs::copy_file(library_, library, fs::copy_options::overwrite_existing);
  const fs::path run = dir / "run\xFF";
  fs::create_directory_symlink(demo_ / "run", run);
  const std::string replaced = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " classify --format json --library '" + library.string() + "' '" +
                                  clip.string() + "' 2>/dev/null",
                              &out),
            0)
      << out;
  EXPECT_NE(nlohmann::json::parse(out).dump().find("b" + replaced + ".wav"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json '" + library.string() + "' 2>/dev/null", &out), 0)
      << out;
  EXPECT_EQ(nlohmann::json::parse(out)["classes"].size(), 3u);
  ASSERT_EQ(test::run_command(cli() + " embed --quiet --run '" + run.string() + "' --out '" +
                                  (dir / "embedded").string() + "' '" + clip.string() + "'",
                                &out),
            0)
      << out;
  EXPECT_NE(nlohmann::json::parse(std::ifstream(dir / "embedded" / "embeddings.json")).dump().find(replaced),
            std::string::npos);
  ASSERT_EQ(test::run_command(cli() + " export --run '" + run.string() + "' --format torchscript --out '" +
                                  (dir / "m.pt").string() + "'",
                              &out),
            0)
      << out;
  EXPECT_NE(nlohmann::json::parse(std::ifstream(dir / "m.pt.json")).dump().find(replaced), std::string::npos);
}

// A class enrolled from 3 recordings scores each file as a mean over more
// examples: it is decided on the calibration's curve for 3-clip enrolments,
// a lower threshold than a class of one recording at the same rate.
void EnrollCli::AClassOfSeveralRecordingsIsDecidedOnItsOwnCurve() {
  const fs::path copy = tmp_->path() / "several.db";
  fs::copy_file(library_, copy, fs::copy_options::overwrite_existing);
  const std::string name = test_classes_[3];
  const auto clips = clips_of(name);
  ASSERT_GE(clips.size(), 4u);
  std::string out;
  ASSERT_EQ(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                  copy.string() + " --class " + name + " " + clips[0].string() + " " +
                                  clips[1].string() + " " + clips[2].string(),
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(cli() + " library --format json " + copy.string(), &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  // The demo's validation classes have clips enough for every simulated count.
  const auto& curves = j["calibration"]["by_examples"];
  ASSERT_EQ(curves.size(), 3u) << j.dump();
  EXPECT_EQ(curves[1]["examples"], 3);
  const double one = j["calibration"]["library"]["threshold"], three = curves[1]["threshold"];
  EXPECT_LT(three, one);
  bool seen = false;
  for (const auto& c : j["classes"]) {
    EXPECT_EQ(c["threshold_source"], "calibration") << c.dump();
    const bool several = c["name"] == name;
    seen = seen || several;
    EXPECT_EQ(c["sources"], several ? 3 : 1) << c.dump();
    EXPECT_DOUBLE_EQ(c["threshold"].get<double>(), several ? three : one) << c.dump();
  }
  EXPECT_TRUE(seen);
  // classify decides it there, with the confidence of its own curve.
  ASSERT_EQ(test::run_command(cli() + " classify --top 10 --format json --library " + copy.string() + " " + clips[3].string() +
                                  " 2>/dev/null",
                              &out),
            0)
      << out;
  const auto decided = nlohmann::json::parse(out);
  bool ranked = false;
  for (const auto& r : decided[0]["ranking"])
    if (r["class"] == name) {
      ranked = true;
      EXPECT_DOUBLE_EQ(r["threshold"].get<double>(), three) << r.dump();
    }
  EXPECT_TRUE(ranked) << out;
  ASSERT_EQ(test::run_command(cli() + " library " + copy.string(), &out), 0) << out;
  EXPECT_NE(out.find("a class enrolled from 3 recordings or more"), std::string::npos) << out;

  // A library calibrated before the curves: its next enroll makes them, and
  // where the run's recordings are gone it keeps the one-recording curve
  // with a note, rather than failing a library that worked.
  const auto curves_of = [&](const fs::path& library) {
    std::string listing;
    EXPECT_EQ(test::run_command(cli() + " library --format json " + library.string(), &listing), 0) << listing;
    return nlohmann::json::parse(listing)["calibration"]["by_examples"].size();
  };
  const auto make_old = [&] {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(copy.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DELETE FROM meta WHERE key = 'calibration_by_examples'; UPDATE meta SET value = '0' "
                           "WHERE key = 'calibration_examples_simulated'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  };
  make_old();
  EXPECT_EQ(curves_of(copy), 0u);
  const fs::path moved = tmp_->path() / "run-moved";
  fs::copy(demo_ / "run", moved, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto info = nlohmann::json::parse(std::ifstream(moved / "run.json"));
  info["data_dir"] = (tmp_->path() / "no-such-data").string();
  std::ofstream(moved / "run.json") << info.dump();
  ASSERT_EQ(test::run_command(cli() + " enroll --run " + moved.string() + " --library " + copy.string() + " --class " +
                                  name + " " + clips[3].string(),
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("predates the curves for classes of several example recordings"), std::string::npos) << out;
  EXPECT_EQ(curves_of(copy), 0u);
  make_old();
  ASSERT_EQ(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                  copy.string() + " --class " + name + " " + clips[4 % clips.size()].string(),
                              &out),
            0)
      << out;
  EXPECT_EQ(curves_of(copy), 3u) << out;
}

// detect centres a recording read from a file on its own windows when the
// library has no domain (the minute-long recording: 60 windows of the demo's
// 1 s input), says so, and does not where it cannot: --centre library, a
// recording too short to be its own domain, a pipe (read once:
// DetectReadsAWavStream...), a library calibrated
// before the recording calibration (named, with the enroll that adds it).
void EnrollCli::DetectCentresEachRecordingOnItselfWhereItCan() {
  const std::string recording = (demo_ / "long" / "recording.wav").string();
  const std::string detect = cli() + " detect --no-plots --library ";
  std::string out;
  ASSERT_EQ(test::run_command(detect + library_.string() + " --out " + (tmp_->path() / "centre1").string() + " " +
                                  recording,
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("scores centred on the recording (60 windows; false-accept rate 0.05)"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(detect + library_.string() + " --centre library --out " +
                                  (tmp_->path() / "centre2").string() + " " + recording,
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("scored as the library stores (--centre library)"), std::string::npos) << out;
  // --threshold: a number on the library's scores, said.
  ASSERT_EQ(test::run_command(detect + library_.string() + " --threshold 0 --out " +
                                  (tmp_->path() / "centre2t").string() + " " + recording,
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("--threshold is a number on those scores"), std::string::npos) << out;
  // A pipe: said once.
  ASSERT_EQ(test::run_command("cat " + recording + " | " + detect + library_.string() + " --out " +
                                  (tmp_->path() / "centre2p").string() + " -",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("standard input is read once"), std::string::npos) << out;
  // A 1 s example is one window: scored as the library stores, and said.
  const std::string example = (demo_ / "examples" / (test_classes_[0] + ".wav")).string();
  ASSERT_EQ(test::run_command(detect + library_.string() + " --out " + (tmp_->path() / "centre3").string() + " " +
                                  example,
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("too little sound to centre on itself (1 of its non-overlapping windows holds sound, at least "
                     "24 needed)"),
            std::string::npos)
      << out;
  // A library calibrated before the recording calibration: named, with the way out, which adds it.
  const fs::path old = tmp_->path() / "before-recording-calibration.db";
  fs::copy_file(library_, old);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(old.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE 'recording_calibration_%'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_EQ(test::run_command(detect + old.string() + " --out " + (tmp_->path() / "centre6").string() + " " +
                                  recording,
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("calibrated by an older version"), std::string::npos) << out;
  EXPECT_EQ(out.find("scores centred on the recording ("), std::string::npos) << out;
  ASSERT_EQ(test::run_command(cli() + " enroll --quiet --run " + (demo_ / "run").string() + " --library " +
                                  old.string() + " --far 0.03 2>&1",
                              &out),
            0)
      << out;
  ASSERT_EQ(test::run_command(detect + old.string() + " --out " + (tmp_->path() / "centre7").string() + " " +
                                  recording,
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("scores centred on the recording (60 windows; false-accept rate 0.05)"), std::string::npos) << out;
}

// classify of many files centres them on their own mean (as a domain):
// said on standard error and in each JSON answer; fewer than 24 files, or
// --centre library, score each file as the library stores it, as before; a
// silent file among them is an error in its place and does not count.
void EnrollCli::ClassifyCentresTheFilesClassifiedTogetherWhereItCan() {
  std::vector<fs::path> clips;
  for (const std::string& c : test_classes_) {
    const auto of = clips_of(c);
    clips.insert(clips.end(), of.begin(), of.end());
  }
  ASSERT_GE(clips.size(), 24u);
  const fs::path silent = tmp_->path() / "batch-silent.wav";
  write_wav16(silent, std::vector<float>(22050, 0.0f), 22050);
  std::vector<fs::path> with_silent = clips;
  with_silent.insert(with_silent.begin() + 3, silent);
  auto classify = [&](const std::string& options, const std::vector<fs::path>& files, int* status = nullptr) {
    std::string command = cli() + " classify --format json " + options + " --library " + library_.string();
    for (const auto& f : files) command += " " + f.string();
    std::string out, err;
    const int rc = test::run_command("(" + command + " 2>" + (tmp_->path() / "batch.err").string() + ")", &out);
    if (status) *status = rc;
    else EXPECT_EQ(rc, 0) << out;
    std::ifstream e(tmp_->path() / "batch.err");
    err.assign(std::istreambuf_iterator<char>(e), {});
    nlohmann::json json = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << out;
    return std::make_pair(json, err);
  };
  int status = 0;
  const auto [centred, note] = classify("", with_silent, &status);
  EXPECT_NE(status, 0) << "a file could not be classified";
  EXPECT_NE(note.find("scores centred on the " + std::to_string(clips.size()) + " files classified together"),
            std::string::npos)
      << note;
  EXPECT_NE(note.find("batch-silent.wav"), std::string::npos) << note;
  ASSERT_EQ(centred.size(), with_silent.size());
  EXPECT_TRUE(centred[3].contains("error")) << centred[3].dump();
  const auto [stored, stored_note] = classify("--centre library", clips);
  EXPECT_EQ(stored_note.find("centred"), std::string::npos) << stored_note;
  ASSERT_EQ(stored.size(), clips.size());
  std::size_t moved = 0;
  for (std::size_t i = 0, j = 0; i < centred.size(); ++i) {
    if (i == 3) continue;
    const auto& c = centred[i];
    const auto& s = stored[j++];
    EXPECT_EQ(c["path"], s["path"]);
    EXPECT_EQ(c["centred_on"], "batch") << c.dump();
    EXPECT_TRUE(s["centred_on"].is_null()) << s.dump();
    moved += c["ranking"][0]["score"] != s["ranking"][0]["score"];
  }
  EXPECT_EQ(moved, clips.size()) << "every file's scores are centred";
  // --batch-cohort: also normalised against the batch's own windows (the library's batch calibration), other
  // scores; a library calibrated before the batch calibration is centred only, said with the way out.
  EXPECT_EQ(note.find("normalised"), std::string::npos) << note;
  const auto [normalised_json, normalised_note] = classify("--batch-cohort", clips);
  EXPECT_NE(normalised_note.find("scores centred on the " + std::to_string(clips.size()) +
                                 " files classified together and normalised against "),
            std::string::npos)
      << normalised_note;
  ASSERT_EQ(normalised_json.size(), clips.size());
  std::size_t normalised = 0;
  for (std::size_t i = 0, j = 0; i < centred.size(); ++i) {
    if (i == 3) continue;
    EXPECT_EQ(normalised_json[j]["centred_on"], "batch");
    normalised += normalised_json[j++]["ranking"][0]["score"] != centred[i]["ranking"][0]["score"];
  }
  EXPECT_EQ(normalised, clips.size()) << "every file's scores are normalised";
  {
    const fs::path old = tmp_->path() / "before-batch-calibration.db";
    fs::copy_file(library_, old, fs::copy_options::overwrite_existing);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(old.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE 'batch_calibration_%'", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    std::string command = cli() + " classify --format json --batch-cohort --library " + old.string();
    for (const auto& f : clips) command += " " + f.string();
    std::string out;
    ASSERT_EQ(test::run_command("(" + command + " 2>&1 >/dev/null)", &out), 0) << out;
    EXPECT_NE(out.find("was calibrated before scores normalised against the files classified together"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("scores centred on the " + std::to_string(clips.size()) + " files"), std::string::npos) << out;
    EXPECT_EQ(out.find(" and normalised against "), std::string::npos) << out;
  }
  // The ranking survives centring: the enrolled classes' clips are still ranked first by their class.
  std::size_t enrolled = 0, top1 = 0;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const std::string path = stored[i]["path"];
    for (int k = 0; k < 3; ++k) {
      const auto of = clips_of(test_classes_[static_cast<std::size_t>(k)]);
      if (std::find(of.begin(), of.end(), fs::path(path)) == of.end()) continue;
      ++enrolled;
      top1 += centred[i < 3 ? i : i + 1]["ranking"][0]["class"] == test_classes_[static_cast<std::size_t>(k)];
    }
  }
  EXPECT_GE(top1 + 2, enrolled) << top1 << " of " << enrolled;
  // The CSV says the same in its last column (empty where scored as the library stores).
  for (const std::string& centre : {std::string(""), std::string("--centre library")}) {
    std::string command = cli() + " classify --format csv --top 1 " + centre + " --library " + library_.string();
    for (const auto& f : clips) command += " " + f.string();
    std::string csv;
    ASSERT_EQ(test::run_command("(" + command + " 2>/dev/null)", &csv), 0) << csv;
    std::istringstream lines(csv);
    std::string line;
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line.substr(line.rfind(',') + 1), "centred_on") << line;
    std::size_t rows = 0;
    while (std::getline(lines, line)) {
      ++rows;
      EXPECT_EQ(line.substr(line.rfind(',') + 1), centre.empty() ? "batch" : "") << line;
    }
    EXPECT_EQ(rows, clips.size()) << csv;
  }
  // Five files: as the library stores, the same answers as --centre library.
  const std::vector<fs::path> five(clips.begin(), clips.begin() + 5);
  const auto [few, few_note] = classify("", five);
  EXPECT_EQ(few_note.find("centred"), std::string::npos) << few_note;
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(few[i]["ranking"], stored[i]["ranking"]) << i;
  // An empty folder among them: an error in its place (named, in the JSON too, exit 1); the files are answered.
  const fs::path empty = tmp_->path() / "batch-empty-folder";
  fs::create_directories(empty);
  std::vector<fs::path> with_empty = five;
  with_empty.push_back(empty);
  const auto [beside_empty, empty_note] = classify("", with_empty, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(empty_note.find(empty.string() + ": directory holds no files"), std::string::npos) << empty_note;
  EXPECT_NE(empty_note.find("1 folder given held no audio"), std::string::npos) << empty_note;
  ASSERT_EQ(beside_empty.size(), 6u) << beside_empty.dump();
  EXPECT_EQ(beside_empty[0]["path"], empty.string());
  EXPECT_TRUE(beside_empty[0].contains("error"));
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(beside_empty[i + 1]["ranking"], stored[i]["ranking"]) << i;
  // A line break in a file name keeps the table's layout: escaped, one line a file.
  const fs::path odd = tmp_->path() / "batch-odd-names";
  fs::create_directories(odd);
  fs::copy_file(clips[0], odd / "two\nlines.wav", fs::copy_options::overwrite_existing);
  std::string table;
  ASSERT_EQ(test::run_command(cli() + " classify --library " + library_.string() + " " + odd.string(), &table), 0)
      << table;
  EXPECT_NE(table.find("two\\nlines.wav: "), std::string::npos) << table;
  EXPECT_EQ(table.find("two\nlines"), std::string::npos) << table;
  // A library calibrated before the recording calibration: not centred, said, and the way out names the
  // library's own rate, not this run's --far (which enroll would store).
  const fs::path old = tmp_->path() / "batch-old.db";
  fs::copy_file(library_, old, fs::copy_options::overwrite_existing);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(old.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE 'recording_calibration_%'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string command = cli() + " classify --far 0.2 --library " + old.string();
  for (const auto& f : clips) command += " " + f.string();
  std::string out;
  ASSERT_EQ(test::run_command(command, &out), 0) << out;
  EXPECT_NE(out.find("calibrated by an older version"), std::string::npos) << out;
  EXPECT_NE(out.find(" --far 0.03` adds it"), std::string::npos) << out;
  EXPECT_NE(out.find("not centred on the files classified together"), std::string::npos) << out;
}

// While detect runs, the recordings done are in events.partial.tsv; events.tsv
// is written at the end. A run stopped before its end (here the disk full at
// its last write; a kill alike) leaves the partial list with the recordings
// done and no events.tsv that reads as a finished run; a finished run leaves
// no partial list. A list with no event has the score column too.
void EnrollCli::AnUnfinishedDetectLeavesItsPartialListNotAFinishedOne() {
  const std::string recording = (demo_ / "long" / "recording.wav").string();
  const std::string detect = cli() + " detect --quiet --no-plots --library " + library_.string() + " --out ";
  const fs::path plain = tmp_->path() / "partial_plain", faulty = tmp_->path() / "partial_faulty";
  std::string out;
  ASSERT_EQ(test::run_command(detect + plain.string() + " " + recording, &out), 0) << out;
  EXPECT_FALSE(fs::exists(plain / "events.partial.tsv"));
  const auto events = read_lines(plain / "events.tsv");
  ASSERT_GT(events.size(), 1u);
  EXPECT_EQ(events.front(), "filename\tonset\toffset\tevent_label\tscore");
  const auto fault = run_until_fault(detect + faulty.string() + " " + recording,
                                     (faulty / "events.tsv").string() + ": the disk is full",
                                     [&] { fs::remove_all(faulty); });
  ASSERT_TRUE(fault) << "no write of events.tsv was reached";
  EXPECT_NE(fault->first, 0);
  EXPECT_NE(fault->second.find("every recording's events are in " + (faulty / "events.partial.tsv").string()),
            std::string::npos)
      << fault->second;
  EXPECT_FALSE(fs::exists(faulty / "events.tsv"));
  EXPECT_EQ(read_lines(faulty / "events.partial.tsv"), events);
  // Nothing detected (a silent minute): five columns all the same.
  const fs::path silent = tmp_->path() / "partial_silent.wav", none = tmp_->path() / "partial_none";
  write_wav16(silent, std::vector<float>(60 * 22050, 0.0f), 22050);
  ASSERT_EQ(test::run_command(detect + none.string() + " " + silent.string(), &out), 0) << out;
  EXPECT_EQ(read_lines(none / "events.tsv"), std::vector<std::string>{"filename\tonset\toffset\tevent_label\tscore"});
}

TEST_F(EnrollCli, DemoModelEnrolsClassifiesAndDetectsUnseenSounds) {
  {
    SCOPED_TRACE("AnUnfinishedDetectLeavesItsPartialListNotAFinishedOne");
    AnUnfinishedDetectLeavesItsPartialListNotAFinishedOne();
  }
  {
    SCOPED_TRACE("ClassifyCentresTheFilesClassifiedTogetherWhereItCan");
    ClassifyCentresTheFilesClassifiedTogetherWhereItCan();
  }
  {
    SCOPED_TRACE("DetectCentresEachRecordingOnItselfWhereItCan");
    DetectCentresEachRecordingOnItselfWhereItCan();
  }
  {
    SCOPED_TRACE("AClassOfSeveralRecordingsIsDecidedOnItsOwnCurve");
    AClassOfSeveralRecordingsIsDecidedOnItsOwnCurve();
  }
  {
    SCOPED_TRACE("ADomainCentresTheLibraryAndTravelsWithIt");
    ADomainCentresTheLibraryAndTravelsWithIt();
  }
  {
    SCOPED_TRACE("ADamagedLibraryIsNamedAndReembedRepairsIt");
    ADamagedLibraryIsNamedAndReembedRepairsIt();
  }
  {
    SCOPED_TRACE("LibraryListsTheEnrolledClassesWithCalibratedThresholds");
    LibraryListsTheEnrolledClassesWithCalibratedThresholds();
  }
  {
    SCOPED_TRACE("ClassifiesEnrolledSoundsAndRejectsANeverEnrolledOne");
    ClassifiesEnrolledSoundsAndRejectsANeverEnrolledOne();
  }
  {
    SCOPED_TRACE("DetectFindsTheEnrolledEventsFarBetterThanChance");
    DetectFindsTheEnrolledEventsFarBetterThanChance();
  }
  {
    SCOPED_TRACE("EmbedWritesEveryWindowWithItsIndex");
    EmbedWritesEveryWindowWithItsIndex();
  }
  {
    SCOPED_TRACE("ExportedOnnxEmbedsAsEmbedDoesWithTheLibrarysThresholdsInItsCard");
    ExportedOnnxEmbedsAsEmbedDoesWithTheLibrarysThresholdsInItsCard();
  }
  {
    SCOPED_TRACE("AnnotatedSelectionsEnrolAsTheirSegmentsOneByOne");
    AnnotatedSelectionsEnrolAsTheirSegmentsOneByOne();
  }
  {
    SCOPED_TRACE("DetectReadsAWavStreamFromStandardInputAndPrintsEventsAsTheyEnd");
    DetectReadsAWavStreamFromStandardInputAndPrintsEventsAsTheyEnd();
  }
  {
    SCOPED_TRACE("DetectEmbedsAShorterWindowAtItsOwnLengthByDefault");
    DetectEmbedsAShorterWindowAtItsOwnLengthByDefault();
  }
  {
    SCOPED_TRACE("AnotherModelIsRefusedNamingBothFingerprintsUntilReembedded");
    AnotherModelIsRefusedNamingBothFingerprintsUntilReembedded();
  }
  {
    SCOPED_TRACE("SilenceAndBadFilesAreRefusedNamingTheFileAndNothingIsAdded");
    SilenceAndBadFilesAreRefusedNamingTheFileAndNothingIsAdded();
  }
  {
    SCOPED_TRACE("RepeatsAndUselessOptionsAreRefused");
    RepeatsAndUselessOptionsAreRefused();
  }
  {
    SCOPED_TRACE("OptionsAndSegmentsAreRefusedBeforeTheCalibration");
    OptionsAndSegmentsAreRefusedBeforeTheCalibration();
  }
  {
    SCOPED_TRACE("NotesBesideTheRecordingsAreSkippedByEveryCommand");
    NotesBesideTheRecordingsAreSkippedByEveryCommand();
  }
  {
    SCOPED_TRACE("AScorePlotThatCannotBeWrittenKeepsTheRecordingsEvents");
    AScorePlotThatCannotBeWrittenKeepsTheRecordingsEvents();
  }
  {
    SCOPED_TRACE("PathsThatAreNotUtf8AreWrittenToJsonAsReplacementCharacters");
    PathsThatAreNotUtf8AreWrittenToJsonAsReplacementCharacters();
  }
}

}  // namespace
}  // namespace oneshot
