#pragma once
// Normalisation around the encoder, stored with the model so that training,
// validation, tests and later commands treat inputs alike.
//  - InputNorm (before the encoder): model.clip_norm = "mean" subtracts each
//    clip's mean log-mel value (a constant in the log domain: the same as
//    normalising the waveform's gain); model.input_norm = "bands" then
//    standardises each mel band with the mean and standard deviation of the
//    training clips (MetaAudio's "global" normalisation), fitted once before
//    training (fit()).
//  - EmbeddingNorm (after it): "l2" divides by the L2 norm; "centered_l2"
//    first subtracts the mean embedding of the training clips (SimpleShot,
//    Wang et al. 2019), tracked like a BatchNorm running mean (batch mean in
//    training mode, running mean in eval mode).
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "core/config.h"

namespace oneshot {

// Per-feature mean and standard deviation accumulated in float64 over batches,
// for the standardisations fitted once before training (InputNorm's bands and
// the band-statistics descriptor, model/band_statistics.h). The deviation is
// the population one, sqrt(max(E[x^2] - E[x]^2, 0)), clamped at 1e-3 so that a
// constant feature (digital silence) keeps unit scale instead of dividing by ~0.
class MomentAccumulator {
 public:
  // sum and sum_sq: (F) float64 sums of x and x^2 over `count` values of each feature.
  void add(const torch::Tensor& sum, const torch::Tensor& sum_sq, double count);
  double count() const { return count_; }
  // Copies the mean and deviation into `mean` and `std` ((F) buffers), then resets.
  void finish(torch::Tensor& mean, torch::Tensor& std);

 private:
  torch::Tensor sum_, sum_sq_;
  double count_ = 0;
};

class InputNormImpl : public torch::nn::Module {
 public:
  InputNormImpl(const ModelConfig& config, int64_t n_mels);
  // (B, 1, M, T) -> same shape. Identity when both norms are off.
  torch::Tensor forward(torch::Tensor x);
  // forward() for a long input whose time axis several overlapping clips of
  // `span` frames share (inference/shared_windows.h): the clip mean of frame
  // t is the mean over mel and the `span` frames centred on t (frames
  // [t - span/2, t - span/2 + span), moved inside [0, T) at the ends; all T
  // when T < span), so the centre frame of each clip gets exactly that clip's
  // mean and the other frames their neighbourhood's. Equals forward() when
  // T == span or clip_norm is "none".
  torch::Tensor forward_sliding(torch::Tensor x, int64_t span);
  // Sets the band statistics from clips (N, 1, M, T) or (N, M, T), after the
  // clip norm, accumulated in float64. No effect when input_norm = "none".
  void fit(const torch::Tensor& clips);
  // Accumulates one batch; finish_fit() then sets the statistics (for data
  // that does not fit in memory at once).
  void accumulate(const torch::Tensor& clips);
  void finish_fit();
  bool fitted() const { return fitted_.item<bool>(); }
  bool uses_bands() const { return bands_; }

 private:
  torch::Tensor clip_normalise(torch::Tensor x) const;
  torch::Tensor band_normalise(torch::Tensor x) const;
  bool clip_mean_ = false, bands_ = false;
  int64_t n_mels_ = 0;
  torch::Tensor band_mean_, band_std_, fitted_;  // buffers: (M), (M), ()
  MomentAccumulator moments_;                    // the fit (not saved)
};
TORCH_MODULE(InputNorm);

class EmbeddingNormImpl : public torch::nn::Module {
 public:
  // members >= 1 (model.ensemble): "l2" and "centered_l2" normalise each of
  // the D / members columns' parts on its own, to length 1 / sqrt(members), so
  // that the whole stays unit length and a squared distance is the mean of the
  // parts'. Error when D is not a multiple of members.
  EmbeddingNormImpl(const std::string& mode, int64_t dim, int64_t members = 1);
  // (B, D) -> (B, D).
  torch::Tensor forward(torch::Tensor x);
  // Part k alone: (B, D / members) -> (B, D / members) at unit length, the
  // part as forward() gives it scaled by sqrt(members) (its member's own view;
  // centered_l2's running mean moves on that part's columns only).
  torch::Tensor forward_part(torch::Tensor x, int64_t k);
  const std::string& mode() const { return mode_; }
  // Momentum of the running mean in training mode (BatchNorm's convention:
  // the weight of the new batch); recalibration sets it to 1 / (k + 1).
  double momentum = 0.1;

 private:
  std::string mode_;
  int64_t members_ = 1;
  torch::Tensor running_mean_;  // buffer (D)
};
TORCH_MODULE(EmbeddingNorm);

}  // namespace oneshot
