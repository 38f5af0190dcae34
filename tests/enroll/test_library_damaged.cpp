// A damaged class library file: stored embeddings whose size is not a whole
// number of float values are an Error naming the file (found by
// fuzz/fuzz_library: a 1-3 byte blob was copied through a null pointer, and
// a 17-byte one was cut to 4 values and accepted). Found by a new user's
// attack: a stored embedding of finite but huge values (1e38) made every
// score NaN and classify exited 0; one stored as text read as "0 values"; a
// size error named the example's audio file, not the library, and gave no
// way out; stored settings that size work (cohort_top_k, window_s,
// sample_rate) were not bounded.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

void sql(const fs::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << why;
}

TEST(ClassLibraryDamaged, EmbeddingsOfAPartialValueAreNamedAsDamage) {
  test::TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  {
    LibraryModel m{dir.path().string(), "f00d", 4, 1.0, 22050};
    ClassLibrary lib = ClassLibrary::open_or_create(path, m);
    LibraryExample e;
    e.source = "/rec/bell.wav";
    e.embedding.assign(4, 0.5f);
    lib.add_examples("bell", false, {e});
    lib.set_cohort({{"rain/1.wav", "rain", std::vector<float>(4, 0.25f)}});
  }
  for (const char* blob : {"x'0102'", "x'000000000000000000000000000000000000'"}) {
    for (const char* table : {"examples", "cohort"}) {
      sql(path, std::string("UPDATE ") + table + " SET embedding = " + blob);
      ClassLibrary lib = ClassLibrary::open(path);
      const std::string e = test::error_of([&] {
        if (std::string(table) == "examples") lib.examples();
        else lib.cohort();
      });
      // Named with its row (the example's class and source, or the cohort member) and the way out.
      EXPECT_EQ(e.rfind(path.string() + ": class library: the embedding of " +
                            (std::string(table) == "examples" ? "example 1 of class \"bell\"" : "cohort member rain/1.wav"),
                        0),
                0u)
          << table << ": " << e;
      EXPECT_NE(e.find("not a whole number of 4-byte values: the library is damaged; "), std::string::npos) << e;
      EXPECT_NE(e.find("--reembed"), std::string::npos) << e;
    }
  }
}


// A library of one example ("/rec/bell.wav", class bell, 4 values) and one cohort member.
fs::path small_library(const test::TempDir& dir) {
  const fs::path path = dir.path() / "lib.db";
  LibraryModel m{(dir.path() / "run").string(), "f00d", 4, 1.0, 22050};
  ClassLibrary lib = ClassLibrary::open_or_create(path, m);
  LibraryExample e;
  e.source = "/rec/bell.wav";
  e.embedding.assign(4, 0.5f);
  lib.add_examples("bell", false, {e});
  lib.set_cohort({{"rain/1.wav", "rain", std::vector<float>(4, 0.25f)}});
  return path;
}

// Sets every row's embedding of `table` to the float values `v`, as a blob.
void set_embeddings(const fs::path& db, const std::string& table, const std::vector<float>& v) {
  std::string hex;
  std::vector<unsigned char> bytes(v.size() * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  char two[3];
  for (unsigned char b : bytes) {
    std::snprintf(two, sizeof two, "%02x", b);
    hex += two;
  }
  sql(db, "UPDATE " + table + " SET embedding = x'" + hex + "'");
}

// The error of reading `table`'s embeddings.
std::string read_error(const fs::path& path, const std::string& table) {
  const ClassLibrary lib = ClassLibrary::open_read_only(path);
  return test::error_of([&] {
    if (table == "examples") lib.examples();
    else lib.cohort();
  });
}

// A table or column the reads use, dropped by another program, is named when the library is
// opened (it was a bare "no such table: examples" from whichever query met it first); every way
// of opening says so, and the file is left as it is.
TEST(ClassLibraryDamaged, AMissingTableOrColumnIsNamedWhenTheLibraryOpens) {
  test::TempDir dir;
  const fs::path path = small_library(dir);
  const fs::path saved = dir.path() / "saved.db";
  fs::copy_file(path, saved);
  for (const auto& [change, why] :
       {std::pair{"DROP TABLE examples", "its table examples is missing"},
        std::pair{"DROP TABLE cohort", "its table cohort is missing"},
        std::pair{"ALTER TABLE examples DROP COLUMN embedding", "its table examples has no column embedding"},
        std::pair{"ALTER TABLE classes RENAME COLUMN threshold TO limit_value", "its table classes has no column threshold"}}) {
    fs::copy_file(saved, path, fs::copy_options::overwrite_existing);
    sql(path, change);
    const std::string bytes = read_file(path);
    const std::string expected = path.string() + ": the class library is damaged: " + why +
                                 " (changed by another program?); restore it from a copy, or enrol its classes again "
                                 "into a new library";
    EXPECT_EQ(test::error_of([&] { ClassLibrary::open_read_only(path); }), expected) << change;
    EXPECT_EQ(test::error_of([&] { ClassLibrary::open(path); }), expected) << change;
    EXPECT_EQ(test::error_of([&] {
                ClassLibrary::open_or_create(path, LibraryModel{(dir.path() / "run").string(), "f00d", 4, 1.0, 22050});
              }),
              expected)
        << change;
    EXPECT_EQ(read_file(path), bytes) << change;
  }
  // A truncated library is damage, not another kind of file.
  fs::copy_file(saved, path, fs::copy_options::overwrite_existing);
  fs::resize_file(path, 4096);
  EXPECT_EQ(test::error_of([&] { ClassLibrary::open_read_only(path); }),
            path.string() + ": the class library is damaged (database disk image is malformed): restore it from a "
                            "copy, or enrol its classes again into a new library");
  // A version-1 library (before the cohort) has no cohort table, and opens.
  fs::copy_file(saved, path, fs::copy_options::overwrite_existing);
  sql(path, "DROP TABLE cohort; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  EXPECT_EQ(test::error_of([&] { ClassLibrary::open_read_only(path).examples(); }), "");
}

TEST(ClassLibraryDamaged, HugeOrNonFiniteStoredEmbeddingValuesAreDamageNamingTheRowAndTheWayOut) {
  test::TempDir dir;
  const fs::path path = small_library(dir);
  const std::string hint = "`oneshot-audio library " + path.string() + " --reembed --run " +
                           (dir.path() / "run").string() + "` embeds every example again";
  for (const float bad : {1e38f, -3e9f, std::numeric_limits<float>::infinity(), std::nanf("")}) {
    for (const std::string table : {"examples", "cohort"}) {
      set_embeddings(path, table, {0.5f, 0.5f, bad, 0.5f});
      const std::string e = read_error(path, table);
      EXPECT_EQ(e.rfind(path.string() + ": class library: the embedding of ", 0), 0u) << table << ": " << e;
      EXPECT_NE(e.find(table == "examples" ? "example 1 of class \"bell\" (/rec/bell.wav)"
                                           : "cohort member rain/1.wav"),
                std::string::npos)
          << e;
      EXPECT_NE(e.find("(table " + table + ", column embedding) holds "), std::string::npos) << e;
      EXPECT_NE(e.find(" at value 3"), std::string::npos) << e;
      EXPECT_NE(e.find("the library is damaged; " + hint), std::string::npos) << e;
      if (std::isfinite(bad)) EXPECT_NE(e.find("beyond +-1e+09"), std::string::npos) << e;
      set_embeddings(path, table, std::vector<float>(4, table == "examples" ? 0.5f : 0.25f));
    }
  }
  // Large but plausible values are kept exactly.
  set_embeddings(path, "examples", {1e6f, -1e6f, 0.0f, 3.5f});
  EXPECT_EQ(ClassLibrary::open_read_only(path).examples().at(0).embedding, (std::vector<float>{1e6f, -1e6f, 0.0f, 3.5f}));
}

TEST(ClassLibraryDamaged, AnEmbeddingStoredAsTextOrANumberSaysSoNotZeroValues) {
  test::TempDir dir;
  const fs::path path = small_library(dir);
  for (const std::string table : {"examples", "cohort"}) {
    sql(path, "UPDATE " + table + " SET embedding = 'AAAAPwAAAD8='");  // base64 text, as another tool might write
    std::string e = read_error(path, table);
    EXPECT_NE(e.find("(table " + table + ", column embedding) holds text, not an embedding blob: the library is "
                     "damaged; `oneshot-audio library"),
              std::string::npos)
        << e;
    EXPECT_EQ(e.find("0 values"), std::string::npos) << e;
    sql(path, "UPDATE " + table + " SET embedding = 42");
    e = read_error(path, table);
    EXPECT_NE(e.find("holds the number 42, not an embedding blob"), std::string::npos) << e;
    set_embeddings(path, table, std::vector<float>(4, 0.5f));
  }
}

// A blob in a text column (another tool's write, a damaged page) was called
// "a stored embedding of N bytes is not a whole number of 4-byte values", or,
// of 4n bytes, read as empty text: a source that counted as one more file.
TEST(ClassLibraryDamaged, ABlobInATextColumnIsNamedAsSuch) {
  test::TempDir dir;
  const fs::path path = small_library(dir);
  for (const auto& [table, column, blob] :
       {std::tuple<std::string, std::string, std::string>{"examples", "source", "x'00ff'"},
        {"examples", "added", "x'01020304'"},
        {"cohort", "source", "x'0102'"}}) {
    SCOPED_TRACE(table + "." + column);
    const fs::path damaged = dir / "damaged.db";
    fs::copy_file(path, damaged, fs::copy_options::overwrite_existing);
    sql(damaged, "UPDATE " + table + " SET " + column + " = " + blob);
    const std::string e = read_error(damaged, table);
    EXPECT_NE(e.find(damaged.string() + ": class library: column \"" + column + "\" holds a blob where text or a number "
                                                                             "belongs"),
              std::string::npos)
        << e;
    EXPECT_EQ(e.find("stored embedding of"), std::string::npos) << e;
  }
}

TEST(ClassLibraryDamaged, AStoredEmbeddingOfTheWrongSizeNamesTheLibraryTheExampleAndTheWayOut) {
  test::TempDir dir;
  const fs::path path = small_library(dir);
  set_embeddings(path, "examples", {0.5f, 0.5f, 0.5f});
  const std::string e = read_error(path, "examples");
  EXPECT_EQ(e.rfind(path.string() + ": class library: the embedding of example 1 of class \"bell\" (/rec/bell.wav) "
                    "(table examples, column embedding) has 3 values, the library's embedding_dim is 4: the library "
                    "is damaged; `oneshot-audio library " + path.string() + " --reembed --run ",
                    0),
            0u)
      << e;
  // The way out can read it: --reembed takes each example's source, class and segment without its embedding.
  const auto sources = ClassLibrary::open_read_only(path).example_sources();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].source, "/rec/bell.wav");
  EXPECT_EQ(sources[0].class_name, "bell");
  EXPECT_TRUE(sources[0].embedding.empty());
  sql(path, "UPDATE examples SET embedding = x'0102'");  // not even whole values: never read
  EXPECT_EQ(ClassLibrary::open_read_only(path).example_sources().size(), 1u);
}

TEST(ClassLibraryDamaged, StoredNumbersThatSizeWorkAreBoundedNamingTheKeyTheValueAndTheRange) {
  test::TempDir dir;
  const fs::path path = small_library(dir);
  struct Case {
    std::string key, value, range;
    bool settings;
  };
  const std::vector<Case> cases{
      {"cohort_top_k", "1e12", "a whole number in [1, 100000]", true},
      {"cohort_top_k", "2.5", "a whole number in [1, 100000]", true},
      {"cohort_top_k", "-3", "a whole number in [1, 100000]", true},
      {"enrol_views", "100000000", "a whole number in [1, 64]", true},
      {"window_s", "1e9", "in (0, 600] seconds", false},
      {"sample_rate", "1e10", "a whole number in [1, 768000] Hz", false},
      {"sample_rate", "22050.5", "a whole number in [1, 768000] Hz", false},
      {"embedding_dim", "1e12", "a whole number in [1, 16777216]", false},
      {"calibration_far", "7", "a rate in [0, 1)", false},
      // Counts cast to integers: 1e300 was an unchecked conversion (undefined behaviour).
      {"calibration_same_pairs", "1e300", "a whole count", false},
      {"calibration_classes", "2.5", "a whole count", false},
  };
  for (const Case& c : cases) {
    test::TempDir copy_dir;
    const fs::path copy = copy_dir.path() / "lib.db";
    fs::copy_file(path, copy);
    const bool calibration = c.key.rfind("calibration_", 0) == 0;
    if (calibration) {
      Calibration cal;
      cal.threshold = 0.5;
      ClassLibrary::open(copy).set_calibration(cal);
    }
    sql(copy, "UPDATE meta SET value = '" + c.value + "' WHERE key = '" + c.key + "'");
    const ClassLibrary lib = ClassLibrary::open_read_only(copy);
    const std::string e = test::error_of([&] {
      if (c.settings) lib.settings();
      else if (calibration) lib.calibration();
      else lib.model();
    });
    EXPECT_EQ(e.rfind(copy.string() + ": class library's " + c.key + " \"" + c.value +
                          "\" (table meta) is out of range: it must be " + c.range + ": the library is damaged; "
                          "`oneshot-audio library " + copy.string() + " --reembed --run ",
                      0),
              0u)
        << c.key << " = " << c.value << ": " << e;
  }
  // And nothing out of range is written.
  LibrarySettings s;
  s.cohort_top_k = 1000000;
  EXPECT_NE(test::error_of([&] { ClassLibrary::open(path).set_settings(s); }).find("cohort top-K must be in [1, 100000]"),
            std::string::npos);
}

}  // namespace
}  // namespace oneshot
