#include "model/band_statistics.h"

#include <cmath>

#include "core/error.h"

namespace oneshot {

BandStatisticsImpl::BandStatisticsImpl(int64_t n_mels, double weight) : n_mels_(n_mels), weight_(weight) {
  if (n_mels < 1) throw Error("band statistics: need at least one mel band");
  if (!(weight > 0 && weight <= 100)) throw Error("model.descriptor_weight must be in (0, 100]");
  mean_ = register_buffer("mean", torch::zeros({3 * n_mels}));
  std_ = register_buffer("std", torch::ones({3 * n_mels}));
  fitted_ = register_buffer("fitted", torch::zeros({}, torch::kBool));
}

torch::Tensor BandStatisticsImpl::statistics(const torch::Tensor& input) const {
  auto x = input.dim() == 4 ? input.squeeze(1) : input;
  if (x.dim() != 3 || x.size(1) != n_mels_ || x.size(2) < 1)
    throw Error("band statistics: expected (B, 1, " + std::to_string(n_mels_) + ", T >= 1) log-mel clips");
  x = x.to(torch::kFloat);
  const auto band_mean = x.mean(2);                                             // (B, M)
  const auto clip_mean = band_mean.mean(1, /*keepdim=*/true);                   // (B, 1): the mean over (m, t)
  const auto band_std = (x - band_mean.unsqueeze(2)).square().mean(2).sqrt();   // population deviation
  const auto flux = x.size(2) > 1 ? (x.narrow(2, 1, x.size(2) - 1) - x.narrow(2, 0, x.size(2) - 1)).abs().mean(2)
                                  : torch::zeros_like(band_mean);
  return torch::cat({band_mean - clip_mean, band_std, flux}, 1);
}

torch::Tensor BandStatisticsImpl::forward(const torch::Tensor& x) {
  const auto z = (statistics(x) - mean_) / std_;
  return torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1).eps(1e-8)) *
         std::sqrt(weight_);
}

void BandStatisticsImpl::accumulate(const torch::Tensor& clips) {
  torch::NoGradGuard no_grad;
  const auto s = statistics(clips.to(torch::kCPU)).to(torch::kDouble);
  moments_.add(s.sum(0), s.square().sum(0), static_cast<double>(s.size(0)));
}

void BandStatisticsImpl::finish_fit() {
  if (moments_.count() < 2) throw Error("band statistics: fewer than 2 clips to standardise the descriptor with");
  moments_.finish(mean_, std_);
  fitted_.fill_(true);
}

}  // namespace oneshot
