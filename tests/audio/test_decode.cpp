// Decoding: formats libsndfile reads, channel mixing, resampling, fixed
// length, and every kind of bad input the issue lists.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "core/error.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

std::vector<float> sine(std::size_t n, double hz, int rate, float amplitude = 0.5f) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = amplitude * static_cast<float>(std::sin(2 * std::numbers::pi * hz * i / rate));
  return x;
}

// Writes interleaved samples with libsndfile.
void write_audio(const fs::path& path, const std::vector<float>& interleaved, int channels, int rate, int format) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_float(file, interleaved.data(), static_cast<sf_count_t>(interleaved.size() / channels)),
            static_cast<sf_count_t>(interleaved.size() / channels));
  sf_close(file);
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void truncate_to(const fs::path& path, std::size_t size) { fs::resize_file(path, size); }

// A minimal RIFF/WAVE file with a hand-made fmt chunk.
std::string riff_wave(std::uint16_t format_tag, std::uint16_t channels, std::uint16_t bits, std::uint32_t data_bytes) {
  auto u16 = [](std::uint16_t v) { return std::string{char(v & 0xff), char(v >> 8)}; };
  auto u32 = [](std::uint32_t v) { return std::string{char(v & 0xff), char(v >> 8 & 0xff), char(v >> 16 & 0xff), char(v >> 24)}; };
  const std::uint32_t rate = 8000;
  const std::uint16_t block = static_cast<std::uint16_t>(std::max<int>(channels, 1) * bits / 8);
  std::string fmt = u16(format_tag) + u16(channels) + u32(rate) + u32(rate * block) + u16(block) + u16(bits) + u16(0);
  std::string body = "WAVEfmt " + u32(static_cast<std::uint32_t>(fmt.size())) + fmt + "data" + u32(data_bytes) +
                     std::string(data_bytes, '\x01');
  return "RIFF" + u32(static_cast<std::uint32_t>(body.size())) + body;
}

// The error names the file and contains `reason`.
void expect_file_error(const fs::path& path, const std::string& reason, const DecodeOptions& options = {}) {
  try {
    decode_audio(path, options);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path.string() + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(reason), std::string::npos) << what;
  }
}

TEST(Decode, Pcm16WavIsReadAsFloatInMinusOneToOne) {
  test::TempDir dir;
  const std::vector<float> x = sine(4410, 440, 44100);
  write_audio(dir / "a.wav", x, 1, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const AudioClip clip = decode_audio(dir / "a.wav");
  EXPECT_EQ(clip.sample_rate, 44100);
  EXPECT_EQ(clip.file_sample_rate, 44100);
  EXPECT_EQ(clip.file_channels, 1);
  EXPECT_EQ(clip.file_frames, x.size());
  ASSERT_EQ(clip.samples.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(clip.samples[i], x[i], 1.0 / 32768);
    // Exactly k / 32768, as 16-bit PCM scaled to [-1, 1).
    EXPECT_EQ(clip.samples[i] * 32768.0f, std::round(clip.samples[i] * 32768.0f));
  }
}

TEST(Decode, StereoChannelsAreAveraged) {
  test::TempDir dir;
  const std::size_t n = 1000;
  const std::vector<float> left = sine(n, 300, 22050), right = sine(n, 1100, 22050, 0.25f);
  std::vector<float> interleaved;
  for (std::size_t i = 0; i < n; ++i) interleaved.insert(interleaved.end(), {left[i], right[i]});
  write_audio(dir / "s.wav", interleaved, 2, 22050, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const AudioClip clip = decode_audio(dir / "s.wav");
  EXPECT_EQ(clip.file_channels, 2);
  ASSERT_EQ(clip.samples.size(), n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(clip.samples[i], (left[i] + right[i]) / 2);
}

TEST(Decode, FlacWrittenByLibsndfileDecodesExactly) {
  test::TempDir dir;
  const std::vector<float> x = sine(22050, 1000, 44100);
  write_audio(dir / "a.flac", x, 1, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  write_audio(dir / "a.wav", x, 1, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const AudioClip flac = decode_audio(dir / "a.flac"), wav = decode_audio(dir / "a.wav");
  EXPECT_EQ(flac.samples, wav.samples);  // both lossless 16-bit
}

TEST(Decode, OggVorbisIsCroppedOrPaddedToTheConfiguredDuration) {
  test::TempDir dir;
  const std::vector<float> x = sine(44100, 440, 44100);
  write_audio(dir / "a.ogg", x, 1, 44100, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  const AudioClip raw = decode_audio(dir / "a.ogg");
  // Lossy, and the decoder may return a few frames more than were written.
  EXPECT_GE(raw.samples.size(), x.size());
  EXPECT_LE(raw.samples.size(), x.size() + 2048);
  double error = 0, energy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    error += (raw.samples[i] - x[i]) * (raw.samples[i] - x[i]);
    energy += x[i] * x[i];
  }
  EXPECT_LT(error / energy, 1e-2);
  EXPECT_EQ(decode_audio(dir / "a.ogg", {0, 0.5}).samples.size(), 22050u);
  const AudioClip padded = decode_audio(dir / "a.ogg", {0, 5.0});
  ASSERT_EQ(padded.samples.size(), 220500u);
  EXPECT_EQ(padded.samples[220499], 0.0f);
}

TEST(Decode, FitLengthCropsExtraFramesAndZeroPads) {
  std::vector<float> x(220544, 1.0f);  // what libsndfile's Vorbis decoder returned for an ESC-10 clip
  fit_length(x, 220500);
  EXPECT_EQ(x.size(), 220500u);
  EXPECT_EQ(x.back(), 1.0f);
  fit_length(x, 220600);
  ASSERT_EQ(x.size(), 220600u);
  EXPECT_EQ(x[220499], 1.0f);
  EXPECT_EQ(x[220500], 0.0f);
  EXPECT_EQ(x.back(), 0.0f);
}

TEST(Decode, DurationCropsLongAndPadsShortClips) {
  test::TempDir dir;
  write_audio(dir / "long.wav", sine(30000, 440, 8000), 1, 8000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_audio(dir / "short.wav", sine(1000, 440, 8000), 1, 8000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const AudioClip cropped = decode_audio(dir / "long.wav", {0, 2.0});
  EXPECT_EQ(cropped.samples.size(), 16000u);
  EXPECT_EQ(cropped.file_frames, 30000u);
  const AudioClip padded = decode_audio(dir / "short.wav", {0, 2.0});
  ASSERT_EQ(padded.samples.size(), 16000u);
  EXPECT_NE(padded.samples[999 - 4], 0.0f);
  for (std::size_t i = 1000; i < 16000; ++i) ASSERT_EQ(padded.samples[i], 0.0f);
}

TEST(Decode, ResamplesWithSoxrWhenTheRateDiffers) {
  test::TempDir dir;
  const int from = 22050, to = 44100;
  write_audio(dir / "a.wav", sine(22050, 1000, from), 1, from, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const AudioClip clip = decode_audio(dir / "a.wav", {to, 0.0});
  EXPECT_EQ(clip.sample_rate, to);
  EXPECT_EQ(clip.file_sample_rate, from);
  ASSERT_EQ(clip.samples.size(), 44100u);  // ceil(n * to / from), as librosa
  // Away from the edges it is the same 1 kHz sine at the new rate.
  const std::vector<float> expected = sine(44100, 1000, to);
  for (std::size_t i = 2000; i < 42000; ++i) ASSERT_NEAR(clip.samples[i], expected[i], 2e-3) << i;
  // Same rate: untouched.
  EXPECT_EQ(decode_audio(dir / "a.wav", {from, 0.0}).samples, decode_audio(dir / "a.wav").samples);
}

TEST(Decode, DownsamplingRemovesContentAboveTheNewNyquist) {
  const std::vector<float> x = sine(44100, 15000, 44100);  // above 11025 Hz
  const std::vector<float> y = resample(x, 44100, 22050);
  ASSERT_EQ(y.size(), 22050u);
  double energy = 0;
  for (std::size_t i = 1000; i < 21000; ++i) energy += y[i] * y[i];
  EXPECT_LT(energy / 20000, 1e-8);
}

// ---- bad input: each gives an Error "PATH: reason" ----

TEST(DecodeBadInput, MissingFile) {
  test::TempDir dir;
  expect_file_error(dir / "nope.wav", "file not found");
}

TEST(DecodeBadInput, Directory) {
  test::TempDir dir;
  fs::create_directory(dir / "d.wav");
  expect_file_error(dir / "d.wav", "directory");
}

TEST(DecodeBadInput, EmptyFile) {
  test::TempDir dir;
  write_bytes(dir / "e.wav", "");
  expect_file_error(dir / "e.wav", "empty file");
}

TEST(DecodeBadInput, NonAudioFile) {
  test::TempDir dir;
  write_bytes(dir / "t.wav", "this is not audio, just some text that happens to end in .wav\n");
  expect_file_error(dir / "t.wav", "not an audio file");
}

TEST(DecodeBadInput, TruncatedWav) {
  test::TempDir dir;
  write_audio(dir / "a.wav", sine(8000, 440, 8000), 1, 8000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  truncate_to(dir / "a.wav", 6000);  // libsndfile alone would silently read the 2978 frames left
  expect_file_error(dir / "a.wav", "truncated");
}

TEST(DecodeBadInput, TruncatedAiff) {
  test::TempDir dir;
  write_audio(dir / "a.aiff", sine(8000, 440, 8000), 1, 8000, SF_FORMAT_AIFF | SF_FORMAT_PCM_16);
  truncate_to(dir / "a.aiff", 6000);
  expect_file_error(dir / "a.aiff", "truncated");
}

TEST(DecodeBadInput, TruncatedFlac) {
  test::TempDir dir;
  write_audio(dir / "a.flac", sine(88200, 440, 44100), 1, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  truncate_to(dir / "a.flac", fs::file_size(dir / "a.flac") / 2);
  expect_file_error(dir / "a.flac", "truncated");
}

TEST(DecodeBadInput, TruncatedOgg) {
  test::TempDir dir;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.2f);
  std::vector<float> x(88200);
  for (float& v : x) v = noise(rng);  // noise: many pages, so the cut lands mid-stream
  write_audio(dir / "a.ogg", x, 1, 44100, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  EXPECT_NO_THROW(decode_audio(dir / "a.ogg"));
  truncate_to(dir / "a.ogg", fs::file_size(dir / "a.ogg") * 2 / 3);
  expect_file_error(dir / "a.ogg", "truncated");
}

TEST(DecodeBadInput, ZeroChannels) {
  test::TempDir dir;
  write_bytes(dir / "z.wav", riff_wave(1, 0, 16, 400));
  expect_file_error(dir / "z.wav", "zero channels");
}

TEST(DecodeBadInput, UnsupportedFormat) {
  test::TempDir dir;
  write_bytes(dir / "u.wav", riff_wave(0x1234, 1, 16, 400));  // a codec nobody knows
  expect_file_error(dir / "u.wav", "unsupported audio format: WAV format tag 0x1234");
}

TEST(DecodeBadInput, NaNSampleInFloatWav) {
  test::TempDir dir;
  std::vector<float> x = sine(1000, 440, 8000);
  x[123] = std::numeric_limits<float>::quiet_NaN();
  write_audio(dir / "n.wav", x, 1, 8000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_file_error(dir / "n.wav", "non-finite sample (NaN) at frame 123");
}

TEST(DecodeBadInput, InfSampleInStereoFloatWav) {
  test::TempDir dir;
  std::vector<float> x(2000, 0.1f);
  x[2 * 500 + 1] = -std::numeric_limits<float>::infinity();
  write_audio(dir / "i.wav", x, 2, 8000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_file_error(dir / "i.wav", "non-finite sample (Inf) at frame 500, channel 1");
}

// Found by fuzzing (fuzz/fuzz_audio): finite samples near the float range
// summed to Inf in the stereo mixdown, and the reader returned it. Their
// mean is finite and is what comes back; a resampler that would overflow on
// them is an Error naming the file, never a non-finite sample.
TEST(DecodeBadInput, HugeFiniteSamplesNeverComeBackNonFinite) {
  test::TempDir dir;
  std::vector<float> x(2000, 3.0e38f);
  for (std::size_t i = 0; i < x.size(); i += 4) x[i] = x[i + 1] = -3.0e38f;
  write_audio(dir / "big.wav", x, 2, 8000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const AudioClip clip = decode_audio(dir / "big.wav");
  ASSERT_EQ(clip.samples.size(), 1000u);
  for (std::size_t i = 0; i < clip.samples.size(); ++i)
    ASSERT_EQ(clip.samples[i], i % 2 == 0 ? -3.0e38f : 3.0e38f) << "frame " << i;

  for (int rate : {16000, 22050}) {
    try {
      const AudioClip resampled = decode_audio(dir / "big.wav", {rate, 0.0});
      for (std::size_t i = 0; i < resampled.samples.size(); ++i)
        ASSERT_TRUE(std::isfinite(resampled.samples[i])) << rate << " Hz, frame " << i;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("big.wav: sample values too large to resample"), std::string::npos)
          << e.what();
    }
  }
}

TEST(DecodeBadInput, HeaderOnlyWavHasNoFrames) {
  test::TempDir dir;
  write_bytes(dir / "h.wav", riff_wave(1, 1, 16, 0));
  expect_file_error(dir / "h.wav", "no audio frames");
}

}  // namespace
}  // namespace oneshot
