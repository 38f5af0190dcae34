#pragma once
// An ensemble of compact encoders (model.ensemble = K >= 2): K encoders of
// the same configuration, each with its own weights, applied to the same
// clip; their embeddings side by side.
//
// Why: on esc50-dev's dev classes (README, "Ensembles, more descriptors and
// in-domain whitening"), two default runs of different training seeds scored
// together beat each of them on every class split (one clip against one clip:
// EER 0.170 -> 0.161, false rejects at 5 % false accepts 0.414 -> 0.382;
// 5-way +0.015) at twice the work of one. Trained here as one model, each
// member on its own loss of its own part of the embedding and on its own
// stream of episodes, augmentation and mixup (train/trainer.cpp; on shared
// episodes the members learned alike and kept little of the gain): rule 0.802
// against single runs' 0.789 / 0.792. Not the default: every command embeds
// twice (README, "Ensembles"). The pair score is the mean of the members'
// (SiameseImpl: EmbeddingNorm normalises each member's part to 1/sqrt(K), so
// the squared distance of two embeddings is the mean of the members' squared
// distances).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "model/compact_encoder.h"

namespace oneshot {

class EncoderEnsembleImpl : public torch::nn::Module {
 public:
  // config.ensemble members, registered as "0", "1", ... (checkpoint keys
  // "encoder.0.blocks.0.weight", ...). Throws oneshot::Error as CompactEncoder.
  EncoderEnsembleImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
  // (B, 1, M, T) -> (B, K * D): member k's embedding in columns [kD, (k+1)D).
  torch::Tensor forward(const torch::Tensor& x);
  // Member k alone: (B, 1, M, T) -> (B, D), columns [kD, (k+1)D) of forward().
  torch::Tensor forward_member(const torch::Tensor& x, int64_t k);
  // As CompactEncoder's, with the members' channels side by side:
  // trunk (B, 1, M, T) -> (B, K * C, T'); pool_project (B, K * C, W) -> (B, K * D).
  torch::Tensor trunk(const torch::Tensor& x);
  torch::Tensor pool_project(const torch::Tensor& columns);
  int64_t members() const { return static_cast<int64_t>(members_.size()); }
  int64_t embedding_dim() const { return members() * members_.front()->embedding_dim(); }

 private:
  std::vector<CompactEncoder> members_;
  int64_t trunk_channels_ = 0;  // each member's C (its last block's width)
};
TORCH_MODULE(EncoderEnsemble);

}  // namespace oneshot
