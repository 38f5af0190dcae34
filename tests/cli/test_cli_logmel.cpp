// `oneshot-audio logmel`: the built program against the librosa fixtures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/npy.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::string logmel_command(const fs::path& in, const fs::path& out, const std::string& extra = "") {
  return test::cli_path().string() + " logmel " + quoted(in) + " " + quoted(out) + extra;
}

// Relative 1e-4 on values above 1e-6 of the peak, as the audio tests.
void expect_matches_power(const NpyArray& ours, const NpyArray& librosa) {
  ASSERT_EQ(ours.shape, librosa.shape);
  const float peak = *std::max_element(librosa.data.begin(), librosa.data.end());
  for (std::size_t i = 0; i < ours.size(); ++i)
    if (librosa.data[i] > 1e-6 * peak) ASSERT_NEAR(ours.data[i], librosa.data[i], 1e-4 * librosa.data[i]) << i;
}

TEST(CliLogmel, PowerMatchesLibrosaAtTheFilesOwnRate) {
  TempDir dir;
  // 22.05 kHz: the default features.sample_rate (44100) must not apply to one clip.
  const fs::path wav = test::fixture("librosa/tones_22k.wav");
  std::string out;
  ASSERT_EQ(test::run_command(logmel_command(wav, dir / "p.npy", " --power"), &out), 0) << out;
  expect_matches_power(read_npy(dir / "p.npy"), read_npy(test::fixture("librosa/tones_22k.mel_reflect.npy")));

  ASSERT_EQ(test::run_command(logmel_command(wav, dir / "c.npy", " --power --set features.pad_mode=constant"), &out), 0)
      << out;
  expect_matches_power(read_npy(dir / "c.npy"), read_npy(test::fixture("librosa/tones_22k.mel_constant.npy")));
}

TEST(CliLogmel, StereoFixtureThroughTheCli) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(test::run_command(logmel_command(test::fixture("librosa/stereo_44k.wav"), dir / "s.npy", " --power"), &out), 0)
      << out;
  expect_matches_power(read_npy(dir / "s.npy"), read_npy(test::fixture("librosa/stereo_44k.mel_reflect.npy")));
}

TEST(CliLogmel, DefaultIsTheFlooredNaturalLog) {
  TempDir dir;
  std::string out;
  const fs::path wav = test::fixture("librosa/chirp_noise_silence_44k.wav");
  ASSERT_EQ(test::run_command(logmel_command(wav, dir / "l.npy"), &out), 0) << out;
  const NpyArray ours = read_npy(dir / "l.npy");
  const NpyArray power = read_npy(test::fixture("librosa/chirp_noise_silence_44k.mel_reflect.npy"));
  ASSERT_EQ(ours.shape, power.shape);
  const float peak = *std::max_element(power.data.begin(), power.data.end());
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (power.data[i] > 1e-6 * peak)
      ASSERT_NEAR(ours.data[i], std::log(double(power.data[i])), 1e-4) << i;  // relative 1e-4 on the power
    else
      ASSERT_LE(ours.data[i], std::log(1e-6 * peak) + 1e-3) << i;
  }
  EXPECT_NEAR(*std::min_element(ours.data.begin(), ours.data.end()), std::log(1e-10), 1e-5);  // digital silence
}

TEST(CliLogmel, ExplicitRateAndDurationResampleAndFit) {
  TempDir dir;
  std::string out;
  const fs::path wav = test::fixture("librosa/tones_22k.wav");  // 2.5 s at 22.05 kHz
  ASSERT_EQ(test::run_command(logmel_command(wav, dir / "r.npy",
                                             " --set features.sample_rate=44100 --set features.duration=5.0"),
                              &out),
            0)
      << out;
  EXPECT_EQ(read_npy(dir / "r.npy").shape, (std::vector<std::size_t>{128, 431}));
  ASSERT_EQ(test::run_command(logmel_command(wav, dir / "d.npy", " --set features.duration=1.0 --set features.n_mels=64"),
                              &out),
            0)
      << out;
  EXPECT_EQ(read_npy(dir / "d.npy").shape, (std::vector<std::size_t>{64, 1 + 22050 / 512}));
}

TEST(CliLogmel, ConfigFileIsRead) {
  TempDir dir;
  {
    std::ofstream toml(dir / "c.toml");
    toml << "[features]\nn_mels = 32\nn_fft = 1024\nhop_length = 256\n";
  }
  std::string out;
  ASSERT_EQ(test::run_command(logmel_command(test::fixture("librosa/stereo_44k.wav"), dir / "o.npy",
                                             " --config " + quoted(dir / "c.toml")),
                              &out),
            0)
      << out;
  EXPECT_EQ(read_npy(dir / "o.npy").shape, (std::vector<std::size_t>{32, 1 + 44100 / 256}));
}

TEST(CliLogmel, BadInputFailsNamingTheFile) {
  TempDir dir;
  {
    std::ofstream text(dir / "notes.wav");
    text << "not audio at all\n";
  }
  std::string out;
  EXPECT_NE(test::run_command(logmel_command(dir / "notes.wav", dir / "x.npy"), &out), 0);
  EXPECT_NE(out.find((dir / "notes.wav").string() + ": not an audio file"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "x.npy"));

  EXPECT_NE(test::run_command(logmel_command(dir / "missing.wav", dir / "x.npy"), &out), 0);
  EXPECT_NE(out.find((dir / "missing.wav").string() + ": file not found"), std::string::npos) << out;

  EXPECT_NE(test::run_command(logmel_command(test::fixture("librosa/tones_22k.wav"), dir / "x.npy",
                                             " --set features.pad_mode=wrap"),
                              &out),
            0);
  EXPECT_NE(out.find("features.pad_mode"), std::string::npos) << out;
}

TEST(CliLogmel, HelpDescribesTheCommand) {
  std::string out;
  EXPECT_EQ(test::run_command(test::cli_path().string() + " logmel --help", &out), 0);
  EXPECT_NE(out.find("--power"), std::string::npos) << out;
  EXPECT_NE(out.find("features.sample_rate"), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
