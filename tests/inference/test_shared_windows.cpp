// Overlapping windows embedded with the encoder's work shared
// (inference/shared_windows.h), against the per-window path
// (embed_recording) on the same samples: the same windows, exactly the same
// embeddings where nothing is shared (one window a block), and close ones
// where blocks share their frames.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdio>

#include "inference/recording_windows.h"
#include "inference/shared_windows.h"
#include "model/normalisation.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

using test::memory_source;

struct Embedded {
  std::vector<std::size_t> starts;
  std::vector<double> levels;
  torch::Tensor embeddings;
  std::size_t total = 0;
};

Embedded per_window(RunModel& run, const std::vector<float>& samples, std::size_t hop) {
  Embedded out;
  std::vector<torch::Tensor> parts;
  out.total = embed_recording(run, memory_source(samples, 4096), hop, [&](const WindowBatch& b) {
    out.starts.insert(out.starts.end(), b.starts.begin(), b.starts.end());
    out.levels.insert(out.levels.end(), b.levels_dbfs.begin(), b.levels_dbfs.end());
    parts.push_back(b.embeddings.clone());
  });
  out.embeddings = torch::cat(parts);
  return out;
}

Embedded shared(RunModel& run, const std::vector<float>& samples, std::size_t hop, std::size_t block_frames,
                std::size_t read_block = 5000) {
  Embedded out;
  std::vector<torch::Tensor> parts;
  out.total = embed_recording_shared(run, memory_source(samples, read_block), hop, [&](const WindowBatch& b) {
    EXPECT_EQ(b.embeddings.size(0), static_cast<int64_t>(b.count()));
    out.starts.insert(out.starts.end(), b.starts.begin(), b.starts.end());
    out.levels.insert(out.levels.end(), b.levels_dbfs.begin(), b.levels_dbfs.end());
    parts.push_back(b.embeddings.clone());
  }, block_frames);
  out.embeddings = torch::cat(parts);
  return out;
}

// Levels in dBFS; a window of padding alone is -inf in both.
void expect_same_levels(const std::vector<double>& got, const std::vector<double>& reference) {
  ASSERT_EQ(got.size(), reference.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(reference[i])) EXPECT_EQ(got[i], reference[i]) << i;
    else EXPECT_NEAR(got[i], reference[i], 1e-9) << i;
  }
}

// The tiny run: 16 kHz, hop_length 256, so the grid is 4096 samples; its 2 s input is 126 frames.
TEST(SharedWindows, GridAndHopRounding) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  EXPECT_EQ(shared_window_grid(*run), 4096u);
  EXPECT_EQ(shared_hop(*run, 16000), 16384u);  // 3.9 grid steps -> 4
  EXPECT_EQ(shared_hop(*run, 1), 4096u);       // at least one step
  EXPECT_EQ(shared_windows_unsupported(*run), "");
  EXPECT_THROW(embed_recording_shared(*run, memory_source({}, 10), 16000, [](const WindowBatch&) {}), Error);
}

// One window a block: every window's log-mel, clip mean and trunk are its own,
// so the embeddings are the per-window path's (the column slicing, the starts,
// the streaming and the padded last window checked exactly).
TEST(SharedWindows, OneWindowABlockGivesThePerWindowEmbeddings) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::vector<float> samples = test::noisy_chirp(16000 * 9 + 777);
  for (std::size_t hop : {std::size_t{4096}, std::size_t{12288}, std::size_t{36864}}) {
    const Embedded reference = per_window(*run, samples, hop);
    const Embedded got = shared(*run, samples, hop, /*block_frames=*/1);
    EXPECT_EQ(got.total, samples.size());
    ASSERT_EQ(got.starts, reference.starts) << "hop " << hop;
    expect_same_levels(got.levels, reference.levels);
    EXPECT_TRUE(torch::allclose(got.embeddings, reference.embeddings, 1e-4, 1e-5)) << "hop " << hop;
  }
}

// Blocks of many windows: the same windows and levels; the embeddings differ
// only by the sliding clip mean and the convolutions' context at window edges.
TEST(SharedWindows, BlocksOfWindowsGiveTheSameWindowsAndCloseEmbeddings) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::vector<float> samples = test::noisy_chirp(16000 * 30 + 1000);
  const std::size_t hop = 8192;  // 0.512 s: each frame in about four windows
  const Embedded reference = per_window(*run, samples, hop);
  for (std::size_t block_frames : {std::size_t{0}, std::size_t{300}}) {
    const Embedded got = shared(*run, samples, hop, block_frames, 3001);
    ASSERT_EQ(got.starts, reference.starts);
    expect_same_levels(got.levels, reference.levels);
    const auto cosine = torch::cosine_similarity(got.embeddings, reference.embeddings, 1);
    std::printf("block_frames %zu: cosine to the per-window embeddings: mean %.4f, min %.4f\n", block_frames,
                cosine.mean().item<double>(), cosine.min().item<double>());
    EXPECT_GT(cosine.min().item<double>(), 0.9) << "block_frames " << block_frames;
    EXPECT_GT(cosine.mean().item<double>(), 0.97) << "block_frames " << block_frames;
    // And not the per-window path by accident: sharing changes the interior windows.
    EXPECT_FALSE(torch::allclose(got.embeddings, reference.embeddings, 1e-6, 1e-7));
  }
}

// model.descriptor = "band_stats": each window's band statistics come from its
// own frames of the shared log-mel; one window a block gives exactly the
// per-window embedding, blocks of windows close ones, descriptor included.
TEST(SharedWindows, TheBandStatisticsOfEachWindowAreItsOwn) {
  test::TempDir dir;
  auto run = test::tiny_run(dir, "band_stats");
  ASSERT_EQ(run->embedding_dim(), 16 + 3 * 32);
  const std::vector<float> samples = test::noisy_chirp(16000 * 12 + 300);
  const std::size_t hop = 8192;
  const Embedded reference = per_window(*run, samples, hop);
  const Embedded one = shared(*run, samples, hop, /*block_frames=*/1);
  ASSERT_EQ(one.starts, reference.starts);
  EXPECT_TRUE(torch::allclose(one.embeddings, reference.embeddings, 1e-4, 1e-5));
  const Embedded blocks = shared(*run, samples, hop, 0);
  ASSERT_EQ(blocks.starts, reference.starts);
  const auto d = reference.embeddings.narrow(1, 16, 96), got = blocks.embeddings.narrow(1, 16, 96);
  const auto cosine = torch::cosine_similarity(got, d, 1);
  EXPECT_GT(cosine.min().item<double>(), 0.95);
  // The chirp rises: windows differ, so a descriptor taken from the wrong frames would not agree.
  EXPECT_LT(torch::cosine_similarity(d[0], d[d.size(0) - 2], 0).item<double>(), 0.95);
}

// model.sound_span = "tile" (the tiny run's default): a window that starts or
// ends in silence (not both) is tiled on its own, so it is the per-window embedding
// exactly; the windows that sound throughout still share the trunk.
TEST(SharedWindows, WindowsThatStartOrEndInSilenceAreEmbeddedOnTheirOwn) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  ASSERT_EQ(run->config().model.sound_span, "tile");
  std::vector<float> samples = test::noisy_chirp(16000 * 12 + 500);
  const std::size_t quiet_from = 16000 * 4, quiet_to = 16000 * 7;  // 3 s of digital silence
  std::fill(samples.begin() + quiet_from, samples.begin() + quiet_to, 0.0f);
  const std::size_t hop = 4096, window = run->window_samples(), margin = 1600;  // 0.1 s
  const Embedded reference = per_window(*run, samples, hop);
  const Embedded got = shared(*run, samples, hop, 0);
  ASSERT_EQ(got.starts, reference.starts);
  auto quiet = [&](std::size_t at) { return at >= quiet_from + margin && at + margin <= quiet_to; };
  int own = 0, shared_ones = 0;
  for (std::size_t i = 0; i + 1 < got.starts.size(); ++i) {  // the last, padded window is always its own
    const std::size_t start = got.starts[i];
    const auto a = got.embeddings[static_cast<int64_t>(i)], b = reference.embeddings[static_cast<int64_t>(i)];
    // A window silent throughout sounds "at both ends" (every frame is its loudest) and shares.
    const bool silent = start >= quiet_from && start + window <= quiet_to;
    if (!silent && (quiet(start) || quiet(start + window - 1))) {
      ++own;
      EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << "window at " << start;
    } else if (start + window + margin <= quiet_from || start >= quiet_to + margin) {
      ++shared_ones;
    }
  }
  EXPECT_GE(own, 8);
  EXPECT_GE(shared_ones, 8);
  EXPECT_FALSE(torch::allclose(got.embeddings, reference.embeddings, 1e-6, 1e-7));  // the others share
}

TEST(SharedWindows, ShortEmptyAndOneWindowRecordings) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::size_t window = run->window_samples();
  for (std::size_t n : {std::size_t{0}, std::size_t{100}, window - 1, window, window + 1, window + 4095}) {
    const std::vector<float> samples = test::noisy_chirp(n);
    const Embedded reference = per_window(*run, samples, 4096);
    const Embedded got = shared(*run, samples, 4096, 0);
    EXPECT_EQ(got.total, n);
    ASSERT_EQ(got.starts, reference.starts) << n << " samples";
    // At most two windows: each its own block or the padded last one, so exactly the per-window ones.
    EXPECT_TRUE(torch::allclose(got.embeddings, reference.embeddings, 1e-4, 1e-5)) << n << " samples";
  }
}

// The sliding clip mean against a frame-by-frame loop.
TEST(SharedWindows, SlidingClipMeanIsEachFramesCentredSpan) {
  ModelConfig config;
  config.clip_norm = "mean";
  config.input_norm = "none";
  InputNorm norm(config, 3);
  torch::manual_seed(1);
  const auto x = torch::randn({1, 1, 3, 11}) + torch::arange(11).to(torch::kFloat);
  const int64_t span = 4;
  const auto got = norm->forward_sliding(x, span);
  for (int64_t t = 0; t < 11; ++t) {
    const int64_t start = std::clamp<int64_t>(t - span / 2, 0, 11 - span);
    const double mean = x.narrow(3, start, span).mean().item<double>();
    for (int64_t m = 0; m < 3; ++m)
      EXPECT_NEAR(got[0][0][m][t].item<double>(), x[0][0][m][t].item<double>() - mean, 1e-5) << t;
  }
  // A span of the whole input: forward().
  EXPECT_TRUE(torch::allclose(norm->forward_sliding(x, 11), norm->forward(x), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(norm->forward_sliding(x, 50), norm->forward(x), 1e-5, 1e-6));
}

}  // namespace
}  // namespace oneshot
