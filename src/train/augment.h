#pragma once
// On-the-fly augmentation of cached log-mel spectrograms ([augment] keys).
// Everything works on a copy of the batch, so the feature cache stays valid;
// all draws come from one Rng that the trainer seeds from train.seed and the
// step number, so a step is the same whether or not the run was resumed.
//
//  gain        — a constant in [-g, g] dB added to the whole clip:
//                g ln(10) / 10 in the natural-log power domain of the cache.
//  time shift  — a circular shift by up to time_shift x T frames, either way.
//  time masks  — SpecAugment (Park et al. 2019): time_masks spans of up to
//                time_mask_width x T frames set to the clip's mean value.
//  freq masks  — the same over up to freq_mask_width x M mel bands.
//  crop        — random crops of variable length (augment.crop = c > 0): one
//                length L per step, uniform over the integers in
//                [max(ceil(c T), 32), T] frames (the compact encoder takes at
//                least 32), and each clip cropped to L frames at its own
//                uniform start in [0, T - L]; one L for the whole step keeps
//                the batch rectangular. Trains the time pooling on windows
//                shorter than the model's input (detect --window).
//  mixup       — (Zhang et al. 2018) x_i <- l x_i + (1 - l) x_p(i), with l the
//                larger of a Beta(a, a) draw and its complement, so a clip
//                keeps its own class as the main one; the objectives mix their
//                targets with the same weights (see MixPlan).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "train/rng.h"

namespace oneshot {

// Which row each mixed row was mixed with, and the weight of its own clip.
// partner[i] == i and weight[i] == 1 for a row left alone.
struct MixPlan {
  std::vector<int64_t> partner;
  std::vector<float> weight;
  bool empty() const { return partner.empty(); }
};

// The gain, shift and masks on a batch (B, 1, M, T) or (B, M, T) of float
// clips; returns a new tensor of the same shape. Deterministic for a given
// rng state; identity when those keys are all 0.
torch::Tensor augment_clips(const torch::Tensor& clips, const AugmentConfig& config, Rng& rng);

// The crop length of a step for clips of `frames` frames: uniform over
// [max(ceil(crop x frames), min_frames), frames] (all of them when that is
// empty). Throws oneshot::Error for crop outside (0, 1].
int64_t crop_length(int64_t frames, double crop, int64_t min_frames, Rng& rng);

// Each clip of (B, 1, M, T) or (B, M, T) cropped to `length` frames at its own
// uniform start in [0, T - length]: a new tensor (B, ..., length). Throws
// oneshot::Error for length outside [1, T].
torch::Tensor crop_clips(const torch::Tensor& clips, int64_t length, Rng& rng);

// Mixes each row listed in `rows` with a partner drawn uniformly from
// `partners` (another row where possible), in place on `clips` (B, ...).
// Returns the plan for all B rows; an empty plan when config.mixup is 0.
MixPlan mixup_clips(torch::Tensor& clips, const std::vector<int64_t>& rows, const std::vector<int64_t>& partners,
                    const AugmentConfig& config, Rng& rng);

// Beta(a, b) by Johnk's method from the generator's uniform doubles: fully
// specified, so the same seed gives the same draws under any standard library.
double beta_sample(Rng& rng, double a, double b);

// The seed of training step `iteration` (0-based) of a run seeded `seed`.
std::uint64_t augment_seed(std::int64_t seed, std::int64_t iteration);

}  // namespace oneshot
