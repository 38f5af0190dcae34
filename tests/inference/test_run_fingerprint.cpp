// A run's fingerprint stands for the embeddings it gives: the checkpoint's
// bytes and every feature setting, the strings (mel scale, padding, log)
// included, and RunModel::fingerprints_of gives it without loading the model
// (export uses it to tell which checkpoint a library was embedded with).
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "core/atomic_file.h"
#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "tiny_run.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

TEST(RunFingerprint, FollowsTheWeightsAndEveryFeatureSetting) {
  test::TempDir dir;
  const std::string base = test::tiny_run(dir)->fingerprint();
  EXPECT_EQ(RunModel::fingerprints_of(dir / "run" / "best.pt", test::tiny_config().features).current, base);
  EXPECT_EQ(RunModel::load(dir / "run", 1)->fingerprint(), base);  // the same on every load

  // The same weights under other front-end settings embed differently.
  const auto with = [&](const std::function<void(FeaturesConfig&)>& change) {
    Config config = test::tiny_config();
    config.model.descriptor = "none";  // as tiny_run wrote it
    change(config.features);
    write_file_atomic(dir / "run" / "config.toml", config.to_toml());
    return RunModel::load(dir / "run", 1)->fingerprint();
  };
  EXPECT_NE(with([](FeaturesConfig& f) { f.mel_scale = "htk"; }), base);
  EXPECT_NE(with([](FeaturesConfig& f) { f.pad_mode = "constant"; }), base);
  EXPECT_NE(with([](FeaturesConfig& f) { f.log = "nonzero"; }), base);
  EXPECT_NE(with([](FeaturesConfig& f) { f.fmin = 20; }), base);
  EXPECT_EQ(with([](FeaturesConfig&) {}), base);

  // Other weights, the same settings.
  fs::copy_file(dir / "run" / "best.pt", dir / "run" / "last.pt");
  EXPECT_EQ(RunModel::load(dir / "run", 1, "last")->fingerprint(), base);
  {
    std::ofstream append(dir / "run" / "last.pt", std::ios::app | std::ios::binary);
    append << '\0';
  }
  EXPECT_NE(RunModel::fingerprints_of(dir / "run" / "last.pt", test::tiny_config().features).current, base);
  EXPECT_THROW(RunModel::fingerprints_of(dir / "run" / "absent.pt", test::tiny_config().features), Error);
}

// Libraries and archives written before the string settings were counted
// carry the run's former fingerprint (the same weights and numbers, the
// strings empty): they hold this run's embeddings and stay usable; another
// model's stay refused (archives: tests/archive/test_archive_store.cpp).
TEST(RunFingerprint, TheFormerFingerprintOfTheSameRunIsAccepted) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  FeaturesConfig blank = test::tiny_config().features;
  blank.pad_mode.clear();
  blank.mel_scale.clear();
  blank.log.clear();
  blank.storage.clear();
  EXPECT_EQ(run->former_fingerprint(), RunModel::fingerprints_of(dir / "run" / "best.pt", blank).current);
  EXPECT_EQ(run->former_fingerprint(),
            RunModel::fingerprints_of(dir / "run" / "best.pt", test::tiny_config().features).former);
  EXPECT_NE(run->former_fingerprint(), run->fingerprint());
  EXPECT_TRUE(run->made(run->fingerprint()));
  EXPECT_TRUE(run->made(run->former_fingerprint()));
  EXPECT_FALSE(run->made("0123456789abcdef0123456789abcdef"));

  LibraryModel old = run->library_model();
  old.fingerprint = run->former_fingerprint();
  old.former_fingerprint.clear();
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "old.db", old);
    LibraryExample e;
    e.source = "/bell.wav";
    e.embedding.assign(static_cast<std::size_t>(run->embedding_dim()), 0.25f);
    lib.add_examples("bell", false, {e});
  }
  EXPECT_NO_THROW(ClassLibrary::open_or_create(dir / "old.db", run->library_model()));  // enroll into it
  const ClassLibrary lib = ClassLibrary::open_read_only(dir / "old.db");
  EXPECT_NO_THROW(LibraryScorer(lib, *run, ScoringOptions{}));  // classify, detect
  LibraryModel other = old;
  other.fingerprint = "0123456789abcdef0123456789abcdef";
  ClassLibrary::open_or_create(dir / "other.db", other);
  EXPECT_THROW(ClassLibrary::open_or_create(dir / "other.db", run->library_model()), Error);
}

}  // namespace
}  // namespace oneshot
