#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "tune/objectives.h"
#include "tune/report.h"
#include "tune/study.h"

namespace oneshot::tune {
namespace {

TEST(Objectives, BraninIsBuiltInWithItsOwnSpaceAndEpochs) {
  register_builtin_objectives();
  const ObjectiveInfo* info = find_objective("branin");
  ASSERT_NE(info, nullptr);
  EXPECT_FALSE(info->needs_data);
  EXPECT_EQ(find_objective("no-such-objective"), nullptr);
  const auto space = SearchSpace::parse_toml(info->default_space_toml, "branin");
  test::TempDir dir;
  Study study((dir / "s.db").string(), "b", &space);
  Config config;
  config.tune.n_startup_jobs = 2;
  const Objective objective = info->make(ObjectiveContext{config, {}});
  WorkerOptions options;
  options.log = [](const std::string&) {};
  options.best_config = dir / "best.toml";
  run_worker(study, config.tune, objective, 4, options);
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    ASSERT_EQ(t.epoch_values.size(), 4u);
    EXPECT_EQ(t.epoch_values[3], *t.value);  // the last epoch reaches Branin's value
    EXPECT_EQ(t.epoch_values[0], *t.value + 3);
  }
  // best.toml holds the overrides only: Branin's keys are not run-config keys.
  const std::string best = read_file(dir / "best.toml");
  EXPECT_NE(best.find("[branin]"), std::string::npos);
  EXPECT_NE(best.find("x1 = "), std::string::npos);
}

TEST(Report, ListsBestParametersAndEveryTrial) {
  test::TempDir dir;
  const auto space = SearchSpace::parse_toml("[model]\nn_filters = { choice = [16, 32] }\n", "s");
  Study study((dir / "s.db").string(), "r", &space);
  TuneConfig config;
  const auto sampler = make_sampler(config);
  const Claim a = study.claim(*sampler, config, "w");
  study.report(a, "w", 1, 0.4);
  study.finish(a, "w", TrialState::complete, 0.4, "");
  const Claim b = study.claim(*sampler, config, "w");
  study.finish(b, "w", TrialState::failed, std::nullopt, "too deep for the input");
  study.claim(*sampler, config, "w");  // still running
  const std::string text = format_report(study);
  EXPECT_NE(text.find("3 trials, 1 complete, 0 pruned, 1 failed, 1 running"), std::string::npos) << text;
  EXPECT_NE(text.find("Best: trial 0, value 0.4"), std::string::npos) << text;
  EXPECT_NE(text.find("model.n_filters=" + a.params.at("model.n_filters").dump()), std::string::npos) << text;
  EXPECT_NE(text.find("too deep for the input"), std::string::npos) << text;
  EXPECT_NE(text.find("running"), std::string::npos);
}

}  // namespace
}  // namespace oneshot::tune
