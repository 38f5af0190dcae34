// A class library changes whole or not at all, and is read as one snapshot
// (issue 22): a change failed or killed at any of its statements leaves the
// file byte for byte as it was; a change committed by another connection
// between two statements of a read is seen whole or not at all; a read-only
// open creates nothing, changes nothing, and still reads the old state after
// a writer was killed mid-change (its hot journal rolled back).
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "core/error.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

LibraryModel model(std::int64_t dim = 8) {
  LibraryModel m;
  m.run = "/runs/tx";
  m.fingerprint = "f00d";
  m.embedding_dim = dim;
  m.window_s = 1;
  m.sample_rate = 22050;
  return m;
}

LibraryExample example(const std::string& source, double start, float value, std::int64_t dim = 8) {
  LibraryExample e;
  e.source = source;
  e.window_start = start;
  e.embedding.assign(static_cast<std::size_t>(dim), value);
  e.embedding[0] = value + static_cast<float>(start);
  return e;
}

std::string bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Calibration calibration(double far) {
  Calibration c;
  c.far = far;
  c.threshold = -5.5 - far;
  c.frr = 0.1;
  c.method = "simulated";
  c.far_curve = {{0.01, -3, 0.2}, {0.05, -5.5, 0.1}, {0.3, -10.9, 0.01}};
  return c;
}

// A library of two classes and a negative one, calibrated.
void make_library(const fs::path& path) {
  ClassLibrary lib = ClassLibrary::open_or_create(path, model());
  lib.add_examples("bell", false, {example("/bell.wav", 0, 1), example("/bell.wav", 0.5, 2)});
  lib.add_examples("dog", false, {example("/dog.wav", 0, 3)});
  lib.add_examples("street", true, {example("/street.wav", 0, 4)});
  lib.set_cohort({{"a.wav", "c1", std::vector<float>(8, 0.5f)}});
  lib.set_calibration(calibration(0.05));
  lib.set_threshold("bell", -4.0, "calibration");
  lib.set_threshold("dog", 2.0, "user");
}

// Every kind of step of a command's change (enroll's settings, cohort,
// calibration, examples, thresholds; library --remove).
void whole_change(ClassLibrary& lib) {
  LibrarySettings s = lib.settings();
  s.enrol_views = 2;
  lib.set_settings(s);
  lib.set_cohort({{"b.wav", "c2", std::vector<float>(8, 0.25f)}, {"c.wav", "c3", std::vector<float>(8, 0.75f)}});
  lib.set_calibration(calibration(0.3));
  lib.add_examples("bird", false, {example("/bird.wav", 0, 5), example("/bird.wav", 1, 6)});
  lib.set_threshold("bird", 1.5, "user");
  lib.set_threshold("bell", -9.0, "calibration");
  lib.remove_class("street");
}

// The writing statements of whole_change (the fault hook's steps).
int count_writes(const fs::path& path) {
  const fs::path copy = path.string() + ".count";
  fs::copy_file(path, copy, fs::copy_options::overwrite_existing);
  int writes = 0;
  set_library_statement_hook([&](const std::string& sql) {
    for (const char* head : {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"})
      if (sql.rfind(head, 0) == 0) return;
    ++writes;
  });
  {
    ClassLibrary lib = ClassLibrary::open(copy);
    lib.change([&] { whole_change(lib); });
  }
  set_library_statement_hook(nullptr);
  fs::remove(copy);
  return writes;
}

// A hook that acts at the n-th writing statement.
std::function<void(const std::string&)> at_write(int n, std::function<void()> act) {
  auto count = std::make_shared<int>(0);
  return [=](const std::string& sql) {
    for (const char* head : {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"})
      if (sql.rfind(head, 0) == 0) return;
    if (++*count == n) act();
  };
}

TEST(LibraryTransactions, AChangeThatFailsAtAnyStepLeavesTheFileByteForByteAsItWas) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  make_library(path);
  const std::string before = bytes(path);
  const int steps = count_writes(path);
  ASSERT_GE(steps, 10);
  for (int n = 1; n <= steps; ++n) {
    SCOPED_TRACE("failed at writing statement " + std::to_string(n) + " of " + std::to_string(steps));
    set_library_statement_hook(at_write(n, [] { throw Error("injected failure"); }));
    {
      ClassLibrary lib = ClassLibrary::open(path);
      EXPECT_NE(error_of([&] { lib.change([&] { whole_change(lib); }); }).find("injected failure"), std::string::npos);
    }
    set_library_statement_hook(nullptr);
    ASSERT_EQ(bytes(path), before);
  }
  // Without a failure the whole change is there.
  {
    ClassLibrary lib = ClassLibrary::open(path);
    lib.change([&] { whole_change(lib); });
  }
  const ClassLibrary lib = ClassLibrary::open_read_only(path);
  EXPECT_EQ(lib.settings().enrol_views, 2);
  EXPECT_EQ(lib.calibration()->far, 0.3);
  EXPECT_EQ(lib.examples("bird").size(), 2u);
  EXPECT_TRUE(lib.examples("street").empty());
  EXPECT_EQ(lib.cohort().size(), 2u);
}

TEST(LibraryTransactions, AnErrorCaughtInsideAChangeUndoesOnlyItsOwnStep) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  make_library(path);
  ClassLibrary lib = ClassLibrary::open(path);
  lib.change([&] {
    lib.set_calibration(calibration(0.3));
    // Adding positives to the negative class fails after its class lookup: that step alone is undone.
    EXPECT_FALSE(error_of([&] { lib.add_examples("street", false, {example("/x.wav", 0, 9)}); }).empty());
    lib.set_threshold("bell", -1.0, "user");
  });
  EXPECT_EQ(lib.calibration()->far, 0.3);
  EXPECT_EQ(lib.examples("street").size(), 1u);
  EXPECT_EQ(*lib.classes()[0].threshold, -1.0);
}

int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

TEST(LibraryTransactions, AChangeKilledAtAnyStepLeavesTheOldState) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  make_library(path);
  const std::string before = bytes(path);
  const int steps = count_writes(path);
  for (int n = 1; n <= steps; ++n) {
    SCOPED_TRACE("killed at writing statement " + std::to_string(n) + " of " + std::to_string(steps));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      set_library_statement_hook(at_write(n, [] { ::raise(SIGKILL); }));
      try {
        ClassLibrary lib = ClassLibrary::open(path);
        lib.change([&] { whole_change(lib); });
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    ASSERT_EQ(wait_child(pid), 128 + SIGKILL);
    // A reader (read-only) sees the old state; the file is as it was.
    const ClassLibrary lib = ClassLibrary::open_read_only(path);
    EXPECT_EQ(lib.calibration()->far, 0.05);
    EXPECT_EQ(lib.examples().size(), 4u);
    EXPECT_EQ(bytes(path), before);
  }
}

TEST(LibraryTransactions, AReadOnlyOpenAfterAWriterWasKilledMidCommitReadsTheOldState) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  {
    ClassLibrary lib = ClassLibrary::open_or_create(path, model(256));
    lib.add_examples("dog", false, {example("/d.wav", 0, 1, 256)});
  }
  const std::string before = bytes(path);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // About 15 MB into the transaction: far past SQLite's page cache, so
    // pages were written into the file and a hot journal holds the old ones.
    set_library_statement_hook(at_write(15000, [] { ::raise(SIGKILL); }));
    try {
      ClassLibrary lib = ClassLibrary::open(path);
      std::vector<LibraryExample> batch;
      for (int i = 0; i < 20000; ++i) batch.push_back(example("/big.wav", i, static_cast<float>(i), 256));
      lib.add_examples("bird", false, batch);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  ASSERT_EQ(wait_child(pid), 128 + SIGKILL);
  ASSERT_TRUE(fs::exists(path.string() + "-journal"));
  ASSERT_NE(bytes(path), before);  // the killed writer's pages are in the file
  const ClassLibrary lib = ClassLibrary::open_read_only(path);
  EXPECT_EQ(lib.examples().size(), 1u);
  EXPECT_TRUE(lib.examples("bird").empty());
  EXPECT_EQ(bytes(path), before);
  EXPECT_FALSE(fs::exists(path.string() + "-journal"));
}

TEST(LibraryTransactions, AReadOnlyOpenCreatesNothingAndChangesNothing) {
  TempDir dir;
  const fs::path missing = dir / "typo.db";
  for (auto open : {+[](const fs::path& p) { ClassLibrary::open_read_only(p); },
                    +[](const fs::path& p) { ClassLibrary::open(p); }}) {
    const std::string e = error_of([&] { open(missing); });
    EXPECT_NE(e.find(missing.string()), std::string::npos) << e;
    EXPECT_NE(e.find("no such file"), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(missing));
  }
  const fs::path path = dir / "lib.db";
  make_library(path);
  const std::string before = bytes(path);
  const ClassLibrary lib = ClassLibrary::open_read_only(path);
  ClassLibrary& writable = const_cast<ClassLibrary&>(lib);
  const std::string e = error_of([&] { writable.add_examples("bird", false, {example("/b.wav", 0, 1)}); });
  EXPECT_NE(e.find("read-only"), std::string::npos) << e;
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_FALSE(error_of([&] { writable.remove_class("bell"); }).empty());
  EXPECT_EQ(bytes(path), before);
  EXPECT_EQ(lib.classes().size(), 3u);
  // A file that is not a SQLite database, or one that is not a library: named, and left alone.
  const fs::path text = dir / "notes.txt";
  test::write_text(text, "just some text, long enough to be more than a header of anything at all........\n");
  const std::string text_before = bytes(text);
  EXPECT_NE(error_of([&] { ClassLibrary::open_read_only(text); }).find(text.string()), std::string::npos);
  EXPECT_EQ(bytes(text), text_before);
}

// Reads the classes, then (while another connection commits `change` from
// another thread, given half a second) the examples, inside one read().
struct ConcurrentRead {
  std::vector<LibraryClass> classes;
  std::vector<LibraryExample> examples;
};

ConcurrentRead read_while(const fs::path& path, std::function<void(ClassLibrary&)> change) {
  const ClassLibrary reader = ClassLibrary::open_read_only(path);
  const auto reader_thread = std::this_thread::get_id();
  std::atomic<bool> fired{false};
  std::future<void> writer;
  set_library_statement_hook([&](const std::string& sql) {
    if (std::this_thread::get_id() != reader_thread || sql.find("FROM classes c LEFT JOIN") == std::string::npos ||
        fired.exchange(true))
      return;
    writer = std::async(std::launch::async, [&path, change] {
      ClassLibrary other = ClassLibrary::open(path);
      change(other);
    });
    writer.wait_for(std::chrono::milliseconds(500));  // committed by now unless the reader's snapshot holds it off
  });
  ConcurrentRead r;
  reader.read([&] {
    r.classes = reader.classes();
    r.examples = reader.examples();
  });
  set_library_statement_hook(nullptr);
  EXPECT_TRUE(fired.load());
  if (writer.valid()) writer.get();  // the change goes through after the read
  return r;
}

// Every class the read lists with examples has exactly those among the examples read.
void expect_consistent(const ConcurrentRead& r) {
  std::map<std::string, std::int64_t> read_examples;
  for (const auto& e : r.examples) ++read_examples[e.class_name];
  for (const auto& c : r.classes) EXPECT_EQ(c.examples, read_examples[c.name]) << c.name;
  for (const auto& entry : read_examples) {
    const std::string& name = entry.first;  // a structured binding cannot be captured by clang 14 (the ASan build)
    EXPECT_TRUE(std::any_of(r.classes.begin(), r.classes.end(), [&](const LibraryClass& c) { return c.name == name; }))
        << "examples of class " << name << " that the class list does not hold";
  }
}

TEST(LibraryTransactions, ARemoveCommittedDuringAReadIsNotHalfSeen) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  make_library(path);
  const ConcurrentRead r = read_while(path, [](ClassLibrary& lib) { lib.remove_class("dog"); });
  expect_consistent(r);
  EXPECT_EQ(r.classes.size(), 3u);  // the snapshot before the remove
  EXPECT_EQ(ClassLibrary::open_read_only(path).classes().size(), 2u);  // and the remove after it
}

TEST(LibraryTransactions, AnEnrolCommittedDuringAReadIsNotHalfSeen) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  make_library(path);
  const ConcurrentRead r =
      read_while(path, [](ClassLibrary& lib) { lib.add_examples("bird", false, {example("/bird.wav", 0, 7)}); });
  expect_consistent(r);
  EXPECT_EQ(r.examples.size(), 4u);
  EXPECT_EQ(ClassLibrary::open_read_only(path).examples().size(), 5u);
}

// Runs SQL on the file with SQLite itself, as another program would.
void damage(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(LibraryDamage, AStoredValueThatIsNotANumberIsNamedWithItsTableAndColumn) {
  TempDir dir;
  const fs::path path = dir / "lib.db";
  make_library(path);
  damage(path, "UPDATE meta SET value = '0.05abc' WHERE key = 'calibration_far'");
  std::string e = error_of([&] { ClassLibrary::open_read_only(path).calibration(); });
  EXPECT_EQ(e.rfind(path.string() + ": class library's calibration_far \"0.05abc\" (table meta) is not a number", 0), 0u)
      << e;
  EXPECT_NE(e.find("damaged"), std::string::npos) << e;
  damage(path, "UPDATE meta SET value = '0.05' WHERE key = 'calibration_far'");
  damage(path, "UPDATE meta SET value = 'four' WHERE key = 'enrol_views'");
  e = error_of([&] { ClassLibrary::open_read_only(path).settings(); });
  EXPECT_NE(e.find("enrol_views \"four\""), std::string::npos) << e;
  damage(path, "UPDATE meta SET value = '4' WHERE key = 'enrol_views'");

  damage(path, "UPDATE classes SET threshold = 'high' WHERE name = 'bell'");
  e = error_of([&] { ClassLibrary::open_read_only(path).classes(); });
  EXPECT_EQ(e.rfind(path.string() + ": class \"bell\": its threshold \"high\" (table classes, column threshold) is not a "
                    "finite number", 0), 0u) << e;
  damage(path, "UPDATE classes SET threshold = -4 WHERE name = 'bell'");

  damage(path, "UPDATE examples SET window_start = 'soon' WHERE source = '/dog.wav'");
  e = error_of([&] { ClassLibrary::open_read_only(path).examples(); });
  EXPECT_NE(e.find(path.string() + ": example "), std::string::npos) << e;
  EXPECT_NE(e.find("of class \"dog\" (/dog.wav): its window_start \"soon\" (table examples) is not a number"),
            std::string::npos) << e;
}

std::int64_t application_id(const fs::path& path) {
  sqlite3* db = nullptr;
  std::int64_t id = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
      id = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return id;
}

TEST(LibraryDamage, AnotherProgramsSqliteFileIsNamedAndLeftByteForByte) {
  TempDir dir;
  // A WAL-mode database of another program: even its journal mode stays.
  const fs::path songs = dir / "songs.db";
  damage(songs, "PRAGMA journal_mode = WAL; CREATE TABLE songs(title TEXT); INSERT INTO songs VALUES('a')");
  // Another application's file that happens to hold a meta table.
  const fs::path app = dir / "app.db";
  damage(app, "PRAGMA application_id = 42; CREATE TABLE meta(key TEXT, value TEXT)");
  for (const fs::path& file : {songs, app}) {
    SCOPED_TRACE(file.string());
    const std::string before = bytes(file);
    for (const std::string& e : {error_of([&] { ClassLibrary::open_read_only(file); }),
                                 error_of([&] { ClassLibrary::open(file); }),
                                 error_of([&] { ClassLibrary::open_or_create(file, model()); })}) {
      EXPECT_EQ(e.rfind(file.string() + ": is a SQLite database of another program (", 0), 0u) << e;
      EXPECT_NE(e.find("not a class library"), std::string::npos) << e;
    }
    EXPECT_TRUE(bytes(file) == before);
  }
  // This program's sound archive is named as what it is.
  const fs::path archive = dir / "sounds.archive";
  damage(archive, "PRAGMA application_id = 1330856274; CREATE TABLE meta(key TEXT, value TEXT)");  // 0x4F534152
  const std::string e = error_of([&] { ClassLibrary::open_read_only(archive); });
  EXPECT_NE(e.find(archive.string() + ": is a sound archive (made by `oneshot-audio index`"), std::string::npos) << e;
  // A library says what it is.
  const fs::path path = dir / "lib.db";
  make_library(path);
  EXPECT_EQ(application_id(path), 0x4F534C42);
}

}  // namespace
}  // namespace oneshot
