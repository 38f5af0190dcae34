// Every librosa fixture (tests/fixtures/librosa, made by librosa 0.10.1 as
// README.json records): the mel basis and the mel power spectrogram for both
// padding modes, decoded with our own decoder at the file's own rate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "audio/decode.h"
#include "audio/logmel.h"
#include "audio/mel_filters.h"
#include "core/npy.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

struct FixtureCase {
  std::string name;
  int sample_rate;
  int channels;
  std::size_t samples;
  std::size_t frames;
};

std::ostream& operator<<(std::ostream& os, const FixtureCase& c) { return os << c.name; }

NpyArray load(const std::string& name) { return read_npy(test::fixture("librosa/" + name)); }

class LibrosaFixture : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(LibrosaFixture, MelBasisMatchesWithin1e6Absolute) {
  const FixtureCase& c = GetParam();
  const NpyArray expected = load(c.name + ".melbasis.npy");
  ASSERT_EQ(expected.shape, (std::vector<std::size_t>{128, 1025}));
  const std::vector<float> basis = mel_basis({c.sample_rate, 2048, 128, 0.0, 0.0, false});
  ASSERT_EQ(basis.size(), expected.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < basis.size(); ++i) worst = std::max(worst, std::fabs(double(basis[i]) - expected.data[i]));
  EXPECT_LE(worst, 1e-6);
  // The matrix is not trivially zero: every filter has weight.
  const SparseMelBasis sparse = SparseMelBasis::from_dense(basis, 128, 1025);
  for (int m = 0; m < 128; ++m) EXPECT_GT(sparse.n_nonzero[m], 0) << "filter " << m;
}

TEST_P(LibrosaFixture, DecodesAtTheFilesOwnRateAndLength) {
  const FixtureCase& c = GetParam();
  const AudioClip clip = decode_audio(test::fixture("librosa/" + c.name + ".wav"));
  EXPECT_EQ(clip.sample_rate, c.sample_rate);
  EXPECT_EQ(clip.file_channels, c.channels);
  EXPECT_EQ(clip.samples.size(), c.samples);
}

// Power spectrogram within 1e-4 relative on every value above 1e-6 of the
// clip's maximum; values below that within 1e-10 of the maximum absolute.
void expect_power_matches(const FixtureCase& c, const std::string& pad_mode) {
  const AudioClip clip = decode_audio(test::fixture("librosa/" + c.name + ".wav"));
  const NpyArray expected = load(c.name + ".mel_" + pad_mode + ".npy");
  ASSERT_EQ(expected.shape, (std::vector<std::size_t>{128, c.frames}));

  FeaturesConfig config;
  config.pad_mode = pad_mode;
  const LogMelExtractor extractor(config, clip.sample_rate);
  ASSERT_EQ(extractor.n_frames(clip.samples.size()), c.frames);
  std::vector<float> power(128 * c.frames, -1.0f);
  extractor.power(clip.samples.data(), clip.samples.size(), power.data());

  const float peak = *std::max_element(expected.data.begin(), expected.data.end());
  ASSERT_GT(peak, 0.0f);
  double worst_relative = 0.0, worst_small = 0.0;
  std::size_t compared = 0;
  for (std::size_t i = 0; i < power.size(); ++i) {
    const double ref = expected.data[i], ours = power[i];
    if (ref > 1e-6 * peak) {
      worst_relative = std::max(worst_relative, std::fabs(ours - ref) / ref);
      ++compared;
    } else {
      worst_small = std::max(worst_small, std::fabs(ours - ref) / peak);
    }
  }
  EXPECT_LE(worst_relative, 1e-4) << c.name << " " << pad_mode;
  EXPECT_LE(worst_small, 1e-10) << c.name << " " << pad_mode;
  EXPECT_GT(compared, power.size() / 20);  // the comparison covers real content
  std::printf("[ %s %s ] %zu values compared, worst relative error %.3g, worst small-value error %.3g of peak\n",
              c.name.c_str(), pad_mode.c_str(), compared, worst_relative, worst_small);
}

TEST_P(LibrosaFixture, PowerSpectrogramReflectPadding) { expect_power_matches(GetParam(), "reflect"); }
TEST_P(LibrosaFixture, PowerSpectrogramConstantPadding) { expect_power_matches(GetParam(), "constant"); }

INSTANTIATE_TEST_SUITE_P(AllCases, LibrosaFixture,
                         ::testing::Values(FixtureCase{"chirp_noise_silence_44k", 44100, 1, 220500, 431},
                                           FixtureCase{"tones_22k", 22050, 1, 55125, 108},
                                           FixtureCase{"stereo_44k", 44100, 2, 44100, 87}),
                         [](const auto& info) { return info.param.name; });

// The two padding modes really differ at the edges (so each fixture tests its own mode).
TEST(LibrosaFixtures, PaddingModesDifferOnlyNearTheEdges) {
  const NpyArray reflect = load("tones_22k.mel_reflect.npy");
  const NpyArray constant = load("tones_22k.mel_constant.npy");
  const std::size_t frames = reflect.shape[1];
  bool edge_differs = false;
  for (std::size_t m = 0; m < 128; ++m) {
    edge_differs |= reflect.data[m * frames] != constant.data[m * frames];
    for (std::size_t t = 4; t + 4 < frames; ++t)
      ASSERT_NEAR(reflect.data[m * frames + t], constant.data[m * frames + t], 1e-5 * std::fabs(reflect.data[m * frames + t]) + 1e-12);
  }
  EXPECT_TRUE(edge_differs);
}

}  // namespace
}  // namespace oneshot
