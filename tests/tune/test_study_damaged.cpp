// A damaged study database (another program's write, a bad sector): every
// value read from it is checked, and a bad one is an Error naming the study
// file, the study, the trial and the column, never the JSON library's bare
// "[json.exception.parse_error.101] ..." (found by fuzz/fuzz_study). Found by
// a new user's attack: a stored value of -inf won best-trial selection;
// params of the wrong type, a stored space with low > high and a trial
// number of 2^63 - 1 were accepted.
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


TEST_F(DamagedStudy, NonFiniteStoredValuesAreDamageAndNeverWinBestTrial) {
  // Workers store finite values only (a non-finite objective fails its trial with no value).
  {
    const SearchSpace space = small_space();
    Study study(path_, "s", &space);
    RandomSampler sampler;
    TuneConfig config;
    config.sampler = "random";
    const Claim c = study.claim(sampler, config, "w");
    ASSERT_TRUE(study.report(c, "w", 1, 0.9));
    ASSERT_TRUE(study.finish(c, "w", TrialState::complete, 0.7, ""));
  }
  for (const std::string value : {"-1e999", "1e999"}) {  // SQLite reads these as -inf and +inf
    damage("UPDATE tune_trials SET value = " + value + " WHERE number = 1");
    Study study(path_, "s", nullptr);
    for (const std::string& e : {error_of([&] { study.trials(); }), error_of([&] { study.best(); }), error_of([&] {
                                   RandomSampler sampler;
                                   study.claim(sampler, TuneConfig{}, "w2");
                                 })}) {
      if (value == "1e999" && e == "no error") continue;  // +inf never sorts first: best() need not read it
      EXPECT_EQ(e.rfind(path_ + ": study \"s\": trial 1, column value: ", 0), 0u) << value << ": " << e;
      EXPECT_NE(e.find("is not a finite number (tune stores none): the study database is damaged"), std::string::npos)
          << e;
    }
    EXPECT_EQ(error_of([&] { Study::open_read_only(path_, "s").trials(); }).rfind(path_ + ": study \"s\": trial 1", 0), 0u);
  }
  damage("UPDATE tune_trials SET value = 0.7 WHERE number = 1");
  damage("UPDATE tune_trial_values SET value = -1e999");
  Study study(path_, "s", nullptr);
  for (const std::string& e : {error_of([&] { study.trials(); }), error_of([&] { study.values_at_epoch(1, 5); })})
    EXPECT_EQ(e.rfind(path_ + ": study \"s\": trial 1, column value of epoch 1 (tune_trial_values): -inf is not a "
                              "finite number",
                      0),
              0u)
        << e;
  damage("UPDATE tune_trial_values SET value = 0.9, epoch = 1000000000000");  // used to size the epoch list
  EXPECT_EQ(error_of([&] { study.trials(); }),
            path_ + ": study \"s\": trial 1, tune_trial_values column epoch: \"1000000000000\" is not an epoch in "
                    "[1, 1000000]: the study database is damaged");
}

TEST_F(DamagedStudy, ATrialNumberBeyondAnIntIsDamageNotAnOverflow) {
  damage("UPDATE tune_trials SET number = 9223372036854775807");
  Study study(path_, "s", nullptr);
  for (const std::string& e : {error_of([&] { study.trials(); }), error_of([&] { study.best(); }), error_of([&] {
                                 RandomSampler sampler;
                                 study.claim(sampler, TuneConfig{}, "w2");
                               })})
    EXPECT_EQ(e, path_ + ": study \"s\": a trial number \"9223372036854775807\" (column number) is not a whole "
                         "number in [0, 2147483646]: the study database is damaged");
  damage("UPDATE tune_trials SET number = -4");
  EXPECT_NE(error_of([&] { study.trials(); }).find("a trial number \"-4\""), std::string::npos);
}

TEST(DamagedStudyParams, ParamsOfTheWrongTypeOrNotOfTheSpaceAreNamed) {
  test::TempDir dir;
  const std::string path = (dir / "study.db").string();
  const SearchSpace space = SearchSpace::parse_toml(
      "[train]\nlearning_rate = { loguniform = [1e-4, 1e-2] }\n[model]\nn_filters = { int = [8, 64] }\n"
      "arch = { choice = [\"compact\", \"original\"] }\n",
      "test-space");
  {
    Study study(path, "s", &space);
    RandomSampler sampler;
    TuneConfig config;
    config.sampler = "random";
    const Claim c = study.claim(sampler, config, "w");
    ASSERT_TRUE(study.finish(c, "w", TrialState::complete, 0.5, ""));
  }
  const std::string head = path + ": study \"s\": the params of trial 0";
  const std::string tail = " (column params): the study database is damaged";
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"train.learning_rate": "0.001", "model.n_filters": 16, "model.arch": "compact"})",
       ": train.learning_rate = \"0.001\" is not a finite number (loguniform)"},
      {R"({"train.learning_rate": 0.001, "model.n_filters": 16.5, "model.arch": "compact"})",
       ": model.n_filters = 16.5 is not a whole number (int)"},
      {R"({"train.learning_rate": 0.001, "model.n_filters": 16, "model.arch": "resnet"})",
       ": model.arch = \"resnet\" is not one of its choices (choice)"},
      {R"({"train.learning_rate": 0.001, "model.arch": "compact"})", " lack model.n_filters"},
  };
  for (const auto& [params, why] : cases) {
    auto db = open_sqlite(path);
    db->execute("UPDATE tune_trials SET params = $1", {params});
    db.reset();
    Study study(path, "s", nullptr);
    for (const std::string& e : {error_of([&] { study.trials(); }), error_of([&] { study.best(); })})
      EXPECT_EQ(e, head + why + tail) << params;
  }
  auto db = open_sqlite(path);
  db->execute("UPDATE tune_trials SET params = $1",
              {std::string(R"({"train.learning_rate": 0.001, "model.n_filters": 16, "model.arch": "compact", "x.y": 1})")});
  db.reset();
  EXPECT_EQ(error_of([&] { Study(path, "s", nullptr).trials(); }),
            head + " hold x.y, not a parameter of the study's search space" + tail);
}

TEST_F(DamagedStudy, AStoredSpaceThatNoSpaceFileCouldDeclareIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"([{"name": "train.dropout", "type": "uniform", "low": 0.5, "high": 0.1}])",
       "parameter train.dropout: low 0.5 must be below high 0.1"},
      {R"([{"name": "train.learning_rate", "type": "loguniform", "low": -1, "high": 0.1}])",
       "parameter train.learning_rate: loguniform bounds must be > 0"},
      {R"([{"name": "train.batch", "type": "quniform", "low": 8, "high": 64, "q": 0}])",
       "parameter train.batch: quniform step q 0.0 must be > 0"},
      {R"([{"name": "model.n_filters", "type": "choice", "choices": []}])",
       "parameter model.n_filters: choice needs at least one value"},
      {R"([{"name": "model.n_conv_layers", "type": "int", "low": 1.5, "high": 4}])",
       "parameter model.n_conv_layers: int bounds must be whole numbers"},
      {R"([{"name": "model.n_conv_layers", "type": "int", "low": 1, "high": 1e300}])",
       "parameter model.n_conv_layers: int bounds must be whole numbers within ±2^53"},
  };
  for (const auto& [space, why] : cases) {
    auto db = open_sqlite(path_);
    db->execute("UPDATE tune_studies SET space = $1", {space});
    db.reset();
    const std::string e = error_of([&] { Study(path_, "s", nullptr); });
    EXPECT_EQ(e.rfind(path_ + ": study \"s\": stored search space: " + why, 0), 0u) << e;
    EXPECT_EQ(error_of([&] { Study::open_read_only(path_, "s"); }), e);
  }
}

}  // namespace
}  // namespace oneshot::tune
