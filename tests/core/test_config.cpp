#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "core/atomic_file.h"
#include "support/test_support.h"

using namespace oneshot;

TEST(Config, DefaultsAreTheOriginalFeaturesAndTheMeasuredRecipe) {
  Config c;
  EXPECT_EQ(c.features.n_fft, 2048);
  EXPECT_EQ(c.features.hop_length, 512);
  EXPECT_EQ(c.features.n_mels, 128);
  EXPECT_EQ(c.model.n_filters, 64);  // the original encoder's, used with model.arch = "original"
  EXPECT_EQ(c.model.dist, "l2");
  EXPECT_EQ(c.model.arch, "compact");
  EXPECT_EQ(c.train.objective, "prototypical");
  EXPECT_EQ(c.train.patience, 10);
  EXPECT_NO_THROW(c.validate());
}

TEST(Config, OriginalHelpersPinTheOriginalBehaviour) {
  const ModelConfig m = original_model();
  EXPECT_EQ(m.arch, "original");
  EXPECT_EQ(m.head, "linear");
  EXPECT_EQ(m.input_norm, "none");
  EXPECT_EQ(m.clip_norm, "none");
  EXPECT_EQ(m.embedding_norm, "none");
  const TrainConfig t = original_train();
  EXPECT_EQ(t.objective, "pairs");
  EXPECT_EQ(t.lr_schedule, "keras");
  EXPECT_EQ(t.steps_per_epoch, 0);
  EXPECT_EQ(t.epochs, 20);
  EXPECT_EQ(t.val_queries, 15);
  EXPECT_FALSE(no_augmentation().any());
}

TEST(Config, CrossKeyRulesAreErrorsNamingTheKey) {
  Config c;
  c.train.pairs = "anchors";  // the prototypical objective needs in-batch episodes
  EXPECT_THROW(c.validate(), Error);
  c = Config();
  c.train.clips_per_class = 1;
  EXPECT_THROW(c.validate(), Error);
  c = Config();
  c.train.lr_schedule = "cosine";
  c.train.steps_per_epoch = 0;
  try {
    c.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.steps_per_epoch"), std::string::npos) << e.what();
  }
  // A pitch shift by every mel band would leave nothing of the clip.
  c = Config();
  c.augment.freq_shift = c.features.n_mels - 1;
  EXPECT_NO_THROW(c.validate());
  c.augment.freq_shift = c.features.n_mels;
  try {
    c.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("augment.freq_shift"), std::string::npos) << e.what();
  }
  c = Config();
  c.set("augment.time_stretch=1.5");
  EXPECT_THROW(c.validate(), Error);
  c = Config();
  c.set("augment.freq_shift=-1");
  EXPECT_THROW(c.validate(), Error);
  c = Config();
  c.set("augment.background_snr_min=30");  // above the default maximum of 20 dB
  EXPECT_THROW(c.validate(), Error);
  c.set("augment.background_snr_max=40");
  EXPECT_NO_THROW(c.validate());
}

TEST(Config, SetParsesTypedValuesAndBareWords) {
  Config c;
  c.set("features.pad_mode=constant");
  c.set("features.fmax=8000");  // an integer literal accepted for a double
  c.set("model.n_filters=16");
  c.set("split.test_classes=[\"dog\", \"rain\"]");
  c.set("split.val_classes=cat,cow");
  EXPECT_EQ(c.features.pad_mode, "constant");
  EXPECT_DOUBLE_EQ(c.features.fmax, 8000);
  EXPECT_EQ(c.model.n_filters, 16);
  EXPECT_EQ(c.split.test_classes, (std::vector<std::string>{"dog", "rain"}));
  EXPECT_EQ(c.split.val_classes, (std::vector<std::string>{"cat", "cow"}));
  EXPECT_TRUE(c.was_set("model.n_filters"));
  EXPECT_FALSE(c.was_set("model.n_dense"));
}

TEST(Config, UnknownKeysAndBadValuesNameTheKey) {
  Config c;
  try {
    c.set("model.n_filterz=3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key model.n_filterz"), std::string::npos) << e.what();
  }
  try {
    c.set("model.n_filters=many");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.n_filters"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.set("nosuch.key=1"), Error);
  EXPECT_THROW(c.set("novalue"), Error);
  c.set("features.pad_mode=wrap");
  try {
    c.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("features.pad_mode"), std::string::npos) << e.what();
  }
}

// A seed is offset by an ensemble member's or a rank's number: -1 or 2^62
// would overflow there, so every section's seed is refused outside [0, 2^31).
TEST(Config, SeedsOutsideTheirRangeAreRefusedNamingTheKey) {
  for (const char* key : {"split.seed", "train.seed", "eval.seed", "tune.seed"}) {
    for (const char* value : {"-1", "4611686018427387904"}) {
      Config c;
      c.set(std::string(key) + "=" + value);
      try {
        c.validate();
        FAIL() << key << "=" << value;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string(key) + " must be a whole number in [0, 2147483647]"),
                  std::string::npos) << e.what();
      }
    }
    Config ok;
    ok.set(std::string(key) + "=2147483647");
    EXPECT_NO_THROW(ok.validate()) << key;
  }
}

// Found by fuzz_config in CI: a float where an integer belongs (4.4e101)
// reached toml++'s unchecked float-to-integer conversion (undefined
// behaviour, caught by UBSan). Any float for an integer key is refused by
// type, whatever its size, naming the file and the key.
TEST(Config, AFloatForAnIntegerKeyIsRefusedByTypeWhateverItsSize) {
  test::TempDir dir;
  for (const std::string value : {"4.4e101", "-1e300", "3.0", "nan"}) {
    write_file_atomic(dir / "f.toml", "[features]\nn_mels = " + value + "\n");
    std::string e = test::error_of([&] { Config::load(dir / "f.toml", {}); });
    EXPECT_NE(e.find("f.toml"), std::string::npos) << value << ": " << e;
    EXPECT_NE(e.find("features.n_mels"), std::string::npos) << value << ": " << e;
    EXPECT_NE(e.find("expected an integer"), std::string::npos) << value << ": " << e;
  }
  Config c;
  EXPECT_NE(test::error_of([&] { c.set("train.seed=1e30"); }).find("expected an integer"), std::string::npos);
  // An integer a double cannot hold exactly is read as the nearest double
  // (toml++'s value<double>() gave no value for it, and that was dereferenced).
  c.set("train.learning_rate=9223372036854775807");
  EXPECT_DOUBLE_EQ(c.train.learning_rate, 9223372036854775807.0);
  // Counts kept as doubles (a count or a fraction) are bounded before the split casts them.
  for (const std::string key : {"split.n_test", "split.n_val", "tune.n_val"}) {
    Config d;
    d.set(key + "=1e300");
    const std::string e = test::error_of([&] { d.validate(); });
    EXPECT_NE(e.find(key), std::string::npos) << e;
    EXPECT_NE(e.find("at most 1000000"), std::string::npos) << e;
  }
}

TEST(Config, FileRoundTripsThroughToml) {
  test::TempDir dir;
  Config a;
  a.set("train.learning_rate=0.005");
  a.set("eval.protocol=episodes");
  write_file_atomic(dir / "c.toml", a.to_toml());
  Config b = Config::load(dir / "c.toml", {"model.dist=l1"});
  EXPECT_DOUBLE_EQ(b.train.learning_rate, 0.005);
  EXPECT_EQ(b.eval.protocol, "episodes");
  EXPECT_EQ(b.model.dist, "l1");
  EXPECT_EQ(b.to_toml(), [&] { a.set("model.dist=l1"); return a.to_toml(); }());
}

TEST(Config, FileErrorsNameTheFile) {
  test::TempDir dir;
  write_file_atomic(dir / "bad.toml", "[model]\nwidthh = 3\n");
  try {
    Config::load(dir / "bad.toml", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.widthh"), std::string::npos) << e.what();
  }
  write_file_atomic(dir / "syntax.toml", "[model\n");
  EXPECT_THROW(Config::load(dir / "syntax.toml", {}), Error);
  EXPECT_THROW(Config::load(dir / "missing.toml", {}), Error);
}

TEST(Config, ShippedPresetsLoad) {
  for (const char* name : {"original.toml", "metaaudio.toml", "ensemble.toml"}) {
    std::filesystem::path p = std::filesystem::path(ONESHOT_FIXTURES) / ".." / ".." / "configs" / name;
    EXPECT_NO_THROW(Config::load(p, {})) << name;
  }
  const Config ensemble =
      Config::load(std::filesystem::path(ONESHOT_FIXTURES) / ".." / ".." / "configs" / "ensemble.toml", {});
  EXPECT_EQ(ensemble.model.ensemble, 2);
  Config with_default = Config();
  with_default.model.ensemble = 2;
  EXPECT_EQ(ensemble.to_toml(), with_default.to_toml()) << "the preset is the default recipe with two encoders";
}

// Found by the new-user attack (issue 22): TOML's inf and nan passed every
// "> 0" check (train.learning_rate = inf, features.log_floor = inf: a
// constant log-mel); features.fmin above the Nyquist frequency left every
// mel filter empty; a duration of 1e-300 s meant "each file's length"; and a
// range error did not name the file it came from.
TEST(Config, NonFiniteValuesEmptyFiltersAndTinyDurationsAreRefusedNamingTheFile) {
  for (const std::string assignment :
       {"train.learning_rate=inf", "features.log_floor=inf", "train.weight_decay=nan", "tune.prior_weight=-inf"}) {
    Config c;
    try {
      c.set(assignment);
      ADD_FAILURE() << assignment << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("expected a finite number"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(assignment.substr(0, assignment.find('='))), std::string::npos) << e.what();
    }
  }
  test::TempDir dir;
  write_file_atomic(dir / "c.toml", "[features]\nsample_rate = 44100\nfmin = 30000.0\n");
  std::string e = test::error_of([&] { Config::load(dir / "c.toml", {}); });
  EXPECT_NE(e.find((dir / "c.toml").string() + ": config: features.fmin must be below half"), std::string::npos) << e;
  write_file_atomic(dir / "d.toml", "[features]\nduration = 1e-300\n");
  e = test::error_of([&] { Config::load(dir / "d.toml", {}); });
  EXPECT_NE(e.find("features.duration must be 0 (each file's length) or in [0.001, 600]"), std::string::npos) << e;
  EXPECT_NO_THROW(Config::load(dir / "d.toml", {"features.duration=0"}));
}
