// Windows shorter than the model's input (RunModel::ShortWindows): padded to
// the input as training pads short clips, or embedded at their own length by
// the compact encoder, whose time pooling takes any number of frames. The
// reference embeddings are computed here from the log-mel of exactly the
// samples each path should see.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "audio/logmel.h"
#include "core/atomic_file.h"
#include "core/config.h"
#include "inference/run_model.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "support/test_support.h"
#include "tiny_run.h"
#include "train/checkpoint.h"

namespace oneshot {
namespace {

using test::noisy_chirp;
using test::tiny_config;
using test::tiny_run;

// The run's embedding of `samples` as one model input of their own length.
torch::Tensor reference_embedding(RunModel& run, const std::vector<float>& samples) {
  LogMelExtractor extractor(run.config().features, run.sample_rate());
  const auto frames = static_cast<int64_t>(extractor.n_frames(samples.size()));
  auto input = torch::empty({1, 1, 32, frames}, torch::kFloat);
  extractor.log_mel(samples.data(), samples.size(), input.data_ptr<float>());
  torch::NoGradGuard no_grad;
  return run.model()->embed(as_channels_last(input)).to(torch::kFloat);
}

TEST(ShortWindows, OwnLengthEmbedsTheWindowsOwnFramesNotPadding) {
  test::TempDir dir;
  auto run = tiny_run(dir);
  ASSERT_TRUE(run->pools_time());
  const std::vector<float> x = noisy_chirp(3 * 16000);
  const std::size_t start = 12000, window = 8000;  // 0.5 s: 32 frames
  const std::vector<float> own(x.begin() + start, x.begin() + start + window);
  std::vector<float> padded(run->window_samples(), 0.0f);
  std::copy(own.begin(), own.end(), padded.begin());

  run->set_short_windows(RunModel::ShortWindows::own);
  const torch::Tensor e_own = run->embed_windows(x, {start}, window);
  EXPECT_TRUE(torch::allclose(e_own, reference_embedding(*run, own), 1e-4, 1e-5));
  // The same through the packed path the detector uses.
  EXPECT_TRUE(torch::allclose(run->embed_packed(own.data(), 1, window), e_own, 1e-5, 1e-6));

  run->set_short_windows(RunModel::ShortWindows::pad);
  const torch::Tensor e_pad = run->embed_windows(x, {start}, window);
  EXPECT_TRUE(torch::allclose(e_pad, reference_embedding(*run, padded), 1e-4, 1e-5));
  // Padding changes the embedding: 1.5 s of zeros enter the time pooling.
  EXPECT_GT((e_own - e_pad).abs().max().item<float>(), 1e-3);
}

TEST(ShortWindows, BelowTheEncodersMinimumThePaddingIsToItsThirtyTwoFrames) {
  test::TempDir dir;
  auto run = tiny_run(dir);
  // 1 + n / 256 >= 32 frames: n >= 31 x 256.
  EXPECT_EQ(run->min_window_samples(), 31u * 256);
  const std::vector<float> x = noisy_chirp(16000);
  run->set_short_windows(RunModel::ShortWindows::own);
  std::vector<float> expected(31 * 256, 0.0f);
  std::copy(x.begin() + 1000, x.begin() + 3000, expected.begin());
  EXPECT_TRUE(torch::allclose(run->embed_windows(x, {1000}, 2000), reference_embedding(*run, expected), 1e-4, 1e-5));
}

TEST(ShortWindows, FullWindowsAndTheTailOfARecording) {
  test::TempDir dir;
  auto run = tiny_run(dir);
  const std::vector<float> x = noisy_chirp(40000);  // 2.5 s: the window at 24000 holds 1 s
  run->set_short_windows(RunModel::ShortWindows::pad);
  const torch::Tensor pad = run->embed_windows(x, {0, 24000});
  run->set_short_windows(RunModel::ShortWindows::own);
  const torch::Tensor own = run->embed_windows(x, {0, 24000});
  ASSERT_EQ(own.size(0), 2);
  // A full window is the same either way.
  EXPECT_TRUE(torch::allclose(own[0], pad[0], 1e-5, 1e-6));
  // The tail is embedded at its own 1 s.
  const std::vector<float> tail(x.begin() + 24000, x.end());
  EXPECT_TRUE(torch::allclose(own[1], reference_embedding(*run, tail)[0], 1e-4, 1e-5));
  EXPECT_GT((own[1] - pad[1]).abs().max().item<float>(), 1e-3);
}

}  // namespace
}  // namespace oneshot
