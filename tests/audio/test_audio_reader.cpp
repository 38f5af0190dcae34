// The streaming reader: sizes from headers never decide an allocation, the
// decoded stream decides truncation, blocks of any length, streaming
// resampling, both decoders with the same errors, formats people have.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "audio/audio_reader.h"
#include "audio/decode.h"
#include "core/error.h"
#include "support/audio_tools.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

std::vector<float> sine(std::size_t n, double hz, int rate, float amplitude = 0.5f) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = amplitude * static_cast<float>(std::sin(2 * std::numbers::pi * hz * i / rate));
  return x;
}

void write_audio(const fs::path& path, const std::vector<float>& x, int rate, int format) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  sf_writef_float(file, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(file);
}

// Rewrites the 36-bit total-samples field of a FLAC file's STREAMINFO.
void set_flac_total(const fs::path& path, std::uint64_t total) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  unsigned char b[26];
  f.read(reinterpret_cast<char*>(b), 26);
  ASSERT_EQ(std::string(reinterpret_cast<char*>(b), 4), "fLaC");
  b[21] = static_cast<unsigned char>((b[21] & 0xf0) | ((total >> 32) & 0x0f));
  for (int i = 0; i < 4; ++i) b[22 + i] = static_cast<unsigned char>(total >> (24 - 8 * i));
  f.seekp(0);
  f.write(reinterpret_cast<char*>(b), 26);
}

std::string decode_error(const fs::path& path, const DecodeOptions& options = {}) {
  try {
    decode_audio(path, options);
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a oneshot::Error: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return {};
}

void expect_named_error(const fs::path& path, const std::string& reason) {
  const std::string what = decode_error(path);
  EXPECT_EQ(what.rfind(path.string() + ": ", 0), 0u) << what;
  EXPECT_NE(what.find(reason), std::string::npos) << what;
}

// Reads everything in blocks of `block` frames.
std::vector<float> read_all(AudioReader& reader, std::size_t block) {
  std::vector<float> out, buf(block);
  while (std::size_t n = reader.read(buf.data(), block)) out.insert(out.end(), buf.begin(), buf.begin() + n);
  return out;
}

// How close a lossy decode `y` is to its source `x`: the signal-to-error
// ratio (dB) over [from, to) after the least-squares gain and the best
// alignment within +-max_lag frames (the codec's delay), with that gain and lag.
struct Closeness {
  double snr_db = -1e9, gain = 0;
  int lag = 0;
};
Closeness closeness(const std::vector<float>& x, const std::vector<float>& y, std::size_t from, std::size_t to,
                    int max_lag) {
  Closeness best;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    if (static_cast<long>(from) + lag < 0 || static_cast<long>(to) + lag > static_cast<long>(y.size())) continue;
    double xy = 0, xx = 0;
    for (std::size_t i = from; i < to; ++i) xy += double(x[i]) * y[i + lag], xx += double(x[i]) * x[i];
    const double g = xy / xx;
    double err = 0;
    for (std::size_t i = from; i < to; ++i) err += (y[i + lag] - g * x[i]) * (y[i + lag] - g * x[i]);
    const double snr = 10 * std::log10(g * g * xx / std::max(err, 1e-30));
    if (snr > best.snr_db) best = {snr, g, lag};
  }
  return best;
}

// ---- 1. a size declared by a file never decides an allocation ----

TEST(AudioReaderHeaders, FlacDeclaringTwoToThe36FramesIsTruncatedAndNamed) {
  test::TempDir dir;
  write_audio(dir / "big.flac", sine(5 * 44100, 440, 44100), 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  set_flac_total(dir / "big.flac", (1ull << 36) - 1);  // was std::bad_alloc, with no file name
  expect_named_error(dir / "big.flac", "truncated: decoded 220500 of 68719476735 frames");
}

TEST(AudioReaderHeaders, FlacDeclaringTwoToThe29FramesFailsWithoutTakingTheMemory) {
  test::TempDir dir;
  write_audio(dir / "lie.flac", sine(44100, 440, 44100), 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  set_flac_total(dir / "lie.flac", 1ull << 29);  // 2 GiB of float32 if believed
  // Decoded in a child, whose peak memory we can read apart from this process's.
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  const long rss_before_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      decode_audio(dir / "lie.flac");
    } catch (const Error& e) {
      const std::string what = e.what();
      _exit(what.find("lie.flac: truncated: decoded 44100 of 536870912") != std::string::npos ? 0 : 2);
    } catch (...) {
      _exit(3);
    }
    _exit(4);
  }
  int status = 0;
  struct rusage usage {};
  ASSERT_EQ(wait4(child, &status, 0, &usage), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: wrong message, 3: not a oneshot::Error, 4: no error";
  EXPECT_LT(usage.ru_maxrss - rss_before_kb, 200 * 1024) << "the child's peak memory rose by " << usage.ru_maxrss - rss_before_kb << " KiB";
}

TEST(AudioReaderHeaders, FlacCutShortIsTruncatedButAWholeOneIsNot) {
  test::TempDir dir;
  write_audio(dir / "a.flac", sine(44100, 440, 44100), 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  EXPECT_EQ(decode_audio(dir / "a.flac").samples.size(), 44100u);
  set_flac_total(dir / "a.flac", 44100 + 4096 + 1);  // more than one block (4096) past the stream
  expect_named_error(dir / "a.flac", "truncated");
  set_flac_total(dir / "a.flac", 44100 + 100);  // within one block: the stream decides
  EXPECT_EQ(decode_audio(dir / "a.flac").samples.size(), 44100u);
}

// ---- 2. a valid file is not called truncated ----

TEST(AudioReaderMp3, ConstantBitRateMp3AsLameWritesItIsWholeAndAligned) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 2, 44100) + " -c:a libmp3lame -b:a 128k " + (dir / "tone.mp3").string()), 0);
  const AudioClip clip = decode_audio(dir / "tone.mp3");
  EXPECT_EQ(clip.file_sample_rate, 44100);
  // The Info/LAME tag's delay and padding are trimmed: the source's length exactly.
  EXPECT_EQ(clip.samples.size(), 88200u);
  // ffmpeg's sine source has amplitude 1/8; LAME's output is 5 % quieter.
  const Closeness c = closeness(sine(88200, 440, 44100, 0.125f), clip.samples, 2000, 86000, 50);
  EXPECT_GT(c.snr_db, 30.0);
  EXPECT_NEAR(c.gain, 1.0, 0.11);
  EXPECT_EQ(c.lag, 0) << "the signal starts at frame 0 after trimming";
  AudioReader reader(dir / "tone.mp3");
  EXPECT_EQ(reader.info().format, "MP3");
  EXPECT_EQ(reader.info().decoder, "libsndfile");
  ASSERT_TRUE(reader.info().declared_frames.has_value());
  EXPECT_EQ(*reader.info().declared_frames, 88200u);
}

TEST(AudioReaderMp3, ConstantBitRateMp3WithoutAnInfoTagIsTrustedAsDecoded) {
  ONESHOT_REQUIRE_PROGRAM("sox");
  test::TempDir dir;
  // sox writes through the LAME library without an Info tag: libsndfile's
  // length is then an estimate from the file size (90276 frames for this
  // tone), the stream has 89856 (78 frames of 1152, delay not trimmed). It
  // was called "truncated: decoded 89856 of 90276 frames".
  ASSERT_EQ(test::run_command("sox -n -r 44100 -c 1 -C 128 " + (dir / "tone.mp3").string() + " synth 2 sine 440"), 0);
  const AudioClip clip = decode_audio(dir / "tone.mp3");
  EXPECT_GE(clip.samples.size(), 88200u);
  EXPECT_LE(clip.samples.size(), 88200u + 2 * 1152);
  EXPECT_FALSE(AudioReader(dir / "tone.mp3").info().declared_frames.has_value());
}

TEST(AudioReaderMp3, Mp3CutShortOfItsInfoFrameCountIsTruncated) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 2, 44100) + " -c:a libmp3lame -b:a 128k " + (dir / "cut.mp3").string()), 0);
  fs::resize_file(dir / "cut.mp3", fs::file_size(dir / "cut.mp3") / 2);
  expect_named_error(dir / "cut.mp3", "truncated: decoded");
}

TEST(AudioReaderMp3, Mp3WithoutAnInfoHeaderIsTrustedAsDecoded) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 2, 44100) + " -c:a libmp3lame -b:a 128k -write_xing 0 " +
                         (dir / "plain.mp3").string()),
            0);
  const AudioClip clip = decode_audio(dir / "plain.mp3");
  EXPECT_GE(clip.samples.size(), 88200u);
  EXPECT_LE(clip.samples.size(), 88200u + 2 * 1152);
  EXPECT_FALSE(AudioReader(dir / "plain.mp3").info().declared_frames.has_value());
}

// ---- the reader itself ----

TEST(AudioReader, BlocksOfAnyLengthGiveTheWholeFileDecode) {
  test::TempDir dir;
  std::vector<float> x = sine(10007, 300, 16000);
  std::vector<float> stereo;
  for (std::size_t i = 0; i < x.size(); ++i) stereo.insert(stereo.end(), {x[i], 0.5f * x[i]});
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open((dir / "s.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  sf_writef_float(f, stereo.data(), static_cast<sf_count_t>(x.size()));
  sf_close(f);
  const std::vector<float> whole = decode_audio(dir / "s.wav").samples;
  ASSERT_EQ(whole.size(), x.size());
  for (std::size_t block : {1u, 7u, 4096u, 100000u}) {
    AudioReader reader(dir / "s.wav");
    EXPECT_EQ(reader.info().channels, 2);
    EXPECT_EQ(reader.info().file_sample_rate, 16000);
    EXPECT_EQ(read_all(reader, block), whole) << "block " << block;
    EXPECT_EQ(reader.frames_read(), x.size());
    std::vector<float> more(8);
    EXPECT_EQ(reader.read(more.data(), more.size()), 0u) << "stays at the end";
  }
}

TEST(AudioReader, StreamingResamplingEqualsTheWholeClipResample) {
  test::TempDir dir;
  const std::vector<float> x = sine(22051, 1000, 22050);
  write_audio(dir / "a.wav", x, 22050, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const std::vector<float> expected = resample(x, 22050, 44100);
  ASSERT_EQ(expected.size(), 44102u);  // ceil(22051 * 2)
  for (std::size_t block : {1u, 333u, 65536u}) {
    AudioReader reader(dir / "a.wav", {44100});
    EXPECT_EQ(reader.info().sample_rate, 44100);
    const std::vector<float> got = read_all(reader, block);
    ASSERT_EQ(got.size(), expected.size()) << "block " << block;
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-6) << "block " << block << " at " << i;
    EXPECT_EQ(reader.file_frames_read(), x.size());
  }
}

TEST(AudioReader, ErrorsNameTheFileForBothDecoders) {
  test::TempDir dir;
  std::ofstream(dir / "t.m4a") << "plain text, not audio\n";
  expect_named_error(dir / "t.m4a", "not an audio file");
  std::ofstream(dir / "e.webm").close();
  expect_named_error(dir / "e.webm", "empty file");
  expect_named_error(dir / "missing.mp3", "file not found");
  // Links: one to nothing, and two that lead to each other, are named as such.
  std::filesystem::create_symlink(dir / "missing.mp3", dir / "dangling.wav");
  expect_named_error(dir / "dangling.wav", "broken link");
  std::filesystem::create_symlink(dir / "loop-b.wav", dir / "loop-a.wav");
  std::filesystem::create_symlink(dir / "loop-a.wav", dir / "loop-b.wav");
  expect_named_error(dir / "loop-a.wav", "symbolic link loop");
  try {
    AudioReader reader{std::filesystem::path{}};
    FAIL() << "an empty path was opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty path"), std::string::npos) << e.what();
  }
}

// ---- 4. formats people have: each equals its source within a stated
// tolerance: after the codec's delay (|lag| <= 3000 frames) and the least-
// squares gain (within 11 %, about 1 dB), at least 30 dB signal to error ----

struct FormatCase {
  const char* file;
  const char* codec;   // ffmpeg's encoder options
  const char* decoder;  // which of ours reads it
  double min_snr_db;
};

class FormatsPeopleHave : public ::testing::TestWithParam<FormatCase> {};

// A 2 s chirp (unambiguous alignment, unlike a steady tone) at 44.1 kHz.
std::vector<float> chirp_source(const fs::path& wav) {
  EXPECT_EQ(test::ffmpeg("-f lavfi -i \"aevalsrc='0.4*sin(2*PI*(200*t+800*t*t))':s=44100:d=2\" -c:a pcm_s16le " +
                         wav.string()),
            0);
  return decode_audio(wav).samples;
}

TEST_P(FormatsPeopleHave, DecodesCloseToTheSource) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  const FormatCase& c = GetParam();
  test::TempDir dir;
  const std::vector<float> source = chirp_source(dir / "source.wav");
  ASSERT_EQ(source.size(), 88200u);
  const fs::path file = dir / c.file;
  ASSERT_EQ(test::ffmpeg("-i " + (dir / "source.wav").string() + " " + c.codec + " " + file.string()), 0);
  AudioReader reader(file, {44100});  // Opus always decodes at 48 kHz
  EXPECT_EQ(reader.info().decoder, c.decoder) << reader.info().format;
  EXPECT_EQ(reader.info().sample_rate, 44100);
  EXPECT_EQ(reader.info().file_sample_rate, std::string(c.codec).find("opus") != std::string::npos ? 48000 : 44100);
  const std::vector<float> got = read_all(reader, 1000);
  EXPECT_GE(got.size(), 88200u - 1024) << reader.info().format;
  EXPECT_LE(got.size(), 88200u + 3000) << reader.info().format;
  const Closeness close = closeness(source, got, 4000, 80000, 3000);
  EXPECT_GT(close.snr_db, c.min_snr_db) << reader.info().format << " lag " << close.lag;
  EXPECT_NEAR(close.gain, 1.0, 0.11) << reader.info().format;
  // The whole-file decode resamples it like any other file.
  EXPECT_EQ(decode_audio(file, {22050, 1.0}).samples.size(), 22050u);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, FormatsPeopleHave,
    ::testing::Values(FormatCase{"a.flac", "-c:a flac", "libsndfile", 200},
                      FormatCase{"a.mp3", "-c:a libmp3lame -b:a 128k", "libsndfile", 30},
                      FormatCase{"a.ogg", "-c:a libvorbis -q:a 4", "libsndfile", 30},
                      FormatCase{"a.opus", "-c:a libopus -b:a 64k", "libsndfile", 30},
                      FormatCase{"a.m4a", "-c:a aac -b:a 128k", "FFmpeg", 30},
                      FormatCase{"a.webm", "-c:a libopus -b:a 64k", "FFmpeg", 30},
                      FormatCase{"a.mp4", "-f lavfi -i testsrc=size=64x48:rate=10:duration=2 -map 1:v -map 0:a "
                                          "-c:v mpeg4 -c:a aac -b:a 128k -shortest",
                                 "FFmpeg", 30},
                      FormatCase{"a.mov", "-c:a aac -b:a 128k", "FFmpeg", 30},
                      FormatCase{"a.3gp", "-c:a aac -b:a 96k", "FFmpeg", 30}),
    [](const auto& info) {
      std::string name = info.param.file;
      return name.substr(name.find('.') + 1);
    });

TEST(AudioReaderFfmpeg, TruncatedM4aIsNamedAsSuch) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  // moov first (faststart), so the cut loses audio, not the index.
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 3, 44100) + " -c:a aac -movflags +faststart " + (dir / "cut.m4a").string()), 0);
  const std::size_t whole = decode_audio(dir / "cut.m4a").samples.size();
  EXPECT_GE(whole, 132300u - 1024) << "about 3 s";
  EXPECT_LE(whole, 132300u + 2048) << "about 3 s";
  fs::resize_file(dir / "cut.m4a", fs::file_size(dir / "cut.m4a") / 2);
  expect_named_error(dir / "cut.m4a", "truncated");
  // moov last (ffmpeg's default): the cut loses the index.
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 3, 44100) + " -c:a aac " + (dir / "end.m4a").string()), 0);
  fs::resize_file(dir / "end.m4a", fs::file_size(dir / "end.m4a") - 200);
  expect_named_error(dir / "end.m4a", "corrupt or truncated MP4/M4A/MOV file");
}

TEST(AudioReaderFfmpeg, AVideoWithoutSoundIsNamedAsSuch) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  ASSERT_EQ(test::ffmpeg("-f lavfi -i testsrc=size=64x48:rate=10:duration=1 -c:v mpeg4 " + (dir / "v.mp4").string()), 0);
  expect_named_error(dir / "v.mp4", "no audio track");
}

TEST(AudioReaderFfmpeg, ReadsWavAndM4aFromStandardInput) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  const std::vector<float> source = chirp_source(dir / "source.wav");
  ASSERT_EQ(test::ffmpeg("-i " + (dir / "source.wav").string() + " -c:a aac -f adts " + (dir / "a.aac").string()), 0);
  for (const char* name : {"source.wav", "a.aac"}) {
    // In a child whose standard input is the file, as `... | oneshot-audio`.
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      const int fd = ::open((dir / name).c_str(), O_RDONLY);
      ::dup2(fd, STDIN_FILENO);
      std::string result = "error";
      try {
        AudioReader reader("-", {22050});
        const std::vector<float> got = read_all(reader, 4096);
        result = std::to_string(got.size()) + " " + reader.info().decoder;
      } catch (const std::exception& e) {
        result = e.what();
      }
      (void)!::write(pipe_fds[1], result.data(), result.size());
      _exit(0);
    }
    ::close(pipe_fds[1]);
    char buf[512] = {};
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf - 1);
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    const std::string result(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    unsigned long frames = 0;
    std::sscanf(result.c_str(), "%lu", &frames);
    EXPECT_NE(result.find("FFmpeg"), std::string::npos) << name << ": " << result;
    EXPECT_NEAR(static_cast<double>(frames), 44100.0, std::string(name) == "a.aac" ? 1600.0 : 0.0) << name << ": " << result;
  }
}

}  // namespace
}  // namespace oneshot
