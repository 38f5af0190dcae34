#include "train/augment.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace oneshot {

double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

namespace {

// An integer in [0, n].
int64_t uniform_upto(Rng& rng, int64_t n) { return n <= 0 ? 0 : static_cast<int64_t>(uniform_index(rng, n + 1)); }

// Sets `count` random spans of up to max_width positions along `dim` (of a
// (M, T) clip) to `value`.
void mask_spans(torch::Tensor& clip, int dim, int count, double max_fraction, float value, Rng& rng) {
  const int64_t size = clip.size(dim);
  const auto max_width = static_cast<int64_t>(std::floor(max_fraction * static_cast<double>(size)));
  for (int i = 0; i < count; ++i) {
    const int64_t width = uniform_upto(rng, max_width);
    const int64_t start = uniform_upto(rng, size - width);
    if (width > 0) clip.narrow(dim, start, width).fill_(value);
  }
}

// Frames of a clip of `frames` frames resampled by `rate`: the draw of a stretch's start and the
// resampling itself must agree on it.
int64_t stretched_frames(int64_t frames, double rate) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(frames) * rate));
}

}  // namespace

torch::Tensor stretch_clip(const torch::Tensor& clip, double rate, int64_t start) {
  if (clip.dim() != 2) throw Error("time stretch: a clip must be (M, T)");
  if (!(rate > 0) || !std::isfinite(rate)) throw Error("time stretch: the rate must be a finite number > 0");
  const int64_t frames = clip.size(1);
  const int64_t length = stretched_frames(frames, rate);
  namespace F = torch::nn::functional;
  const torch::Tensor resampled =
      F::interpolate(clip.unsqueeze(0), F::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{length})
                                            .mode(torch::kLinear)
                                            .align_corners(false))
          .squeeze(0);
  // Cut back at `start` or extend circularly (as the circular time shift treats a clip): T frames either way.
  const torch::Tensor index = torch::remainder(torch::arange(frames, torch::kLong) + start, length);
  return resampled.index_select(1, index);
}

torch::Tensor shift_bands(const torch::Tensor& clip, int64_t bands) {
  if (clip.dim() != 2) throw Error("frequency shift: a clip must be (M, T)");
  const int64_t m = clip.size(0);
  if (bands == 0) return clip.clone();
  if (std::abs(bands) >= m) throw Error("frequency shift: " + std::to_string(bands) + " bands is not below the clip's " +
                                        std::to_string(m));
  torch::Tensor out = torch::full_like(clip, clip.min().item<float>());
  const int64_t width = m - std::abs(bands);
  if (bands > 0)
    out.narrow(0, bands, width).copy_(clip.narrow(0, 0, width));
  else
    out.narrow(0, 0, width).copy_(clip.narrow(0, -bands, width));
  return out;
}

double beta_sample(Rng& rng, double a, double b) {
  if (!(a > 0) || !(b > 0)) throw Error("beta_sample: parameters must be > 0");
  for (int tries = 0; tries < 100000; ++tries) {
    const double x = std::pow(uniform01(rng), 1.0 / a), y = std::pow(uniform01(rng), 1.0 / b);
    if (x + y <= 1.0 && x + y > 0) return x / (x + y);
  }
  return a / (a + b);  // not reached for the parameters mixup uses
}

std::uint64_t augment_seed(std::int64_t seed, std::int64_t iteration) {
  // splitmix64 of the pair: neighbouring steps get unrelated streams.
  std::uint64_t z = static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(iteration) +
                    0x6a09e667f3bcc909ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

torch::Tensor augment_clips(const torch::Tensor& clips, const AugmentConfig& config, Rng& rng) {
  if (clips.dim() < 3) throw Error("augmentation: clips must be (B, 1, M, T) or (B, M, T)");
  torch::NoGradGuard no_grad;
  torch::Tensor out = clips.clone();
  const int64_t b = out.size(0), frames = out.size(-1);
  const auto max_shift = static_cast<int64_t>(std::floor(config.time_shift * static_cast<double>(frames)));
  for (int64_t i = 0; i < b; ++i) {
    torch::Tensor clip = out[i].view({out.size(-2), frames});  // (M, T), a view into out
    // Stretch and pitch shift first, so that the masks below stay masks. Each draws only when on,
    // so that recipes without them draw exactly as before.
    if (config.time_stretch > 0) {
      const double limit = std::log1p(config.time_stretch);
      const double rate = std::exp((2 * uniform01(rng) - 1) * limit);
      const int64_t start = uniform_upto(rng, std::max<int64_t>(0, stretched_frames(frames, rate) - frames));
      clip.copy_(stretch_clip(clip, rate, start));
    }
    if (config.freq_shift > 0) {
      const int64_t bands = uniform_upto(rng, 2 * static_cast<int64_t>(config.freq_shift)) - config.freq_shift;
      if (bands != 0) clip.copy_(shift_bands(clip, bands));
    }
    if (config.gain_db > 0) {
      const double db = (2 * uniform01(rng) - 1) * config.gain_db;
      clip.add_(db * std::log(10.0) / 10.0);
    }
    if (max_shift > 0) {
      const int64_t shift = uniform_upto(rng, 2 * max_shift) - max_shift;
      if (shift != 0) clip.copy_(torch::roll(clip, {shift}, {1}));
    }
    if ((config.time_masks > 0 && config.time_mask_width > 0) || (config.freq_masks > 0 && config.freq_mask_width > 0)) {
      const float mean = clip.mean().item<float>();
      if (config.time_mask_width > 0) mask_spans(clip, 1, config.time_masks, config.time_mask_width, mean, rng);
      if (config.freq_mask_width > 0) mask_spans(clip, 0, config.freq_masks, config.freq_mask_width, mean, rng);
    }
  }
  return out;
}

int64_t crop_length(int64_t frames, double crop, int64_t min_frames, Rng& rng) {
  if (!(crop > 0 && crop <= 1)) throw Error("augment.crop must be in (0, 1] to crop");
  const int64_t lo = std::min(frames, std::max(min_frames, static_cast<int64_t>(std::ceil(crop * static_cast<double>(frames)))));
  return lo + uniform_upto(rng, frames - lo);
}

torch::Tensor crop_clips(const torch::Tensor& clips, int64_t length, Rng& rng) {
  if (clips.dim() < 3) throw Error("crop: clips must be (B, 1, M, T) or (B, M, T)");
  const int64_t frames = clips.size(-1);
  if (length < 1 || length > frames)
    throw Error("crop: length " + std::to_string(length) + " frames is outside [1, " + std::to_string(frames) + "]");
  if (length == frames) return clips;
  std::vector<int64_t> shape(clips.sizes().begin(), clips.sizes().end());
  shape.back() = length;
  torch::Tensor out = torch::empty(shape, clips.options());
  for (int64_t i = 0; i < clips.size(0); ++i) out[i].copy_(clips[i].narrow(-1, uniform_upto(rng, frames - length), length));
  return out;
}

std::vector<int64_t> mix_backgrounds(torch::Tensor& clips, const std::vector<int>& labels, const AugmentConfig& config,
                                     Rng& rng) {
  std::vector<int64_t> mixed;
  if (config.background <= 0) return mixed;
  if (clips.dim() < 3) throw Error("background mixing: clips must be (B, 1, M, T) or (B, M, T)");
  const int64_t b = clips.size(0);
  if (static_cast<int64_t>(labels.size()) != b)
    throw Error("background mixing: " + std::to_string(labels.size()) + " labels for " + std::to_string(b) + " clips");
  torch::NoGradGuard no_grad;
  const torch::Tensor original = clips.clone();
  // ln of each clip's mean power (logsumexp - ln n, stable for any level)
  const torch::Tensor log_power =
      torch::logsumexp(original.reshape({b, -1}), {1}) - std::log(static_cast<double>(original[0].numel()));
  for (int64_t i = 0; i < b; ++i) {
    if (uniform01(rng) >= config.background) continue;
    std::vector<int64_t> others;
    for (int64_t j = 0; j < b; ++j)
      if (labels[static_cast<std::size_t>(j)] != labels[static_cast<std::size_t>(i)]) others.push_back(j);
    if (others.empty()) continue;
    const int64_t j = others[uniform_index(rng, others.size())];
    const double snr = config.background_snr_min + uniform01(rng) * (config.background_snr_max - config.background_snr_min);
    const double log_gain =
        log_power[i].item<double>() - log_power[j].item<double>() - snr * std::log(10.0) / 10.0;
    clips[i].copy_(torch::logaddexp(original[i], original[j] + log_gain));
    mixed.push_back(i);
  }
  return mixed;
}

MixPlan mixup_clips(torch::Tensor& clips, const std::vector<int64_t>& rows, const std::vector<int64_t>& partners,
                    const AugmentConfig& config, Rng& rng) {
  MixPlan plan;
  if (config.mixup <= 0 || rows.empty() || partners.empty()) return plan;
  torch::NoGradGuard no_grad;
  const int64_t b = clips.size(0);
  plan.partner.resize(static_cast<std::size_t>(b));
  for (int64_t i = 0; i < b; ++i) plan.partner[static_cast<std::size_t>(i)] = i;
  plan.weight.assign(static_cast<std::size_t>(b), 1.0f);
  const torch::Tensor original = clips.clone();  // partners are mixed from unmixed clips
  for (int64_t row : rows) {
    int64_t partner = partners[uniform_index(rng, partners.size())];
    if (partner == row && partners.size() > 1)  // draw once more among the others
      while (partner == row) partner = partners[uniform_index(rng, partners.size())];
    double l = beta_sample(rng, config.mixup, config.mixup);
    l = std::max(l, 1.0 - l);
    clips[row].copy_(original[row] * l + original[partner] * (1.0 - l));
    plan.partner[static_cast<std::size_t>(row)] = partner;
    plan.weight[static_cast<std::size_t>(row)] = static_cast<float>(l);
  }
  return plan;
}

}  // namespace oneshot
