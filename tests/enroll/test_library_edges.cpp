// Class libraries as a user can break them: class names that would corrupt
// the TSV/CSV/table output or read as classify's "unknown", a library damaged
// by another SQLite tool (it must be an Error naming the library, never a
// crash), and a run directory that was moved after enrolment.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>

#include "core/error.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using test::error_of;

LibraryModel model(const fs::path& run, std::int64_t dim = 4) {
  LibraryModel m;
  m.run = run.string();
  m.fingerprint = "f00d";
  m.embedding_dim = dim;
  m.window_s = 1.0;
  m.sample_rate = 22050;
  return m;
}

std::vector<LibraryExample> one_example(std::int64_t dim = 4) {
  LibraryExample e;
  e.source = "/rec/bell.wav";
  e.embedding.assign(static_cast<std::size_t>(dim), 0.5f);
  return {e};
}

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

TEST(ClassLibraryEdges, ClassNamesThatBreakOutputOrReadAsUnknownAreRefused) {
  TempDir dir;
  ClassLibrary lib = ClassLibrary::open_or_create(dir.path() / "lib.db", model(dir.path()));
  for (const std::string bad : {std::string("tab\there"), std::string("new\nline"), std::string("cr\rx"),
                                std::string("bell\x01"), std::string("unknown"), std::string(" bell"),
                                std::string("bell "), std::string("  "), std::string()}) {
    const std::string e = error_of([&] { lib.add_examples(bad, false, one_example()); });
    EXPECT_NE(e.find(bad.empty() ? "needs a name" : "class name"), std::string::npos) << "[" << bad << "] " << e;
  }
  // A name of thousands of characters (a paste gone wrong) is named by its start and length.
  const std::string pasted(5000, 'x');
  EXPECT_EQ(error_of([&] { lib.add_examples(pasted, false, one_example()); }),
            "class name \"" + std::string(40, 'x') + "...\": is 5000 characters long; a class name may have at most 200");
  std::string umlauts;  // 201 characters of 2 bytes each
  for (int i = 0; i < 201; ++i) umlauts += "\xC3\xBC";
  // Shown up to a character's start: 40 bytes are 20 characters of 2 bytes.
  EXPECT_EQ(error_of([&] { lib.add_examples("a" + umlauts, false, one_example()); }),
            "class name \"a" + umlauts.substr(0, 38) + "...\": is 202 characters long; a class name may have at most 200");
  EXPECT_TRUE(lib.classes().empty());  // nothing was written
  // Spaces inside, other scripts and punctuation are fine, and 200 characters (400 bytes) are.
  for (const std::string good : {std::string("door bell"), std::string("Türklingel"), std::string("dog, barking"),
                                 std::string("Unknown sound"), umlauts.substr(2)})
    EXPECT_NO_THROW(lib.add_examples(good, false, one_example())) << good;
  EXPECT_EQ(lib.classes().size(), 5u);
}

TEST(ClassLibraryEdges, AnEmbeddingOfTheWrongSizeIsAnErrorNamingTheLibrary) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  ClassLibrary::open_or_create(path, model(dir.path())).add_examples("bell", false, one_example());
  sql(path, "UPDATE examples SET embedding = x'0011'");  // 2 bytes, not 4 floats
  const ClassLibrary lib = ClassLibrary::open(path);
  const std::string e = error_of([&] { lib.examples(); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  // The example named (its class and source), and the way out, as for every other damaged embedding.
  EXPECT_NE(e.find("has 2 bytes, not a whole number of 4-byte values"), std::string::npos) << e;
  EXPECT_NE(e.find("\"bell\""), std::string::npos) << e;
  EXPECT_NE(e.find("the library is damaged"), std::string::npos) << e;
  EXPECT_NE(e.find("--reembed"), std::string::npos) << e;
}

TEST(ClassLibraryEdges, AnInfiniteThresholdIsNamedWithItsValue) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  ClassLibrary::open_or_create(path, model(dir.path())).add_examples("bell", false, one_example());
  sql(path, "UPDATE classes SET threshold = 1e308 * 10");  // REAL infinity
  const std::string e = error_of([&] { ClassLibrary::open(path).classes(); });
  EXPECT_NE(e.find("its threshold \"inf\" (table classes, column threshold) is not a finite number"),
            std::string::npos)
      << e;
}

TEST(ClassLibraryEdges, ADamagedModelNumberIsAnErrorNotZero) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  ClassLibrary::open_or_create(path, model(dir.path())).add_examples("bell", false, one_example());
  for (const std::string& value : {"abc", "0", "-4", "nan", ""}) {
    sql(path, "UPDATE meta SET value = '" + value + "' WHERE key = 'embedding_dim'");
    const std::string e = error_of([&] { ClassLibrary::open(path).model(); });
    EXPECT_NE(e.find("embedding_dim \"" + value + "\" is not a positive number"), std::string::npos) << e;
  }
}

TEST(ClassLibraryEdges, AMovedRunIsNamedAndEnrollingWithItAtItsNewPlaceRecordsIt) {
  TempDir dir;
  const fs::path path = dir.path() / "lib.db";
  fs::create_directories(dir.path() / "run");
  ClassLibrary::open_or_create(path, model(dir.path() / "run")).add_examples("bell", false, one_example());
  EXPECT_EQ(ClassLibrary::open(path).run_directory(), dir.path() / "run");

  fs::rename(dir.path() / "run", dir.path() / "moved");
  const std::string e = error_of([&] { ClassLibrary::open(path).run_directory(); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find((dir.path() / "run").string() + " is gone"), std::string::npos) << e;
  EXPECT_NE(e.find("--reembed"), std::string::npos) << e;

  // The same model (fingerprint) at its new place: the library follows it and keeps its classes.
  ClassLibrary::open_or_create(path, model(dir.path() / "moved"));
  const ClassLibrary lib = ClassLibrary::open(path);
  EXPECT_EQ(lib.run_directory(), dir.path() / "moved");
  EXPECT_EQ(lib.classes().size(), 1u);
}

}  // namespace
}  // namespace oneshot
