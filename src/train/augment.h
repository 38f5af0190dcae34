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
//  time stretch — (Salamon & Bello 2017 stretch the audio; here the log-mel
//                frames) each clip resampled along time by a rate r, ln r
//                uniform in [-ln(1 + s), ln(1 + s)] (linear interpolation),
//                then T frames taken from a uniform start when longer, or
//                repeated circularly when shorter (the circular shift's view
//                of a clip).
//  freq shift  — a pitch shift on the mel axis: each clip moved by a uniform
//                whole number of bands in [-k, k]; the bands left are set to
//                the clip's minimum (silence). Mel bands are close to
//                logarithmic in frequency above 1 kHz, so a move of k bands is
//                close to a pitch shift there.
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

// One clip (M, T) resampled to round(T x rate) frames (linear interpolation,
// align_corners = false), then frames [start, start + T) of it, taken modulo
// its length: a cut when it is longer, a circular extension when shorter.
// Throws oneshot::Error for a rate that is not finite and > 0 or a clip that
// is not 2-d.
torch::Tensor stretch_clip(const torch::Tensor& clip, double rate, int64_t start);

// One clip (M, T) with band b moved to b + bands (bands < 0: downwards), the
// bands left empty set to the clip's minimum. Throws oneshot::Error when
// |bands| >= M.
torch::Tensor shift_bands(const torch::Tensor& clip, int64_t bands);

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

// Background mixing: each row i of `clips` (B, 1, M, T) or (B, M, T), with
// probability config.background, gets a partner row j of another label
// (labels[i] != labels[j]; rows without one are left alone) added in the
// power domain of the natural-log cache:
//   x_i <- ln(e^x_i + g e^x_j),  ln g = mean-power ratio ln(P_i / P_j) - snr ln(10) / 10,
// with P the clip's mean power and snr uniform in [background_snr_min,
// background_snr_max] dB. Partners are taken from the unmixed clips; the row
// keeps its label (the foreground is the louder sound for SNR > 0). In place;
// returns the rows mixed. Off (no draws) when config.background is 0.
std::vector<int64_t> mix_backgrounds(torch::Tensor& clips, const std::vector<int>& labels, const AugmentConfig& config,
                                     Rng& rng);

// A uniform double in [0, 1) from the generator's top 53 bits: fully
// specified (std::uniform_real_distribution is not), for every draw here and
// in train/new_classes.h.
double uniform01(Rng& rng);

// Beta(a, b) by Johnk's method from the generator's uniform doubles: fully
// specified, so the same seed gives the same draws under any standard library.
double beta_sample(Rng& rng, double a, double b);

// The seed of training step `iteration` (0-based) of a run seeded `seed`.
std::uint64_t augment_seed(std::int64_t seed, std::int64_t iteration);

}  // namespace oneshot
