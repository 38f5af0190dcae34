// The feature cache: build and reuse, invalidation, corruption, interrupted
// writes, float16 storage, bad audio files, and the real ESC-50 clips.
#include <gtest/gtest.h>
#include <signal.h>
#include <sndfile.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <random>
#include <fstream>

#include "audio/decode.h"
#include "audio/logmel.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/cache_file.h"
#include "data/feature_cache.h"
#include "data/synthetic.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

constexpr int kRate = 16000;

SyntheticOptions synth_options() {
  SyntheticOptions o;
  o.n_classes = 4;
  o.clips_per_class = 3;
  o.sample_rate = kRate;
  o.duration = 0.5;
  o.seed = 5;
  return o;
}

FeaturesConfig small_features() {
  FeaturesConfig f;
  f.sample_rate = kRate;
  f.duration = 0.5;
  f.n_fft = 512;
  f.hop_length = 128;
  f.n_mels = 40;
  return f;
}

CacheOptions quiet(int jobs = 2) {
  CacheOptions o;
  o.jobs = jobs;
  o.progress = false;
  return o;
}

struct Built {
  FeatureSet set;
  CacheReport report;
};

Built build(const Dataset& ds, const FeaturesConfig& f, const CacheOptions& o = quiet()) {
  Built b;
  b.set = FeatureCache::load_or_build(ds, f, o, &b.report);
  return b;
}

std::vector<float> values(const FeatureSet& s) { return {s.clip(0), s.clip(0) + s.n_clips() * s.clip_size()}; }

std::string build_error(const Dataset& ds, const FeaturesConfig& f, const CacheOptions& o = quiet()) {
  try {
    FeatureCache::load_or_build(ds, f, o);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "load_or_build did not throw";
  return {};
}

void flip_byte(const fs::path& path, std::streamoff offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x5A));
}

std::vector<fs::path> temp_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path());
  return out;
}

class FeatureCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_synthetic_dataset(dir_.path(), synth_options());
    ds_ = load_dataset(dir_.path());
  }
  TempDir dir_;
  Dataset ds_;
  FeaturesConfig features_ = small_features();
};

TEST_F(FeatureCacheTest, BuildsOnceThenReusesTheSameValues) {
  Built first = build(ds_, features_);
  EXPECT_TRUE(first.report.rebuilt);
  EXPECT_EQ(first.report.rebuild_reason, "absent");
  EXPECT_EQ(first.report.cache_file.parent_path(), dir_ / ".oneshot-cache");
  EXPECT_TRUE(fs::exists(first.report.cache_file));
  ASSERT_EQ(first.set.n_clips(), 12u);
  EXPECT_EQ(first.set.n_mels(), 40u);
  EXPECT_EQ(first.set.n_frames(), 1u + 8000u / 128u);
  EXPECT_EQ(first.set.class_names(), ds_.class_names);

  Built second = build(ds_, features_);
  EXPECT_FALSE(second.report.rebuilt);
  EXPECT_EQ(second.report.cache_file, first.report.cache_file);
  EXPECT_EQ(values(second.set), values(first.set));
  EXPECT_EQ(second.set.labels(), first.set.labels());
  EXPECT_EQ(second.set.file_names(), first.set.file_names());
  EXPECT_EQ(second.set.class_names(), first.set.class_names());
  for (std::size_t i = 0; i < ds_.clips.size(); ++i) {
    EXPECT_EQ(second.set.file_names()[i], ds_.clips[i].name);
    EXPECT_EQ(second.set.labels()[i], ds_.clips[i].class_id);
  }
}

TEST_F(FeatureCacheTest, EachClipHoldsItsOwnFileLogMel) {
  Built b = build(ds_, features_);
  LogMelExtractor extractor(features_, kRate);
  for (std::size_t i : {std::size_t{0}, std::size_t{5}, std::size_t{11}}) {
    AudioClip clip = decode_audio(ds_.clips[i].path, {kRate, 0.5});
    std::vector<float> expected(b.set.clip_size());
    extractor.log_mel(clip.samples.data(), clip.samples.size(), expected.data());
    EXPECT_EQ(std::vector<float>(b.set.clip(i), b.set.clip(i) + b.set.clip_size()), expected) << ds_.clips[i].name;
  }
}

TEST_F(FeatureCacheTest, SameBytesWhateverTheThreadCount) {
  TempDir a, b;
  CacheOptions one = quiet(1), two = quiet(2);
  one.cache_dir = a.path();
  two.cache_dir = b.path();
  Built x = build(ds_, features_, one), y = build(ds_, features_, two);
  EXPECT_EQ(x.report.cache_file.parent_path(), a.path());
  EXPECT_EQ(read_file(x.report.cache_file), read_file(y.report.cache_file));
  EXPECT_FALSE(fs::exists(dir_ / ".oneshot-cache"));
}

TEST_F(FeatureCacheTest, ChangedFileTimeOrSizeRebuilds) {
  build(ds_, features_);
  const fs::path clip = ds_.clips[4].path;
  fs::last_write_time(clip, fs::last_write_time(clip) + std::chrono::seconds(2));
  Built touched = build(ds_, features_);
  EXPECT_TRUE(touched.report.rebuilt);
  EXPECT_EQ(touched.report.rebuild_reason.rfind("stale", 0), 0u) << touched.report.rebuild_reason;
  EXPECT_FALSE(build(ds_, features_).report.rebuilt);

  // New contents of another size, same modification time: still rebuilt.
  const auto mtime = fs::last_write_time(clip);
  SyntheticOptions longer = synth_options();
  longer.duration = 0.75;
  write_wav16(clip, synthesize_clip(0, 99, longer), kRate);
  fs::last_write_time(clip, mtime);
  Built resized = build(ds_, features_);
  EXPECT_TRUE(resized.report.rebuilt);
  EXPECT_NE(values(resized.set), values(touched.set));
}

TEST_F(FeatureCacheTest, ChangedFeatureParameterUsesAnotherCacheAndKeepsTheOld) {
  Built a = build(ds_, features_);
  FeaturesConfig other = features_;
  other.n_mels = 32;
  Built b = build(ds_, other);
  EXPECT_TRUE(b.report.rebuilt);
  EXPECT_NE(b.report.cache_file, a.report.cache_file);
  EXPECT_EQ(b.set.n_mels(), 32u);
  FeaturesConfig padded = features_;
  padded.pad_mode = "constant";
  EXPECT_TRUE(build(ds_, padded).report.rebuilt);
  // Nothing cached is lost: the first configuration is still cached.
  Built again = build(ds_, features_);
  EXPECT_FALSE(again.report.rebuilt);
  EXPECT_EQ(values(again.set), values(a.set));
}

TEST_F(FeatureCacheTest, CorruptCacheIsDetectedAndRebuilt) {
  const Built good = build(ds_, features_);
  const fs::path file = good.report.cache_file;
  const std::string pristine = read_file(file);
  struct Case {
    const char* what;
    std::function<void()> damage;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"payload byte", [&] { flip_byte(file, static_cast<std::streamoff>(pristine.size()) - 500); },
       "corrupt: checksum mismatch"},
      {"header byte", [&] { flip_byte(file, 60); }, "corrupt:"},
      {"checksum byte", [&] { flip_byte(file, static_cast<std::streamoff>(pristine.size()) - 1); },
       "corrupt: checksum mismatch"},
      {"truncated", [&] { fs::resize_file(file, pristine.size() - 1000); }, "corrupt: truncated"},
      {"truncated to nothing", [&] { fs::resize_file(file, 0); }, "corrupt: truncated"},
      {"trailing bytes", [&] { std::ofstream(file, std::ios::app | std::ios::binary) << "x"; }, "corrupt:"},
      {"wrong magic", [&] { flip_byte(file, 0); }, "corrupt: not a feature cache"},
      {"wrong version", [&] { flip_byte(file, 8); }, "stale: format version"},
  };
  for (const auto& c : cases) {
    c.damage();
    Built rebuilt = build(ds_, features_);
    EXPECT_TRUE(rebuilt.report.rebuilt) << c.what;
    EXPECT_EQ(rebuilt.report.rebuild_reason.rfind(c.reason, 0), 0u) << c.what << ": " << rebuilt.report.rebuild_reason;
    EXPECT_EQ(values(rebuilt.set), values(good.set)) << c.what;
    EXPECT_EQ(read_file(file), pristine) << c.what << ": the rebuilt file is identical";
  }
}

// Random bytes over the header (a bad sector, a copy cut short, another
// program's write) are a damaged cache like any other: rebuilt, never a
// bad_alloc or minutes spent sizing vectors from counts the damage made up.
TEST_F(FeatureCacheTest, DamagedHeaderIsRebuiltNeverTrusted) {
  const Built good = build(ds_, features_);
  const fs::path file = good.report.cache_file;
  const std::string pristine = read_file(file);
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, pristine.data() + 16, sizeof header_size);
  ASSERT_GT(header_size, 200u);
  std::mt19937 rng(22);
  std::uniform_int_distribution<int> byte(0, 255);
  // The shape fields, the feature TOML's length, the class and file name
  // lists and the class ids, and the tail of the header.
  for (std::size_t offset : {std::size_t{24}, std::size_t{40}, std::size_t{64}, std::size_t{200},
                             static_cast<std::size_t>(24 + header_size / 2),
                             static_cast<std::size_t>(24 + header_size - 64)}) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::string damaged = pristine;
      for (std::size_t i = offset; i < offset + 64; ++i) damaged[i] = static_cast<char>(byte(rng));
      {
        std::ofstream(file, std::ios::binary | std::ios::trunc) << damaged;
      }
      Built rebuilt;
      try {
        rebuilt = build(ds_, features_);
      } catch (const std::bad_alloc&) {
        FAIL() << "offset " << offset << ": bad_alloc from a damaged header";
      }
      EXPECT_TRUE(rebuilt.report.rebuilt) << offset;
      EXPECT_EQ(rebuilt.report.rebuild_reason.rfind("corrupt:", 0), 0u)
          << offset << ": " << rebuilt.report.rebuild_reason;
      EXPECT_EQ(values(rebuilt.set), values(good.set)) << offset;
      EXPECT_EQ(read_file(file), pristine) << offset;
    }
  }
}

// Even a header whose checksum matches (written so by a bug, or forged) is
// not believed beyond its bytes: a list count of 2^32 strings in a header of
// a few hundred bytes is corrupt, read without allocating for it.
TEST_F(FeatureCacheTest, HeaderCountsAreBoundedByTheBytesThatRemain) {
  const Built good = build(ds_, features_);
  const fs::path file = good.report.cache_file;
  std::string bytes = read_file(file);
  std::uint64_t toml_size = 0;
  std::memcpy(&toml_size, bytes.data() + 24 + 40, sizeof toml_size);
  const std::size_t class_count_at = 24 + 40 + 8 + toml_size;
  for (std::uint64_t count : {std::uint64_t{1} << 32, std::uint64_t{1} << 28, std::uint64_t{100000}}) {
    std::memcpy(bytes.data() + class_count_at, &count, sizeof count);
    const std::uint64_t checksum = XXH3_64bits(bytes.data(), bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &checksum, sizeof checksum);
    {
      std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    }
    std::string problem;
    std::optional<CacheContents> read;
    try {
      read = read_cache_file(file, &problem);
    } catch (const std::bad_alloc&) {
      FAIL() << count << " class names: bad_alloc";
    }
    EXPECT_FALSE(read.has_value()) << count;
    EXPECT_EQ(problem, "corrupt: header fields truncated") << count;
  }
  Built rebuilt = build(ds_, features_);
  EXPECT_TRUE(rebuilt.report.rebuilt);
  EXPECT_EQ(rebuilt.report.rebuild_reason, "corrupt: header fields truncated");
  EXPECT_EQ(values(rebuilt.set), values(good.set));
}

// A writer killed mid-write (SIGXFSZ once the file passes half the cache's
// size) leaves the old cache intact and its temporary file abandoned; the next
// run rebuilds and removes it.
TEST_F(FeatureCacheTest, CrashMidWriteLeavesTheOldCache) {
  const Built old = build(ds_, features_);
  const fs::path file = old.report.cache_file;
  const std::string old_bytes = read_file(file);
  const fs::path clip = ds_.clips[0].path;
  fs::last_write_time(clip, fs::last_write_time(clip) + std::chrono::seconds(3));  // makes it stale

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    const rlim_t half = old_bytes.size() / 2;
    rlimit fsize{half, half};
    ::setrlimit(RLIMIT_FSIZE, &fsize);
    try {
      FeatureCache::load_or_build(ds_, features_, quiet(1));
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);  // not reached: SIGXFSZ kills the writer
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGXFSZ);

  EXPECT_EQ(read_file(file), old_bytes) << "the old cache is untouched";
  const auto leftovers = temp_files(file.parent_path());
  ASSERT_EQ(leftovers.size(), 1u);
  EXPECT_EQ(fs::file_size(leftovers[0]), old_bytes.size() / 2) << "a half-written temporary file";

  Built rebuilt = build(ds_, features_);
  EXPECT_TRUE(rebuilt.report.rebuilt);
  EXPECT_EQ(rebuilt.report.rebuild_reason.rfind("stale", 0), 0u);
  EXPECT_TRUE(temp_files(file.parent_path()).empty()) << "the dead writer's file is cleaned up";
  EXPECT_FALSE(build(ds_, features_).report.rebuilt);
}

// A write that fails (the file size limit, as a full disk would) throws; the
// uncommitted AtomicWriter removes its temporary file; the old cache stays.
TEST_F(FeatureCacheTest, FailedWriteLeavesTheOldCacheAndNoTemporaryFile) {
  const Built old = build(ds_, features_);
  const fs::path file = old.report.cache_file;
  const std::string old_bytes = read_file(file);
  fs::last_write_time(ds_.clips[1].path, fs::last_write_time(ds_.clips[1].path) + std::chrono::seconds(3));

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
    const rlim_t half = old_bytes.size() / 2;
    rlimit fsize{half, half};
    ::setrlimit(RLIMIT_FSIZE, &fsize);
    try {
      FeatureCache::load_or_build(ds_, features_, quiet(1));
    } catch (const Error& e) {
      ::_exit(std::string(e.what()).find("write failed") != std::string::npos ? 7 : 8);
    } catch (...) {
      ::_exit(9);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_EQ(read_file(file), old_bytes);
  EXPECT_TRUE(temp_files(file.parent_path()).empty());
}

TEST_F(FeatureCacheTest, Float16StorageRoundTripsWithinTolerance) {
  const Built full = build(ds_, features_);
  FeaturesConfig half = features_;
  half.storage = "float16";
  const Built first = build(ds_, half);
  EXPECT_TRUE(first.report.rebuilt);
  EXPECT_NE(first.report.cache_file, full.report.cache_file);
  const Built again = build(ds_, half);
  EXPECT_FALSE(again.report.rebuilt);
  EXPECT_EQ(values(again.set), values(first.set)) << "a reload sees exactly what the build returned";

  const auto a = values(full.set), b = values(again.set);
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double rel = std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(double(a[i])));
    worst = std::max(worst, rel);
  }
  EXPECT_LE(worst, 1.0 / 2048) << "half precision: 11 significant bits";
  EXPECT_NE(a, b) << "float16 really was used";
  const auto full_size = fs::file_size(full.report.cache_file), half_size = fs::file_size(again.report.cache_file);
  EXPECT_LT(half_size, full_size * 6 / 10);
}

TEST_F(FeatureCacheTest, BadAudioIsListedAndNothingIsWritten) {
  std::ofstream(ds_.clips[2].path, std::ios::binary | std::ios::trunc) << "this is not a WAV file, just text";
  std::ofstream(ds_.clips[7].path, std::ios::binary | std::ios::trunc);  // empty
  const std::string message = build_error(ds_, features_);
  EXPECT_NE(message.find(ds_.clips[2].path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(ds_.clips[7].path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("2 of 12"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / ".oneshot-cache")) << "nothing written";

  CacheOptions skip = quiet();
  skip.skip_bad = true;
  Built b = build(ds_, features_, skip);
  EXPECT_TRUE(b.report.rebuilt);
  ASSERT_EQ(b.report.skipped.size(), 2u);
  EXPECT_EQ(b.report.skipped[0].path, ds_.clips[2].path);
  EXPECT_EQ(b.report.skipped[1].path, ds_.clips[7].path);
  EXPECT_FALSE(b.report.skipped[0].reason.empty());
  ASSERT_EQ(b.set.n_clips(), 10u);
  for (const auto& name : b.set.file_names()) {
    EXPECT_NE(name, ds_.clips[2].name);
    EXPECT_NE(name, ds_.clips[7].name);
  }
  // Reused with the same report; without skip_bad the bad files are an error again.
  Built reused = build(ds_, features_, skip);
  EXPECT_FALSE(reused.report.rebuilt);
  ASSERT_EQ(reused.report.skipped.size(), 2u);
  EXPECT_EQ(reused.report.skipped[1].path, ds_.clips[7].path);
  EXPECT_EQ(reused.report.skipped[1].reason, b.report.skipped[1].reason);
  EXPECT_NE(build_error(ds_, features_).find(ds_.clips[7].path.string()), std::string::npos);
}

// Issue 10, item 6: a missing row and three bad files were reported in two
// runs (the missing row first, the bad files after it was fixed).
TEST_F(FeatureCacheTest, EveryProblemIsListedInOneRun) {
  fs::remove(ds_.clips[1].path);
  std::ofstream(ds_.clips[4].path, std::ios::binary | std::ios::trunc) << "not audio";
  std::ofstream(ds_.clips[8].path, std::ios::binary | std::ios::trunc);
  fs::resize_file(ds_.clips[10].path, fs::file_size(ds_.clips[10].path) / 2);
  DatasetOptions collect;
  collect.collect_problems = true;
  const Dataset ds = load_dataset(dir_.path(), collect);
  const std::string message = build_error(ds, features_);
  for (std::size_t i : {1, 4, 8, 10}) EXPECT_NE(message.find(ds_.clips[i].path.string()), std::string::npos) << i << ": " << message;
  EXPECT_NE(message.find("file not found (listed on line"), std::string::npos) << message;
  EXPECT_NE(message.find("3 of 11 audio file(s) cannot be used and 1 listed file(s)"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / ".oneshot-cache")) << "nothing written";
}

// Issue 10, item 1: in a dataset the file was listed only as "std::bad_alloc".
TEST_F(FeatureCacheTest, AFileWhoseHeaderLiesIsNamed) {
  const fs::path path = ds_.clips[5].path;
  const AudioClip clip = decode_audio(path);
  SF_INFO info{};
  info.samplerate = kRate;
  info.channels = 1;
  info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;  // contents decide, not the .wav name
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr);
  sf_writef_float(file, clip.samples.data(), static_cast<sf_count_t>(clip.samples.size()));
  sf_close(file);
  // STREAMINFO's 36-bit total samples (bytes 21-25) set to 2^36 - 1.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  char b21 = 0;
  f.seekg(21);
  f.get(b21);
  f.seekp(21);
  const char total[5] = {static_cast<char>(b21 | 0x0f), '\xff', '\xff', '\xff', '\xff'};
  f.write(total, 5);
  f.close();
  const std::string message = build_error(ds_, features_);
  EXPECT_NE(message.find(path.string() + ": truncated: decoded 8000 of 68719476735"), std::string::npos) << message;
  EXPECT_EQ(message.find("bad_alloc"), std::string::npos) << message;
}

TEST_F(FeatureCacheTest, AClassLeftWithoutAUsableFileIsNamed) {
  std::vector<std::size_t> of_class;
  for (std::size_t i = 0; i < ds_.clips.size(); ++i)
    if (ds_.clips[i].class_id == 2) of_class.push_back(i);
  for (std::size_t i : of_class) std::ofstream(ds_.clips[i].path, std::ios::binary | std::ios::trunc) << "x";
  const std::string name = ds_.class_names[2];
  EXPECT_NE(build_error(ds_, features_).find("class \"" + name + "\": none of its 3 file(s) can be used"), std::string::npos);
  CacheOptions skip = quiet();
  skip.skip_bad = true;
  Built b = build(ds_, features_, skip);
  EXPECT_EQ(b.report.empty_classes, std::vector<std::string>{name});
  EXPECT_EQ(b.set.n_clips(), ds_.clips.size() - 3);
}

TEST_F(FeatureCacheTest, BadAudioNeverDestroysAnExistingCache) {
  const Built old = build(ds_, features_);
  const std::string old_bytes = read_file(old.report.cache_file);
  std::ofstream(ds_.clips[3].path, std::ios::binary | std::ios::trunc) << "RIFF....WAVEbroken";
  EXPECT_NE(build_error(ds_, features_).find(ds_.clips[3].path.string()), std::string::npos);
  EXPECT_EQ(read_file(old.report.cache_file), old_bytes);
}

TEST_F(FeatureCacheTest, CacheDirectoryBelowAFileFailsBeforeAnyWork) {
  CacheOptions o = quiet();
  o.cache_dir = ds_.clips[0].path / "cache";  // below a regular file
  std::string message = build_error(ds_, features_, o);
  EXPECT_NE(message.find("choose another with --cache"), std::string::npos) << message;
  EXPECT_NE(message.find(ds_.clips[0].path.string()), std::string::npos) << message;
}

// A named pipe where the cache file goes used to hang `features` for ever:
// the read opened it and waited for a writer. It is named before any work (a
// child process, so that a hang is a failure, not a stuck test); so is a directory.
TEST_F(FeatureCacheTest, APipeOrADirectoryInTheCachesPlaceIsNamedWithoutHanging) {
  const fs::path file = FeatureCache::path_for(ds_, features_, quiet());
  fs::create_directories(file.parent_path());
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(out[0]);
    ::alarm(20);  // the old reader blocked in open(2) until SIGALRM
    const std::string message = build_error(ds_, features_);
    (void)!::write(out[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string message;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the cache's reader hung on the pipe (killed by signal "
                                 << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_NE(message.find(file.string() + ": is a named pipe, where the feature cache file goes"), std::string::npos)
      << message;
  EXPECT_NE(message.find("--cache DIR"), std::string::npos) << message;
  struct stat st {};
  ASSERT_EQ(::lstat(file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the pipe is the user's: left as it is";

  fs::remove(file);
  fs::create_directories(file);
  message = build_error(ds_, features_);
  EXPECT_NE(message.find(file.string() + ": is a directory, where the feature cache file goes"), std::string::npos)
      << message;
  std::string problem;
  EXPECT_FALSE(read_cache_file(file, &problem).has_value());  // the reader alone refuses it too
  fs::remove(file);
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  EXPECT_FALSE(read_cache_file(file, &problem).has_value());  // at once: opened without blocking
  EXPECT_EQ(problem, "corrupt: not a regular file");
}

TEST_F(FeatureCacheTest, ReadOnlyCacheDirectoryFailsBeforeAnyWork) {
  TempDir locked;
  fs::permissions(locked.path(), fs::perms::owner_read | fs::perms::owner_exec);
  if (::access(locked.path().c_str(), W_OK) == 0) GTEST_SKIP() << "running as root: permissions are not enforced";
  CacheOptions o = quiet();
  o.cache_dir = locked / "cache";
  const std::string message = build_error(ds_, features_, o);
  EXPECT_NE(message.find("not a writable directory"), std::string::npos) << message;
}

TEST_F(FeatureCacheTest, NativeRateNeedsOneRateAndLength) {
  FeaturesConfig native = features_;
  native.sample_rate = 0;
  Built b = build(ds_, native);
  EXPECT_EQ(b.set.n_frames(), 1u + 8000u / 128u);

  // One clip at another rate: an error naming it, unless resampling is asked for.
  write_wav16(ds_.clips[6].path, std::vector<float>(4000, 0.1f), 8000);
  std::string message = build_error(ds_, native);
  EXPECT_NE(message.find(ds_.clips[6].path.string() + ": sample rate 8000"), std::string::npos) << message;
  EXPECT_NO_THROW(build(ds_, features_));

  // Same rate, another length, and no fixed duration: an error naming it.
  write_wav16(ds_.clips[6].path, std::vector<float>(9000, 0.1f), kRate);
  native.duration = 0;
  message = build_error(ds_, native);
  EXPECT_NE(message.find(ds_.clips[6].path.string() + ": length in samples 9000"), std::string::npos) << message;
  FeaturesConfig resampled_native_length = features_;
  resampled_native_length.duration = 0;
  message = build_error(ds_, resampled_native_length);
  EXPECT_NE(message.find(ds_.clips[6].path.string()), std::string::npos) << message;
  native.duration = 0.5;
  EXPECT_NO_THROW(build(ds_, native));
}

// The synthetic classes are what the demo relies on: clearly separable even
// by the nearest class mean of the time-averaged log-mel (leave-one-out).
TEST(SyntheticFeatures, ClassesAreSeparableInLogMel) {
  TempDir dir;
  SyntheticOptions o;
  o.n_classes = 12;
  o.clips_per_class = 4;
  o.sample_rate = 22050;
  o.duration = 1.0;
  write_synthetic_dataset(dir.path(), o);
  Dataset ds = load_dataset(dir.path());
  FeaturesConfig f;
  f.sample_rate = 22050;
  f.duration = 1.0;
  FeatureSet set = FeatureCache::load_or_build(ds, f, quiet());
  const std::size_t n = set.n_clips(), m = set.n_mels(), t = set.n_frames();
  std::vector<std::vector<double>> profile(n, std::vector<double>(m));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t b = 0; b < m; ++b)
      for (std::size_t k = 0; k < t; ++k) profile[i][b] += set.clip(i)[b * t + k] / double(t);
  int correct = 0;
  for (std::size_t q = 0; q < n; ++q) {
    double best = 1e300;
    int best_class = -1;
    for (int c = 0; c < o.n_classes; ++c) {
      std::vector<double> mean(m);
      int count = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (i != q && set.labels()[i] == c) {
          for (std::size_t b = 0; b < m; ++b) mean[b] += profile[i][b];
          ++count;
        }
      double d = 0;
      for (std::size_t b = 0; b < m; ++b) d += std::pow(mean[b] / count - profile[q][b], 2);
      if (d < best) best = d, best_class = c;
    }
    correct += best_class == set.labels()[q];

  }
  // A crude classifier blind to time (sweeps, rhythm) still gets nearly all.
  EXPECT_GE(correct, static_cast<int>(n) * 95 / 100) << "leave-one-out nearest class mean";
}

TEST(FeatureSetTest, FromVectorsChecksShapes) {
  EXPECT_THROW(FeatureSet::from_vectors(std::vector<float>(5), 2, 2, {0}, {"a"}, {"x"}), Error);
  EXPECT_THROW(FeatureSet::from_vectors(std::vector<float>(4), 2, 2, {1}, {"a"}, {"x"}), Error);
  FeatureSet s = FeatureSet::from_vectors({1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, {0, 1}, {"a", "b"}, {"x", "y"});
  EXPECT_EQ(s.n_clips(), 2u);
  EXPECT_EQ(s.clip(1)[0], 5.0f);
}

// The real clips: 24 ESC-50 clips, 6 classes, default features (128 x 431).
TEST(FeatureCacheEsc50Mini, BuildsAndReuses) {
  const fs::path root = test::esc50_mini();
  if (root.empty()) GTEST_SKIP() << "../shared/data/esc50-mini is absent";
  TempDir cache;
  CacheOptions o = quiet();
  o.cache_dir = cache.path();
  Dataset ds = load_dataset(root);
  CacheReport report;
  FeatureSet set = FeatureCache::load_or_build(ds, FeaturesConfig{}, o, &report);
  EXPECT_TRUE(report.rebuilt);
  EXPECT_EQ(set.n_clips(), 24u);
  EXPECT_EQ(set.class_names().size(), 6u);
  EXPECT_EQ(set.n_mels(), 128u);
  EXPECT_EQ(set.n_frames(), 431u);
  for (std::size_t i = 0; i < set.n_clips() * set.clip_size(); ++i) ASSERT_TRUE(std::isfinite(set.clip(0)[i]));
  FeatureSet again = FeatureCache::load_or_build(ds, FeaturesConfig{}, o, &report);
  EXPECT_FALSE(report.rebuilt);
  EXPECT_EQ(values(again), values(set));
}

}  // namespace
}  // namespace oneshot
