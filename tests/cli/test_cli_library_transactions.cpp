// Commands that change a class library change it whole or not at all, and
// commands that only read it create nothing (issue 22), end to end on the
// demo's model: `enroll --far 0.3` with a file that is not audio used to move
// the library's calibration and then say "nothing was added"; an enrol or a
// `library --remove` failed or killed (ONESHOT_TEST_LIBRARY_FAULT) at any of
// its writing statements must leave the library byte for byte as it was; a
// library that a failed first enrol would have created is not left behind;
// `library` and `classify` on a misspelt path create no file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "support/demo_run.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

std::string cli() { return test::cli_path().string(); }
std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

std::string bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Result {
  int rc;
  std::string out;
};

Result run(const std::string& args, const std::string& env = "") {
  Result r;
  r.rc = test::run_command(env + (env.empty() ? "" : " ") + cli() + " " + args, &r.out);
  return r;
}

TEST(LibraryChangesCli, FailedOrKilledChangesLeaveTheLibraryAsItWasAndReadersCreateNothing) {
  test::TempDir tmp;
  const fs::path demo = tmp.path() / "demo";
  Result r = run("demo --quiet --out " + quote(demo));
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto split = nlohmann::json::parse(std::ifstream(demo / "run" / "split.json"));
  const auto classes = split.at("test").get<std::vector<std::string>>();
  ASSERT_GE(classes.size(), 3u);
  auto example = [&](int i) { return demo / "examples" / (classes[static_cast<std::size_t>(i)] + ".wav"); };
  const std::string run_dir = quote(demo / "run");
  const fs::path library = tmp.path() / "sounds.db";
  const std::string lib = " --library " + quote(library);
  r = run("enroll --quiet --run " + run_dir + lib + " --class " + classes[0] + " " + quote(example(0)));
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string before = bytes(library);
  const Result listing = run("library --format json " + quote(library));
  ASSERT_EQ(listing.rc, 0) << listing.out;
  const double far_before = nlohmann::json::parse(listing.out)["calibration"]["far"];
  ASSERT_NE(far_before, 0.3);
  // The library as it was, read by a reader first (which rolls back a killed writer's journal).
  auto expect_unchanged = [&](const std::string& what) {
    const Result now = run("library --format json " + quote(library));
    EXPECT_EQ(now.rc, 0) << what << ": " << now.out;
    EXPECT_EQ(now.out, listing.out) << what;
    EXPECT_TRUE(bytes(library) == before) << what << ": the library's bytes changed";
  };

  // The case: a new rate and a file that is not audio.
  const fs::path not_audio = tmp.path() / "notes.wav";
  test::write_text(not_audio, "these are notes, not audio\n");
  const std::string enrol_second = "enroll --quiet --far 0.3 --run " + run_dir + lib + " --class " + classes[1] + " ";
  r = run(enrol_second + quote(example(1)) + " " + quote(not_audio));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("nothing was added"), std::string::npos) << r.out;
  expect_unchanged("enroll --far 0.3 with a file that is not audio");

  // A fault (an error, or SIGKILL) at each writing statement of the enrol.
  int steps = 0;
  for (int n = 1; n < 200; ++n) {
    const std::string step = "writing statement " + std::to_string(n);
    r = run(enrol_second + quote(example(1)), "ONESHOT_TEST_LIBRARY_FAULT=" + std::to_string(n) + ":kill");
    if (r.rc == 0) break;  // n is past the last writing statement: the enrol is done
    steps = n;
    expect_unchanged("enroll killed at " + step);
    if (n % 3 == 1) {
      r = run(enrol_second + quote(example(1)), "ONESHOT_TEST_LIBRARY_FAULT=" + std::to_string(n));
      EXPECT_NE(r.rc, 0) << r.out;
      EXPECT_NE(r.out.find("injected library fault"), std::string::npos) << r.out;
      expect_unchanged("enroll failed at " + step);
    }
  }
  EXPECT_GE(steps, 5) << "the enrol's change has more steps than that: calibration, examples, thresholds";
  const auto after = nlohmann::json::parse(run("library --format json " + quote(library)).out);
  EXPECT_EQ(after["calibration"]["far"].get<double>(), 0.3);
  EXPECT_EQ(after["classes"].size(), 2u);

  // library --remove: killed or failed at each step, nothing; then removed.
  const std::string changed = bytes(library);
  const std::string listing_changed = run("library --format json " + quote(library)).out;
  for (int n = 1;; ++n) {
    r = run("library --remove " + classes[1] + " " + quote(library), "ONESHOT_TEST_LIBRARY_FAULT=" + std::to_string(n) + ":kill");
    if (r.rc == 0) break;
    ASSERT_LT(n, 20) << r.out;
    EXPECT_EQ(run("library --format json " + quote(library)).out, listing_changed) << "remove killed at " << n;
    EXPECT_TRUE(bytes(library) == changed) << "remove killed at " << n;
  }
  EXPECT_EQ(nlohmann::json::parse(run("library --format json " + quote(library)).out)["classes"].size(), 1u);

  // A first enrol that fails leaves no library behind.
  const fs::path fresh = tmp.path() / "fresh.db";
  r = run("enroll --quiet --run " + run_dir + " --library " + quote(fresh) + " --class " + classes[2] + " " +
          quote(not_audio));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_FALSE(fs::exists(fresh));

  // Readers on a misspelt path: "no such file", and nothing created.
  const fs::path typo = tmp.path() / "sound.db";
  r = run("library " + quote(typo));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("no such file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(typo.string()), std::string::npos) << r.out;
  r = run("classify --library " + quote(typo) + " " + quote(example(0)));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("no such file"), std::string::npos) << r.out;
  r = run("library --remove " + classes[0] + " " + quote(typo));
  EXPECT_NE(r.rc, 0);
  EXPECT_FALSE(fs::exists(typo));

  // The rate alone (no FILE) changes an existing library; on a misspelt path it creates nothing.
  r = run("enroll --quiet --far 0.3 --run " + run_dir + lib);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("false-accept rate 0.3"), std::string::npos) << r.out;
  const auto rated = nlohmann::json::parse(run("library --format json " + quote(library)).out);
  EXPECT_EQ(rated["calibration"]["far"].get<double>(), 0.3);
  EXPECT_EQ(rated["classes"].size(), 1u);
  r = run("enroll --quiet --far 0.3 --run " + run_dir + " --library " + quote(typo));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("no such class library"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(typo));
}

// A first enrol killed at each of its writing statements, or stopped by
// SIGTERM or SIGINT at any moment, leaves no library: it used to leave one
// holding the run and fingerprint alone, which refused a retry with another
// run ("embedded with model ...").
TEST(LibraryChangesCli, AKilledOrInterruptedFirstEnrolLeavesNoLibrary) {
  test::TempDir tmp;
  const fs::path demo = tmp.path() / "demo";
  Result r = run("demo --quiet --out " + quote(demo));
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto split = nlohmann::json::parse(std::ifstream(demo / "run" / "split.json"));
  const auto classes = split.at("test").get<std::vector<std::string>>();
  ASSERT_GE(classes.size(), 1u);
  const fs::path example = demo / "examples" / (classes[0] + ".wav");
  const fs::path dir = tmp.path() / "libs";
  fs::create_directories(dir);
  const fs::path library = dir / "first.db";
  const std::string enrol =
      "enroll --quiet --run " + quote(demo / "run") + " --library " + quote(library) + " --class " + classes[0] + " " +
      quote(example);
  auto left = [&] {
    std::string names;
    for (const auto& e : fs::directory_iterator(dir)) names += e.path().filename().string() + " ";
    return names;
  };
  // The schema, the settings, the cohort (hundreds of rows), the calibration, the examples.
  int killed = 0;
  for (int n : {1, 3, 8, 20, 60, 150, 400}) {
    r = run(enrol, "ONESHOT_TEST_LIBRARY_FAULT=" + std::to_string(n) + ":kill");
    if (r.rc == 0) break;
    ++killed;
    EXPECT_FALSE(fs::exists(library)) << "killed at writing statement " << n << ": " << left();
  }
  EXPECT_GE(killed, 5);
  if (!fs::exists(library)) {
    r = run(enrol);
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  ASSERT_TRUE(fs::exists(library));
  // The successful enrol removed the dead ones' temporary files.
  EXPECT_EQ(left(), "first.db ") << "temporary files left beside the library";
  fs::remove(library);
  for (const char* signal : {"TERM", "INT"})
    for (const char* after : {"0.7", "2", "4"}) {
      r = run("timeout -s " + std::string(signal) + " " + after + " " + cli() + " " + enrol);
      if (r.rc == 0) {
        fs::remove(library);
        continue;  // the enrol finished first
      }
      EXPECT_FALSE(fs::exists(library)) << "SIG" << signal << " after " << after << " s: " << left();
    }

  // Two first enrols started together, one asking for raw scores: whichever
  // commits second plans again on the first's library, so the stored
  // settings and calibration agree (the second used to store an AS-norm
  // calibration beside score_norm "none", and classify scored AS-normalised).
  // Whether they overlap is up to the scheduler; the library must agree either way.
  for (int round = 0; round < 3; ++round) {
    if (fs::exists(library)) fs::remove(library);
    const std::string enrol_raw = cli() + " enroll --quiet --score-norm none --run " + quote(demo / "run") +
                                  " --library " + quote(library) + " --class raw_" + std::to_string(round) + " " +
                                  quote(example);
    const std::string enrol_default = cli() + " enroll --quiet --run " + quote(demo / "run") + " --library " +
                                      quote(library) + " --class default_" + std::to_string(round) + " " +
                                      quote(example);  // the same recording as another class: allowed
    std::string out;
    ASSERT_EQ(test::run_command("(" + enrol_raw + " & " + enrol_default + "; s=$?; wait $! && exit $s)", &out), 0)
        << out;
    const Result listing = run("library --format json " + quote(library));
    ASSERT_EQ(listing.rc, 0) << listing.out;
    const auto j = nlohmann::json::parse(listing.out);
    EXPECT_EQ(j.at("classes").size(), 2u) << listing.out;
    EXPECT_EQ(j.at("settings").at("score_norm"), "none") << "round " << round << ": " << listing.out;
    EXPECT_EQ(j.at("calibration").at("normalised"), false) << "round " << round << ": " << listing.out;
  }
}

// library --reembed replaces every example in one change; an enrol committed
// while it embedded the sources was lost (the class vanished). It now sees
// the change inside its transaction and re-embeds on the new state. The
// re-embedding waits 5 s before each change (ONESHOT_TEST_LIBRARY_PAUSE), so
// the enrol started 1 s after it commits in between.
TEST(LibraryChangesCli, AnEnrolCommittedDuringAReembedIsKept) {
  const fs::path& demo = test::shared_demo();  // read only: the library is made in tmp
  ASSERT_FALSE(demo.empty());
  test::TempDir tmp;
  const auto classes = test::demo_test_classes(demo);
  ASSERT_GE(classes.size(), 2u);
  auto example = [&](std::size_t i) { return quote(demo / "examples" / (classes[i] + ".wav")); };
  const fs::path library = tmp.path() / "sounds.db";
  const std::string enrol = cli() + " enroll --quiet --run " + quote(demo / "run") + " --library " + quote(library);
  std::string out;
  ASSERT_EQ(test::run_command(enrol + " --class " + classes[0] + " " + example(0), &out), 0) << out;
  const fs::path reembed_out = tmp.path() / "reembed.out";
  ASSERT_EQ(test::run_command("(ONESHOT_TEST_LIBRARY_PAUSE=5 " + cli() + " library --reembed --run " +
                                  quote(demo / "run") + " " + quote(library) + " > " + quote(reembed_out) +
                                  " 2>&1 & sleep 1; " + enrol + " --class " + classes[1] + " " + example(1) +
                                  "; s=$?; wait $! && exit $s)",
                              &out),
            0)
      << out << bytes(reembed_out);
  EXPECT_NE(bytes(reembed_out).find("during this re-embedding; making it again on the new state"), std::string::npos)
      << bytes(reembed_out);
  const Result listing = run("library --format json " + quote(library));
  ASSERT_EQ(listing.rc, 0) << listing.out;
  const auto j = nlohmann::json::parse(listing.out);
  ASSERT_EQ(j.at("classes").size(), 2u) << listing.out;
  for (const auto& c : j.at("classes")) EXPECT_GT(c.at("examples").get<long>(), 0) << listing.out;
}

}  // namespace
}  // namespace oneshot
