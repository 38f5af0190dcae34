// A damaged study database (another program's write, a bad sector): every
// value read from it is checked, and a bad one is an Error naming the study
// file, the study, the trial and the column, never the JSON library's bare
// "[json.exception.parse_error.101] ..." (found by fuzz/fuzz_study).
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "tune/sampler.h"
#include "tune/study.h"

namespace oneshot::tune {
namespace {

SearchSpace small_space() {
  return SearchSpace::parse_toml("[model]\nn_filters = { choice = [16, 32, 64] }\n", "test-space");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("escaped bare: ") + e.what();
  }
  return "no error";
}

class DamagedStudy : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "study.db").string();
    const SearchSpace space = small_space();
    Study study(path_, "s", &space);
    RandomSampler sampler;
    TuneConfig config;
    config.sampler = "random";
    const Claim c = study.claim(sampler, config, "w");
    ASSERT_TRUE(study.finish(c, "w", TrialState::complete, 0.5, ""));
  }
  void damage(const std::string& sql) {
    auto db = open_sqlite(path_);
    db->execute("PRAGMA ignore_check_constraints = ON", {});  // what another program's write need not respect
    db->execute(sql, {});
  }

  test::TempDir dir_;
  std::string path_;
};

TEST_F(DamagedStudy, ParamsThatAreNotJsonNameTheFileTrialAndColumn) {
  damage("UPDATE tune_trials SET params = '{\"model.n_filters\": 3'");
  Study study(path_, "s", nullptr);
  for (const std::string& e : {error_of([&] { study.trials(); }), error_of([&] { study.best(); }),
                               error_of([&] {
                                 RandomSampler sampler;
                                 study.claim(sampler, TuneConfig{}, "w2");
                               })}) {
    EXPECT_EQ(e.rfind(path_ + ": study \"s\": the params of trial 0 is not valid JSON", 0), 0u) << e;
    EXPECT_NE(e.find("damaged"), std::string::npos) << e;
  }
}

TEST_F(DamagedStudy, ParamsOfTheWrongShapeAreNamedToo) {
  damage("UPDATE tune_trials SET params = '[1, 2]'");
  Study study(path_, "s", nullptr);
  const std::string e = error_of([&] { study.trials(); });
  EXPECT_EQ(e.rfind(path_ + ": study \"s\": the params of trial 0 are malformed", 0), 0u) << e;
}

TEST_F(DamagedStudy, AnUnknownStateIsNamed) {
  damage("UPDATE tune_trials SET state = 'zombie'");
  Study study(path_, "s", nullptr);
  const std::string e = error_of([&] { study.trials(); });
  EXPECT_EQ(e.rfind(path_ + ": study \"s\": trial 0 has an unknown state \"zombie\"", 0), 0u) << e;
}

TEST_F(DamagedStudy, ANumberColumnHoldingTextNamesTheTrialAndColumn) {
  for (const std::string column : {"value", "heartbeat"}) {
    damage("UPDATE tune_trials SET " + column + " = 'abc'");
    Study study(path_, "s", nullptr);
    const std::string e = error_of([&] { study.trials(); });
    EXPECT_EQ(e.rfind(path_ + ": study \"s\": trial 0, column " + column, 0), 0u) << e;
    EXPECT_NE(e.find("damaged"), std::string::npos) << e;
    damage("UPDATE tune_trials SET " + column + " = 0.5");
  }
}

TEST_F(DamagedStudy, ADamagedStoredSpaceNamesTheFile) {
  damage("UPDATE tune_studies SET space = '{\"params\": [' WHERE name = 's'");
  const std::string e = error_of([&] { Study(path_, "s", nullptr); });
  EXPECT_EQ(e.rfind(path_ + ": study \"s\": the stored search space is not valid JSON", 0), 0u) << e;
}

}  // namespace
}  // namespace oneshot::tune
