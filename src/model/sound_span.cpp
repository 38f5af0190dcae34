#include "model/sound_span.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace oneshot {

double sound_span_nats(double db) { return db * std::log(10.0) / 10.0; }

SoundSpan sounding_span(const float* frame_energy, int64_t n, double db) {
  float loudest = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < n; ++t)
    if (std::isfinite(frame_energy[t]) && frame_energy[t] > loudest) loudest = frame_energy[t];
  if (!std::isfinite(loudest)) return {0, n};
  const double floor = static_cast<double>(loudest) - sound_span_nats(db);
  auto sounds = [&](int64_t t) { return std::isfinite(frame_energy[t]) && frame_energy[t] >= floor; };
  int64_t first = 0, last = n - 1;
  while (!sounds(first)) ++first;  // the loudest frame sounds, so both loops stop
  while (!sounds(last)) --last;
  return {first, last - first + 1};
}

torch::Tensor tile_sound_span(const torch::Tensor& x, double db) {
  if (x.dim() != 4) throw Error("sound span: expected (B, C, M, T) log-mel batches, got " + std::to_string(x.dim()) + " dims");
  const int64_t batch = x.size(0), frames = x.size(3);
  if (batch == 0 || frames == 0) return x;
  torch::Tensor energy;
  {
    torch::NoGradGuard no_grad;  // the span is chosen, not learned
    energy = x.detach().to(torch::kFloat).flatten(1, 2).logsumexp(1).to(torch::kCPU).contiguous();  // (B, T)
  }
  const float* e = energy.data_ptr<float>();
  std::vector<int64_t> index(static_cast<std::size_t>(batch * frames));
  bool whole = true;
  for (int64_t b = 0; b < batch; ++b) {
    const SoundSpan span = sounding_span(e + b * frames, frames, db);
    whole = whole && span.length == frames;
    for (int64_t t = 0; t < frames; ++t) index[static_cast<std::size_t>(b * frames + t)] = span.first + t % span.length;
  }
  if (whole) return x;
  const auto idx = torch::from_blob(index.data(), {batch, 1, 1, frames}, torch::kLong).to(x.device());
  return x.gather(3, idx.expand({batch, x.size(1), x.size(2), frames}));
}

}  // namespace oneshot
