// Edge cases of datasets found by trying them as a new user would.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "data/synthetic.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

void write_clip(const fs::path& path) {
  fs::create_directories(path.parent_path());
  write_wav16(path, std::vector<float>(4000, 0.25f), 8000);
}

// An ESC-50 dataset with one problem of every kind: a malformed CSV line, a
// name leaving the root, a missing row and a file that is not audio. They
// took three runs to see (the CSV's lines, then the names, then the files).
struct EveryProblem {
  TempDir dir;
  EveryProblem() {
    write_clip(dir / "audio" / "a.wav");
    write_clip(dir / "audio" / "b.wav");
    write_text(dir / "audio" / "junk.wav", "not audio");
    write_text(dir / "meta" / "esc50.csv",
               "filename,fold,target,category,esc10,src_file,take\n"
               "a.wav,1,0,dog,True,1,A\n"
               "b.wav,1,1,cat,True,1,A\n"
               "junk.wav,1,1,cat,True,1,A\n"
               "gone.wav,1,0,dog,True,1,A\n"
               "short,1\n"
               "../escape.wav,1,0,dog,True,1,A\n");
  }
  static void expect_all(const std::string& message, bool with_decoding) {
    EXPECT_NE(message.find("esc50.csv:6: expected 7 fields"), std::string::npos) << message;
    EXPECT_NE(message.find("esc50.csv:7: path \"../escape.wav\" escapes"), std::string::npos) << message;
    EXPECT_NE(message.find("gone.wav: file not found"), std::string::npos) << message;
    if (with_decoding) EXPECT_NE(message.find("junk.wav: not an audio file"), std::string::npos) << message;
  }
};

TEST(DatasetEdges, LoadingListsMalformedLinesEscapesAndMissingFilesAtOnce) {
  EveryProblem d;
  try {
    load_dataset(d.dir.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EveryProblem::expect_all(e.what(), false);
  }
  DatasetOptions skip;
  skip.skip_bad = true;  // malformed lines and escapes are never skipped
  try {
    load_dataset(d.dir.path(), skip);
    ADD_FAILURE() << "no error with skip_bad";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("esc50.csv:6: expected 7 fields"), std::string::npos) << message;
    EXPECT_NE(message.find("esc50.csv:7: path \"../escape.wav\" escapes"), std::string::npos) << message;
  }
}

TEST(DatasetEdges, TheFeatureStepListsEveryProblemOfTheDatasetInOneRun) {
  EveryProblem d;
  DatasetOptions options;
  options.collect_problems = true;  // as features, train and tune load it
  const Dataset dataset = load_dataset(d.dir.path(), options);
  FeaturesConfig features;
  features.sample_rate = 8000;
  features.duration = 0.5;
  features.n_fft = 256;
  features.hop_length = 128;
  features.n_mels = 20;
  CacheOptions cache;
  cache.cache_dir = d.dir / "cache";
  cache.jobs = 1;
  cache.progress = false;
  try {
    FeatureCache::load_or_build(dataset, features, cache);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EveryProblem::expect_all(e.what(), true);
  }
  EXPECT_FALSE(fs::exists(d.dir / "cache")) << "nothing is written";
}

// Links that point at each other were reported as "broken link", which sent
// people looking for a missing target.
TEST(DatasetEdges, ASymbolicLinkLoopIsNamedAsOne) {
  TempDir dir;
  write_clip(dir / "dog" / "a.wav");
  fs::create_symlink("loop2.wav", dir / "dog" / "loop1.wav");
  fs::create_symlink("loop1.wav", dir / "dog" / "loop2.wav");
  fs::create_symlink("nowhere.wav", dir / "dog" / "dangling.wav");
  try {
    load_dataset(dir.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("loop1.wav: symbolic link loop"), std::string::npos) << message;
    EXPECT_NE(message.find("loop2.wav: symbolic link loop"), std::string::npos) << message;
    EXPECT_NE(message.find("dangling.wav: broken link"), std::string::npos) << message;
  }
  TempDir esc;
  write_clip(esc / "audio" / "a.wav");
  fs::create_symlink("b.wav", esc / "audio" / "b.wav");  // a link to itself
  write_text(esc / "meta" / "esc50.csv",
             "filename,fold,target,category,esc10,src_file,take\na.wav,1,0,dog,True,1,A\nb.wav,1,0,dog,True,1,A\n");
  try {
    load_dataset(esc.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("b.wav: symbolic link loop (listed on line 3"), std::string::npos) << message;
  }
}

// meta/esc50.csv saved as Latin-1: its class names would not be the ones
// other files spell in UTF-8 (and a results file could not hold them). Named
// as event lists and tables are (core/utf8.h), before any clip is read.
TEST(DatasetEdges, ALatin1MetadataFileIsNamedWithItsLineAndByte) {
  TempDir dir;
  write_clip(dir / "audio" / "a.wav");
  write_clip(dir / "audio" / "b.wav");
  const std::string csv = "filename,fold,target,category,esc10,src_file,take\n"
                          "a.wav,1,0,dog,True,1,A\n"
                          "b.wav,1,1,caf\xE9,True,1,A\n";
  write_text(dir / "meta" / "esc50.csv", csv);
  const std::string message = test::error_of([&] { load_dataset(dir.path()); });
  EXPECT_NE(message.find("esc50.csv line 3: not UTF-8 text: byte 0xE9 at byte offset " +
                         std::to_string(csv.find('\xE9'))),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("iconv -f latin1 -t utf-8"), std::string::npos) << message;
  // In UTF-8 the same metadata loads, the class named as written.
  write_text(dir / "meta" / "esc50.csv", "filename,fold,target,category,esc10,src_file,take\n"
                                         "a.wav,1,0,dog,True,1,A\n"
                                         "b.wav,1,1,caf\xC3\xA9,True,1,A\n");
  EXPECT_EQ(load_dataset(dir.path()).class_names, (std::vector<std::string>{"dog", "caf\xC3\xA9"}));
}

}  // namespace
}  // namespace oneshot
