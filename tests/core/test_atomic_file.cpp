#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_support.h"

using namespace oneshot;
namespace fs = std::filesystem;

TEST(AtomicFile, ReplacesWholeFile) {
  test::TempDir dir;
  write_file_atomic(dir / "a.txt", "old contents");
  write_file_atomic(dir / "a.txt", "new");
  EXPECT_EQ(read_file(dir / "a.txt"), "new");
}

TEST(AtomicFile, AbandonedWriteLeavesOldFileAndNoTemporary) {
  test::TempDir dir;
  write_file_atomic(dir / "a.txt", "old contents");
  {
    AtomicWriter w(dir / "a.txt");
    w.write("half of a new fi");
    EXPECT_TRUE(fs::exists(w.temp_path()));
    // destroyed without commit(): as if the writer threw mid-way
  }
  EXPECT_EQ(read_file(dir / "a.txt"), "old contents");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(AtomicFile, ErrorsNameThePath) {
  test::TempDir dir;
  try {
    read_file(dir / "nope.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos);
  }
}
