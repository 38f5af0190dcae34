#include "model/normalisation.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace oneshot {

InputNormImpl::InputNormImpl(const ModelConfig& config, int64_t n_mels)
    : clip_mean_(config.clip_norm == "mean"), bands_(config.input_norm == "bands"), n_mels_(n_mels) {
  band_mean_ = register_buffer("band_mean", torch::zeros({n_mels}));
  band_std_ = register_buffer("band_std", torch::ones({n_mels}));
  fitted_ = register_buffer("fitted", torch::zeros({}, torch::kBool));
}

torch::Tensor InputNormImpl::clip_normalise(torch::Tensor x) const {
  if (!clip_mean_) return x;
  return x - x.mean({-2, -1}, /*keepdim=*/true);
}

torch::Tensor InputNormImpl::forward(torch::Tensor x) { return band_normalise(clip_normalise(std::move(x))); }

torch::Tensor InputNormImpl::forward_sliding(torch::Tensor x, int64_t span) {
  if (span < 1) throw Error("input normalisation: a sliding clip mean needs a span of at least one frame");
  if (!clip_mean_ || x.dim() != 4) return forward(std::move(x));
  const int64_t frames = x.size(3);
  span = std::min(span, frames);
  // Cumulative sums of the frame means in float64, so that a long input's
  // differences of large sums keep float32's precision.
  const auto frame_mean = x.mean(2, /*keepdim=*/true).to(torch::kDouble);           // (B, 1, 1, T)
  const auto cumulative = torch::cat({torch::zeros_like(frame_mean.narrow(3, 0, 1)), frame_mean.cumsum(3)}, 3);
  const auto start = (torch::arange(frames, torch::kLong) - span / 2).clamp(0, frames - span);
  const auto sliding = (cumulative.index_select(3, start + span) - cumulative.index_select(3, start)) / span;
  return band_normalise(x - sliding.to(x.dtype()));
}

torch::Tensor InputNormImpl::band_normalise(torch::Tensor x) const {
  if (!bands_) return x;
  // (M) -> (1, 1, M, 1) broadcasts over batch, channel and time.
  const auto mean = band_mean_.to(x.dtype()).view({1, 1, n_mels_, 1});
  const auto std = band_std_.to(x.dtype()).view({1, 1, n_mels_, 1});
  return (x - mean) / std;
}

void MomentAccumulator::add(const torch::Tensor& sum, const torch::Tensor& sum_sq, double count) {
  if (!sum_.defined()) sum_ = torch::zeros_like(sum), sum_sq_ = torch::zeros_like(sum_sq);
  sum_ += sum;
  sum_sq_ += sum_sq;
  count_ += count;
}

void MomentAccumulator::finish(torch::Tensor& mean, torch::Tensor& std) {
  torch::NoGradGuard no_grad;
  const auto m = sum_ / count_;
  const auto var = (sum_sq_ / count_ - m.square()).clamp_min(0);
  mean.copy_(m.to(mean.dtype()));
  std.copy_(var.sqrt().clamp_min(1e-3).to(std.dtype()));
  *this = MomentAccumulator();
}

void InputNormImpl::accumulate(const torch::Tensor& clips) {
  if (!bands_) return;
  torch::NoGradGuard no_grad;
  auto x = clips.dim() == 3 ? clips.unsqueeze(1) : clips;
  if (x.dim() != 4 || x.size(2) != n_mels_) throw Error("input normalisation: clips of the wrong shape");
  x = clip_normalise(x.to(torch::kCPU, torch::kDouble));
  moments_.add(x.sum({0, 1, 3}), x.square().sum({0, 1, 3}), static_cast<double>(x.size(0) * x.size(1) * x.size(3)));
}

void InputNormImpl::finish_fit() {
  if (!bands_) return;
  if (moments_.count() < 2) throw Error("input normalisation: fewer than 2 frames to estimate band statistics from");
  moments_.finish(band_mean_, band_std_);
  fitted_.fill_(true);
}

void InputNormImpl::fit(const torch::Tensor& clips) {
  accumulate(clips);
  finish_fit();
}

EmbeddingNormImpl::EmbeddingNormImpl(const std::string& mode, int64_t dim, int64_t members)
    : mode_(mode), members_(members) {
  if (members < 1 || dim % members != 0)
    throw Error("internal: an embedding of " + std::to_string(dim) + " columns in " + std::to_string(members) +
                " parts");
  if (mode != "none" && mode != "l2" && mode != "centered_l2")
    throw Error("model.embedding_norm = \"" + mode + "\" is not one of \"none\", \"l2\", \"centered_l2\"");
  running_mean_ = register_buffer("running_mean", torch::zeros({dim}));
}

namespace {

// centered_l2's centring of x against `running_mean` (a view of the buffer):
// the batch's mean in training (moving the running mean), else the running mean.
torch::Tensor centre(torch::Tensor x, torch::Tensor running_mean, bool training, double momentum) {
  if (training && x.size(0) > 1) {
    const auto batch_mean = x.mean(0);
    {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1.0 - momentum).add_(batch_mean.detach().to(running_mean.dtype()), momentum);
    }
    return x - batch_mean;
  }
  return x - running_mean.to(x.dtype());
}

}  // namespace

torch::Tensor EmbeddingNormImpl::forward(torch::Tensor x) {
  if (mode_ == "none") return x;
  if (mode_ == "centered_l2") x = centre(std::move(x), running_mean_, is_training(), momentum);
  namespace F = torch::nn::functional;
  if (members_ == 1) return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(1).eps(1e-8));
  const auto parts = x.reshape({x.size(0), members_, x.size(1) / members_});
  const auto unit = F::normalize(parts, F::NormalizeFuncOptions().p(2).dim(2).eps(1e-8));
  return (unit / std::sqrt(static_cast<double>(members_))).reshape({x.size(0), x.size(1)});
}

torch::Tensor EmbeddingNormImpl::forward_part(torch::Tensor x, int64_t k) {
  const int64_t width = running_mean_.size(0) / members_;
  if (k < 0 || k >= members_ || x.dim() != 2 || x.size(1) != width)
    throw Error("internal: embedding part " + std::to_string(k) + " of " + std::to_string(members_) +
                " parts of " + std::to_string(width) + " columns");
  if (mode_ == "none") return x;
  if (mode_ == "centered_l2")
    x = centre(std::move(x), running_mean_.narrow(0, k * width, width), is_training(), momentum);
  namespace F = torch::nn::functional;
  return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(1).eps(1e-8));
}

}  // namespace oneshot
