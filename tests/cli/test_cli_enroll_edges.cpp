// enroll, detect and score-events given what a new user gives them: a class
// name with a tab, standard input as an example, a threshold for a negative
// class, "nan" and "inf" as seconds, a folder holding a symbolic-link loop or
// a FIFO, an event list saved with a byte-order mark. Each must be an error
// naming the option or file and the reason (or just work), before any model
// is loaded where the model is not needed to tell.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

std::string cli() { return test::cli_path().string(); }

struct Result {
  int rc;
  std::string out;
};

Result run(const std::string& args) {
  Result r;
  r.rc = test::run_command(cli() + " " + args + " 2>&1", &r.out);
  return r;
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// A tiny WAV (0.1 s of a square wave): the errors under test come before decoding.
fs::path write_wav(const fs::path& path) {
  const std::uint32_t rate = 22050, n = 2205;
  std::ofstream f(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  f.write("RIFF", 4), u32(36 + n * 2), f.write("WAVEfmt ", 8), u32(16), u16(1), u16(1), u32(rate), u32(rate * 2),
      u16(2), u16(16), f.write("data", 4), u32(n * 2);
  for (std::uint32_t i = 0; i < n; ++i) u16(static_cast<std::uint16_t>((i / 20) % 2 ? 8000 : -8000));
  return path;
}

TEST(EnrollEdges, AClassNameThatWouldBreakTheOutputIsRefusedBeforeTheModelLoads) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "bell.wav");
  for (const std::string name : {"tab\there", "unknown", " bell"}) {
    // The run does not exist: the name is checked first, so its error is the one shown.
    const Result r = run("enroll --run " + quote(dir.path() / "no-run") + " --library " + quote(dir.path() / "l.db") +
                         " --class '" + name + "' " + quote(wav));
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("class name \"" + name + "\""), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("no-run"), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "l.db"));
}

// A name that is not UTF-8 (Latin-1 from a script, a stray byte) was stored,
// and every JSON output listing the library then ended in a bare
// json.exception.type_error.316 with nothing written.
TEST(EnrollEdges, AClassNameThatIsNotUtf8IsRefusedShownWithEscapes) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "bell.wav");
  const Result r = run("enroll --run " + quote(dir.path() / "no-run") + " --library " + quote(dir.path() / "l.db") +
                       " --class 'cl\xFE' " + quote(wav));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("class name \"cl\\xFE\": is not UTF-8 text (byte \\xFE at byte offset 2)"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("no-run"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path() / "l.db"));
}

TEST(EnrollEdges, StandardInputCannotBeEnrolledBecauseItCannotBeReembedded) {
  test::TempDir dir;
  const Result r = run("enroll --run " + quote(dir.path() / "no-run") + " --library " + quote(dir.path() / "l.db") +
                       " --class bell - < /dev/null");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("cannot enrol standard input (-)"), std::string::npos) << r.out;
}

TEST(EnrollEdges, AThresholdForANegativeClassIsAnErrorNotIgnored) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "hum.wav");
  const Result r = run("enroll --negative --threshold 3 --run " + quote(dir.path() / "no-run") + " --library " +
                       quote(dir.path() / "l.db") + " " + quote(wav));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("a negative class has none"), std::string::npos) << r.out;
}

TEST(EnrollEdges, NanAndInfAreRefusedAsSecondsAndScoresNamingTheOption) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "rec.wav");
  const std::string tail = " --library " + quote(dir.path() / "l.db") + " " + quote(wav);
  // Durations of events: 0 to a day (1e300 was accepted without a word).
  for (const std::string& opt : {"--merge-gap -1", "--min-duration inf", "--min-duration 1e300", "--merge-gap 86401"}) {
    const Result r = run("detect " + opt + tail);
    EXPECT_NE(r.rc, 0) << opt;
    EXPECT_NE(r.out.find(opt.substr(0, opt.find(' ')) + ": must be seconds from 0 to 86400 (a day), got " +
                         opt.substr(opt.find(' ') + 1)),
              std::string::npos)
        << opt << ": " << r.out;
  }
  for (const std::string& opt : {"--window nan", "--hop inf", "--window 0", "--threshold nan", "--off-drop nan"}) {
    const Result r = run("detect " + opt + tail);
    EXPECT_NE(r.rc, 0) << opt;
    EXPECT_NE(r.out.find(opt.substr(0, opt.find(' ')) + ": must be a finite number"), std::string::npos)
        << opt << ": " << r.out;
  }
  for (const std::string& opt : {"--hop nan", "--threshold inf"}) {
    const Result c = run("classify " + opt + tail);
    EXPECT_NE(c.out.find(opt.substr(0, opt.find(' ')) + ": must be a finite number"), std::string::npos) << c.out;
    const Result e = run("enroll --class a --run " + quote(dir.path()) + " " + opt + tail);
    EXPECT_NE(e.out.find(opt.substr(0, opt.find(' ')) + ": must be a finite number"), std::string::npos) << e.out;
  }
}

// CLI11's PositiveNumber answered "--top 0" with "not in range 0.000000 to"
// and 1.8e308 written out in 309 digits.
TEST(EnrollEdges, CountsOutOfRangeNameTheirRange) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "rec.wav");
  const std::string tail = " --library " + quote(dir.path() / "l.db") + " " + quote(wav);
  for (const std::string& top : {"0", "2.5", "99999999999999999999"}) {
    const Result r = run("classify --top " + top + tail);
    EXPECT_NE(r.rc, 0) << top;
    EXPECT_NE(r.out.find("--top: must be a whole number from 1 to 1000000, got " + top), std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("000000000000000000000000"), std::string::npos) << r.out;
  }
  const Result e = run("evaluate --episodes 0 --run " + quote(dir.path()));
  EXPECT_NE(e.out.find("--episodes: must be a whole number from 1 to 2147483647, got 0"), std::string::npos)
      << e.out;
}

// x.wav and x.flac: detect wrote both recordings' plots and tables to x_scores.png
// and x.labels.txt, the second over the first, and exited 0.
TEST(EnrollEdges, DetectRefusesRecordingsWhoseTablesAndPlotsWouldShareANameBeforeTheModelLoads) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "stem");
  const fs::path wav = write_wav(dir.path() / "stem" / "x.wav");
  fs::copy_file(wav, dir.path() / "stem" / "x.flac");
  const std::string args = " --library " + quote(dir.path() / "none.db") + " --out " + quote(dir.path() / "out") +
                           " " + quote(wav) + " " + quote(dir.path() / "stem" / "x.flac");
  for (const std::string& options : {"", "--no-plots --format tsv,audacity"}) {
    const Result r = run("detect " + options + args);
    EXPECT_NE(r.rc, 0) << options;
    EXPECT_NE(r.out.find("detect: " + wav.string() + " and " + (dir.path() / "stem" / "x.flac").string() +
                         " have the same name before the extension (\"x\")"),
              std::string::npos)
        << options << ": " << r.out;
    EXPECT_EQ(r.out.find("none.db"), std::string::npos) << options << ": " << r.out;
  }
  // Without plots or per-recording tables only events.tsv is written: the names are fine.
  const Result r = run("detect --no-plots" + args);
  EXPECT_EQ(r.out.find("same name"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("none.db"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path() / "out"));
}

// CLI11's Range lets "nan" through (every comparison with it is false): --far nan
// was accepted by classify, detect and enroll and the library's rate used.
TEST(EnrollEdges, AFalseAcceptRateOfNanOrOutsideZeroToOneIsRefusedNamingTheOption) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "rec.wav");
  const std::string tail = " --library " + quote(dir.path() / "l.db") + " " + quote(wav);
  const std::string enroll = "enroll --class a --run " + quote(dir.path());
  for (const std::string& command : {std::string("classify"), std::string("detect"), enroll}) {
    for (const std::string far : {"nan", "1", "-0.1"}) {
      const Result r = run(command + " --far " + far + tail);
      EXPECT_NE(r.rc, 0) << command << " --far " << far;
      EXPECT_EQ(r.out.rfind("--far: ", 0), 0u) << command << " --far " << far << ": " << r.out;
    }
    EXPECT_NE(run(command + " --far nan" + tail).out.find("--far: must be a false-accept rate, a finite number >= 0 "
                                                          "and below 1, got nan"),
              std::string::npos)
        << command;
    // One message, not CLI11's two joined by AND.
    const Result negative = run(command + " --far -1" + tail);
    EXPECT_EQ(negative.out.find(" AND "), std::string::npos) << negative.out;
  }
}

// Options and settings that size work have limits, named in the error, before
// anything is read: --threads 20000 spin-waited for minutes, a duration of
// 1e9 s ended in std::bad_alloc.
TEST(EnrollEdges, OptionsThatSizeWorkAreBoundedNamingTheLimit) {
  test::TempDir dir;
  const fs::path wav = write_wav(dir.path() / "rec.wav");
  for (const std::string command : {"classify --library " + quote(dir.path() / "l.db"),
                                    "detect --library " + quote(dir.path() / "l.db"),
                                    "embed --run " + quote(dir.path()) + " --out " + quote(dir.path() / "e")}) {
    const Result r = run(command + " --threads 20000 " + quote(wav));
    EXPECT_NE(r.rc, 0) << command;
    EXPECT_NE(r.out.find("--threads"), std::string::npos) << command << ": " << r.out;
    EXPECT_NE(r.out.find("cores of this machine"), std::string::npos) << command << ": " << r.out;
  }
  const Result f = run("features --data " + quote(dir.path()) + " --set features.duration=1e9");
  EXPECT_NE(f.rc, 0);
  EXPECT_NE(f.out.find("features.duration"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("600"), std::string::npos) << f.out;
  EXPECT_EQ(f.out.find("bad_alloc"), std::string::npos) << f.out;
  const Result t = run("train --run " + quote(dir.path() / "run") + " --data " + quote(dir.path()) +
                       " --set train.batch_size=2000000000");
  EXPECT_NE(t.rc, 0);
  EXPECT_NE(t.out.find("train.batch_size"), std::string::npos) << t.out;
}

TEST(EnrollEdges, AFolderWithALinkLoopIsListedOnceAndAFifoInItIsNamed) {
  test::TempDir dir;
  const fs::path folder = dir.path() / "sounds";
  fs::create_directories(folder / "sub");
  write_wav(folder / "a.wav");
  fs::create_directory_symlink("..", folder / "sub" / "loop");  // sounds/sub/loop -> sounds
  fs::create_symlink(dir.path() / "nowhere.wav", folder / "dangling.wav");
  const std::string args = "enroll --class bell --run " + quote(dir.path() / "no-run") + " --library " +
                           quote(dir.path() / "l.db") + " " + quote(folder);
  // The listing succeeds (the loop entered once, the dangling link left for the reader to name): the error is the run's.
  Result r = run(args);
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.out.find("filesystem error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no-run"), std::string::npos) << r.out;

  ASSERT_EQ(mkfifo((folder / "pipe.wav").c_str(), 0600), 0);
  r = run(args);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find((folder / "pipe.wav").string() + ": is not a regular file"), std::string::npos) << r.out;
}

// Notes and metadata beside the recordings are skipped (and counted), not
// read as audio; a folder of nothing else is named with what it holds, before
// the model loads. A file named on its own is read whatever its name.
TEST(EnrollEdges, AFolderOfSidecarFilesIsNamedAndAFileNamedAloneIsRead) {
  test::TempDir dir;
  std::ofstream(dir.path() / "a.txt") << "notes";
  std::ofstream(dir.path() / "meta.json") << "{}";
  const std::string enroll = "enroll --class bell --run " + quote(dir.path() / "no-run") + " --library " +
                             quote(dir.path() / "l.db") + " ";
  Result r = run(enroll + quote(dir.path()));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find(dir.path().string() + ": directory holds no audio files (2 other files: "), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("no-run"), std::string::npos) << r.out;
  write_wav(dir.path() / "bell.wav");
  r = run(enroll + quote(dir.path()));  // now the folder is fine: the error is the run's
  EXPECT_NE(r.out.find("note: skipped 2 files that are not audio"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no-run"), std::string::npos) << r.out;
}

TEST(ScoreEventsEdges, AnEventListWithAByteOrderMarkIsRead) {
  test::TempDir dir;
  std::ofstream(dir.path() / "ref.tsv") << "\xEF\xBB\xBF" "filename\tonset\toffset\tevent_label\na.wav\t1\t2\tdog\n";
  std::ofstream(dir.path() / "est.tsv") << "\xEF\xBB\xBF" "a.wav\t1.1\t2\tdog\n";
  const Result r = run("score-events --format csv --reference " + quote(dir.path() / "ref.tsv") + " --estimate " +
                       quote(dir.path() / "est.tsv"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("micro,,1,1,1,0,0,1.000000,1.000000,1.000000"), std::string::npos) << r.out;
}

TEST(ScoreEventsEdges, AHeaderThatIsNotOursSaysWhatAHeaderMustBe) {
  test::TempDir dir;
  std::ofstream(dir.path() / "ref.tsv") << "Audiofilename\tStarttime\tEndtime\tClass\na.wav\t1\t2\tdog\n";
  const Result r = run("score-events --reference " + quote(dir.path() / "ref.tsv") + " --estimate " +
                       quote(dir.path() / "ref.tsv"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("line 1: onset 'Starttime' is not a number (a header line must read"), std::string::npos)
      << r.out;
}

// `library --remove cat --reembed` exited 0 with cat still there, and
// `library --remove ''` just listed the library: both are refused, before
// the library is opened.
TEST(EnrollEdges, LibraryRemoveWithReembedOrAnEmptyNameIsRefused) {
  test::TempDir tmp;
  const fs::path library = tmp.path() / "rm.db";
  Result r = run("library " + quote(library) + " --remove cat --reembed --run " + quote(tmp.path() / "run"));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("--remove and --reembed"), std::string::npos) << r.out;
  r = run("library " + quote(library) + " --remove ''");
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("--remove needs the name"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(library));
}

}  // namespace
}  // namespace oneshot
