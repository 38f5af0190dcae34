// A damaged class library file: stored embeddings whose size is not a whole
// number of float values are an Error naming the file (found by
// fuzz/fuzz_library: a 1-3 byte blob was copied through a null pointer, and
// a 17-byte one was cut to 4 values and accepted).
#include <gtest/gtest.h>
#include <sqlite3.h>

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
      EXPECT_EQ(e.rfind(path.string() + ": class library: a stored embedding of ", 0), 0u) << table << ": " << e;
      EXPECT_NE(e.find("not a whole number of 4-byte values: the library is damaged"), std::string::npos) << e;
    }
  }
}

}  // namespace
}  // namespace oneshot
