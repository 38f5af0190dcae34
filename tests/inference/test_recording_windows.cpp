// classify and enroll stream a recording through the model
// (inference/recording_windows.h). The references are the whole-recording
// paths they replaced: plan_windows + sounding_windows + embed_windows, and
// enrolment_views + embed_packed, on the same samples in memory.
#include <gtest/gtest.h>

#include <random>

#include "data/synthetic.h"
#include "enroll/windows.h"
#include "inference/enrolment.h"
#include "inference/recording_windows.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

using test::memory_source;

// A chirp whose level steps down every second (0, -4, -8, ... dB): the
// sounding rule keeps some windows and drops others.
std::vector<float> stepped(std::size_t n) {
  std::vector<float> x = test::noisy_chirp(n);
  for (std::size_t i = 0; i < n; ++i) x[i] *= static_cast<float>(std::pow(10.0, -4.0 * (i / 16000) / 20.0));
  return x;
}

TEST(RecordingWindows, StreamedWindowsAreThePlannedOnesWithTheirEmbeddingsAndLevels) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::vector<float> samples = stepped(16000 * 7 + 1234);
  const std::size_t hop = 12000;
  const WindowPlan plan = plan_windows(samples.size(), run->window_samples(), hop);
  const torch::Tensor reference = run->embed_windows(samples, plan.starts);
  for (std::size_t block : {std::size_t{1000}, std::size_t{65536}}) {
    std::vector<std::size_t> starts;
    std::vector<double> levels;
    std::vector<torch::Tensor> embeddings;
    const std::size_t total = embed_recording(*run, memory_source(samples, block), hop, [&](const WindowBatch& b) {
      starts.insert(starts.end(), b.starts.begin(), b.starts.end());
      levels.insert(levels.end(), b.levels_dbfs.begin(), b.levels_dbfs.end());
      embeddings.push_back(b.embeddings.clone());
    }, 3);
    EXPECT_EQ(total, samples.size());
    EXPECT_EQ(starts, plan.starts) << "block " << block;
    ASSERT_EQ(levels.size(), plan.starts.size());
    for (std::size_t i = 0; i < levels.size(); ++i)
      EXPECT_NEAR(levels[i], window_level_dbfs(samples, plan.starts[i], plan.window), 1e-9) << i;
    EXPECT_TRUE(torch::allclose(torch::cat(embeddings), reference, 1e-5, 1e-5)) << "block " << block;
  }
}

TEST(RecordingWindows, SoundingWindowsAsTheyArriveEqualTheWholeRecordingsRule) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> level(-80, 0);
  for (int trial = 0; trial < 200; ++trial) {
    // Levels as sounding_windows computes them: constant windows of one sample each.
    std::vector<float> samples(1 + rng() % 40);
    for (float& s : samples) s = static_cast<float>(std::pow(10.0, level(rng) / 20.0));
    const WindowPlan plan = plan_windows(samples.size(), 1, 1);
    SoundingWindows<std::size_t> streamed(SoundingRule{});
    for (std::size_t i = 0; i < plan.starts.size(); ++i) streamed.add(window_level_dbfs(samples, i, 1), i);
    try {
      const auto expected = sounding_windows(samples, plan, SoundingRule{}, "x");
      EXPECT_EQ(streamed.finish("x"), expected) << "trial " << trial;
    } catch (const Error& e) {
      EXPECT_THROW(streamed.finish("x"), Error) << "trial " << trial << ": " << e.what();
    }
  }
  SoundingWindows<int> silent(SoundingRule{});
  silent.add(-90, 1);
  EXPECT_THROW(silent.finish("quiet.wav"), Error);
}

// embed_example streams the file; its rows are the in-memory enrolment's.
TEST(RecordingWindows, EnrolmentOfAFileEqualsTheInMemoryViews) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  for (std::size_t n : {std::size_t{16000 * 7 + 77}, std::size_t{20000}}) {  // many windows; one window
    const std::vector<float> samples = stepped(n);
    write_wav16(dir / "example.wav", samples, 16000);
    const std::vector<float> decoded = run->read_audio((dir / "example.wav").string());
    for (int views : {1, 3}) {
      WindowingOptions options;
      const EnrolmentViews v = enrolment_views(*run, decoded, options, views, "example.wav");
      const torch::Tensor reference = run->embed_packed(v.packed.data(), v.count());
      const auto rows = embed_example(*run, (dir / "example.wav").string(), options, std::nullopt, views);
      ASSERT_EQ(rows.size(), v.count()) << n << " samples, " << views << " views";
      for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_DOUBLE_EQ(rows[i].window_start, v.start_s[i]);
        const torch::Tensor row = torch::from_blob(const_cast<float*>(rows[i].embedding.data()),
                                                   {static_cast<int64_t>(rows[i].embedding.size())}, torch::kFloat);
        EXPECT_TRUE(torch::allclose(row, reference[static_cast<int64_t>(i)], 1e-5, 1e-5)) << i;
      }
    }
  }
}

// A hop below one frame of the model's input gives no new windows, only work
// (1e-5 s on an 8 s file was 800,000 windows and std::bad_alloc).
TEST(RecordingWindows, AHopBelowOneFrameIsRefusedNamingTheLimit) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  WindowingOptions options;
  options.hop_s = 1e-5;
  try {
    hop_samples(*run, options);
    FAIL() << "a hop of 1e-5 s was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--hop"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0.016 s"), std::string::npos) << "one frame hop, 256 / 16000: " << e.what();
  }
  options.hop_s = 256.0 / 16000;
  EXPECT_EQ(hop_samples(*run, options), 256u);
  options.hop_s = 0;
  EXPECT_EQ(hop_samples(*run, options), run->window_samples() / 2);
}

// A segment that reaches past the end of its recording was cut short
// silently (--segment 1:99 of a 5 s file enrolled 1 to 5 s): it is refused,
// naming the file, its length and the segment, for files whose header states
// no length too (the check is at the end of the stream). An end less than
// 50 ms past (rounded up, or a lossy format's length as another decoder gives
// it) is taken.
TEST(RecordingWindows, ASegmentPastTheEndOfTheRecordingIsRefusedNotCutShort) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::string wav = (dir / "five.wav").string();
  write_wav16(wav, test::noisy_chirp(5 * 16000), 16000);
  EXPECT_EQ(run->read_audio(wav, Segment{1, 5}).size(), 4u * 16000);
  EXPECT_EQ(run->read_audio(wav, Segment{1, 5.04}).size(), 4u * 16000);
  EXPECT_EQ(run->read_audio(wav, Segment{1, -1}).size(), 4u * 16000);
  const std::string past = test::error_of([&] { run->read_audio(wav, Segment{1, 99}); });
  EXPECT_EQ(past, wav + ": segment 1.000:99.000 ends at 99.000 s, after the end of the recording (5.000 s): give an "
                        "END of at most 5.000")
      << past;
  const std::string after = test::error_of([&] { run->read_audio(wav, Segment{7, 9}); });
  EXPECT_NE(after.find(wav + ": segment 7.000:9.000 starts at 7.000 s, after the end of the recording (5.000 s)"),
            std::string::npos)
      << after;
  // Enrolment names it the same way, and check_segment_within is the rule both use.
  const std::string enrol = test::error_of([&] { embed_example(*run, wav, WindowingOptions{}, Segment{1, 99}); });
  EXPECT_NE(enrol.find("ends at 99.000 s, after the end of the recording (5.000 s)"), std::string::npos) << enrol;
  EXPECT_EQ(test::error_of([] { check_segment_within(Segment{1, 5.049}, 5.0, "x"); }), "");
  EXPECT_NE(test::error_of([] { check_segment_within(Segment{1, 5.06}, 5.0, "x"); }), "");
}

}  // namespace
}  // namespace oneshot
