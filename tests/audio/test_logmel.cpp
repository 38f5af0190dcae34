// The log-mel extractor against a plain double-precision reference (other
// parameters than the librosa fixtures), its framing, log modes, threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <random>
#include <thread>
#include <vector>

#include "audio/frames.h"
#include "audio/log_compress.h"
#include "audio/logmel.h"
#include "audio/mel_filters.h"
#include "core/error.h"

namespace oneshot {
namespace {

std::vector<float> noisy_tones(std::size_t n, int rate, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i)
    x[i] = noise(rng) + 0.3f * static_cast<float>(std::sin(2 * std::numbers::pi * 440.0 * i / rate));
  return x;
}

// librosa's melspectrogram written out plainly in double precision: pad,
// window, direct DFT, |X|^2, dense mel basis.
std::vector<double> reference_mel_power(const std::vector<float>& x, const FeaturesConfig& c, int rate) {
  const int n_fft = c.n_fft, pad = n_fft / 2, n_bins = n_fft / 2 + 1;
  const long long n = static_cast<long long>(x.size());
  std::vector<double> padded(x.size() + 2 * pad);
  for (long long i = -pad; i < n + pad; ++i) {
    long long j = i;
    if (c.pad_mode == "reflect")
      while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
    padded[i + pad] = (j >= 0 && j < n) ? x[j] : 0.0;
  }
  const std::size_t n_frames = 1 + (padded.size() - n_fft) / c.hop_length;
  const std::vector<float> basis =
      mel_basis({rate, n_fft, c.n_mels, c.fmin, c.fmax, c.mel_scale == "htk"});
  std::vector<double> out(c.n_mels * n_frames, 0.0);
  std::vector<double> power(n_bins);
  for (std::size_t t = 0; t < n_frames; ++t) {
    for (int k = 0; k < n_bins; ++k) {
      std::complex<double> sum = 0;
      for (int i = 0; i < n_fft; ++i) {
        const double w = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * i / n_fft);
        sum += padded[t * c.hop_length + i] * w * std::polar(1.0, -2 * std::numbers::pi * k * i / n_fft);
      }
      power[k] = std::norm(sum);
    }
    for (int m = 0; m < c.n_mels; ++m) {
      double s = 0;
      for (int k = 0; k < n_bins; ++k) s += basis[m * n_bins + k] * power[k];
      out[m * n_frames + t] = s;
    }
  }
  return out;
}

void expect_close_to_reference(const std::vector<float>& x, const FeaturesConfig& c, int rate) {
  const LogMelExtractor extractor(c, rate);
  const std::size_t frames = extractor.n_frames(x.size());
  std::vector<float> ours(c.n_mels * frames, -1.0f);
  extractor.power(x.data(), x.size(), ours.data());
  const std::vector<double> ref = reference_mel_power(x, c, rate);
  ASSERT_EQ(ours.size(), ref.size());
  const double peak = *std::max_element(ref.begin(), ref.end());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (ref[i] > 1e-6 * peak)
      ASSERT_NEAR(ours[i], ref[i], 1e-4 * ref[i]) << "value " << i;
    else
      ASSERT_NEAR(ours[i], ref[i], 1e-10 * peak) << "value " << i;
  }
}

FeaturesConfig small_config(const std::string& pad_mode) {
  FeaturesConfig c;
  c.n_fft = 256;
  c.hop_length = 100;  // not a divisor of n_fft, frames not aligned to anything
  c.n_mels = 20;
  c.fmin = 100;
  c.fmax = 3000;
  c.pad_mode = pad_mode;
  return c;
}

TEST(LogMel, MatchesPlainReferenceWithOtherParametersAndSilence) {
  std::vector<float> x = noisy_tones(3001, 8000, 1);
  std::fill(x.begin() + 800, x.begin() + 2100, 0.0f);  // digital silence: skipped frames
  for (const char* pad : {"reflect", "constant"}) expect_close_to_reference(x, small_config(pad), 8000);
}

TEST(LogMel, MatchesPlainReferenceWithHtkScale) {
  FeaturesConfig c = small_config("reflect");
  c.mel_scale = "htk";
  expect_close_to_reference(noisy_tones(2000, 8000, 2), c, 8000);
}

TEST(LogMel, SignalShorterThanThePaddingIsReflectedRepeatedly) {
  // 50 samples, 128 of padding each side: numpy reflects again and again.
  for (const char* pad : {"reflect", "constant"}) expect_close_to_reference(noisy_tones(50, 8000, 3), small_config(pad), 8000);
}

TEST(LogMel, FrameCountIsLibrosas) {
  FeaturesConfig c;
  const LogMelExtractor extractor(c, 44100);
  EXPECT_EQ(extractor.n_frames(220500), 431u);
  EXPECT_EQ(extractor.n_frames(512), 2u);
  EXPECT_EQ(extractor.n_frames(511), 1u);
  EXPECT_EQ(extractor.n_mels(), 128);
}

TEST(LogMel, EmptyInputIsAnError) {
  const LogMelExtractor extractor(FeaturesConfig{}, 44100);
  float out[128];
  EXPECT_THROW(extractor.power(nullptr, 0, out), Error);
}

TEST(LogMel, InvalidConfigurationIsAnError) {
  FeaturesConfig c;
  c.pad_mode = "wrap";
  EXPECT_THROW(LogMelExtractor(c, 44100), Error);
  EXPECT_THROW(LogMelExtractor(FeaturesConfig{}, 0), Error);
}

TEST(CentredFramesTest, ReflectPaddingIsNumpys) {
  // np.pad([1, 2, 3], 5, mode="reflect") == [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2]
  const std::vector<float> x = {1, 2, 3};
  const CentredFrames frames(10, 1, PadMode::reflect);
  const std::vector<float> ones(10, 1.0f);
  std::vector<float> frame(10);
  ASSERT_EQ(frames.count(3), 4u);
  frames.windowed(x.data(), 3, 0, ones.data(), frame.data());
  EXPECT_EQ(frame, (std::vector<float>{2, 1, 2, 3, 2, 1, 2, 3, 2, 1}));
  frames.windowed(x.data(), 3, 3, ones.data(), frame.data());
  EXPECT_EQ(frame, (std::vector<float>{3, 2, 1, 2, 3, 2, 1, 2, 3, 2}));
}

TEST(CentredFramesTest, ReportsAllZeroFrames) {
  std::vector<float> x(4000, 0.0f);
  x[3000] = 0.5f;
  const CentredFrames frames(256, 128, PadMode::constant);
  const std::vector<float> window = periodic_hann(256);
  std::vector<float> frame(256);
  EXPECT_FALSE(frames.windowed(x.data(), x.size(), 10, window.data(), frame.data()));
  EXPECT_TRUE(std::all_of(frame.begin(), frame.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(frames.windowed(x.data(), x.size(), 23, window.data(), frame.data()));  // 23 * 128 - 128 + 256 > 3000
}

TEST(CentredFramesTest, PeriodicHannIsScipys) {
  const std::vector<float> w = periodic_hann(8);
  const double expected[] = {0.0, 0.14644661, 0.5, 0.85355339, 1.0, 0.85355339, 0.5, 0.14644661};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(w[i], expected[i], 1e-7);
}

// ---- log compression ----

TEST(LogCompress, FastLogIsAccurateOverTheWholeRange) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> exponent(-149, 127);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const float x = static_cast<float>(std::exp2(exponent(rng)));
    if (x == 0.0f || !std::isfinite(x)) continue;
    const double exact = std::log(static_cast<double>(x));
    worst = std::max(worst, std::fabs(fast_log(x) - exact) / std::max(1.0, std::fabs(exact)));
  }
  EXPECT_LT(worst, 3e-7);
  for (float x : {1.0f, 2.0f, 0.5f, 1e-10f, 1e-45f, std::numeric_limits<float>::min(), 3.4e38f})
    EXPECT_NEAR(fast_log(x), std::log(static_cast<double>(x)), 3e-7 * std::max(1.0, std::fabs(std::log(double(x))))) << x;
  EXPECT_EQ(fast_log(1.0f), 0.0f);
}

TEST(LogCompress, FloorModeIsLnOfMaxWithFloor) {
  std::vector<float> v = {0.0f, 1e-12f, 1e-10f, 3e-5f, 1.0f, 250.0f};
  const std::vector<float> in = v;
  log_with_floor(v.data(), v.size(), 1e-10f);
  for (std::size_t i = 0; i < v.size(); ++i)
    EXPECT_NEAR(v[i], std::log(std::max(double(in[i]), double(1e-10f))), 3e-6) << in[i];
  EXPECT_EQ(v[0], v[1]);  // both floored
}

TEST(LogCompress, NonzeroModeScalesToInt16AndLeavesZerosAtZero) {
  std::vector<float> v = {0.0f, -0.0f, 1e-12f, 1.0f, 0.25f};
  const std::vector<float> in = v;
  log_nonzero(v.data(), v.size(), 32768.0f * 32768.0f);
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[1], 0.0f);
  for (std::size_t i = 2; i < v.size(); ++i)
    EXPECT_NEAR(v[i], std::log(double(in[i])) + 30 * std::numbers::ln2, 3e-6) << in[i];
}

TEST(LogMel, LogModesOnSilenceAndSound) {
  std::vector<float> x = noisy_tones(44100, 44100, 6);
  std::fill(x.begin() + 22050, x.end(), 0.0f);  // second half digital silence
  FeaturesConfig c;
  const LogMelExtractor power_of(c, 44100);
  const std::size_t frames = power_of.n_frames(x.size());
  std::vector<float> power(128 * frames), floor_log(128 * frames), nonzero_log(128 * frames);
  power_of.power(x.data(), x.size(), power.data());
  power_of.log_mel(x.data(), x.size(), floor_log.data());
  c.log = "nonzero";
  LogMelExtractor(c, 44100).log_mel(x.data(), x.size(), nonzero_log.data());

  const std::size_t silent_frame = frames - 5, sound_frame = 20;
  for (int m = 0; m < 128; ++m) {
    const std::size_t s = m * frames + silent_frame, a = m * frames + sound_frame;
    EXPECT_EQ(power[s], 0.0f);
    EXPECT_NEAR(floor_log[s], std::log(1e-10), 1e-5);
    EXPECT_EQ(nonzero_log[s], 0.0f);
    ASSERT_GT(power[a], 0.0f);
    EXPECT_NEAR(floor_log[a], std::log(std::max<double>(power[a], 1e-10)), 1e-5);
    EXPECT_NEAR(nonzero_log[a], std::log(double(power[a]) * 32768.0 * 32768.0), 1e-5);
  }
  // The quirk the issue describes: padded silence (0) looks louder than quiet
  // sound, whose int16-scale log is negative only below 2^-30.
  EXPECT_GT(nonzero_log[sound_frame], nonzero_log[silent_frame]);
}

TEST(LogMel, ConfigFloorIsUsed) {
  FeaturesConfig c;
  c.log_floor = 1e-3;
  std::vector<float> x(22050, 0.0f);
  const LogMelExtractor extractor(c, 22050);
  std::vector<float> out(128 * extractor.n_frames(x.size()));
  extractor.log_mel(x.data(), x.size(), out.data());
  for (float v : out) ASSERT_NEAR(v, std::log(1e-3), 1e-5);
}

// ---- mel scales ----

TEST(MelScale, SlaneyIsLinearBelow1kHzAndLogAbove) {
  EXPECT_DOUBLE_EQ(hz_to_mel(0, false), 0.0);
  EXPECT_NEAR(hz_to_mel(500, false), 7.5, 1e-12);
  EXPECT_NEAR(hz_to_mel(1000, false), 15.0, 1e-12);
  EXPECT_NEAR(hz_to_mel(6400, false), 42.0, 1e-9);  // 15 + 27 mels per factor 6.4
  for (double hz : {0.0, 123.0, 999.0, 1000.0, 4321.0, 22050.0}) EXPECT_NEAR(mel_to_hz(hz_to_mel(hz, false), false), hz, 1e-9);
}

TEST(MelScale, HtkIsTheO_ShaughnessyFormula) {
  EXPECT_NEAR(hz_to_mel(1000, true), 2595 * std::log10(1 + 1000.0 / 700), 1e-9);
  EXPECT_NEAR(hz_to_mel(700, true), 2595 * std::log10(2.0), 1e-9);
  for (double hz : {0.0, 123.0, 999.0, 1000.0, 4321.0, 22050.0}) EXPECT_NEAR(mel_to_hz(hz_to_mel(hz, true), true), hz, 1e-9);
  // Centres evenly spaced in HTK mels, so not in Slaney mels.
  const std::vector<double> htk = mel_frequencies(10, 0, 8000, true), slaney = mel_frequencies(10, 0, 8000, false);
  EXPECT_NEAR(htk.back(), 8000, 1e-9);
  EXPECT_GT(std::fabs(htk[3] - slaney[3]), 10.0);
  for (int i = 1; i < 9; ++i)
    EXPECT_NEAR(hz_to_mel(htk[i + 1], true) - hz_to_mel(htk[i], true), hz_to_mel(htk[1], true), 1e-9);
}

TEST(MelScale, HtkBasisTrianglesPeakAtTheirCentresWithUnitArea) {
  const int rate = 16000, n_fft = 4096, n_mels = 40, n_bins = n_fft / 2 + 1;
  const std::vector<float> basis = mel_basis({rate, n_fft, n_mels, 0, 0, true});
  const std::vector<double> edges = mel_frequencies(n_mels + 2, 0, rate / 2.0, true);
  const double bin_hz = double(rate) / n_fft;
  for (int m = 0; m < n_mels; ++m) {
    const float* row = &basis[m * n_bins];
    const int peak = static_cast<int>(std::max_element(row, row + n_bins) - row);
    EXPECT_LE(std::fabs(peak * bin_hz - edges[m + 1]), bin_hz) << "filter " << m;
    // Slaney normalisation: each triangle's area (in Hz) is 1.
    double area = 0;
    for (int k = 0; k < n_bins; ++k) area += row[k] * bin_hz;
    if (edges[m + 2] - edges[m] > 8 * bin_hz) EXPECT_NEAR(area, 1.0, 0.03) << "filter " << m;
    // Zero outside its edges.
    for (int k = 0; k < n_bins; ++k)
      if (k * bin_hz <= edges[m] || k * bin_hz >= edges[m + 2]) ASSERT_EQ(row[k], 0.0f);
  }
}

TEST(MelBasisSparse, KeepsExactlyTheNonZeroRuns) {
  const std::vector<float> dense = mel_basis({22050, 1024, 64, 0, 0, false});
  const SparseMelBasis sparse = SparseMelBasis::from_dense(dense, 64, 513);
  std::size_t nonzero = 0;
  for (float w : dense) nonzero += w != 0.0f;
  EXPECT_EQ(sparse.weights.size(), nonzero);
  for (int m = 0; m < 64; ++m)
    for (int k = 0; k < sparse.n_nonzero[m]; ++k)
      EXPECT_EQ(sparse.weights[sparse.offset[m] + k], dense[m * 513 + sparse.first_bin[m] + k]);
}

// ---- threads ----

TEST(LogMel, OneExtractorServesManyThreadsWithIdenticalResults) {
  const FeaturesConfig c;
  const LogMelExtractor extractor(c, 44100);
  std::vector<std::vector<float>> clips;
  for (int i = 0; i < 6; ++i) clips.push_back(noisy_tones(44100 + 1000 * i, 44100, 10 + i));
  auto compute = [&](std::size_t i) {
    std::vector<float> out(128 * extractor.n_frames(clips[i].size()));
    extractor.log_mel(clips[i].data(), clips[i].size(), out.data());
    return out;
  };
  std::vector<std::vector<float>> serial, threaded(clips.size());
  for (std::size_t i = 0; i < clips.size(); ++i) serial.push_back(compute(i));
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < clips.size(); i += 3) threaded[i] = compute(i);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(serial, threaded);
}

}  // namespace
}  // namespace oneshot
