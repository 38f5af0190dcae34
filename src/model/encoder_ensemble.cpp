#include "model/encoder_ensemble.h"

#include <string>

#include "core/error.h"

namespace oneshot {

EncoderEnsembleImpl::EncoderEnsembleImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  if (config.ensemble < 2) throw Error("internal: an encoder ensemble needs model.ensemble >= 2");
  const auto stages = compact_stages(config, n_mels, n_frames);
  const int64_t channels = stages[static_cast<std::size_t>(config.depth)].shape.front();  // the last block's
  for (int k = 0; k < config.ensemble; ++k) {
    members_.push_back(register_module(std::to_string(k), CompactEncoder(config, n_mels, n_frames)));
    trunk_channels_.push_back(channels);
  }
}

torch::Tensor EncoderEnsembleImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  for (auto& m : members_) parts.push_back(m->forward(x));
  return torch::cat(parts, 1);
}

torch::Tensor EncoderEnsembleImpl::trunk(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  for (auto& m : members_) parts.push_back(m->trunk(x));
  return torch::cat(parts, 1);
}

torch::Tensor EncoderEnsembleImpl::pool_project(const torch::Tensor& columns) {
  std::vector<torch::Tensor> parts;
  int64_t first = 0;
  for (std::size_t k = 0; k < members_.size(); ++k) {
    parts.push_back(members_[k]->pool_project(columns.narrow(1, first, trunk_channels_[k]).contiguous()));
    first += trunk_channels_[k];
  }
  if (first != columns.size(1))
    throw Error("internal: encoder ensemble columns have " + std::to_string(columns.size(1)) + " channels, expected " +
                std::to_string(first));
  return torch::cat(parts, 1);
}

}  // namespace oneshot
