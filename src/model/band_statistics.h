#pragma once
// A fixed description of a clip's spectrum appended to the learned embedding
// (model.descriptor = "band_stats").
//
// Why: trained on 30 classes of about 8 clips, the encoder learns what tells
// those classes apart and under-uses the plain spectral envelope, which also
// tells many new classes apart. Measured on esc50-dev's dev classes with the
// tiled default's six runs (two seeds, three class splits; README, "Accuracy
// on real sounds"), adding these statistics' cosine at weight 0.2 to the
// embeddings' cosine lowered the one-clip-against-one-clip EER from 0.184 to
// 0.175 (seed 1) and from 0.185 to 0.174 (seed 2); the statistics alone give 0.28.
//
// Definition, for a clip x (1, M, T) of natural-log mel power as embed() sees
// it (its sounding span tiled, before the band standardisation), T >= 1:
//   c        = mean of x over (m, t)                    (the clip mean)
//   mean_m   = mean_t x[m, t] - c
//   std_m    = sqrt(mean_t (x[m, t] - mean_t x[m, t])^2)
//   flux_m   = mean_t |x[m, t+1] - x[m, t]|             (0 when T = 1)
// s = [mean, std, flux] (3M); each element is standardised with the mean and
// standard deviation of the training clips' s (fitted once before training
// and stored with the model), the result divided by its L2 norm and
// multiplied by sqrt(weight). Appended to a unit-length embedding e, the
// squared distance of two clips becomes
//   |e_a - e_b|^2 + weight * |z_a - z_b|^2 = 2 (1 + weight) - 2 (cos e + weight cos z),
// so the distance head scores cos e + weight * cos z.
#include <torch/torch.h>

#include <cstdint>

#include "model/normalisation.h"

namespace oneshot {

class BandStatisticsImpl : public torch::nn::Module {
 public:
  // Throws oneshot::Error when weight is not in (0, 100] or n_mels < 1.
  BandStatisticsImpl(int64_t n_mels, double weight);
  int64_t dim() const { return 3 * n_mels_; }
  double weight() const { return weight_; }
  // (B, 1, M, T) or (B, M, T) -> (B, 3M) raw statistics [mean, std, flux] in float32.
  torch::Tensor statistics(const torch::Tensor& x) const;
  // (B, 1, M, T) -> (B, 3M): the statistics standardised, L2-normalised and
  // scaled by sqrt(weight), as appended to the embedding.
  torch::Tensor forward(const torch::Tensor& x);
  // Fit of the standardisation, one batch of training clips at a time (as
  // embed() sees them), then finish_fit(). Error when fewer than 2 clips.
  void accumulate(const torch::Tensor& clips);
  void finish_fit();
  bool fitted() const { return fitted_.item<bool>(); }

 private:
  int64_t n_mels_ = 0;
  double weight_ = 0;
  torch::Tensor mean_, std_, fitted_;  // buffers: (3M), (3M), ()
  MomentAccumulator moments_;          // the fit (not saved)
};
TORCH_MODULE(BandStatistics);

}  // namespace oneshot
