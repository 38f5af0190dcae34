// A model configuration key added after a checkpoint was written (model.depth)
// is absent from its stored configuration: the weights load when the run's
// value is the key's default (what every model had before the key existed),
// and are refused, naming the key, when it is not.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "model/siamese.h"
#include "support/test_support.h"
#include "train/checkpoint.h"

namespace oneshot {
namespace {

ModelConfig compact() {
  ModelConfig c;
  c.width = 4;
  c.embedding_dim = 8;
  return c;
}

TEST(CheckpointConfigKeys, AKeyAddedLaterIsTakenAtItsDefaultOnly) {
  test::TempDir dir;
  const auto path = dir / "best.pt";
  {
    torch::manual_seed(1);
    Siamese old(compact(), 32, 40);
    // As a checkpoint written before model.depth existed.
    const_cast<nlohmann::json&>(old->configuration()).erase("model.depth");
    save_best_weights(path, old, nlohmann::json{{"epoch", 1}});
  }
  torch::manual_seed(2);
  Siamese same(compact(), 32, 40);
  EXPECT_NO_THROW(load_best_weights(path, same));

  ModelConfig deeper = compact();
  deeper.depth = 5;
  Siamese other(deeper, 32, 40);
  const std::string error = test::error_of([&] { load_best_weights(path, other); });
  EXPECT_NE(error.find("model.depth = (absent) (the run's config.toml: 5)"), std::string::npos) << error;
}

// model.sound_span was added with a new default: a checkpoint without it
// embedded whole clips, so it loads into a "whole" model and is refused by
// a "tile" one.
TEST(CheckpointConfigKeys, AKeyWhoseDefaultChangedIsTakenAtItsValueBefore) {
  test::TempDir dir;
  const auto path = dir / "best.pt";
  ModelConfig whole = compact();
  whole.sound_span = "whole";
  {
    Siamese old(whole, 32, 40);
    const_cast<nlohmann::json&>(old->configuration()).erase("model.sound_span");
    save_best_weights(path, old, nlohmann::json{{"epoch", 1}});
  }
  Siamese same(whole, 32, 40);
  EXPECT_NO_THROW(load_best_weights(path, same));
  Siamese tiled(compact(), 32, 40);
  const std::string error = test::error_of([&] { load_best_weights(path, tiled); });
  EXPECT_NE(error.find("model.sound_span = (absent) (the run's config.toml: \"tile\")"), std::string::npos) << error;
}

}  // namespace
}  // namespace oneshot
