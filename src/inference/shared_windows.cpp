#include "inference/shared_windows.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "enroll/windows.h"
#include "inference/window_stream.h"
#include "model/compact_encoder.h"
#include "model/runtime.h"
#include "model/sound_span.h"

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
  // model.sound_span = "tile": a window that does not sound at both ends is tiled on its own, so
  // it shares nothing and goes through the per-window path (sound_span.h).
  const ModelConfig& model_config = run.config().model;
  const double sound_span_db = model_config.sound_span == "tile" ? model_config.sound_span_db : 0.0;

  WindowStream stream(window, hop);
  std::vector<float> mel;

  // Embeds the next `count` complete windows of the stream together.
  auto embed_block = [&](std::size_t count) {
    torch::NoGradGuard no_grad;
    const float* samples = stream.next_samples();
    const std::size_t span = (count - 1) * hop + window;
    const auto frames = static_cast<int64_t>(extractor.n_frames(span));
    mel.resize(static_cast<std::size_t>(n_mels * frames));
    extractor.log_mel(samples, span, mel.data());
    auto x = torch::from_blob(mel.data(), {1, 1, n_mels, frames}, torch::kFloat);
    std::vector<std::size_t> own;  // windows whose sounding span must be tiled
    if (sound_span_db > 0) {
      const auto energy = x.flatten(1, 2).logsumexp(1).contiguous();  // (1, frames)
      for (std::size_t i = 0; i < count; ++i) {
        const float* e = energy.data_ptr<float>() + i * hop_frames;
        if (sounding_span(e, std::min<int64_t>(window_frames, frames - static_cast<int64_t>(i * hop_frames)),
                          sound_span_db).length < window_frames)
          own.push_back(i);
      }
    }
    // Window i's frames [i * hop_frames, i * hop_frames + window_frames), for the band statistics.
    // (1, 1, M, F) -> (1, M, windows, window_frames) -> (count, 1, M, window_frames)
    const auto windows = model->descriptor ? x.squeeze(0)
                                                 .unfold(2, window_frames, static_cast<int64_t>(hop_frames))
                                                 .narrow(2, 0, static_cast<int64_t>(count))
                                                 .permute({2, 0, 1, 3})
                                           : torch::Tensor();
    if (model->input_norm) x = model->input_norm->forward_sliding(x, window_frames);
    const auto columns = model->trunk(as_channels_last(x.contiguous())).contiguous();  // (1, C, T')
    // Window i pools columns [i * hop_columns, i * hop_columns + window_columns).
    const auto per_window = columns.squeeze(0).unfold(1, window_columns, hop_columns).narrow(1, 0,
                                                                                               static_cast<int64_t>(count));
    auto embeddings = model->pool_project(per_window.permute({1, 0, 2}).contiguous());  // (count, D)
    if (model->embedding_norm) embeddings = model->embedding_norm->forward(embeddings);
    embeddings = model->append_descriptor(windows, embeddings);  // unchanged without a descriptor
    embeddings = embeddings.to(torch::kFloat).contiguous();
    for (const std::size_t i : own) embeddings[static_cast<int64_t>(i)] = run.embed_packed(samples + i * hop, 1)[0];
    WindowBatch batch;
    for (std::size_t i = 0; i < count; ++i) {
      batch.starts.push_back(stream.next_start() + i * hop);
      batch.levels_dbfs.push_back(level_dbfs(samples + i * hop, window));
    }
    batch.embeddings = embeddings;
    on_batch(batch);
    stream.skip(count);
  };

  std::vector<float> block(1 << 16);
  while (const std::size_t n = source(block.data(), block.size())) {
    stream.push(block.data(), n);
    while (stream.complete() >= per_block) embed_block(per_block);
  }
  if (const std::size_t rest = stream.complete()) embed_block(rest);
  // The last window, zero-padded, by the per-window path's rule (window_stream.h) and embedded alone.
  std::vector<float> padded;
  if (const auto start = stream.pop_last(padded)) {
    const std::size_t have = std::min(window, stream.total() - std::min(stream.total(), *start));
    WindowBatch batch;
    batch.starts.push_back(*start);
    batch.levels_dbfs.push_back(level_dbfs(padded.data(), have));
    batch.packed = padded.data();
    batch.embeddings = run.embed_packed(padded.data(), 1);
    on_batch(batch);
  }
  return stream.total();
}

}  // namespace oneshot
