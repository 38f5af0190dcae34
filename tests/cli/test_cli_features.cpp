// `oneshot-audio features`: builds the cache, reuses it, reports bad files.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>

#include "data/synthetic.h"
#include "support/audio_tools.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

// Small features so the program runs in a fraction of a second.
const std::string kSmall =
    " --set features.sample_rate=16000 --set features.duration=0.5 --set features.n_fft=512"
    " --set features.hop_length=128 --set features.n_mels=40";

void make_dataset(const fs::path& root) {
  SyntheticOptions o;
  o.n_classes = 4;
  o.clips_per_class = 3;
  o.sample_rate = 16000;
  o.duration = 0.5;
  write_synthetic_dataset(root, o);
}

std::string features_command(const fs::path& data, const std::string& extra = "") {
  return test::cli_path().string() + " features --data '" + data.string() + "'" + kSmall + extra;
}

// The value of "key: value" in the summary, or "" when absent.
std::string field(const std::string& output, const std::string& key) {
  std::smatch m;
  if (std::regex_search(output, m, std::regex("(^|\n)" + key + ": ([^\n]*)"))) return m[2];
  return {};
}

TEST(CliFeatures, BuildsThenReusesTheCache) {
  TempDir dir;
  make_dataset(dir.path());
  std::string out;
  ASSERT_EQ(test::run_command(features_command(dir.path()), &out), 0) << out;
  EXPECT_EQ(field(out, "clips"), "12") << out;
  EXPECT_EQ(field(out, "classes"), "4") << out;
  EXPECT_EQ(field(out, "feature shape").rfind("40 x 63", 0), 0u) << out;
  EXPECT_EQ(field(out, "rebuilt"), "yes (absent)") << out;
  EXPECT_EQ(field(out, "skipped"), "0") << out;
  const std::string cache = field(out, "cache");
  EXPECT_EQ(fs::path(cache).parent_path(), dir / ".oneshot-cache");
  EXPECT_TRUE(fs::exists(cache));
  EXPECT_FALSE(field(out, "seconds").empty());
  EXPECT_FALSE(field(out, "clips/s").empty());

  ASSERT_EQ(test::run_command(features_command(dir.path(), " --jobs 1"), &out), 0) << out;
  EXPECT_EQ(field(out, "rebuilt").rfind("no", 0), 0u) << out;
  EXPECT_EQ(field(out, "cache"), cache);
  EXPECT_EQ(field(out, "clips"), "12") << out;
}

TEST(CliFeatures, OptionsReachTheLibrary) {
  TempDir dir, cache;
  make_dataset(dir.path());
  std::ofstream(dir / "features.toml") << "[features]\nn_mels = 32\nstorage = \"float16\"\n";
  std::string out;
  // The file sets storage and n_mels; --set (applied after it) wins for n_mels.
  ASSERT_EQ(test::run_command(features_command(dir.path(), " --esc10 --layout esc50 --cache '" + cache.path().string() +
                                                               "' --config '" + (dir / "features.toml").string() + "'"),
                              &out),
            0)
      << out;
  EXPECT_EQ(field(out, "classes"), "2") << out;  // even targets only
  EXPECT_EQ(field(out, "clips"), "6") << out;
  EXPECT_EQ(field(out, "feature shape").rfind("40 x 63", 0), 0u) << out;
  EXPECT_NE(field(out, "feature shape").find("float16"), std::string::npos) << out;
  EXPECT_EQ(fs::path(field(out, "cache")).parent_path(), cache.path());
  EXPECT_FALSE(fs::exists(dir / ".oneshot-cache"));
}

TEST(CliFeatures, CorruptWavFailsNamingTheFileUnlessSkipped) {
  TempDir dir;
  make_dataset(dir.path());
  const fs::path bad = dir / "audio" / "2-101001-A-1.wav";
  ASSERT_TRUE(fs::exists(bad));
  std::ofstream(bad, std::ios::binary | std::ios::trunc) << "RIFF\x10\0\0\0WAVEfmt garbage";
  std::string err;
  // Only stderr is captured: the error must be there, not on stdout.
  const int rc = test::run_command("{ " + features_command(dir.path()) + " >/dev/null; }", &err);
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find(bad.string()), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / ".oneshot-cache")) << "nothing written";

  std::string out;
  ASSERT_EQ(test::run_command(features_command(dir.path(), " --skip-bad"), &out), 0) << out;
  EXPECT_EQ(field(out, "clips"), "11") << out;
  EXPECT_EQ(field(out, "skipped"), "1") << out;
  EXPECT_NE(out.find("warning: skipped " + bad.string()), std::string::npos) << out;
}

// Issue 10's acceptance check: a folder-per-class dataset of the formats
// people have builds with every file used.
TEST(CliFeatures, MixedFormatsFolderUsesEveryFile) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> formats = {
      {"wav", "-c:a pcm_s16le"},       {"flac", "-c:a flac"},          {"mp3", "-c:a libmp3lame -b:a 128k"},
      {"ogg", "-c:a libvorbis"},       {"opus", "-c:a libopus"},       {"m4a", "-c:a aac -b:a 96k"}};
  int k = 0;
  for (const char* cls : {"bird", "dog", "rain"}) {
    fs::create_directories(dir / cls);
    for (const auto& [ext, codec] : formats) {
      const double hz = 300 + 150 * k++;
      ASSERT_EQ(test::ffmpeg(test::sine_source(hz, 0.7, 44100) + " " + codec + " " +
                             (dir / cls / ("clip" + std::to_string(k) + "." + ext)).string()),
                0);
    }
  }
  std::ofstream(dir / "dog" / "README.txt") << "recorded in the garden";
  std::string out;
  ASSERT_EQ(test::run_command(features_command(dir.path()), &out), 0) << out;
  EXPECT_EQ(field(out, "clips"), "18") << out;
  EXPECT_EQ(field(out, "classes"), "3") << out;
  EXPECT_EQ(field(out, "skipped"), "0") << out;
  EXPECT_EQ(field(out, "not audio"), "1") << out;
  EXPECT_NE(out.find("1 not an audio file name"), std::string::npos) << "reported, with why: " << out;
}

// Issue 10, item 3: a class of MP3 files was dropped without a word.
TEST(CliFeatures, AClassOfMp3FilesIsUsed) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  TempDir dir;
  for (const char* cls : {"a", "b"})
    for (int i = 0; i < 2; ++i) {
      fs::create_directories(dir / cls);
      const std::string ext = std::string(cls) == "a" ? ".wav" : ".mp3";
      ASSERT_EQ(test::ffmpeg(test::sine_source(400 + 200 * i, 0.6, 16000) + " " + (dir / cls / (std::to_string(i) + ext)).string()), 0);
    }
  std::string out;
  ASSERT_EQ(test::run_command(features_command(dir.path()), &out), 0) << out;
  EXPECT_EQ(field(out, "classes"), "2") << out;
  EXPECT_EQ(field(out, "clips"), "4") << out;
}

// Issue 10, item 6: a missing row and three bad files, all in one run.
TEST(CliFeatures, EveryProblemInOneRun) {
  TempDir dir;
  make_dataset(dir.path());
  std::vector<fs::path> clips;
  for (const auto& e : fs::directory_iterator(dir / "audio")) clips.push_back(e.path());
  std::sort(clips.begin(), clips.end());
  fs::remove(clips[0]);
  std::ofstream(clips[3], std::ios::binary | std::ios::trunc) << "text";
  std::ofstream(clips[5], std::ios::binary | std::ios::trunc);
  fs::resize_file(clips[7], 100);
  std::string err;
  EXPECT_NE(test::run_command("{ " + features_command(dir.path()) + " >/dev/null; }", &err), 0);
  for (std::size_t i : {0, 3, 5, 7}) EXPECT_NE(err.find(clips[i].string()), std::string::npos) << i << ": " << err;
}

TEST(CliFeatures, UsageErrorsExitNonZero) {
  TempDir dir;
  std::string out;
  EXPECT_NE(test::run_command(test::cli_path().string() + " features", &out), 0) << "--data is required";
  EXPECT_NE(test::run_command(features_command(dir / "missing"), &out), 0);
  EXPECT_NE(out.find("dataset directory not found"), std::string::npos) << out;
  make_dataset(dir.path());
  EXPECT_NE(test::run_command(features_command(dir.path(), " --set features.nope=1"), &out), 0);
  EXPECT_NE(out.find("features.nope"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(test::cli_path().string() + " features --help", &out), 0);
  EXPECT_NE(out.find("--skip-bad"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
