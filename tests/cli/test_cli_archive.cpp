// index and search end to end on the demo (issue 19): an archive of the demo's
// test-class clips and its minute-long recording holds every window `embed`
// gives, with the same embeddings, once; a killed index resumes and stores
// every window exactly once; a second index skips what is stored; --update
// embeds a changed recording again and drops a deleted one; another model is
// refused naming both fingerprints; bad recordings are named and skipped
// (exit 1). search finds an example's own clip first and its class's other
// clips far above chance, with a library class gives calibrated confidences,
// and every output format reads back to the same hits.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/npy.h"
#include "support/cli_run.h"
#include "support/demo_run.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

using Result = test::CliResult;
std::string q(const fs::path& p) { return test::quoted(p); }
Result run(const std::string& args, const std::string& env = "") { return test::run_cli(args, env); }
Result run_stdout(const std::string& args) { return test::run_cli_stdout(args); }

// Rows of a SQL query on the archive, each row's columns as text ('|'-joined).
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
// Runs a changing SQL statement on the archive (damage, an older archive's form).
void change(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK) << db;
  EXPECT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  sqlite3_close(h);
}
long count(const fs::path& db, const std::string& sql) {
  const auto rows = query(db, sql);
  return rows.empty() ? -1 : std::stol(rows[0]);
}

class ArchiveCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo_ = test::shared_demo();
    if (demo_.empty()) return;
    tmp_ = new test::TempDir();
    classes_ = test::demo_test_classes(demo_);
    // The recordings: every clip of the five test classes, and the minute-long take.
    recordings_ = tmp_->path() / "recordings";
    for (const auto& c : classes_)
      for (const auto& clip : test::demo_clips_of(demo_, c)) {
        fs::create_directories(recordings_ / c);
        fs::copy_file(clip, recordings_ / c / clip.filename());
      }
    fs::copy_file(demo_ / "long" / "recording.wav", recordings_ / "long.wav");
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static std::string run_dir() { return q(demo_ / "run"); }

  void IndexHoldsEveryWindowOfEmbedOnceAndASecondIndexSkipsThem();
  void AKilledIndexResumesAndStoresEveryWindowExactlyOnce();
  void UpdateEmbedsAChangedRecordingAgainAndDropsADeletedOne();
  void AnotherModelIsRefusedNamingBothFingerprints();
  void BadRecordingsAreNamedAndSkippedWithExitStatusOne();
  void SearchByExampleFindsItsOwnClipFirstAndItsClassAboveChance();
  void EveryOutputFormatGivesTheSameHits();
  void SearchForALibraryClassGivesCalibratedConfidences();
  void SearchRefusesWrongOptionsBeforeAnyWork();
  void SharedIndexStoresThePerWindowPathsWindowsWithCloseEmbeddings();

  static test::TempDir* tmp_;
  static fs::path demo_, recordings_;
  static std::vector<std::string> classes_;
};
test::TempDir* ArchiveCli::tmp_ = nullptr;
fs::path ArchiveCli::demo_, ArchiveCli::recordings_;
std::vector<std::string> ArchiveCli::classes_;

void ArchiveCli::IndexHoldsEveryWindowOfEmbedOnceAndASecondIndexSkipsThem() {
  const fs::path archive = tmp_->path() / "sounds.archive";
  Result r = run("index --quiet --run " + run_dir() + " --archive " + q(archive) + " " + q(recordings_));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("indexed 51 recordings"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("windows/s"), std::string::npos) << r.out;
  // embed's windows of the same recordings: the same starts, the same embeddings (float32 archive).
  const fs::path embedded = tmp_->path() / "embedded";
  r = run("embed --quiet --run " + run_dir() + " --out " + q(embedded) + " " + q(recordings_));
  ASSERT_EQ(r.status, 0) << r.out;
  const NpyArray npy = read_npy(embedded / "embeddings.npy");
  const std::size_t dim = npy.shape.at(1);
  std::ifstream index(embedded / "index.csv");
  std::string line;
  std::getline(index, line);
  std::size_t row = 0;
  std::map<std::string, int> per_file;
  for (; std::getline(index, line); ++row) {
    std::stringstream s(line);
    std::string cell, file, start;
    std::getline(s, cell, ',');
    std::getline(s, file, ',');
    std::getline(s, start, ',');
    ++per_file[file];
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open_v2(archive.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(h,
                                 "SELECT w.embedding FROM windows w JOIN files f ON f.id = w.file_id WHERE f.path = ? "
                                 "AND abs(w.start_s - ?) < 1e-6",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, fs::absolute(file).lexically_normal().c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 2, std::stod(start));
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW) << file << " at " << start << " is not in the archive";
    ASSERT_EQ(sqlite3_column_bytes(st, 0), static_cast<int>(dim * 4 + 8));  // float32 values, then their XXH3-64
    const auto* e = static_cast<const float*>(sqlite3_column_blob(st, 0));
    for (std::size_t d = 0; d < dim; ++d) ASSERT_NEAR(e[d], npy.data[row * dim + d], 1e-5) << file << " " << start;
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << file << " at " << start << " is stored twice";
    sqlite3_finalize(st);
    sqlite3_close(h);
  }
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), static_cast<long>(row));
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files"), 51);
  EXPECT_EQ(per_file.size(), 51u);
  // The minute: windows every 0.5 s (half the demo's 1 s input) until one reaches the end.
  EXPECT_EQ(count(archive, "SELECT windows FROM files WHERE path LIKE '%long.wav'"), 119);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files WHERE windows != (SELECT COUNT(*) FROM windows w WHERE "
                           "w.file_id = files.id)"),
            0);
  // Again: nothing to do, nothing stored twice.
  r = run("index --quiet --run " + run_dir() + " --archive " + q(archive) + " " + q(recordings_));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("indexed 0 recordings"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("51 already indexed and unchanged (skipped)"), std::string::npos) << r.out;
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), static_cast<long>(row));
}

void ArchiveCli::AKilledIndexResumesAndStoresEveryWindowExactlyOnce() {
  const fs::path full = tmp_->path() / "sounds.archive";
  const long expected = count(full, "SELECT COUNT(*) FROM windows");
  ASSERT_GT(expected, 100);
  for (const char* fault : {"200:kill", "250:kill", "100"}) {
    const fs::path archive = tmp_->path() / (std::string("killed-") + fault + ".archive");
    const Result r = run("index --quiet --run " + run_dir() + " --archive " + q(archive) + " " + q(recordings_),
                         std::string("ONESHOT_TEST_ARCHIVE_FAULT=") + fault);
    ASSERT_NE(r.status, 0) << fault << ": " << r.out;
    // Only whole recordings are visible (a read-only reader rolls back the killed one's journal first).
    // Recordings are committed 16 (or two seconds' worth) at a time: the minute and 15 clips
    // are stored by the 182nd writing statement.
    const long stored_files = count(archive, "SELECT COUNT(*) FROM files");
    EXPECT_GT(stored_files, 0) << fault;
    EXPECT_LT(stored_files, 51) << fault;
    EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files WHERE windows != (SELECT COUNT(*) FROM windows w WHERE "
                             "w.file_id = files.id)"),
              0)
        << fault;
    const Result again = run("index --quiet --run " + run_dir() + " --archive " + q(archive) + " " + q(recordings_));
    ASSERT_EQ(again.status, 0) << again.out;
    EXPECT_NE(again.out.find(std::to_string(stored_files) + " already indexed and unchanged"), std::string::npos)
        << again.out;
    EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), expected) << fault;
    EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM (SELECT file_id, start_s FROM windows GROUP BY file_id, start_s "
                             "HAVING COUNT(*) > 1)"),
              0)
        << fault;
    EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files"), 51);
  }
}

void ArchiveCli::UpdateEmbedsAChangedRecordingAgainAndDropsADeletedOne() {
  const fs::path dir = tmp_->path() / "update";
  fs::create_directories(dir);
  const auto a = test::demo_clips_of(demo_, classes_[0]);
  const auto b = test::demo_clips_of(demo_, classes_[1]);
  fs::copy_file(a[0], dir / "one.wav");
  fs::copy_file(a[1], dir / "two.wav");
  fs::copy_file(recordings_ / "long.wav", dir / "three.wav");
  const fs::path archive = tmp_->path() / "update.archive";
  const std::string index = "index --quiet --run " + run_dir() + " --archive " + q(archive);
  ASSERT_EQ(run(index + " " + q(dir)).status, 0);
  const auto before = query(archive, "SELECT f.path, w.id, hex(w.embedding) FROM windows w JOIN files f ON f.id = "
                                     "w.file_id WHERE f.path LIKE '%one.wav'");
  ASSERT_EQ(before.size(), 1u);
  // one.wav now holds another sound; two.wav is deleted.
  fs::copy_file(b[0], dir / "one.wav", fs::copy_options::overwrite_existing);
  fs::remove(dir / "two.wav");
  // Without --update: kept as indexed, and said so.
  Result r = run(index + " " + q(dir));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("1 changed since they were indexed, kept as indexed (`index --update` embeds them again)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(query(archive, "SELECT f.path, w.id, hex(w.embedding) FROM windows w JOIN files f ON f.id = w.file_id "
                           "WHERE f.path LIKE '%one.wav'"),
            before);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files WHERE path LIKE '%two.wav'"), 1);
  // --update alone: every stored recording checked.
  r = run(index + " --update");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("indexed 1 recordings"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 no longer on disk (dropped with their windows)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 already indexed and unchanged"), std::string::npos) << r.out;
  const auto after = query(archive, "SELECT f.path, w.id, hex(w.embedding) FROM windows w JOIN files f ON f.id = "
                                    "w.file_id WHERE f.path LIKE '%one.wav'");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);  // a new window id and another embedding
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files WHERE path LIKE '%two.wav'"), 0);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files"), 2);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), 1 + 119);

  // A window damaged in the archive (its checksum no longer matches) stops every search; --update finds
  // it although the recording is unchanged, and embeds that recording again (it used to say "unchanged").
  const std::string long_windows = "SELECT w.id FROM windows w JOIN files f ON f.id = w.file_id WHERE f.path LIKE "
                                   "'%three.wav' ORDER BY w.id";
  const auto damaged_id = query(archive, long_windows + " LIMIT 1 OFFSET 7");
  ASSERT_EQ(damaged_id.size(), 1u);
  change(archive, "UPDATE windows SET embedding = zeroblob(length(embedding)) WHERE id = " + damaged_id[0]);
  const std::string search = "search --run " + run_dir() + " --archive " + q(archive) + " --example " + q(a[0]);
  r = run(search);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("window " + damaged_id[0] + " (table windows, column embedding) does not match its checksum"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("`oneshot-audio index --update --run RUN --archive " + archive.string() +
                       "` embeds its damaged recordings again"),
            std::string::npos)
      << r.out;
  r = run(index + " --update");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("indexed 1 recordings (119 windows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 already indexed and unchanged"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 unchanged but with damaged windows in the archive, embedded again:\n    " +
                       (dir / "three.wav").string() + " (the embedding of window " + damaged_id[0]),
            std::string::npos)
      << r.out;
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), 1 + 119);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows WHERE id = " + damaged_id[0]), 0);  // stored anew
  r = run(search);
  EXPECT_EQ(r.status, 0) << r.out;
  r = run(index + " --update");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2 already indexed and unchanged"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("damaged"), std::string::npos) << r.out;
  // A recording that changed into something unreadable is named, and its old windows go: search
  // returned them from a file that no longer held them.
  std::ofstream(dir / "one.wav", std::ios::trunc) << "not audio any more";
  r = run(index + " --update");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("(its windows of the recording as it was indexed are dropped)"), std::string::npos) << r.out;
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files WHERE path LIKE '%one.wav'"), 0);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), 119);

  // Recordings whose directory is gone (a drive not mounted) are kept with
  // their windows; more than half of the archive gone at once is refused
  // (nothing dropped) unless --drop-missing. Both used to drop everything,
  // review verdicts included.
  const fs::path mounted = tmp_->path() / "mounted", hidden = tmp_->path() / "unmounted";
  fs::create_directories(mounted / "sub");
  fs::copy_file(a[0], mounted / "sub" / "one.wav");
  fs::copy_file(a[1], mounted / "sub" / "two.wav");
  fs::copy_file(b[0], mounted / "three.wav");
  const fs::path field = tmp_->path() / "field.archive";
  const std::string index_field = "index --run " + run_dir() + " --archive " + q(field);
  ASSERT_EQ(run(index_field + " --quiet " + q(mounted)).status, 0);
  fs::rename(mounted / "sub", hidden);
  r = run(index_field + " --update");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2 in 1 directory that no longer exists (a drive not mounted?), kept"), std::string::npos)
      << r.out;
  EXPECT_EQ(count(field, "SELECT COUNT(*) FROM files"), 3);
  fs::rename(hidden, mounted / "sub");
  fs::remove(mounted / "sub" / "one.wav");
  fs::remove(mounted / "three.wav");
  r = run(index_field + " --update");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("2 of its 3 recordings are no longer on disk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--drop-missing"), std::string::npos) << r.out;
  EXPECT_EQ(count(field, "SELECT COUNT(*) FROM files"), 3);
  r = run(index_field + " --update --drop-missing");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2 no longer on disk (dropped with their windows)"), std::string::npos) << r.out;
  EXPECT_EQ(count(field, "SELECT COUNT(*) FROM files"), 1);
}

void ArchiveCli::AnotherModelIsRefusedNamingBothFingerprints() {
  // The same weights with another feature setting: another fingerprint.
  const fs::path other = tmp_->path() / "other-run";
  fs::copy(demo_ / "run", other, fs::copy_options::recursive);
  std::string text = read_file(other / "config.toml");
  const std::size_t at = text.find("\nfmin = ");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, text.find('\n', at + 1) - at, "\nfmin = 20.0");
  write_file_atomic(other / "config.toml", text);
  const fs::path archive = tmp_->path() / "sounds.archive";
  const long windows = count(archive, "SELECT COUNT(*) FROM windows");
  const Result r = run("index --quiet --run " + q(other) + " --archive " + q(archive) + " " + q(recordings_ / "long.wav"));
  ASSERT_EQ(r.status, 1) << r.out;
  const auto fingerprint = query(archive, "SELECT value FROM meta WHERE key = 'fingerprint'");
  ASSERT_EQ(fingerprint.size(), 1u);
  EXPECT_NE(r.out.find("the archive was embedded with model " + fingerprint[0]), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(run " + (demo_ / "run").string() + "), not with "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(run " + other.string() + ")"), std::string::npos) << r.out;
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM windows"), windows);
  // And search with that run.
  const Result s = run("search --run " + q(other) + " --archive " + q(archive) + " --example " +
                       q(demo_ / "examples" / (classes_[0] + ".wav")));
  EXPECT_EQ(s.status, 1) << s.out;
  EXPECT_NE(s.out.find("the archive was embedded with model " + fingerprint[0]), std::string::npos) << s.out;
}

void ArchiveCli::BadRecordingsAreNamedAndSkippedWithExitStatusOne() {
  const fs::path dir = tmp_->path() / "bad";
  fs::create_directories(dir);
  fs::copy_file(recordings_ / "long.wav", dir / "good.wav");
  test::write_text(dir / "broken.wav", "RIFF this is not audio at all, only words in a file named .wav");
  // Good audio whose name holds a tab: indexed, it made every search that found it fail whole.
  fs::copy_file(recordings_ / "long.wav", dir / "tab\there.wav");
  fs::create_hard_link(dir / "good.wav", dir / "hard.wav");  // the same recording twice: indexed once
  const fs::path archive = tmp_->path() / "bad.archive";
  const Result r = run("index --quiet --run " + run_dir() + " --archive " + q(archive) + " " + q(dir));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("2 recordings could not be indexed (skipped; the others are stored)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((dir / "broken.wav").string() + ":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("here.wav: its path holds a tab or a line break"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 another name of a recording given (a hard link: indexed once)"), std::string::npos) << r.out;
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files"), 1);
  EXPECT_EQ(count(archive, "SELECT COUNT(*) FROM files WHERE path LIKE '%good.wav'"), 1);
}

std::string class_of(const fs::path& recordings, const std::string& file) {
  const fs::path rel = fs::path(file).lexically_relative(recordings);
  return rel.begin() == rel.end() ? "" : rel.begin()->string();
}

// Whether a hit is a sound of class `name`: a clip in the class's folder, or a
// span of the minute that overlaps one of the class's events in the demo's
// reference list (long/reference.tsv: the three example classes' events).
bool hit_is(const nlohmann::json& hit, const std::string& name, const fs::path& recordings, const fs::path& demo) {
  const std::string file = hit["file"];
  if (file.find("long.wav") == std::string::npos) return class_of(recordings, file) == name;
  std::ifstream in(demo / "long" / "reference.tsv");
  const double onset = hit["onset_s"], offset = hit["offset_s"];
  for (std::string line; std::getline(in, line);) {
    std::stringstream s(line);
    std::string f, on, off, label;
    if (!std::getline(s, f, '\t') || !std::getline(s, on, '\t') || !std::getline(s, off, '\t') ||
        !std::getline(s, label, '\t'))
      continue;
    if (label == name && std::stod(on) < offset && std::stod(off) > onset) return true;
  }
  return false;
}

void ArchiveCli::SearchByExampleFindsItsOwnClipFirstAndItsClassAboveChance() {
  const fs::path archive = tmp_->path() / "sounds.archive";
  double precision_sum = 0;
  for (std::size_t c = 0; c < 3; ++c) {
    const std::string& name = classes_[c];
    // A clip of the archive as the example: its own windows score highest.
    const fs::path own = recordings_ / name / test::demo_clips_of(demo_, name)[0].filename();
    Result r = run_stdout("search --archive " + q(archive) + " --format json --top 5 --example " + q(own));
    ASSERT_EQ(r.status, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_FALSE(j["hits"].empty());
    EXPECT_EQ(j["hits"][0]["file"], own.string()) << r.out;
    EXPECT_EQ(j["query"], own.stem().string());
    // The demo's new example of the class (not in the archive): the top 10 windows of the clips.
    r = run_stdout("search --archive " + q(archive) + " --format json --top 10 --example " +
                   q(demo_ / "examples" / (name + ".wav")));
    ASSERT_EQ(r.status, 0) << r.out;
    j = nlohmann::json::parse(r.out);
    int same = 0;
    for (const auto& h : j["hits"]) {
      same += hit_is(h, name, recordings_, demo_);
      EXPECT_TRUE(h["confidence"].is_null());  // no calibration without a library
    }
    ASSERT_FALSE(j["hits"].empty()) << r.out;
    precision_sum += static_cast<double>(same) / static_cast<double>(j["hits"].size());
  }
  // Chance: 10 of the 50 clips are the class's (0.2), and about a tenth of the minute.
  EXPECT_GT(precision_sum / 3, 0.6);
}

void ArchiveCli::EveryOutputFormatGivesTheSameHits() {
  const fs::path archive = tmp_->path() / "sounds.archive";
  const std::string base = "search --archive " + q(archive) + " --top 12 --example " +
                           q(demo_ / "examples" / (classes_[1] + ".wav"));
  Result r = run_stdout(base + " --format json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto hits = nlohmann::json::parse(r.out)["hits"];
  ASSERT_GE(hits.size(), 2u);
  // Written atomically with --out; the same hits in every format.
  const fs::path dir = tmp_->path() / "formats";
  fs::create_directories(dir);
  for (const char* format : {"csv", "tsv", "raven", "table"}) {
    const fs::path out = dir / (std::string("hits.") + format);
    r = run(base + " --quiet --format " + format + " --out " + q(out));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, "");
    std::ifstream in(out);
    std::string line;
    std::getline(in, line);  // the header
    if (std::string(format) == "raven")
      EXPECT_EQ(line.rfind("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin "
                           "File\t",
                           0),
                0u);
    std::size_t n = 0;
    for (; std::getline(in, line); ++n) {
      ASSERT_LT(n, hits.size()) << format;
      const auto& h = hits[n];
      const std::string file = h["file"];
      char onset[32];
      std::snprintf(onset, sizeof onset, "%g", h["onset_s"].get<double>());
      EXPECT_NE(line.find(std::string(format) == "raven" ? fs::path(file).filename().string() : file), std::string::npos)
          << format << ": " << line;
      if (std::string(format) != "table") EXPECT_NE(line.find(onset), std::string::npos) << format << ": " << line;
    }
    EXPECT_EQ(n, hits.size()) << format;
  }
  // sed_eval TSV reads as a reference of score-events against itself: every event matched.
  r = run_stdout("score-events --format json --reference " + q(dir / "hits.tsv") + " --estimate " + q(dir / "hits.tsv"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"f_measure\""), std::string::npos) << r.out;
  // A Raven table of the hits reads as annotations too (score-events reads Raven).
  r = run_stdout("score-events --format json --reference " + q(dir / "hits.raven") + " --estimate " + q(dir / "hits.tsv"));
  EXPECT_EQ(r.status, 0) << r.out;
}

void ArchiveCli::SearchForALibraryClassGivesCalibratedConfidences() {
  const fs::path archive = tmp_->path() / "sounds.archive";
  const fs::path library = tmp_->path() / "sounds.db";
  const std::string& name = classes_[2];
  Result r = run("enroll --quiet --run " + run_dir() + " --library " + q(library) + " --class " + name + " " +
                 q(demo_ / "examples" / (name + ".wav")));
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_stdout("search --archive " + q(archive) + " --format json --top 10 --library " + q(library) + " --class " +
                 name);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["query"], name);
  ASSERT_FALSE(j["hits"].empty());
  int same = 0;
  double last = 1e300;
  for (const auto& h : j["hits"]) {
    ASSERT_TRUE(h["confidence"].is_number()) << h;
    EXPECT_GE(h["confidence"].get<double>(), 0.0);
    EXPECT_LE(h["confidence"].get<double>(), 1.0);
    EXPECT_LE(h["score"].get<double>(), last);  // ranked
    last = h["score"].get<double>();
    same += hit_is(h, name, recordings_, demo_);
  }
  EXPECT_GT(static_cast<double>(same) / static_cast<double>(j["hits"].size()), 0.5) << r.out;
  r = run("search --archive " + q(archive) + " --library " + q(library) + " --class nothing");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("no class \"nothing\" (its classes: " + name + ")"), std::string::npos) << r.out;
}

void ArchiveCli::SearchRefusesWrongOptionsBeforeAnyWork() {
  const fs::path archive = tmp_->path() / "sounds.archive";
  const std::string example = " --example " + q(demo_ / "examples" / (classes_[0] + ".wav"));
  for (const auto& [args, why] : std::vector<std::pair<std::string, std::string>>{
           {"search --archive " + q(archive), "give either --example FILE or --library LIB --class NAME"},
           {"search --archive " + q(archive) + example + " --format xml", "table, json, csv, tsv or raven"},
           {"search --archive " + q(archive) + " --library x.db", "--library needs --class NAME"},
           {"search --archive " + q(archive) + example + " --out " + q(tmp_->path() / "no" / "such" / "dir" / "x"),
            ""},
           {"search --archive " + q(tmp_->path() / "missing.archive") + example, "no such file"},
           {"index --run " + run_dir() + " --archive " + q(archive), "give recordings or directories"},
           {"index --run " + run_dir() + " --archive " + q(tmp_->path()) + " " + q(recordings_), "is a directory"},
           {"index --run " + run_dir() + " --archive postgresq://u@h/db " + q(recordings_),
            "postgresq://u@h/db: unknown archive URL scheme postgresq://"},
           {"search --archive sqlite:///" + q(tmp_->path() / "missing.archive") + example,
            (tmp_->path() / "missing.archive").string() + ": no such file"},
           {"index --run " + run_dir() + " --archive " + q(archive) + " --hop 0.25 " + q(recordings_),
            "s (--hop): one archive holds one window grid"},
           {"index --run " + run_dir() + " --archive " + q(archive) + " --half " + q(recordings_), "(--half)"}}) {
    const Result r = run(args);
    if (why.empty()) {  // --out in a missing directory: made (atomic writes create parents), answer written
      EXPECT_EQ(r.status, 0) << args << ": " << r.out;
      continue;
    }
    EXPECT_EQ(r.status, 1) << args << ": " << r.out;
    EXPECT_NE(r.out.find(why), std::string::npos) << args << ": " << r.out;
  }
  // Values the option's range refuses as it is read (CLI11's status): 0 used to be taken as "unset" and
  // searched with the default, a count past an int as a bare conversion error, an empty --out as stdout.
  for (const auto& [args, why] : std::vector<std::pair<std::string, std::string>>{
           {example + " --approx --candidates 0", "--candidates: must be a whole number from 1 to 100000, got 0"},
           {example + " --approx --ef 0", "--ef: must be a whole number from 1 to 100000, got 0"},
           {example + " --approx --nprobe 0", "--nprobe: must be a whole number from 1 to"},
           {example + " --top 0", "--top: must be a whole number from 1 to 1000000, got 0"},
           {example + " --top 99999999999", "--top: must be a whole number from 1 to 1000000, got 99999999999"},
           {example + " --sample random --seed -1", "--seed: must be a whole number from 0 to"},
           {example + " --out ''", "--out: is empty: give a file, or - for standard output"}}) {
    const Result r = run("search --archive " + q(archive) + args);
    EXPECT_NE(r.status, 0) << args << ": " << r.out;
    EXPECT_NE(r.out.find(why), std::string::npos) << args << ": " << r.out;
  }
}

// The parts share one demo and one archive (CTest runs each test in its own process).
// index --shared (inference/shared_windows.h): the hop moved to its grid and
// said so, the same windows as the per-window path at that hop, embeddings
// close to its ones; an archive whose hop is off the grid refused.
void ArchiveCli::SharedIndexStoresThePerWindowPathsWindowsWithCloseEmbeddings() {
  const fs::path shared = tmp_->path() / "shared.archive", per_window = tmp_->path() / "per-window.archive";
  const fs::path long_take = recordings_ / "long.wav";
  Result r = run("index --shared --hop 2.5 --run " + run_dir() + " --archive " + q(shared) + " " + q(long_take));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--shared starts windows on a grid"), std::string::npos) << r.out;
  const std::string hop = query(shared, "SELECT value FROM meta WHERE key = 'hop_s'").at(0);
  EXPECT_NE(std::stod(hop), 2.5);
  EXPECT_NEAR(std::stod(hop), 2.5, 0.2);
  r = run("index --quiet --hop " + hop + " --run " + run_dir() + " --archive " + q(per_window) + " " + q(long_take));
  ASSERT_EQ(r.status, 0) << r.out;
  const auto windows = [](const fs::path& db) {
    return query(db, "SELECT printf('%.6f', start_s) FROM windows ORDER BY start_s");
  };
  ASSERT_EQ(windows(shared), windows(per_window));
  ASSERT_GT(windows(shared).size(), 10u);
  // The embeddings, matched by start: close, and not the per-window ones by accident.
  const auto embeddings = [](const fs::path& db) {
    std::vector<std::vector<float>> out;
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(h, "SELECT embedding FROM windows ORDER BY start_s", -1, &s, nullptr);
    while (s && sqlite3_step(s) == SQLITE_ROW) {
      const auto* p = static_cast<const float*>(sqlite3_column_blob(s, 0));
      out.emplace_back(p, p + (sqlite3_column_bytes(s, 0) - 8) / sizeof(float));  // the values, not their checksum
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    return out;
  };
  const auto a = embeddings(shared), b = embeddings(per_window);
  ASSERT_EQ(a.size(), b.size());
  // Close enough to tell the windows apart: each shared embedding is nearer its own window's per-window
  // embedding than the other windows' are, on average (how near depends on the model: 0.6 on real audio
  // with whole-clip runs, README).
  auto cosine = [](const std::vector<float>& x, const std::vector<float>& y) {
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t k = 0; k < x.size(); ++k) xy += x[k] * y[k], xx += x[k] * x[k], yy += y[k] * y[k];
    return xy / std::sqrt(xx * yy);
  };
  double own = 0, others = 0;
  bool all_equal = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    own += cosine(a[i], b[i]);
    double to_others = 0;
    for (std::size_t j = 0; j < b.size(); ++j)
      if (j != i) to_others += cosine(a[i], b[j]);
    others += to_others / static_cast<double>(b.size() - 1);
    all_equal = all_equal && a[i] == b[i];
  }
  const double mean_cosine = own / static_cast<double>(a.size());
  const double mean_others = others / static_cast<double>(a.size());
  std::printf("index --shared on the demo's long take: mean cosine to the per-window embeddings %.3f, to the other "
              "windows' %.3f\n", mean_cosine, mean_others);
  EXPECT_GT(mean_cosine, mean_others + 0.2);
  EXPECT_FALSE(all_equal);
  // Each archive records how its windows were embedded, and refuses the other way: one archive's scores must
  // compare (it used to take --shared windows into a per-window archive, and the reverse, without a word).
  EXPECT_EQ(query(shared, "SELECT value FROM meta WHERE key = 'windows'"), std::vector<std::string>{"shared"});
  EXPECT_EQ(query(per_window, "SELECT value FROM meta WHERE key = 'windows'"), std::vector<std::string>{"per-window"});
  r = run("index --quiet --run " + run_dir() + " --archive " + q(shared) + " " + q(recordings_));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("windows were embedded sharing the encoder's work (index --shared), not one by one"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("add --shared"), std::string::npos) << r.out;
  r = run("index --shared --run " + run_dir() + " --archive " + q(per_window) + " " + q(recordings_));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("windows were embedded one by one, not shared (--shared)"), std::string::npos) << r.out;
  EXPECT_EQ(query(per_window, "SELECT COUNT(*) FROM files"), std::vector<std::string>{"1"}) << "nothing added";
  // A hop off the grid: --shared refuses the archive, naming the way out. (An archive indexed before the way
  // was recorded: the key removed; --shared then meets the grid check, and a refused index records nothing.)
  const fs::path off_grid = tmp_->path() / "off-grid.archive";
  r = run("index --quiet --run " + run_dir() + " --archive " + q(off_grid) + " " + q(long_take));  // hop 2.5 s
  ASSERT_EQ(r.status, 0) << r.out;
  const auto forget_windows = [&] {  // as an archive indexed before the way was recorded
    change(off_grid, "DELETE FROM meta WHERE key = 'windows'");
  };
  forget_windows();
  r = run("index --quiet --run " + run_dir() + " --archive " + q(off_grid) + " " + q(long_take));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(query(off_grid, "SELECT value FROM meta WHERE key = 'windows'"), std::vector<std::string>{"per-window"})
      << "an archive that did not record the way records it at the next index";
  forget_windows();
  r = run("index --shared --run " + run_dir() + " --archive " + q(off_grid) + " " + q(recordings_));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("not on the grid"), std::string::npos) << r.out;
  EXPECT_TRUE(query(off_grid, "SELECT value FROM meta WHERE key = 'windows'").empty()) << "a refused index records nothing";
}

TEST_F(ArchiveCli, IndexResumeUpdateAndSearchEndToEnd) {
  ASSERT_FALSE(demo_.empty());
  IndexHoldsEveryWindowOfEmbedOnceAndASecondIndexSkipsThem();
  if (HasFatalFailure()) return;
  AKilledIndexResumesAndStoresEveryWindowExactlyOnce();
  UpdateEmbedsAChangedRecordingAgainAndDropsADeletedOne();
  AnotherModelIsRefusedNamingBothFingerprints();
  BadRecordingsAreNamedAndSkippedWithExitStatusOne();
  SearchByExampleFindsItsOwnClipFirstAndItsClassAboveChance();
  EveryOutputFormatGivesTheSameHits();
  SearchForALibraryClassGivesCalibratedConfidences();
  SearchRefusesWrongOptionsBeforeAnyWork();
  SharedIndexStoresThePerWindowPathsWindowsWithCloseEmbeddings();
}

}  // namespace
}  // namespace oneshot
