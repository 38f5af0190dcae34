// Edge cases of the reader found by trying it as a new user would: files
// whose lengths libsndfile only estimates, long recordings cropped to a
// clip, the format names the reader reports.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "audio/audio_reader.h"
#include "audio/decode.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "support/audio_tools.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

// A variable-bit-rate MP3 without a Xing/Info header (LAME's -write_xing 0,
// as some streaming encoders write): libsndfile estimates its length from the
// first frame's bit rate and stopped there, at 16450 of ~89000 frames, with
// no error. FFmpeg reads such a stream to its end.
TEST(ReaderEdges, VariableBitRateMp3WithoutXingHeaderIsReadToItsEnd) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  const fs::path mp3 = dir / "vbr.mp3";
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 2, 44100) + " -c:a libmp3lame -q:a 4 -write_xing 0 " + mp3.string()),
            0);
  const AudioClip clip = decode_audio(mp3);
  EXPECT_GE(clip.samples.size(), 88200u);
  EXPECT_LE(clip.samples.size(), 88200u + 2 * 1152);
  // The tone lasts to the end: the last half second is not silence.
  double energy = 0;
  for (std::size_t i = clip.samples.size() - 22050; i < clip.samples.size() - 2000; ++i)
    energy += clip.samples[i] * clip.samples[i];
  EXPECT_GT(energy / 20050, 0.125 * 0.125 / 2 * 0.5);
  EXPECT_FALSE(AudioReader(mp3).info().declared_frames.has_value());
}

// A long recording in a dataset of 5 s clips: the whole hour was held in
// memory (1.4 GB peak for one hour at 44.1 kHz) only to keep 5 s of it.
TEST(ReaderEdges, CroppingALongRecordingKeepsOnlyTheClipInMemory) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  const fs::path flac = dir / "long.flac";  // 20 min of silence: a small file, 52.9 M frames
  ASSERT_EQ(test::ffmpeg("-f lavfi -i anullsrc=r=44100:cl=mono -t 1200 -c:a flac " + flac.string()), 0);
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  const long rss_before_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      const AudioClip clip = decode_audio(flac, {44100, 5.0});
      _exit(clip.samples.size() == 220500 && clip.file_frames == 52920000 ? 0 : 2);
    } catch (...) {
      _exit(3);
    }
  }
  int status = 0;
  struct rusage usage {};
  ASSERT_EQ(wait4(child, &status, 0, &usage), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: wrong length or frame count, 3: an error";
  // The whole stream as float32 would be 207 MiB.
  EXPECT_LT(usage.ru_maxrss - rss_before_kb, 50 * 1024)
      << "the child's peak memory rose by " << usage.ru_maxrss - rss_before_kb << " KiB";
}

// Matroska states a segment duration, not a track's: a WebM/MKA cut in half
// was read as a shorter, whole file (6408 of 96000 frames, no error).
TEST(ReaderEdges, WebmCutShortOfItsSegmentDurationIsTruncated) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  for (const char* codec : {"libopus", "libvorbis"}) {
    SCOPED_TRACE(codec);
    const fs::path whole = dir / "whole.webm", cut = dir / "cut.webm";
    ASSERT_EQ(test::ffmpeg(test::sine_source(440, 2, 48000) + " -c:a " + codec + " " + whole.string()), 0);
    const AudioClip clip = decode_audio(whole);  // the whole file is not called truncated
    EXPECT_GE(clip.samples.size(), 96000u - 1024);
    ASSERT_TRUE(AudioReader(whole).info().declared_frames.has_value());
    fs::copy_file(whole, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(whole) / 2);
    const std::string what = [&] {
      try {
        decode_audio(cut);
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    }();
    EXPECT_EQ(what.rfind(cut.string() + ": truncated: decoded ", 0), 0u) << what;
  }
}

// Runs `body` in a child given 20 s (a hang fails instead of hanging the
// suite): its exit status is body's return value, or 3 when it throws;
// `what` gets body's message or the error's text.
int run_in_child(const std::function<int(std::string&)>& body, std::string* what) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    alarm(20);
    std::string message;
    int code = 0;
    try {
      code = body(message);
    } catch (const std::exception& e) {
      message = e.what();
      code = 3;
    }
    [[maybe_unused]] auto written = ::write(pipe_fds[1], message.data(), message.size());
    _exit(code);
  }
  ::close(pipe_fds[1]);
  char buffer[512];
  ssize_t n = 0;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) what->append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) *what += "killed by signal " + std::to_string(WTERMSIG(status)) + " (hung)";
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

// Decodes `path` in a child: 0 when it decoded `min`..`max` samples.
int decode_in_child(const fs::path& path, std::size_t min, std::size_t max, std::string* what) {
  return run_in_child(
      [&](std::string& message) {
        const std::size_t n = decode_audio(path).samples.size();
        message = std::to_string(n) + " samples";
        return n >= min && n <= max ? 0 : 2;
      },
      what);
}

// A named pipe or a shell's <(...): each probe (the container check, then
// libsndfile, then FFmpeg) opened it again and consumed bytes; FFmpeg's open
// then waited forever for a writer that had gone (MP3, M4A), or FLAC "lost
// sync". An MP3 read whole through a pipe was also called truncated (FFmpeg's
// duration counts the LAME delay and padding it trims).
TEST(ReaderEdges, NamedPipesAreReadOnceWhateverTheFormat) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  const fs::path fifo = dir / "pipe.audio";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string ext : {"mp3", "m4a", "flac"}) {
    SCOPED_TRACE(ext);
    const fs::path file = dir / ("a." + ext);
    // 10 s: more than a pipe's 64 KiB buffer, so the writer is still writing when a probe closes the pipe.
    // An MP4 with its index (moov) after the data cannot be read from a pipe by anyone; phones
    // and browsers write it first, as +faststart does.
    ASSERT_EQ(test::ffmpeg(test::sine_source(440, 10, 44100) + (ext == "m4a" ? " -movflags +faststart " : " ") +
                           file.string()),
              0);
    // The writer in its own process; killed if the reader never opens the pipe.
    const pid_t writer = fork();
    ASSERT_GE(writer, 0);
    if (writer == 0) {
      execlp("sh", "sh", "-c", ("cat '" + file.string() + "' > '" + fifo.string() + "'").c_str(), nullptr);
      _exit(127);
    }
    std::string what;
    EXPECT_EQ(decode_in_child(fifo, 441000 - 1024, 441000 + 2048, &what), 0) << what;
    ::kill(writer, SIGKILL);
    waitpid(writer, nullptr, 0);
  }
}

// A WAV cut short and read through a named pipe (or bash's <(...)) was
// decoded as far as it went, exit 0, while the same bytes on standard input
// were "truncated": FFmpeg's WAV demuxer states no length from a pipe, so a
// named pipe is read through the same reader as standard input, which keeps
// the header's length.
TEST(ReaderEdges, AWavCutShortIsTruncatedThroughANamedPipeAsOnStandardInput) {
  test::TempDir dir;
  const fs::path fifo = dir / "pipe.wav";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const fs::path whole = dir / "whole.wav", cut = dir / "cut.wav";
  std::vector<float> tone(3 * 22050);
  for (std::size_t i = 0; i < tone.size(); ++i) tone[i] = 0.3f * static_cast<float>(std::sin(0.05 * i));
  {
    SF_INFO info{};
    info.samplerate = 22050;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* file = sf_open(whole.c_str(), SFM_WRITE, &info);
    ASSERT_NE(file, nullptr);
    sf_writef_float(file, tone.data(), static_cast<sf_count_t>(tone.size()));
    sf_close(file);
  }
  fs::copy_file(whole, cut);
  fs::resize_file(cut, fs::file_size(whole) / 2);
  for (const fs::path& file : {whole, cut}) {
    SCOPED_TRACE(file.filename().string());
    const pid_t writer = fork();
    ASSERT_GE(writer, 0);
    if (writer == 0) {
      execlp("sh", "sh", "-c", ("cat '" + file.string() + "' > '" + fifo.string() + "'").c_str(), nullptr);
      _exit(127);
    }
    std::string what;
    const int code = decode_in_child(fifo, tone.size(), tone.size(), &what);
    ::kill(writer, SIGKILL);
    waitpid(writer, nullptr, 0);
    if (file == whole) {
      EXPECT_EQ(code, 0) << what;
    } else {
      EXPECT_EQ(code, 3) << what;
      EXPECT_NE(what.find(fifo.string() + ": truncated: decoded "), std::string::npos) << what;
    }
  }
}

// FFmpeg took "12:30.m4a" (a phone's time stamp in a name) for a URL with
// protocol "12": "Protocol not found".
TEST(ReaderEdges, FileNamesWithAColonAreFilesNotProtocols) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 1, 44100) + " -c:a aac " + (dir / "a.m4a").string()), 0);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  fs::rename("a.m4a", "rec12:30.m4a");
  std::string what;
  try {
    what = std::to_string(decode_audio("rec12:30.m4a").samples.size());
  } catch (const std::exception& e) {
    what = e.what();
  }
  fs::current_path(cwd);
  EXPECT_EQ(what.find_first_not_of("0123456789"), std::string::npos) << what;
}

// One flipped bit in the middle of an Ogg Vorbis or Opus file: the decoders
// drop the page that fails its checksum and go on (4.4 s of a 5 s clip, exit
// 0). Every page's CRC-32 is checked before decoding; junk between pages is
// named too.
TEST(ReaderEdges, AnOggPageThatFailsItsChecksumIsNamedNotSkipped) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  for (const std::string codec : {"libvorbis", "libopus"}) {
    SCOPED_TRACE(codec);
    const fs::path ogg = dir / "a.ogg";
    ASSERT_EQ(test::ffmpeg(test::sine_source(440, 5, 48000) + " -c:a " + codec + " " + ogg.string()), 0);
    const std::string whole = read_file(ogg);
    EXPECT_NEAR(static_cast<double>(decode_audio(ogg).samples.size()), 5 * 48000.0, 2048.0);
    auto error_of = [&](const std::string& bytes) {
      write_file_atomic(ogg, bytes);
      try {
        decode_audio(ogg);
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    std::string flipped = whole;
    flipped[whole.size() / 2] ^= 0x10;
    const std::string e = error_of(flipped);
    EXPECT_NE(e.find(ogg.string() + ": damaged: Ogg page "), std::string::npos) << e;
    EXPECT_NE(e.find("fails its checksum"), std::string::npos) << e;
    // Junk between two pages.
    const std::size_t second_page = whole.find("OggS", 4);
    ASSERT_NE(second_page, std::string::npos);
    const std::string junk = whole.substr(0, second_page) + "junk" + whole.substr(second_page);
    const std::string j = error_of(junk);
    EXPECT_NE(j.find("damaged: the bytes at offset " + std::to_string(second_page) + " are not an Ogg page"),
              std::string::npos)
        << j;
  }
}

// Some taggers append an ID3v1 tag (128 bytes, "TAG...") to Ogg files too;
// the decoders stop at the end-of-stream page, but the container check
// called the file "truncated: the file ends in the middle of an Ogg page".
TEST(ReaderEdges, BytesAfterTheOggEndOfStreamPageAreNotATruncation) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  test::TempDir dir;
  for (const std::string codec : {"libvorbis", "libopus"}) {
    SCOPED_TRACE(codec);
    const fs::path ogg = dir / "tagged.ogg";
    ASSERT_EQ(test::ffmpeg(test::sine_source(440, 1, 48000) + " -c:a " + codec + " " + ogg.string()), 0);
    {
      std::ofstream out(ogg, std::ios::binary | std::ios::app);
      out << "TAG" << std::string(125, '\0');
    }
    EXPECT_NEAR(static_cast<double>(decode_audio(ogg).samples.size()), 48000.0, 1024.0);
    // Cut inside its last page, it is still truncated.
    fs::resize_file(ogg, fs::file_size(ogg) - 128 - 10);
    bool truncated = false;
    try {
      decode_audio(ogg);
    } catch (const Error& e) {
      truncated = std::string(e.what()).find("truncated") != std::string::npos;
    }
    EXPECT_TRUE(truncated);
  }
}

// libsndfile's words for a two-byte text file ("No Error.") and for a text
// file named .mp3 ("File does not exist or is not a regular file") were
// passed on as the reason.
TEST(ReaderEdges, ATinyTextFileIsNotAudioWhateverItsName) {
  test::TempDir dir;
  for (const char* name : {"x.wav", "y.mp3"}) {
    SCOPED_TRACE(name);
    std::ofstream(dir / name, std::ios::binary) << "x\n";
    std::string what;
    try {
      decode_audio(dir / name);
    } catch (const Error& e) {
      what = e.what();
    }
    EXPECT_EQ(what, (dir / name).string() + ": not an audio file, or a format no decoder here reads");
  }
}

TEST(ReaderEdges, TheReportedFormatIsTheFilesOwn) {
  test::TempDir dir;
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open((dir / "a.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr);
  std::vector<float> x(1600, 0.25f);
  sf_writef_float(file, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(file);
  // Was ", Signed 24 bit PCM": libsndfile's list looked up by index, not by format.
  EXPECT_EQ(AudioReader(dir / "a.wav").info().format, "WAV (Microsoft), Signed 16 bit PCM");
}

// A sample rate in the header decides how much the resampler makes of each
// frame: 3,000 samples claiming 1 Hz, read at 22,050 Hz, would be 66 million
// samples (the issue-10 breaker saw 1.5 GB). Refused before any decoding.
TEST(ReaderEdges, AnImplausiblyLowSampleRateIsRefusedBeforeResampling) {
  test::TempDir dir;
  SF_INFO info{};
  info.samplerate = 1;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open((dir / "slow.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr);
  std::vector<float> x(3000, 0.25f);
  sf_writef_float(file, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(file);
  ReaderOptions options;
  options.sample_rate = 22050;
  try {
    AudioReader reader(dir / "slow.wav", options);
    FAIL() << "a 1 Hz file was opened for resampling to 22050 Hz";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "slow.wav").string() + ": implausible sample rate 1 Hz"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(AudioReader(dir / "slow.wav"));  // at its own rate it is just numbers
}

// Reads standard input ("-") fed by `shell` (a pipe, as a user's
// `cmd | oneshot-audio logmel -`) to its end in a child given 20 s: the
// frames read, or the error's text in `what`.
int read_stdin_in_child(const std::string& shell, std::string* what) {
  return run_in_child(
      [&](std::string& message) {
        FILE* writer = ::popen(shell.c_str(), "r");
        if (!writer || ::dup2(::fileno(writer), STDIN_FILENO) < 0) _exit(4);
        AudioReader reader("-");
        std::vector<float> block(4096);
        std::uint64_t frames = 0;
        while (const std::size_t n = reader.read(block.data(), block.size())) frames += n;
        message = std::to_string(frames);
        return 0;
      },
      what);
}

// A 5 s, 22,050 Hz mono 16-bit WAV (110,250 frames) and the same as AIFF and RF64.
void make_stdin_fixtures(const fs::path& dir) {
  ASSERT_EQ(test::ffmpeg(test::sine_source(440, 5, 22050) + " " + (dir / "a.wav").string()), 0);
  ASSERT_EQ(test::run_command("sox " + (dir / "a.wav").string() + " " + (dir / "a.aiff").string()), 0);
  ASSERT_EQ(test::ffmpeg("-i " + (dir / "a.wav").string() + " -rf64 always " + (dir / "rf64.wav").string()), 0);
}

// From a pipe no container check ran: `head -c 50000 a.wav | oneshot-audio
// logmel -` read 1.13 s of a 5 s WAV without a word. The header's data size
// is now checked at the end of the stream, in the words used for files,
// whether the cut falls on a frame boundary or inside a sample.
TEST(ReaderEdges, AWavOrAiffCutShortOnStandardInputIsTruncated) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  ONESHOT_REQUIRE_PROGRAM("sox");
  test::TempDir dir;
  make_stdin_fixtures(dir.path());
  for (const std::string cut : {"head -c 50000 a.wav", "head -c 50001 a.wav", "head -c 50000 a.aiff",
                                "head -c 50000 rf64.wav"}) {
    SCOPED_TRACE(cut);
    std::string what;
    EXPECT_EQ(read_stdin_in_child("cd '" + dir.path().string() + "' && " + cut, &what), 3) << what;
    EXPECT_EQ(what.rfind("-: truncated: decoded ", 0), 0u) << what;
    EXPECT_NE(what.find(" of 110250 frames the header declares"), std::string::npos) << what;
  }
}

// Whole streams still pass, including those whose writer could not seek back
// to fill in the size: `ffmpeg -f wav -` to a pipe writes 0xFFFFFFFF, SoX's
// AIFF to a pipe its placeholder 0x7F000008, SoX's WAV from a generator to a
// pipe 0x7FFFF000 rounded down to whole blocks. None states a length.
TEST(ReaderEdges, WholeAndStreamingWavOrAiffOnStandardInputAreRead) {
  ONESHOT_REQUIRE_PROGRAM("ffmpeg");
  ONESHOT_REQUIRE_PROGRAM("sox");
  test::TempDir dir;
  make_stdin_fixtures(dir.path());
  ASSERT_EQ(test::run_command("cd '" + dir.path().string() +
                              "' && ffmpeg -hide_banner -loglevel error -nostdin -i a.wav -f wav - | cat > stream.wav"),
            0);
  std::ifstream stream(dir / "stream.wav", std::ios::binary);
  char riff[8] = {};
  stream.read(riff, 8);
  ASSERT_EQ(std::string(riff + 4, 4), std::string(4, '\xff')) << "ffmpeg wrote a RIFF size to a pipe";
  for (const std::string whole : {"cat a.wav", "cat a.aiff", "cat rf64.wav", "cat stream.wav",
                                  "sox a.wav -t aiff -", "sox a.wav -t wav -",
                                  "sox -n -r 22050 -c 1 -b 16 -t wav - synth 5 sine 440 2>/dev/null",
                                  "sox -n -r 22050 -c 2 -b 24 -t wav - synth 5 sine 440 2>/dev/null"}) {
    SCOPED_TRACE(whole);
    std::string what;
    EXPECT_EQ(read_stdin_in_child("cd '" + dir.path().string() + "' && " + whole, &what), 0) << what;
    EXPECT_EQ(what, "110250");
  }
}

}  // namespace
}  // namespace oneshot
