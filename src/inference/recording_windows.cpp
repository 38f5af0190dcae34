#include "inference/recording_windows.h"

#include <algorithm>

#include "inference/window_stream.h"

namespace oneshot {

std::size_t embed_recording(RunModel& run, const RunModel::SampleSource& source, std::size_t hop,
                            const std::function<void(const WindowBatch&)>& on_batch, std::size_t batch,
                            std::size_t window) {
  if (window == 0) window = run.window_samples();
  batch = std::max<std::size_t>(batch, 1);
  WindowStream stream(window, hop);
  std::vector<float> packed, block(1 << 16);
  WindowBatch pending;
  auto flush = [&] {
    if (pending.starts.empty()) return;
    for (std::size_t i = 0; i < pending.count(); ++i) {
      const std::size_t held = std::min(window, stream.total() - std::min(stream.total(), pending.starts[i]));
      pending.levels_dbfs.push_back(level_dbfs(packed.data() + i * window, held));
    }
    pending.packed = packed.data();
    pending.embeddings = run.embed_packed(packed.data(), pending.count(), window);
    on_batch(pending);
    pending = WindowBatch{};
    packed.clear();
  };
  while (const std::size_t n = source(block.data(), block.size())) {
    stream.push(block.data(), n);
    while (const auto start = stream.pop(packed)) {
      pending.starts.push_back(*start);
      if (pending.count() == batch) flush();
    }
  }
  if (const auto start = stream.pop_last(packed)) pending.starts.push_back(*start);
  flush();
  return stream.total();
}

SoundingRows embed_sounding_rows(RunModel& run, const RunModel::SampleSource& source, std::size_t hop,
                                 const SoundingRule& rule) {
  SoundingWindows<std::vector<float>> sounding(rule);
  SoundingRows out;
  out.samples = embed_recording(run, source, hop, [&](const WindowBatch& b) {
    const torch::Tensor e = b.embeddings.to(torch::kFloat).contiguous();
    const auto dim = static_cast<std::size_t>(e.size(1));
    const float* p = e.data_ptr<float>();
    for (std::size_t i = 0; i < b.count(); ++i)
      sounding.add(b.levels_dbfs[i], std::vector<float>(p + i * dim, p + (i + 1) * dim));
  });
  out.loudest_dbfs = sounding.loudest_dbfs();
  if (out.loudest_dbfs >= rule.silence_dbfs) out.rows = sounding.take();
  return out;
}

}  // namespace oneshot
