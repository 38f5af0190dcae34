// A class library on a full disk: the change that does not fit is an error that
// says the disk is full and names the library, and the library keeps every
// change made before it (a small tmpfs; skipped where mount is not permitted).
#include <fcntl.h>
#include <unistd.h>


#include <gtest/gtest.h>

#include "core/error.h"
#include "enroll/library.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

TEST(LibraryFullDisk, AChangeThatDoesNotFitIsNamedAndTheLibraryKeepsTheRest) {
  test::TempDir dir;
  test::SmallDisk mnt(dir / "small", "512k");
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  const fs::path path = mnt / "sounds.db";
  std::string error;
  std::size_t committed = 0, classes_after = 0, examples_after = 0;
  {
    LibraryModel m;
    m.run = "/runs/x";
    m.fingerprint = "x";
    m.embedding_dim = 4096;  // 16 KiB an example
    m.window_s = 5;
    m.sample_rate = 44100;
    {
      ClassLibrary lib = ClassLibrary::open_or_create(path, m);
      for (int c = 0; c < 200 && error.empty(); ++c) {
        std::vector<LibraryExample> examples(4);
        for (std::size_t i = 0; i < examples.size(); ++i) {
          examples[i].source = "/rec/" + std::to_string(c) + ".wav";
          examples[i].window_start = static_cast<double>(i);
          examples[i].embedding.assign(4096, static_cast<float>(c) + 0.5f * static_cast<float>(i) + 0.25f);
        }
        try {
          lib.add_examples("class" + std::to_string(c), false, examples);
          ++committed;
        } catch (const Error& e) {
          error = e.what();
        }
      }
    }
    const ClassLibrary again = ClassLibrary::open_read_only(path);
    classes_after = again.classes().size();
    examples_after = again.examples().size();
  }
  mnt.unmount();
  ASSERT_FALSE(error.empty()) << "the disk never filled";
  EXPECT_NE(error.find("the disk is full"), std::string::npos) << error;
  EXPECT_NE(error.find("free some space"), std::string::npos) << error;  // not SQLite's "database or disk is full"
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_GT(committed, 0u);
  EXPECT_EQ(classes_after, committed);
  EXPECT_EQ(examples_after, committed * 4);
}

}  // namespace
}  // namespace oneshot
