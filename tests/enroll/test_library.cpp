// Class libraries: everything written is read back exactly (embeddings bit for
// bit), every bad file is an Error naming it, a library of another model is an
// Error naming both fingerprints, failed changes write nothing, and two
// processes enrolling at once or a process killed mid-enrolment leave an
// intact library (checked with SQLite's own integrity_check).
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <thread>
#include <tuple>

#include "core/error.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;
using test::error_of;

LibraryModel model(const std::string& fingerprint, std::int64_t dim = 6) {
  LibraryModel m;
  m.run = "/runs/" + fingerprint;
  m.fingerprint = fingerprint;
  m.embedding_dim = dim;
  m.window_s = 1.0 / 3.0 + 4;  // not a short decimal: must round-trip exactly
  m.sample_rate = 44100;
  return m;
}

// An embedding whose values depend on `seed`, including ones a lossy store
// would change: -0, a subnormal, the extremes.
std::vector<float> embedding(std::int64_t dim, std::uint32_t seed) {
  std::vector<float> v(static_cast<std::size_t>(dim));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(seed) / 7.0f + static_cast<float>(i) * 0.1f;
  // 1e9: the largest magnitude a library keeps (beyond it a value is damage: FLT_MAX made scores NaN).
  const float special[] = {-0.0f, 1e-42f, -1e9f, -FLT_MIN, std::nextafter(1.0f, 2.0f)};
  for (std::size_t i = 0; i < 5 && i < v.size(); ++i)
    if ((seed + i) % 3 == 0) v[i] = special[(seed + i) % 5];
  return v;
}

LibraryExample example(const std::string& source, double window_start, std::vector<float> emb,
                       std::optional<double> seg_start = {}, std::optional<double> seg_end = {}) {
  LibraryExample e;
  e.source = source;
  e.window_start = window_start;
  e.embedding = std::move(emb);
  e.segment_start = seg_start;
  e.segment_end = seg_end;
  return e;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Every field of two example lists, embeddings bit for bit.
void expect_same_examples(const std::vector<LibraryExample>& got, const std::vector<LibraryExample>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("example " + std::to_string(i));
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].class_name, want[i].class_name);
    EXPECT_EQ(got[i].negative, want[i].negative);
    EXPECT_EQ(got[i].source, want[i].source);
    EXPECT_EQ(got[i].segment_start, want[i].segment_start);
    EXPECT_EQ(got[i].segment_end, want[i].segment_end);
    EXPECT_EQ(got[i].window_start, want[i].window_start);
    EXPECT_TRUE(bit_equal(got[i].embedding, want[i].embedding));
    EXPECT_EQ(got[i].added, want[i].added);
  }
}

// Runs SQL on the file with SQLite itself (not through ClassLibrary); the first column of each row as text.
std::vector<std::string> sql(const fs::path& path, const std::string& query) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "sqlite3 cannot open " << path;
    sqlite3_close(db);
    return rows;
  }
  sqlite3_busy_timeout(db, 10000);
  auto collect = [](void* out, int n, char** values, char**) {
    static_cast<std::vector<std::string>*>(out)->push_back(n > 0 && values[0] ? values[0] : "NULL");
    return 0;
  };
  char* err = nullptr;
  if (sqlite3_exec(db, query.c_str(), collect, &rows, &err) != SQLITE_OK) {
    ADD_FAILURE() << query << ": " << (err ? err : "?");
    sqlite3_free(err);
  }
  sqlite3_close(db);
  return rows;
}

std::string integrity(const fs::path& path) {
  const auto rows = sql(path, "PRAGMA integrity_check");
  std::string all;
  for (const auto& r : rows) all += r + "\n";
  return all;
}

TEST(ClassLibrary, RoundTripReadsEverythingBackExactly) {
  TempDir dir;
  const fs::path path = dir / "sub" / "sounds.library";  // the folder is created
  const LibraryModel m = model("3f2a9c0d11", 6);
  Calibration cal;
  cal.far = 0.1 + 0.2;  // 0.30000000000000004: stored with every digit
  cal.threshold = -1.0 / 3.0;
  cal.frr = 0.123456789012345678;
  cal.floor = -7.25e-3;
  cal.same_pairs = 1234567890123;
  cal.different_pairs = 98765;
  cal.classes = 12;

  std::vector<LibraryExample> bell{example("/rec/bell.wav", 0.0, embedding(6, 1), 1.5, 9.0),
                                   example("/rec/bell.wav", 0.5, embedding(6, 2), 1.5, 9.0),
                                   example("/rec/bell 2.flac", 1.0 / 3.0, embedding(6, 3))};
  std::vector<LibraryExample> dog{example("/rec/dög.mp3", 2.75, embedding(6, 4), 0.25, std::nullopt),
                                  example("/rec/dog2.wav", 0.0, embedding(6, 5))};
  std::vector<LibraryExample> noise{example("/rec/street.wav", 12.5, embedding(6, 6)),
                                    example("/rec/street.wav", 13.0, embedding(6, 7))};
  {
    ClassLibrary lib = ClassLibrary::open_or_create(path, m);
    EXPECT_EQ(lib.path(), path);
    EXPECT_FALSE(lib.calibration());
    EXPECT_TRUE(lib.classes().empty());
    lib.add_examples("doorbell", false, bell);
    lib.add_examples("dog", false, dog);
    lib.add_examples("background", true, noise);
    lib.add_examples("doorbell", false, {example("/rec/bell3.wav", 4.0, embedding(6, 8))});
    lib.set_threshold("dog", 1.25, "user");
    lib.set_threshold("doorbell", -0.1, "negatives");
    lib.set_calibration(cal);
  }
  ASSERT_EQ(integrity(path), "ok\n");

  ClassLibrary lib = ClassLibrary::open(path);
  const LibraryModel got = lib.model();
  EXPECT_EQ(got.run, m.run);
  EXPECT_EQ(got.fingerprint, m.fingerprint);
  EXPECT_EQ(got.embedding_dim, 6);
  EXPECT_EQ(got.window_s, m.window_s);
  EXPECT_EQ(got.sample_rate, 44100);

  const auto c = lib.calibration();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->far, cal.far);
  EXPECT_EQ(c->threshold, cal.threshold);
  EXPECT_EQ(c->frr, cal.frr);
  EXPECT_EQ(c->floor, cal.floor);
  EXPECT_EQ(c->same_pairs, cal.same_pairs);
  EXPECT_EQ(c->different_pairs, cal.different_pairs);
  EXPECT_EQ(c->classes, cal.classes);

  // Positive classes by name, then the negatives.
  const auto classes = lib.classes();
  ASSERT_EQ(classes.size(), 3u);
  EXPECT_EQ(classes[0].name, "dog");
  EXPECT_FALSE(classes[0].negative);
  EXPECT_EQ(classes[0].threshold, 1.25);
  EXPECT_EQ(classes[0].threshold_source, "user");
  EXPECT_EQ(classes[0].examples, 2);
  EXPECT_EQ(classes[0].sources, 2);
  EXPECT_EQ(classes[1].name, "doorbell");
  EXPECT_FALSE(classes[1].negative);
  EXPECT_EQ(classes[1].threshold, -0.1);
  EXPECT_EQ(classes[1].threshold_source, "negatives");
  EXPECT_EQ(classes[1].examples, 4);
  EXPECT_EQ(classes[1].sources, 3);
  EXPECT_EQ(classes[2].name, "background");
  EXPECT_TRUE(classes[2].negative);
  EXPECT_FALSE(classes[2].threshold);
  EXPECT_EQ(classes[2].examples, 2);
  EXPECT_EQ(classes[2].sources, 1);
  for (const auto& cl : classes) {
    ASSERT_EQ(cl.added.size(), 20u) << cl.added;  // 2026-11-30T12:00:00Z
    EXPECT_EQ(cl.added[10], 'T');
    EXPECT_EQ(cl.added.back(), 'Z');
  }

  // Examples: by class as above, then in the order added.
  std::vector<LibraryExample> want;
  auto expect_class = [&](const std::vector<LibraryExample>& v, const std::string& name, bool negative) {
    for (auto e : v) {
      e.class_name = name;
      e.negative = negative;
      want.push_back(e);
    }
  };
  expect_class(dog, "dog", false);
  expect_class(bell, "doorbell", false);
  expect_class({example("/rec/bell3.wav", 4.0, embedding(6, 8))}, "doorbell", false);
  expect_class(noise, "background", true);
  auto examples = lib.examples();
  ASSERT_EQ(examples.size(), want.size());
  std::set<std::int64_t> ids;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    want[i].id = examples[i].id;  // ids are the database's; each distinct
    want[i].added = examples[i].added;
    EXPECT_TRUE(ids.insert(examples[i].id).second);
    EXPECT_EQ(examples[i].added.size(), 20u);
  }
  expect_same_examples(examples, want);
  // Ids grow in the order added within a class.
  EXPECT_LT(examples[2].id, examples[5].id);

  const auto only_bell = lib.examples("doorbell");
  expect_same_examples(only_bell, std::vector<LibraryExample>(want.begin() + 2, want.begin() + 6));
  EXPECT_TRUE(lib.examples("nothing").empty());

  // The same model reopens it with open_or_create; nothing changes.
  ClassLibrary again = ClassLibrary::open_or_create(path, m);
  expect_same_examples(again.examples(), want);
  EXPECT_EQ(again.classes().size(), 3u);
  EXPECT_EQ(again.calibration()->threshold, cal.threshold);

  // The file is readable by other SQLite tools, as the schema says.
  EXPECT_EQ(sql(path, "SELECT value FROM meta WHERE key = 'fingerprint'"), std::vector<std::string>{m.fingerprint});
  EXPECT_EQ(sql(path, "SELECT COUNT(*) FROM examples"), std::vector<std::string>{"8"});
  EXPECT_EQ(sql(path, "SELECT length(embedding) FROM examples LIMIT 1"), std::vector<std::string>{"24"});
}

TEST(ClassLibrary, SetThresholdClearsAndNamesAMissingClass) {
  TempDir dir;
  ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.sqlite", model("aa"));
  lib.add_examples("dog", false, {example("/a.wav", 0, embedding(6, 1))});
  lib.set_threshold("dog", 2.5, "user");
  EXPECT_EQ(lib.classes()[0].threshold, 2.5);
  lib.set_threshold("dog", std::nullopt, "");
  EXPECT_FALSE(lib.classes()[0].threshold);
  const std::string e = error_of([&] { lib.set_threshold("cat", 1.0, "user"); });
  EXPECT_NE(e.find("cat"), std::string::npos) << e;
  EXPECT_NE(e.find((dir / "lib.sqlite").string()), std::string::npos) << e;
}

TEST(ClassLibrary, ALibraryNamedMemoryIsAFileThatOpensAgain) {
  // ":memory:" is SQLite's in-memory database: enroll used to report success
  // and classify then found another, empty file of that name.
  TempDir dir;
  const fs::path before = fs::current_path();
  fs::current_path(dir.path());
  {
    ClassLibrary lib = ClassLibrary::open_or_create(":memory:", model("aa"));
    lib.add_examples("dog", false, {example("/a.wav", 0, embedding(6, 1))});
  }
  const bool kept = fs::exists(dir / ":memory:");
  std::size_t classes = 0;
  const std::string e = error_of([&] { classes = ClassLibrary::open(":memory:").classes().size(); });
  fs::current_path(before);
  EXPECT_TRUE(kept);
  EXPECT_EQ(e, "");
  EXPECT_EQ(classes, 1u);
}

TEST(ClassLibrary, OpenOfAMissingFileIsAnErrorAndCreatesNothing) {
  TempDir dir;
  const fs::path path = dir / "missing.library";
  const std::string e = error_of([&] { ClassLibrary::open(path); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(path));
}

TEST(ClassLibrary, OpenOfADirectoryIsAnError) {
  TempDir dir;
  const std::string e = error_of([&] { ClassLibrary::open(dir.path()); });
  EXPECT_NE(e.find(dir.path().string()), std::string::npos) << e;
  EXPECT_NE(e.find("directory"), std::string::npos) << e;
}

TEST(ClassLibrary, OpenOfANonSqliteFileIsAnErrorAndLeavesItAlone) {
  TempDir dir;
  const fs::path path = dir / "notes.txt";
  std::string text;
  for (int i = 0; i < 200; ++i) text += "this is a text file, not a database\n";
  write_text(path, text);
  for (auto f : std::vector<std::function<void()>>{[&] { ClassLibrary::open(path); },
                                                   [&] { ClassLibrary::open_or_create(path, model("aa")); }}) {
    const std::string e = error_of(f);
    EXPECT_NE(e.find(path.string()), std::string::npos) << e;
    EXPECT_NE(e.find("not a class library"), std::string::npos) << e;
  }
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), text);
  EXPECT_FALSE(fs::exists(dir / "notes.txt-journal"));
}

TEST(ClassLibrary, OpenOfAnEmptyFileIsAnError) {
  TempDir dir;
  const fs::path path = dir / "empty.library";
  write_text(path, "");
  const std::string e = error_of([&] { ClassLibrary::open(path); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("not a class library"), std::string::npos) << e;
}

TEST(ClassLibrary, OpenOfAnotherSqliteDatabaseIsAnErrorAndLeavesItAlone) {
  TempDir dir;
  const fs::path path = dir / "other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE songs(title TEXT); INSERT INTO songs VALUES('a')", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  for (auto f : std::vector<std::function<void()>>{[&] { ClassLibrary::open(path); },
                                                   [&] { ClassLibrary::open_or_create(path, model("aa")); }}) {
    const std::string e = error_of(f);
    EXPECT_NE(e.find(path.string()), std::string::npos) << e;
    EXPECT_NE(e.find("not a class library"), std::string::npos) << e;
  }
  EXPECT_EQ(sql(path, "SELECT name FROM sqlite_master WHERE type = 'table'"), std::vector<std::string>{"songs"});
}

TEST(ClassLibrary, OpenOfADatabaseWithAForeignMetaTableIsAnError) {
  TempDir dir;
  const fs::path path = dir / "meta.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE meta(key TEXT, value TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  std::string e = error_of([&] { ClassLibrary::open(path); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("not a class library"), std::string::npos) << e;

  // A schema_version that is not a number is an Error too, not a bare exception.
  sql(path, "INSERT INTO meta VALUES('schema_version', 'two')");
  e = error_of([&] { ClassLibrary::open(path); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("two"), std::string::npos) << e;
  // A newer schema than this program's is refused, naming both.
  sql(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  e = error_of([&] { ClassLibrary::open(path); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("99"), std::string::npos) << e;
}

TEST(ClassLibrary, AnotherModelsFingerprintIsAnErrorNamingBoth) {
  TempDir dir;
  const fs::path path = dir / "lib.sqlite";
  {
    ClassLibrary lib = ClassLibrary::open_or_create(path, model("a1b2c3d4e5"));
    lib.add_examples("dog", false, {example("/a.wav", 0, embedding(6, 1))});
  }
  const std::string e = error_of([&] { ClassLibrary::open_or_create(path, model("ffee99887766")); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("a1b2c3d4e5"), std::string::npos) << e;
  EXPECT_NE(e.find("ffee99887766"), std::string::npos) << e;
  // Nothing was changed by the refused open.
  ClassLibrary lib = ClassLibrary::open(path);
  EXPECT_EQ(lib.model().fingerprint, "a1b2c3d4e5");
  EXPECT_EQ(lib.examples().size(), 1u);
}

TEST(ClassLibrary, NegativesAndPositivesNeverShareAClass) {
  TempDir dir;
  const fs::path path = dir / "lib.sqlite";
  ClassLibrary lib = ClassLibrary::open_or_create(path, model("aa"));
  lib.add_examples("dog", false, {example("/dog.wav", 0, embedding(6, 1))});
  lib.add_examples("street", true, {example("/street.wav", 0, embedding(6, 2))});
  std::string e = error_of([&] { lib.add_examples("dog", true, {example("/n.wav", 0, embedding(6, 3))}); });
  EXPECT_NE(e.find("dog"), std::string::npos) << e;
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  e = error_of([&] { lib.add_examples("street", false, {example("/p.wav", 0, embedding(6, 4))}); });
  EXPECT_NE(e.find("street"), std::string::npos) << e;
  EXPECT_EQ(lib.examples().size(), 2u);
  EXPECT_EQ(lib.examples("dog").size(), 1u);
  EXPECT_FALSE(lib.examples("dog")[0].negative);
  EXPECT_TRUE(lib.examples("street")[0].negative);
  EXPECT_FALSE(error_of([&] { lib.add_examples("", false, {example("/p.wav", 0, embedding(6, 4))}); }).empty());
}

TEST(ClassLibrary, BadEmbeddingsAreErrorsAndNothingIsWritten) {
  TempDir dir;
  const fs::path path = dir / "lib.sqlite";
  ClassLibrary lib = ClassLibrary::open_or_create(path, model("aa", 6));
  lib.add_examples("dog", false, {example("/dog.wav", 0, embedding(6, 1))});
  const auto before = lib.examples();

  auto bad = [&](const std::string& cls, std::vector<float> emb, const std::string& expect) {
    // Two good examples before the bad one: none of the three may land.
    const std::vector<LibraryExample> batch{example("/g1.wav", 0, embedding(6, 2)),
                                            example("/g2.wav", 0, embedding(6, 3)),
                                            example("/bad.wav", 0, std::move(emb))};
    const std::string e = error_of([&] { lib.add_examples(cls, false, batch); });
    EXPECT_NE(e.find(path.string()), std::string::npos) << e;
    EXPECT_NE(e.find("/bad.wav"), std::string::npos) << e;
    EXPECT_NE(e.find(expect), std::string::npos) << e;
  };
  bad("dog", std::vector<float>(5, 1.0f), "5");
  bad("cat", std::vector<float>(7, 1.0f), "7");
  bad("cat", {}, "0");
  auto nan = embedding(6, 5);
  nan[3] = std::nanf("");
  bad("dog", nan, "finite");
  auto inf = embedding(6, 5);
  inf[0] = -std::numeric_limits<float>::infinity();
  bad("cat", inf, "finite");
  auto huge = embedding(6, 5);
  huge[1] = 1e38f;  // finite, but every score of it overflows to NaN
  bad("dog", huge, "holds 1e+38, beyond +-1e+09");

  expect_same_examples(lib.examples(), before);
  ASSERT_EQ(lib.classes().size(), 1u);  // "cat" was not created
  EXPECT_EQ(sql(path, "SELECT COUNT(*) FROM examples"), std::vector<std::string>{"1"});
  EXPECT_EQ(sql(path, "SELECT COUNT(*) FROM classes"), std::vector<std::string>{"1"});
}

TEST(ClassLibrary, RemoveClassDropsItAndItsExamplesOnly) {
  TempDir dir;
  const fs::path path = dir / "lib.sqlite";
  ClassLibrary lib = ClassLibrary::open_or_create(path, model("aa"));
  lib.add_examples("dog", false, {example("/d1.wav", 0, embedding(6, 1)), example("/d2.wav", 0, embedding(6, 2))});
  lib.add_examples("cat", false, {example("/c1.wav", 0, embedding(6, 3))});
  lib.add_examples("street", true, {example("/s.wav", 0, embedding(6, 4))});
  lib.add_examples("bird", false, {example("/b1.wav", 0, embedding(6, 6))});
  lib.set_threshold("cat", 1.5, "calibration");
  lib.set_threshold("bird", 2.5, "user");
  const auto cats = lib.examples("cat");
  const auto street = lib.examples("street");

  lib.remove_class("dog");
  const auto classes = lib.classes();
  ASSERT_EQ(classes.size(), 3u);
  EXPECT_EQ(classes[0].name, "bird");
  EXPECT_EQ(classes[1].name, "cat");
  EXPECT_EQ(classes[2].name, "street");
  // cat's threshold was shared out over three positive classes: cleared; the user's stays.
  EXPECT_FALSE(classes[1].threshold.has_value());
  EXPECT_EQ(classes[1].threshold_source, "");
  ASSERT_TRUE(classes[0].threshold.has_value());
  EXPECT_EQ(*classes[0].threshold, 2.5);
  EXPECT_EQ(classes[0].threshold_source, "user");
  EXPECT_TRUE(lib.examples("dog").empty());
  expect_same_examples(lib.examples("cat"), cats);
  expect_same_examples(lib.examples("street"), street);
  // No orphan rows: the examples went with their class.
  EXPECT_EQ(sql(path, "SELECT COUNT(*) FROM examples"), std::vector<std::string>{"3"});

  const std::string e = error_of([&] { lib.remove_class("dog"); });
  EXPECT_NE(e.find("dog"), std::string::npos) << e;
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;

  // The name is free again, even for negatives.
  lib.add_examples("dog", true, {example("/n.wav", 0, embedding(6, 5))});
  EXPECT_TRUE(lib.examples("dog").at(0).negative);
  EXPECT_EQ(integrity(path), "ok\n");
}

TEST(ClassLibrary, ReplaceExamplesMovesToTheNewModelAndDropsDerivedThresholds) {
  TempDir dir;
  const fs::path path = dir / "lib.sqlite";
  ClassLibrary lib = ClassLibrary::open_or_create(path, model("old", 6));
  lib.add_examples("dog", false, {example("/d1.wav", 0, embedding(6, 1)), example("/d2.wav", 0, embedding(6, 2))});
  lib.add_examples("bell", false, {example("/b.wav", 0, embedding(6, 3))});
  lib.add_examples("cat", false, {example("/c.wav", 0, embedding(6, 4))});
  lib.add_examples("street", true, {example("/s.wav", 0, embedding(6, 5))});
  lib.set_threshold("dog", 3.5, "user");
  lib.set_threshold("bell", 0.25, "negatives");
  lib.set_threshold("cat", 0.75, "calibration");
  Calibration cal;
  cal.threshold = 0.5;
  lib.set_calibration(cal);

  LibraryModel next = model("new", 4);
  next.window_s = 2.0;
  next.sample_rate = 22050;
  std::vector<LibraryExample> fresh;
  for (auto [cls, src, start, seed] : std::vector<std::tuple<std::string, std::string, double, std::uint32_t>>{
           {"dog", "/d1.wav", 0.5, 10}, {"dog", "/d1.wav", 1.0, 11}, {"bell", "/b.wav", 0, 12},
           {"street", "/s.wav", 3, 13}}) {
    LibraryExample e = example(src, start, embedding(4, seed), 0.5, 4.5);
    e.class_name = cls;
    fresh.push_back(e);
  }
  fresh[0].added = "2020-01-02T03:04:05Z";  // an example's original time is kept when given

  // A wrong size for the new model, or a class that does not exist: nothing changes.
  auto wrong = fresh;
  wrong[2].embedding = embedding(6, 1);
  EXPECT_FALSE(error_of([&] { lib.replace_examples(next, wrong); }).empty());
  auto unknown = fresh;
  unknown[3].class_name = "horse";
  const std::string e = error_of([&] { lib.replace_examples(next, unknown); });
  EXPECT_NE(e.find("horse"), std::string::npos) << e;
  EXPECT_EQ(lib.model().fingerprint, "old");
  EXPECT_EQ(lib.examples().size(), 5u);
  ASSERT_TRUE(lib.calibration());
  EXPECT_EQ(lib.classes()[1].threshold, 0.75);  // cat

  lib.replace_examples(next, fresh);
  const LibraryModel got = lib.model();
  EXPECT_EQ(got.fingerprint, "new");
  EXPECT_EQ(got.run, next.run);
  EXPECT_EQ(got.embedding_dim, 4);
  EXPECT_EQ(got.window_s, 2.0);
  EXPECT_EQ(got.sample_rate, 22050);
  EXPECT_FALSE(lib.calibration());

  const auto classes = lib.classes();  // bell, cat, dog, street
  ASSERT_EQ(classes.size(), 4u);
  EXPECT_EQ(classes[0].name, "bell");
  EXPECT_FALSE(classes[0].threshold);
  EXPECT_EQ(classes[0].threshold_source, "");
  EXPECT_EQ(classes[0].examples, 1);
  EXPECT_EQ(classes[1].name, "cat");
  EXPECT_FALSE(classes[1].threshold);
  EXPECT_EQ(classes[1].examples, 0);  // kept, with no example of the new model
  EXPECT_EQ(classes[2].name, "dog");
  EXPECT_EQ(classes[2].threshold, 3.5);  // the user's
  EXPECT_EQ(classes[2].threshold_source, "user");
  EXPECT_EQ(classes[2].examples, 2);
  EXPECT_EQ(classes[2].sources, 1);
  EXPECT_TRUE(classes[3].negative);

  const auto examples = lib.examples();
  ASSERT_EQ(examples.size(), 4u);
  // bell, dog, dog, street
  const std::size_t from_fresh[] = {2, 0, 1, 3};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& want = fresh[from_fresh[i]];
    EXPECT_EQ(examples[i].class_name, want.class_name);
    EXPECT_EQ(examples[i].source, want.source);
    EXPECT_EQ(examples[i].window_start, want.window_start);
    EXPECT_EQ(examples[i].segment_start, 0.5);
    EXPECT_EQ(examples[i].segment_end, 4.5);
    EXPECT_TRUE(bit_equal(examples[i].embedding, want.embedding));
  }
  EXPECT_EQ(examples[1].added, "2020-01-02T03:04:05Z");
  EXPECT_EQ(examples[0].added.size(), 20u);

  // The library now belongs to the new model.
  EXPECT_NO_THROW(ClassLibrary::open_or_create(path, next));
  EXPECT_FALSE(error_of([&] { ClassLibrary::open_or_create(path, model("old", 6)); }).empty());
  EXPECT_EQ(integrity(path), "ok\n");
}

// ---- processes ----------------------------------------------------------

// Waits for a child; its exit status, or 128 + the signal that ended it.
int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The embedding enrolled by child `who` as its `i`th example.
std::vector<float> child_embedding(int who, int i) {
  std::vector<float> v(16);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(who * 100000 + i) + static_cast<float>(k) / 16;
  return v;
}

TEST(ClassLibrary, TwoProcessesEnrollingAtOnceLoseNothing) {
  TempDir dir;
  const fs::path path = dir / "shared.library";  // not there yet: both children create it
  constexpr int kBatches = 25, kPerBatch = 20;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int who = 1; who <= 2; ++who) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(3);
      try {
        ClassLibrary lib = ClassLibrary::open_or_create(path, model("shared", 16));
        for (int b = 0; b < kBatches; ++b) {
          std::vector<LibraryExample> batch;
          for (int i = 0; i < kPerBatch; ++i) {
            const int n = b * kPerBatch + i;
            batch.push_back(example("/child" + std::to_string(who) + ".wav", n, child_embedding(who, n)));
          }
          // Each child has its own class and both write to a common one.
          lib.add_examples(b % 2 ? "common" : "child" + std::to_string(who), false, batch);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", who, e.what());
        ::_exit(1);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ASSERT_EQ(::write(go[1], "gg", 2), 2);  // start both at the same moment
  ::close(go[1]);
  for (pid_t pid : children) EXPECT_EQ(wait_child(pid), 0);

  ASSERT_EQ(integrity(path), "ok\n");
  ClassLibrary lib = ClassLibrary::open(path);
  EXPECT_EQ(lib.model().fingerprint, "shared");
  const auto examples = lib.examples();
  ASSERT_EQ(examples.size(), 2u * kBatches * kPerBatch);
  for (int who = 1; who <= 2; ++who) {
    std::set<int> seen;
    for (const auto& e : examples) {
      if (e.source != "/child" + std::to_string(who) + ".wav") continue;
      const int n = static_cast<int>(e.window_start);
      EXPECT_TRUE(seen.insert(n).second) << "child " << who << " example " << n << " twice";
      EXPECT_TRUE(bit_equal(e.embedding, child_embedding(who, n))) << "child " << who << " example " << n;
      const bool odd_batch = (n / kPerBatch) % 2;
      EXPECT_EQ(e.class_name, odd_batch ? "common" : "child" + std::to_string(who));
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kBatches * kPerBatch)) << "child " << who;
  }
  EXPECT_EQ(lib.classes().size(), 3u);
  EXPECT_EQ(sql(path, "SELECT COUNT(*) FROM meta WHERE key = 'schema_version'"), std::vector<std::string>{"1"});
}

std::uintmax_t size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// Starts a child that enrols a large batch (about 20 MB of embeddings) into a
// new class, and kills it with SIGKILL while its transaction has written to
// the database file but not committed: the rollback journal still exists
// while the child is stopped. Returns false when the child finished first.
bool kill_mid_enrolment(const fs::path& path) {
  const fs::path journal = path.string() + "-journal";
  const auto size_before = size_or_zero(path);
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    try {
      ClassLibrary lib = ClassLibrary::open(path);
      std::vector<LibraryExample> batch;
      for (int i = 0; i < 20000; ++i) {
        std::vector<float> v(256);
        for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(i) + static_cast<float>(k);
        batch.push_back(example("/big.wav", i * 0.5, std::move(v)));
      }
      lib.add_examples("bird", false, batch);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      ::_exit(1);
    }
    ::_exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // it finished (or failed) first
    // Pages written into the database file mid-transaction: the cache spilled or the commit began.
    if (fs::exists(journal) && size_or_zero(path) > size_before) {
      ::kill(pid, SIGSTOP);
      const bool uncommitted = fs::exists(journal);
      ::kill(pid, SIGKILL);
      const int code = wait_child(pid);
      return uncommitted && code == 128 + SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(pid, SIGKILL);
  wait_child(pid);
  return false;
}

TEST(ClassLibrary, AKilledEnrolmentLeavesTheLibraryAsItWas) {
  // The kill must land inside the child's transaction; should the child ever
  // commit before it (a very fast disk), the scenario is run again afresh.
  for (int attempt = 0; attempt < 4; ++attempt) {
    TempDir dir;
    const fs::path path = dir / "lib.sqlite";
    std::vector<LibraryExample> before;
    std::vector<LibraryClass> classes_before;
    {
      ClassLibrary lib = ClassLibrary::open_or_create(path, model("kill", 256));
      lib.add_examples("dog", false, {example("/d1.wav", 0, std::vector<float>(256, 0.25f)),
                                      example("/d2.wav", 1, std::vector<float>(256, -1.5f))});
      lib.add_examples("street", true, {example("/s.wav", 2, std::vector<float>(256, 3.0f))});
      lib.set_threshold("dog", 0.5, "user");
      before = lib.examples();
      classes_before = lib.classes();
    }
    if (!kill_mid_enrolment(path)) continue;
    // The hot journal left by the killed process is rolled back on open.
    ASSERT_TRUE(fs::exists(path.string() + "-journal"));
    {
      ClassLibrary lib = ClassLibrary::open(path);
      expect_same_examples(lib.examples(), before);
      const auto classes = lib.classes();
      ASSERT_EQ(classes.size(), classes_before.size());
      for (std::size_t i = 0; i < classes.size(); ++i) {
        EXPECT_EQ(classes[i].name, classes_before[i].name);
        EXPECT_EQ(classes[i].examples, classes_before[i].examples);
        EXPECT_EQ(classes[i].threshold, classes_before[i].threshold);
      }
      EXPECT_TRUE(lib.examples("bird").empty());
    }
    EXPECT_EQ(integrity(path), "ok\n");
    EXPECT_FALSE(fs::exists(path.string() + "-journal"));
    EXPECT_EQ(sql(path, "SELECT COUNT(*) FROM examples"), std::vector<std::string>{"3"});
    // And enrolment goes on.
    ClassLibrary lib = ClassLibrary::open(path);
    lib.add_examples("bird", false, {example("/b.wav", 0, std::vector<float>(256, 1.0f))});
    EXPECT_EQ(lib.examples().size(), 4u);
    return;
  }
  FAIL() << "the enrolling child always committed before it could be killed";
}

}  // namespace
}  // namespace oneshot
