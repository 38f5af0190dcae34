#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/config.h"
#include "core/error.h"
#include "support/test_support.h"
#include "tune/parzen.h"
#include "tune/space.h"

namespace oneshot::tune {
namespace {

std::filesystem::path configs_dir() { return std::filesystem::path(ONESHOT_FIXTURES) / ".." / ".." / "configs"; }

TEST(SearchSpace, ParsesEveryKind) {
  const auto space = SearchSpace::parse_toml(R"(
[model]
n_filters = { choice = [16, 32, 64] }
dist = { choice = ["l1", "l2"] }
n_conv_layers = { int = [1, 4] }
[train]
learning_rate = { loguniform = [5e-4, 1e-2] }
amount_of_pairs = { uniform = [0.5, 1.0] }
batch = { quniform = [8, 64, 8] }
)", "space.toml");
  ASSERT_EQ(space.params().size(), 6u);
  std::map<std::string, Param> by_name;
  for (const auto& p : space.params()) by_name[p.name] = p;
  EXPECT_EQ(by_name.at("model.n_filters").kind, ParamKind::choice);
  EXPECT_EQ(by_name.at("model.n_filters").choices.size(), 3u);
  EXPECT_EQ(by_name.at("model.dist").choices[1], "l2");
  EXPECT_EQ(by_name.at("model.n_conv_layers").kind, ParamKind::integer);
  EXPECT_EQ(by_name.at("train.learning_rate").kind, ParamKind::loguniform);
  EXPECT_EQ(by_name.at("train.learning_rate").low, 5e-4);
  EXPECT_EQ(by_name.at("train.batch").q, 8);
  // The JSON form (what a study stores) round-trips.
  EXPECT_EQ(SearchSpace::from_json(space.to_json()), space);
}

TEST(SearchSpace, BadDeclarationsNameFileLineAndParameter) {
  auto message = [](const std::string& text) {
    try {
      SearchSpace::parse_toml(text, "s.toml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("[a]\nx = { gauss = [0, 1] }\n").find("s.toml:2: a.x: unknown distribution \"gauss\""), std::string::npos);
  EXPECT_NE(message("[a]\nx = { uniform = [1, 0] }\n").find("low must be below high"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { loguniform = [0, 1] }\n").find("must be > 0"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { quniform = [0, 1] }\n").find("takes 3 numbers"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { choice = [] }\n").find("at least one"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { choice = [1, 1] }\n").find("listed twice"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { int = [1.5, 3] }\n").find("whole numbers"), std::string::npos);
  // Found by the float-to-integer audit: int bounds are cast when sampled
  // (1e300 was undefined behaviour) and infinite uniform bounds drew inf.
  EXPECT_NE(message("[a]\nx = { int = [0, 1e300] }\n").find("within ±2^53"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { int = [0, 9223372036854775807] }\n").find("within ±2^53"), std::string::npos);
  EXPECT_NE(message("[a]\nx = { uniform = [-inf, inf] }\n").find("bounds must be finite"), std::string::npos);
  EXPECT_NE(message("[a]\nx = 3\n").find("expected one of"), std::string::npos);
  EXPECT_NE(message("x = 3\n").find("must be a table"), std::string::npos);
  EXPECT_NE(message("[a\n").find("s.toml:1"), std::string::npos);
}

// Issue 10, item 7: quniform(1, 10, 4) drew 0 (round(U(1, 10) / 4) * 4),
// outside its range, and TPE then concentrated on it.
TEST(SearchSpace, QuniformStaysOnTheGridInsideItsRange) {
  const auto space = SearchSpace::parse_toml("[train]\nbatch_size = { quniform = [1, 10, 4] }\n", "s");
  const Param& p = space.params().at(0);
  Rng rng(3);
  std::map<double, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[p.sample_prior(rng).get<double>()];
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.begin()->first, 4.0);
  EXPECT_EQ(seen.rbegin()->first, 8.0);
  // TPE's own rounding: a mixture centred below the range still gives 4.
  const Mixture below{{1.0}, {0.5}, {3.0}};
  for (int i = 0; i < 500; ++i) {
    const double x = sample_gmm(below, 1, 10, 4, rng);
    ASSERT_TRUE(x == 4.0 || x == 8.0) << x;
  }
  // The end bins reach the bounds, so the two points' probabilities add to 1.
  const Mixture wide{{1.0}, {5.5}, {4.0}};
  EXPECT_NEAR(std::exp(gmm_log_pdf(4, wide, 1, 10, 4)) + std::exp(gmm_log_pdf(8, wide, 1, 10, 4)), 1.0, 1e-9);
}

TEST(SearchSpace, QuniformWithoutAGridPointInsideIsRefused) {
  try {
    SearchSpace::parse_toml("[train]\nbatch_size = { quniform = [5, 7, 4] }\n", "s.toml");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no multiple of q inside [low, high]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("train.batch_size"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(SearchSpace::parse_toml("[train]\nbatch_size = { quniform = [0.1, 0.3, 0.1] }\n", "s"));
}

// Issue 10, item 7: tune.n_val = 1 was accepted, then every trial failed
// naming split.n_val; the configuration is refused first, naming tune.n_val.
TEST(TuneConfig, ImpossibleValidationCountIsRefusedNamingItsKey) {
  Config config;
  try {
    config.set("tune.n_val=1");
    config.validate();
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tune.n_val"), std::string::npos) << e.what();
  }
}

TEST(SearchSpace, OriginalSpaceFileMatchesTheBuiltInOne) {
  const auto file = SearchSpace::load(configs_dir() / "original-space.toml");
  const auto builtin = SearchSpace::parse_toml(original_space_toml(), "built-in");
  EXPECT_EQ(file, builtin);
  EXPECT_EQ(file.params().size(), 10u);
  EXPECT_NO_THROW(file.check_against_config("original-space.toml"));
}

TEST(SearchSpace, DefaultSpaceFileMatchesTheBuiltInOneAndFitsTheConfig) {
  const auto file = SearchSpace::load(configs_dir() / "default-space.toml");
  EXPECT_EQ(file, SearchSpace::parse_toml(default_space_toml(), "built-in"));
  EXPECT_NO_THROW(file.check_against_config("default-space.toml"));
}

TEST(SearchSpace, CheckAgainstConfigRejectsUnknownKeysAndBadValues) {
  EXPECT_THROW(SearchSpace::parse_toml("[model]\nn_filterz = { choice = [1] }\n", "s").check_against_config("s"), Error);
  EXPECT_THROW(SearchSpace::parse_toml("[model]\ndist = { choice = [\"l3\"] }\n", "s").check_against_config("s"), Error);
  EXPECT_THROW(SearchSpace::parse_toml("[model]\nn_filters = { uniform = [1, 9] }\n", "s").check_against_config("s"), Error);
}

TEST(Overrides, AssignmentsAreAcceptedByConfigSet) {
  Overrides o;
  o.set("model.n_filters", 32);
  o.set("model.dist", "l1");
  o.set("model.dropout_conv", 0.0);
  o.set("train.learning_rate", 1e-7);
  o.set("train.neg_pair_ratio", 2.0);
  const auto a = o.assignments();
  EXPECT_EQ(a[0], "model.n_filters=32");
  EXPECT_EQ(a[1], "model.dist=\"l1\"");
  EXPECT_EQ(a[2], "model.dropout_conv=0.0");
  Config c;
  o.apply_to(c);
  EXPECT_EQ(c.model.n_filters, 32);
  EXPECT_EQ(c.model.dist, "l1");
  EXPECT_EQ(c.train.learning_rate, 1e-7);
  EXPECT_EQ(c.train.neg_pair_ratio, 2.0);
  // As TOML sections, the file `train --config` reads.
  Config from_file;
  from_file.merge_toml(o.to_toml(), "best.toml");
  EXPECT_EQ(from_file.model.n_filters, 32);
  EXPECT_EQ(from_file.train.learning_rate, 1e-7);
  // Through JSON (what a study stores) the keys come back sorted.
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(Overrides::from_json(o.to_json()).assignments(), sorted);
}

TEST(Overrides, TomlValuesRoundTripExactly) {
  for (double v : {0.1, 1.0 / 3, 5e-4, 1e-300, 123456789.0}) {
    Config c;
    c.set("train.learning_rate=" + toml_value(v));
    EXPECT_EQ(c.train.learning_rate, v);
  }
  EXPECT_EQ(toml_value("a\"b\\"), "\"a\\\"b\\\\\"");
  EXPECT_EQ(toml_value(nlohmann::json::array({1, "x"})), "[1, \"x\"]");
}

}  // namespace
}  // namespace oneshot::tune
