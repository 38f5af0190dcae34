// A tuning study on a full disk: the write that does not fit is an error that
// says the disk is full and names the study file, and the study keeps what was
// committed before (a small tmpfs; skipped where mount is not permitted).
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/test_support.h"
#include "tune/sampler.h"
#include "tune/study.h"

namespace oneshot::tune {
namespace {
namespace fs = std::filesystem;

TEST(StudyFullDisk, AWriteThatDoesNotFitIsNamed) {
  test::TempDir dir;
  test::SmallDisk mnt(dir / "small", "256k");
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  const fs::path path = mnt / "study.db";
  std::string error;
  std::size_t trials = 99;
  {
    const SearchSpace space = SearchSpace::parse_toml("[train]\nlearning_rate = { loguniform = [1e-5, 1e-1] }\n", "space");
    {
      Study study(path.string(), "default", &space);
      study.database().execute("CREATE TABLE filler(b BLOB)", {});
      for (int i = 0; i < 200 && error.empty(); ++i) {
        try {
          study.database().execute("INSERT INTO filler VALUES (randomblob(8192))", {});
        } catch (const Error& e) {
          error = e.what();
        }
      }
    }
    Study again(path.string(), "default", nullptr);
    trials = again.trials().size();
  }
  mnt.unmount();
  ASSERT_FALSE(error.empty()) << "the disk never filled";
  EXPECT_NE(error.find("the disk is full"), std::string::npos) << error;
  EXPECT_NE(error.find("free some space"), std::string::npos) << error;  // not SQLite's "database or disk is full"
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_EQ(trials, 0u);
}

}  // namespace
}  // namespace oneshot::tune

namespace oneshot::tune {
namespace {

// A study on a read-only file system (a mounted archive, a snapshot): SQLite
// cannot make the -shm file a WAL study's reader needs, and tune-report said
// "unable to open database file". Such a study is read as the file stands.
TEST(StudyReadOnlyFileSystem, AStudyThereIsReadAsTheFileStands) {
  test::TempDir dir;
  test::SmallDisk mnt(dir / "ro", "4m");
  if (!mnt.mounted()) GTEST_SKIP() << mnt.why();
  const fs::path path = mnt / "study 1%.db";  // characters a URI gives meaning to
  std::string error;
  std::size_t trials = 0;
  std::vector<std::string> names;
  {
    const SearchSpace space = SearchSpace::parse_toml("[train]\nlearning_rate = { loguniform = [1e-5, 1e-1] }\n", "space");
    {
      Study study(path.string(), "default", &space);
      TuneConfig config;
      config.seed = 11;
      const Claim c = study.claim(*make_sampler(config), config, "w1");
      ASSERT_TRUE(study.finish(c, "w1", TrialState::complete, 0.5, ""));
    }
    ASSERT_EQ(::mount(nullptr, mnt.path().c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
        << "remount read-only: " << std::strerror(errno);
    try {
      Study study = Study::open_read_only(path.string(), "default");
      trials = study.trials().size();
    } catch (const Error& e) {
      error = e.what();
    }
    for (const auto& e : fs::directory_iterator(mnt.path())) names.push_back(e.path().filename().string());
  }
  mnt.unmount();
  EXPECT_EQ(error, "");
  EXPECT_EQ(trials, 1u);
  EXPECT_EQ(names, std::vector<std::string>{"study 1%.db"});
}

}  // namespace
}  // namespace oneshot::tune
