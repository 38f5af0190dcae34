#include "inference/shared_windows.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "enroll/windows.h"
#include "model/compact_encoder.h"
#include "model/runtime.h"

namespace oneshot {
namespace {

// floor(floor(floor(frames / 4) / 2) / 2): the trunk's columns of `frames` frames.
int64_t trunk_columns(int64_t frames) { return frames / 4 / 2 / 2; }

}  // namespace

std::string shared_windows_unsupported(const RunModel& run) {
  const Config& c = run.config();
  if (c.model.arch != "compact")
    return "model.arch = \"" + c.model.arch + "\" takes exactly its input's frames (only the compact encoder pools "
           "over any number)";
  if (!const_cast<RunModel&>(run).model()->compact) return "the run's network has no compact encoder";
  return {};
}

std::size_t shared_window_grid(const RunModel& run) {
  return static_cast<std::size_t>(run.config().features.hop_length) *
         static_cast<std::size_t>(CompactEncoderImpl::kFramesPerColumn);
}

std::size_t shared_hop(const RunModel& run, std::size_t hop) {
  const std::size_t grid = shared_window_grid(run);
  const auto steps = static_cast<std::size_t>(std::llround(static_cast<double>(hop) / static_cast<double>(grid)));
  return std::max<std::size_t>(steps, 1) * grid;
}

std::size_t embed_recording_shared(RunModel& run, const RunModel::SampleSource& source, std::size_t hop,
                                   const std::function<void(const WindowBatch&)>& on_batch,
                                   std::size_t block_frames) {
  if (const std::string why = shared_windows_unsupported(run); !why.empty())
    throw Error("the encoder's work cannot be shared between windows: " + why);
  const std::size_t grid = shared_window_grid(run);
  if (hop == 0 || hop % grid != 0)
    throw Error("shared windows need a hop of a multiple of " + std::to_string(grid) + " samples (16 frames), not " +
                std::to_string(hop));
  const std::size_t window = run.window_samples();
  const auto hop_length = static_cast<std::size_t>(run.config().features.hop_length);
  const int64_t window_frames = run.n_frames();
  const int64_t window_columns = trunk_columns(window_frames);
  const auto hop_columns = static_cast<int64_t>(hop / grid);
  const auto hop_frames = static_cast<std::size_t>(hop / hop_length);
  // Windows a block holds: as many as fit in block_frames (8 windows' frames by default: the
  // activations of one 16-window batch of the per-window path hold about twice as many).
  if (block_frames == 0) block_frames = 8 * static_cast<std::size_t>(window_frames);
  const std::size_t per_block =
      1 + (std::max(block_frames, static_cast<std::size_t>(window_frames)) - window_frames) / hop_frames;
  const LogMelExtractor& extractor = run.extractor();
  const int64_t n_mels = extractor.n_mels();
  auto& model = run.model();

  std::vector<float> buffer;     // samples from buffer_start on
  std::size_t buffer_start = 0;  // stream index of buffer[0]
  std::size_t next_start = 0;    // start of the next window
  std::size_t total = 0;
  bool any = false;
  std::vector<float> mel;

  // Embeds `count` complete windows from next_start on (all in the buffer).
  auto embed_block = [&](std::size_t count) {
    torch::NoGradGuard no_grad;
    const std::size_t offset = next_start - buffer_start;
    const std::size_t span = (count - 1) * hop + window;
    const auto frames = static_cast<int64_t>(extractor.n_frames(span));
    mel.resize(static_cast<std::size_t>(n_mels * frames));
    extractor.log_mel(buffer.data() + offset, span, mel.data());
    auto x = torch::from_blob(mel.data(), {1, 1, n_mels, frames}, torch::kFloat);
    if (model->input_norm) x = model->input_norm->forward_sliding(x, window_frames);
    const auto columns = model->compact->trunk(as_channels_last(x.contiguous())).contiguous();  // (1, C, T')
    // Window i pools columns [i * hop_columns, i * hop_columns + window_columns).
    const auto per_window = columns.squeeze(0).unfold(1, window_columns, hop_columns).narrow(1, 0,
                                                                                               static_cast<int64_t>(count));
    auto embeddings = model->compact->pool_project(per_window.permute({1, 0, 2}).contiguous());  // (count, D)
    if (model->embedding_norm) embeddings = model->embedding_norm->forward(embeddings);
    WindowBatch batch;
    for (std::size_t i = 0; i < count; ++i) {
      batch.starts.push_back(next_start + i * hop);
      batch.levels_dbfs.push_back(level_dbfs(buffer.data() + offset + i * hop, window));
    }
    batch.embeddings = embeddings.to(torch::kFloat).contiguous();
    on_batch(batch);
    next_start += count * hop;
    any = true;
  };
  // Complete windows the buffer holds from next_start on.
  auto complete = [&] { return total < next_start + window ? 0 : (total - next_start - window) / hop + 1; };

  std::vector<float> block(1 << 16);
  while (const std::size_t n = source(block.data(), block.size())) {
    // Keep only what later windows need (the samples from the next start on).
    const std::size_t keep_from = std::min(next_start, total);
    if (keep_from > buffer_start) {
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(keep_from - buffer_start));
      buffer_start = keep_from;
    }
    buffer.insert(buffer.end(), block.data(), block.data() + n);
    total += n;
    while (complete() >= per_block) embed_block(per_block);
  }
  if (const std::size_t rest = complete()) embed_block(rest);
  // The last window, zero-padded, when samples after the last complete window
  // (or a stream shorter than one window, or an empty one) would otherwise be
  // in no window: the per-window path's (window_stream.h).
  const std::size_t last_end = any ? next_start - hop + window : 0;
  if (!any || (last_end < total && next_start < total)) {
    std::vector<float> padded(window, 0.0f);
    const std::size_t have = total > next_start ? std::min(window, total - next_start) : 0;
    if (have) std::copy_n(buffer.data() + (next_start - buffer_start), have, padded.data());
    WindowBatch batch;
    batch.starts.push_back(next_start);
    batch.levels_dbfs.push_back(level_dbfs(padded.data(), have));
    batch.packed = padded.data();
    batch.embeddings = run.embed_packed(padded.data(), 1);
    on_batch(batch);
  }
  return total;
}

}  // namespace oneshot
