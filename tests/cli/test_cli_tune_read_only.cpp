// tune-report only reads (issue 22): on a misspelt study path it used to
// create a study database there (and the next `tune` with the same typo
// started an empty study); pointed at another program's SQLite file it added
// its tables to it. Now a missing file is "no such file" and nothing is made,
// another program's file is named and left byte for byte alone by tune-report
// and by tune, and a report leaves the study's database file as it was, with
// no -wal or -shm file beside it.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>

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

TEST(CliTuneReadOnly, TuneReportCreatesNothingAndLeavesOtherProgramsFilesAlone) {
  test::TempDir dir;
  std::string out;
  // A misspelt path: named, and no file made (so the next tune cannot start an empty study there).
  const fs::path typo = dir / "studdy.db";
  EXPECT_NE(test::run_command(cli() + " tune-report --no-plots --study " + quote(typo), &out), 0);
  EXPECT_NE(out.find(typo.string() + ": no such file"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(typo));
  EXPECT_NE(test::run_command(cli() + " tune-report --no-plots --study 'sqlite:///" + typo.string() + "'", &out), 0);
  EXPECT_FALSE(fs::exists(typo));

  // Another program's SQLite file: neither the report nor tune adds tables to it.
  const fs::path notes = dir / "notes.sqlite";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(notes.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES('x')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string before = bytes(notes);
  EXPECT_NE(test::run_command(cli() + " tune-report --no-plots --study " + quote(notes), &out), 0);
  EXPECT_NE(out.find(notes.string() + ": is a SQLite database of another program (tables notes)"), std::string::npos)
      << out;
  EXPECT_NE(test::run_command(cli() + " tune --objective branin --trials 1 --study " + quote(notes) + " --best " +
                                  quote(dir / "best.toml"),
                              &out),
            0);
  EXPECT_NE(out.find(notes.string() + ": is a SQLite database of another program"), std::string::npos) << out;
  EXPECT_TRUE(bytes(notes) == before) << "the other program's file was changed";

  // A real study: the report reads it and leaves the database file as it was.
  const fs::path study = dir / "study.db";
  ASSERT_EQ(test::run_command(cli() + " tune --objective branin --trials 3 --study " + quote(study), &out), 0) << out;
  const std::string study_before = bytes(study);
  ASSERT_EQ(test::run_command(cli() + " tune-report --no-plots --study " + quote(study), &out), 0) << out;
  EXPECT_NE(out.find("Best: trial"), std::string::npos) << out;
  EXPECT_TRUE(bytes(study) == study_before);
  // Nor any file beside it (a read-only SQLite connection left the WAL's -wal and -shm).
  EXPECT_FALSE(fs::exists(study.string() + "-wal"));
  EXPECT_FALSE(fs::exists(study.string() + "-shm"));
  // A study name that is not there: said, with the ones that are.
  EXPECT_NE(test::run_command(cli() + " tune-report --no-plots --study-name typo --study " + quote(study), &out), 0);
  EXPECT_NE(out.find("no study named \"typo\" (studies: default"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
