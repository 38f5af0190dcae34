#include "model/encoder_ensemble.h"

#include <string>

#include "core/error.h"

namespace oneshot {

EncoderEnsembleImpl::EncoderEnsembleImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  if (config.ensemble < 2) throw Error("internal: an encoder ensemble needs model.ensemble >= 2");
  const auto stages = compact_stages(config, n_mels, n_frames);
  trunk_channels_ = stages[static_cast<std::size_t>(config.depth)].shape.front();  // the last block's
  for (int k = 0; k < config.ensemble; ++k)
    members_.push_back(register_module(std::to_string(k), CompactEncoder(config, n_mels, n_frames)));
}

torch::Tensor EncoderEnsembleImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  for (auto& m : members_) parts.push_back(m->forward(x));
  return torch::cat(parts, 1);
}

torch::Tensor EncoderEnsembleImpl::forward_member(const torch::Tensor& x, int64_t k) {
  if (k < 0 || k >= members()) throw Error("internal: no member " + std::to_string(k) + " in an encoder ensemble");
  return members_[static_cast<std::size_t>(k)]->forward(x);
}

torch::Tensor EncoderEnsembleImpl::trunk(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  for (auto& m : members_) parts.push_back(m->trunk(x));
  return torch::cat(parts, 1);
}

torch::Tensor EncoderEnsembleImpl::pool_project(const torch::Tensor& columns) {
  if (columns.dim() != 3 || columns.size(1) != members() * trunk_channels_)
    throw Error("internal: encoder ensemble columns of " + std::to_string(columns.dim() == 3 ? columns.size(1) : -1) +
                " channels, expected " + std::to_string(members() * trunk_channels_));
  std::vector<torch::Tensor> parts;
  for (int64_t k = 0; k < members(); ++k)
    parts.push_back(members_[static_cast<std::size_t>(k)]->pool_project(
        columns.narrow(1, k * trunk_channels_, trunk_channels_).contiguous()));
  return torch::cat(parts, 1);
}

}  // namespace oneshot
