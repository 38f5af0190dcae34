// The review loop end to end on the demo (issue 19 item 4): index -> search
// --page (a review page) -> verdicts (search's Raven table with a Verdict
// column, judged from the reference) -> review enrols exactly the confirmed
// windows as examples and the rejected ones as negatives, records every
// verdict in the archive, adds nothing twice when run again -> the next search
// leaves the reviewed windows out (--include-reviewed keeps them), a search
// by --example none. Refusals:
// another model's library (naming both fingerprints), a row that matches no
// archived recording (named, nothing changed). search --sample: random and
// balanced reproducible from the seed, margin needs a library.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "support/cli_run.h"
#include "support/demo_run.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

using Result = test::CliResult;
std::string cli() { return test::cli_path().string(); }
std::string q(const fs::path& p) { return test::quoted(p); }
Result run(const std::string& args) { return test::run_cli(args); }
Result run_stdout(const std::string& args) { return test::run_cli_stdout(args); }

std::vector<std::string> query(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db;
    sqlite3_close(h);
    return rows;
  }
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(s); ++c) {
      if (c) row += "|";
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
      row += t ? t : "";
    }
    rows.push_back(row);
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return rows;
}
long count(const fs::path& db, const std::string& sql) {
  const auto rows = query(db, sql);
  return rows.empty() ? -1 : std::stol(rows[0]);
}
void exec(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << why;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream s(line);
  for (std::string f; std::getline(s, f, sep);) out.push_back(f);
  return out;
}

class ReviewCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo_ = test::shared_demo();
    if (demo_.empty()) return;
    tmp_ = new test::TempDir();
    classes_ = test::demo_test_classes(demo_);
    recordings_ = tmp_->path() / "recordings";
    for (const auto& c : classes_)
      for (const auto& clip : test::demo_clips_of(demo_, c)) {
        fs::create_directories(recordings_ / c);
        fs::copy_file(clip, recordings_ / c / clip.filename());
      }
    fs::copy_file(demo_ / "long" / "recording.wav", recordings_ / "long.wav");
    archive_ = tmp_->path() / "sounds.archive";
    Result r = run("index --quiet --run " + q(demo_ / "run") + " --archive " + q(archive_) + " " + q(recordings_));
    if (r.status != 0) ADD_FAILURE() << r.out;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  void SetUp() override {
    if (demo_.empty()) GTEST_SKIP() << "no demo";
  }
  // A library with one example (the demo's examples/CLASS.wav) of `name`, fresh for each test.
  static fs::path library_of(const std::string& name, const std::string& tag) {
    const fs::path lib = tmp_->path() / (tag + ".library");
    const Result r = run("enroll --quiet --run " + q(demo_ / "run") + " --library " + q(lib) + " --class " + name +
                         " " + q(demo_ / "examples" / (name + ".wav")));
    EXPECT_EQ(r.status, 0) << r.out;
    return lib;
  }
  // The example classes (the demo writes examples/ for three of the test classes).
  static std::string example_class() {
    for (const auto& c : classes_)
      if (fs::exists(demo_ / "examples" / (c + ".wav"))) return c;
    return classes_.at(0);
  }
  // A fresh copy of the archive (reviews are per archive).
  static fs::path archive_copy(const std::string& tag) {
    const fs::path a = tmp_->path() / (tag + ".archive");
    fs::copy_file(archive_, a, fs::copy_options::overwrite_existing);
    return a;
  }

  static test::TempDir* tmp_;
  static fs::path demo_, recordings_, archive_;
  static std::vector<std::string> classes_;
};
test::TempDir* ReviewCli::tmp_ = nullptr;
fs::path ReviewCli::demo_, ReviewCli::recordings_, ReviewCli::archive_;
std::vector<std::string> ReviewCli::classes_;

// The archive's window ids of `file` whose centre lies in (on, off): what review resolves a row to.
std::set<std::string> windows_in(const fs::path& archive, const std::string& file, double on, double off,
                                 double window_s) {
  std::set<std::string> out;
  for (const auto& row : query(archive, "SELECT w.id, w.start_s FROM windows w JOIN files f ON f.id = w.file_id "
                                        "WHERE f.path = '" + file + "'")) {
    const auto f = split(row, '|');
    const double centre = std::stod(f[1]) + window_s / 2;
    if (centre > on && centre < off) out.insert(f[0]);
  }
  return out;
}

TEST_F(ReviewCli, TheLoopPageVerdictsReviewAndSearchAgainEnrolsExactlyTheJudgedWindows) {
  const std::string name = example_class();
  const fs::path lib = library_of(name, "loop"), archive = archive_copy("loop");
  const fs::path page = tmp_->path() / "page", hits = tmp_->path() / "hits.txt";
  Result r = run("search --archive " + q(archive) + " --library " + q(lib) + " --class " + name +
                 " --top 60 --format raven --out " + q(hits) + " --page " + q(page));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("review page: " + (page / "index.html").string()), std::string::npos) << r.out;
  const std::string html = read_file(page / "index.html");

  // Judge each hit from the reference: a clip of the class yes, another class's clip no, the long take skip.
  std::ifstream in(hits);
  std::string line, table;
  std::getline(in, line);
  const auto header = split(line, '\t');
  const auto col = [&](const std::string& n) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), n) - header.begin());
  };
  table = line + "\tVerdict\n";
  const double window_s = std::stod(query(archive, "SELECT value FROM meta WHERE key = 'window_s'").at(0));
  std::set<std::string> yes, no, skip;
  int hits_n = 0;
  while (std::getline(in, line)) {
    const auto f = split(line, '\t');
    const std::string path = f.at(col("Begin Path"));
    EXPECT_NE(html.find(path), std::string::npos) << path << " not on the page";
    ++hits_n;
    const std::string verdict = path.find("/long.wav") != std::string::npos ? "skip"
                                : path.find("/" + name + "/") != std::string::npos ? "yes" : "no";
    table += line + "\t" + verdict + "\n";
    const auto ids = windows_in(archive, path, std::stod(f.at(col("Begin Time (s)"))),
                                std::stod(f.at(col("End Time (s)"))), window_s);
    EXPECT_FALSE(ids.empty()) << line;
    (verdict == "yes" ? yes : verdict == "no" ? no : skip).insert(ids.begin(), ids.end());
  }
  ASSERT_GT(hits_n, 3);
  ASSERT_GT(yes.size(), 0u) << "no hit of the class among the top 20:\n" << read_file(hits);
  ASSERT_GT(no.size(), 0u) << "every hit of the class: nothing to reject:\n" << read_file(hits);
  for (std::size_t n = 1; n <= static_cast<std::size_t>(hits_n); ++n) {
    char clip[32];
    std::snprintf(clip, sizeof clip, "hit-%04zu.wav", n);
    EXPECT_TRUE(fs::exists(page / "clips" / clip)) << clip;
  }
  const fs::path verdicts = tmp_->path() / "verdicts.tsv";
  write_file_atomic(verdicts, table);

  const auto examples_of = [&](const std::string& cls) {
    return query(lib, "SELECT e.source || '@' || e.window_start FROM examples e JOIN classes c ON c.id = e.class_id "
                      "WHERE c.name = '" + cls + "' ORDER BY e.id");
  };
  const auto before = examples_of(name);
  r = run("review --archive " + q(archive) + " --library " + q(lib) + " --class " + name + " " + q(verdicts));
  ASSERT_EQ(r.status, 0) << r.out;
  // Exactly the confirmed windows joined the class, the rejected ones the negative class, with the archive's embeddings.
  const auto after = examples_of(name);
  EXPECT_EQ(after.size(), before.size() + yes.size()) << r.out;
  EXPECT_EQ(examples_of("background").size(), no.size()) << r.out;
  EXPECT_EQ(count(lib, "SELECT negative FROM classes WHERE name = 'background'"), 1);
  for (const auto& [set, cls] : {std::pair{&yes, name}, std::pair{&no, std::string("background")}})
    for (const std::string& id : *set) {
      // The archive's values (its blob less the 8-byte checksum after them).
      const std::string blob =
          query(archive, "SELECT hex(substr(embedding, 1, length(embedding) - 8)) FROM windows WHERE id = " + id).at(0);
      EXPECT_EQ(count(lib, "SELECT COUNT(*) FROM examples e JOIN classes c ON c.id = e.class_id WHERE c.name = '" +
                               cls + "' AND hex(e.embedding) = '" + blob + "'"),
                1)
          << "window " << id << " in " << cls;
    }
  // The reviews: every judged window once, with its verdict.
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM reviews WHERE class = '" + name + "'"),
            static_cast<long>(yes.size() + no.size() + skip.size()));
  for (const auto& [set, v] : {std::pair{&yes, "yes"}, std::pair{&no, "no"}, std::pair{&skip, "skip"}})
    for (const std::string& id : *set)
      EXPECT_EQ(query(archive, "SELECT verdict FROM reviews WHERE window_id = " + id).at(0), v) << id;

  // Again: nothing added twice.
  r = run("review --archive " + q(archive) + " --library " + q(lib) + " --class " + name + " " + q(verdicts));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("enrolled 0 windows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("enrolled before, not added again"), std::string::npos) << r.out;
  EXPECT_EQ(examples_of(name).size(), after.size());
  EXPECT_EQ(examples_of("background").size(), no.size());

  // The next search leaves every reviewed window out; --include-reviewed keeps them.
  const auto window_ids = [&](const std::string& extra) {
    const Result s = run_stdout("search --archive " + q(archive) + " --library " + q(lib) + " --class " + name +
                                " --top 30 --format json " + extra);
    EXPECT_EQ(s.status, 0) << s.out;
    std::set<std::string> ids;
    const auto answer = nlohmann::json::parse(s.out);
    for (const auto& h : answer.at("hits"))
      for (const auto& w : h.at("window_ids")) ids.insert(std::to_string(w.get<long>()));
    EXPECT_FALSE(ids.empty()) << s.out;
    return ids;
  };
  std::set<std::string> reviewed = yes;
  reviewed.insert(no.begin(), no.end());
  reviewed.insert(skip.begin(), skip.end());
  const auto again = window_ids("");
  EXPECT_EQ(again.size(), 30u);
  for (const auto& id : again) EXPECT_FALSE(reviewed.count(id)) << "reviewed window " << id << " found again";
  const auto all = window_ids("--include-reviewed");
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const std::string& id) { return reviewed.count(id) > 0; }));
  // A search by example names no class: it leaves no reviewed window out.
  const Result by_example = run_stdout("search --archive " + q(archive) + " --example " +
                                       q(demo_ / "examples" / (name + ".wav")) + " --no-merge --top 100000 --format json");
  ASSERT_EQ(by_example.status, 0) << by_example.out;
  std::set<std::string> found;
  const auto example_answer = nlohmann::json::parse(by_example.out);
  for (const auto& h : example_answer.at("hits"))
    for (const auto& w : h.at("window_ids")) found.insert(std::to_string(w.get<long>()));
  for (const auto& id : reviewed) EXPECT_TRUE(found.count(id)) << "reviewed window " << id << " left out of --example";
}

TEST_F(ReviewCli, AnotherModelsLibraryAndARowMatchingNothingAreRefusedAndNothingChanges) {
  const std::string name = example_class();
  const fs::path lib = library_of(name, "refuse"), archive = archive_copy("refuse");
  const std::string clip = test::demo_clips_of(demo_, name).at(0).filename().string();
  const fs::path verdicts = tmp_->path() / "refuse.tsv";
  write_file_atomic(verdicts, "Begin Path\tBegin Time (s)\tEnd Time (s)\tVerdict\n" +
                                  (recordings_ / name / clip).string() + "\t0\t1\tyes\n" +
                                  (recordings_ / "nowhere.wav").string() + "\t0\t1\tno\n");
  const long examples = count(lib, "SELECT COUNT(*) FROM examples");
  Result r = run("review --archive " + q(archive) + " --library " + q(lib) + " --class " + name + " " + q(verdicts));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find(verdicts.string() + " line 3: no archived recording " + (recordings_ / "nowhere.wav").string()),
            std::string::npos)
      << r.out;
  EXPECT_EQ(count(lib, "SELECT COUNT(*) FROM examples"), examples);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM reviews"), 0);

  // A library of another model: named with both fingerprints.
  const fs::path other = tmp_->path() / "other.library";
  fs::copy_file(lib, other);
  exec(other, "UPDATE meta SET value = 'feedfacefeedface' WHERE key = 'fingerprint'");
  write_file_atomic(verdicts, "filename\tonset\toffset\tverdict\n" + (recordings_ / name / clip).string() + "\t0\t1\tyes\n");
  r = run("review --archive " + q(archive) + " --library " + q(other) + " --class " + name + " " + q(verdicts));
  EXPECT_NE(r.status, 0);
  const std::string fp = query(archive, "SELECT value FROM meta WHERE key = 'fingerprint'").at(0);
  EXPECT_NE(r.out.find("feedfacefeedface"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fp), std::string::npos) << r.out;
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM reviews"), 0);
  // No library at all: how to make one.
  r = run("review --archive " + q(archive) + " --library " + q(tmp_->path() / "none.library") + " --class " + name +
          " " + q(verdicts));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("no class library here"), std::string::npos) << r.out;
  // The valid row alone works.
  r = run("review --archive " + q(archive) + " --library " + q(lib) + " --class " + name + " " + q(verdicts));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_GT(count(lib, "SELECT COUNT(*) FROM examples"), examples);
}

// The archive's commit fails (or the process is killed) after the library's: the library holds the
// examples, the archive no reviews; the same review again adds nothing to the library and records them.
TEST_F(ReviewCli, AFailedArchiveCommitAfterTheLibrarysIsCompletedByRunningTheReviewAgain) {
  const std::string name = example_class();
  const auto clips = test::demo_clips_of(demo_, name);
  ASSERT_GE(clips.size(), 2u);
  const fs::path verdicts = tmp_->path() / "fault.tsv";
  write_file_atomic(verdicts, "filename\tonset\toffset\tverdict\n" +
                                  (recordings_ / name / clips[0].filename()).string() + "\t0\t1\tyes\n" +
                                  (recordings_ / "long.wav").string() + "\t10\t12\tno\n");
  for (const std::string fault : {"1", "1:kill"}) {
    const fs::path lib = library_of(name, "fault" + fault.substr(0, 1) + std::to_string(fault.size()));
    const fs::path archive = archive_copy("fault" + std::to_string(fault.size()));
    const long examples = count(lib, "SELECT COUNT(*) FROM examples");
    Result r;
    r.status = test::run_command("ONESHOT_TEST_ARCHIVE_FAULT=" + fault + " " + cli() + " review --archive " +
                                     q(archive) + " --library " + q(lib) + " --class " + name + " " + q(verdicts),
                                 &r.out);
    EXPECT_NE(r.status, 0) << fault << ": " << r.out;
    if (fault == "1")
      EXPECT_NE(r.out.find("the reviews were not recorded: run the same review again"), std::string::npos) << r.out;
    const long enrolled = count(lib, "SELECT COUNT(*) FROM examples");
    EXPECT_GT(enrolled, examples) << fault << ": the library's change committed first";
    EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM reviews"), 0) << fault;
    r = run("review --archive " + q(archive) + " --library " + q(lib) + " --class " + name + " " + q(verdicts));
    ASSERT_EQ(r.status, 0) << fault << ": " << r.out;
    EXPECT_NE(r.out.find("enrolled 0 windows"), std::string::npos) << r.out;
    EXPECT_EQ(count(lib, "SELECT COUNT(*) FROM examples"), enrolled) << fault;
    EXPECT_GT(count(archive, "SELECT COUNT(*) FROM reviews"), 2) << fault;  // 1 + the long take's windows
  }
}

// Two reviews of one table at once: the one that commits second plans inside
// its change and adds nothing again (both used to read the library before
// either committed, and its windows were enrolled twice). The first waits
// 5 s before its change (ONESHOT_TEST_LIBRARY_PAUSE), so the second commits
// in between.
TEST_F(ReviewCli, TwoReviewsOfOneTableAtOnceEnrolEachWindowOnce) {
  const std::string name = example_class();
  const auto clips = test::demo_clips_of(demo_, name);
  ASSERT_GE(clips.size(), 2u);
  const fs::path verdicts = tmp_->path() / "twice.tsv";
  write_file_atomic(verdicts, "filename\tonset\toffset\tverdict\n" +
                                  (recordings_ / name / clips[1].filename()).string() + "\t0\t1\tyes\n" +
                                  (recordings_ / "long.wav").string() + "\t20\t22\tno\n");
  const fs::path lib = library_of(name, "twice");
  const long examples = count(lib, "SELECT COUNT(*) FROM examples");
  const std::string review = cli() + " review --archive " + q(archive_copy("twice")) + " --library " + q(lib) +
                             " --class " + name + " " + q(verdicts);
  std::string out;
  ASSERT_EQ(test::run_command("(ONESHOT_TEST_LIBRARY_PAUSE=5 " + review + " > " + q(tmp_->path() / "first.out") +
                                  " 2>&1 & sleep 1; " + review + "; s=$?; wait $! && exit $s)",
                              &out),
            0)
      << out;
  const long once = count(lib, "SELECT COUNT(*) FROM examples");
  EXPECT_GT(once, examples) << out;
  // The same review alone adds nothing: `once` holds each window once.
  const Result again = run("review --archive " + q(archive_copy("twice2")) + " --library " + q(lib) + " --class " +
                           name + " " + q(verdicts));
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("enrolled 0 windows"), std::string::npos) << again.out;
  EXPECT_EQ(count(lib, "SELECT COUNT(*) FROM examples"), once);
  // (The enrolled example's views share a window start; the reviewed windows do not.)
  EXPECT_EQ(count(lib, "SELECT COUNT(*) FROM (SELECT source, window_start, class_id FROM examples WHERE source LIKE '" +
                           recordings_.string() + "%' GROUP BY source, window_start, class_id HAVING COUNT(*) > 1)"),
            0)
      << "a window enrolled twice in one class";
}

// A read-only library is named and left as it is (review and library
// --remove wrote into chmod 444 files, as root can); a --class the library
// does not hold is said to be new (a misspelt one made a class silently).
TEST_F(ReviewCli, AReadOnlyLibraryIsRefusedAndANewClassIsNamed) {
  const std::string name = example_class();
  const auto clips = test::demo_clips_of(demo_, name);
  ASSERT_GE(clips.size(), 2u);
  const fs::path verdicts = tmp_->path() / "readonly.tsv";
  write_file_atomic(verdicts, "filename\tonset\toffset\tverdict\n" +
                                  (recordings_ / name / clips[1].filename()).string() + "\t0\t1\tyes\n");
  const fs::path lib = library_of(name, "readonly");
  const long examples = count(lib, "SELECT COUNT(*) FROM examples");
  fs::permissions(lib, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  Result r = run("review --archive " + q(archive_copy("readonly")) + " --library " + q(lib) + " --class " + name +
                 " " + q(verdicts));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(lib.string() + ": is read-only"), std::string::npos) << r.out;
  r = run("library " + q(lib) + " --remove " + name);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("is read-only"), std::string::npos) << r.out;
  fs::permissions(lib, fs::perms::owner_write, fs::perm_options::add);
  EXPECT_EQ(count(lib, "SELECT COUNT(*) FROM examples"), examples);

  r = run("review --archive " + q(archive_copy("newclass")) + " --library " + q(lib) + " --class " + name +
          "_typo " + q(verdicts));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("note: class \"" + name + "_typo\" is new in " + lib.string() + " (its classes: " + name),
            std::string::npos)
      << r.out;
  r = run("review --archive " + q(archive_copy("known")) + " --library " + q(lib) + " --class " + name + " " +
          q(verdicts));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("is new in"), std::string::npos) << r.out;
}

// A recording changed since it was indexed is left off the review page, with
// a note: the page would play its new audio while review enrolled the windows
// as they were embedded.
TEST_F(ReviewCli, ARecordingChangedSinceIndexingIsLeftOffTheReviewPage) {
  const auto clips = test::demo_clips_of(demo_, classes_.at(0));
  const auto others = test::demo_clips_of(demo_, classes_.at(1));
  ASSERT_GE(clips.size(), 2u);
  ASSERT_FALSE(others.empty());
  const fs::path dir = tmp_->path() / "changing";
  fs::create_directories(dir);
  fs::copy_file(clips[0], dir / "a.wav");
  fs::copy_file(clips[1], dir / "b.wav");
  const fs::path archive = tmp_->path() / "changing.archive";
  Result r = run("index --quiet --run " + q(demo_ / "run") + " --archive " + q(archive) + " " + q(dir));
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string search = "search --archive " + q(archive) + " --example " + q(clips[0]) + " --top 2 --page ";
  r = run(search + q(tmp_->path() / "page-before"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("(2 clips)"), std::string::npos) << r.out;
  fs::copy_file(others[0], dir / "a.wav", fs::copy_options::overwrite_existing);
  fs::last_write_time(dir / "a.wav", fs::last_write_time(dir / "a.wav") + std::chrono::seconds(5));
  r = run(search + q(tmp_->path() / "page-after"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("note: " + (dir / "a.wav").string() + " changed since it was indexed"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(1 clip)"), std::string::npos) << r.out;
}

TEST_F(ReviewCli, SearchSamplesAreReproducibleAndMarginNeedsALibrary) {
  const std::string name = example_class();
  const fs::path lib = library_of(name, "sample");
  const auto search = [&](const std::string& extra) {
    return run_stdout("search --archive " + q(archive_) + " --library " + q(lib) + " --class " + name +
                      " --top 8 --no-merge --format csv " + extra);
  };
  const Result a = search("--sample random --seed 3"), b = search("--sample random --seed 3"),
               c = search("--sample random --seed 4"), top = search("");
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_NE(a.out, top.out);
  // Balanced spans the scores: its lowest score is far below the top's lowest.
  const auto scores = [](const std::string& csv) {
    std::vector<double> s;
    std::stringstream in(csv);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) s.push_back(std::stod(split(line, ',').at(4)));
    return s;
  };
  const Result bal = search("--sample balanced");
  ASSERT_EQ(bal.status, 0) << bal.out;
  const auto bal_scores = scores(bal.out), top_scores = scores(top.out);
  ASSERT_EQ(bal_scores.size(), 8u);
  ASSERT_EQ(top_scores.size(), 8u);
  EXPECT_LT(*std::min_element(bal_scores.begin(), bal_scores.end()) + 1e-9,
            *std::min_element(top_scores.begin(), top_scores.end()));
  const Result m = search("--sample margin");
  ASSERT_EQ(m.status, 0) << m.out;
  EXPECT_EQ(scores(m.out).size(), 8u);
  const Result no_lib = run("search --archive " + q(archive_) + " --example " +
                            q(demo_ / "examples" / (name + ".wav")) + " --sample margin");
  EXPECT_NE(no_lib.status, 0);
  EXPECT_NE(no_lib.out.find("--sample margin picks the windows nearest the class's threshold"), std::string::npos)
      << no_lib.out;
  const Result bad = run("search --archive " + q(archive_) + " --library " + q(lib) + " --class " + name +
                         " --sample best");
  EXPECT_NE(bad.out.find("--sample must be top, random, balanced or margin"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace oneshot
