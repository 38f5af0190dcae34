#pragma once
// The siamese network: one encoder applied to every clip (shared weights),
// wrapped in its input and embedding normalisation, and a pair score on two
// embeddings. One score convention for the whole project: head() returns a
// logit, higher = more similar; sigmoid(logit) is the probability of "same
// class" for the pairs objective, and the prototypical objective takes a
// softmax over the logits of a query against each class prototype.
//
// Heads (model.head), on the merged difference m = |a - b| (l1) or (a - b)^2 (l2):
//  "linear"   — Linear(m) (the original): its weights may be negative, so the
//               score can rise with distance (the cause of the below-chance
//               start: see README, "Accuracy on real sounds").
//  "monotone" — bias - sum_i |w_i| m_i: learned per-dimension weights that
//               cannot be negative, so the score never rises with distance.
//  "distance" — bias - |s| sum_i m_i: minus a scaled L1 or squared L2
//               distance (ProtoNets' score with a learned temperature).
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/band_statistics.h"
#include "model/compact_encoder.h"
#include "model/encoder_ensemble.h"
#include "model/normalisation.h"
#include "model/original_encoder.h"

namespace oneshot {

// The stages and FLOPs per clip of the configured encoder (model.arch).
std::vector<StageShape> model_stages(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
double model_forward_flops(const ModelConfig& config, int64_t n_mels, int64_t n_frames);

class SiameseImpl : public torch::nn::Module {
 public:
  // Throws oneshot::Error for a bad model config or a too small input shape.
  SiameseImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
  // Embeddings of a batch of clips: (B, 1, M, T) -> (B, D), normalised as
  // configured; with model.descriptor = "band_stats" the last 3M of the D
  // dimensions are the clip's band statistics (model/band_statistics.h).
  torch::Tensor embed(torch::Tensor x);
  // The last step of embed(): `embedding` (B, D - 3M) with the band
  // statistics of `sound` (B, 1, M, T: the clips after select_sound()) appended,
  // or `embedding` itself when model.descriptor = "none".
  torch::Tensor append_descriptor(const torch::Tensor& sound, torch::Tensor embedding);
  // The first step of embed(): each clip's sounding span tiled over it
  // (model.sound_span = "tile", model/sound_span.h), else x itself. Training
  // applies it to the clips it fits the band statistics on, as embed() sees them.
  torch::Tensor select_sound(torch::Tensor x) const;
  // The compact encoder's two halves (CompactEncoderImpl::trunk and
  // pool_project; an ensemble's members side by side), for windows that share
  // one time axis (inference/shared_windows.h). Error for model.arch = "original".
  torch::Tensor trunk(const torch::Tensor& x);
  torch::Tensor pool_project(const torch::Tensor& columns);
  // Encoders in the model (model.ensemble; 1 unless an ensemble).
  int64_t ensemble_members() const { return ensemble ? ensemble->members() : 1; }
  // Member k's view of the clips, computed by member k alone (the others'
  // encoders do not run): its part of embed()'s learned embedding scaled back
  // to unit length, then the band statistics: (B, 1, M, T) -> (B, E + 3M) for
  // members of E columns each. embed(x) for a model of one encoder (k = 0).
  // What each member's training objective sees, on its own episodes.
  torch::Tensor embed_member(torch::Tensor x, int64_t k);
  // The pair score on embeddings: (B, D), (B, D) -> logits (B), higher = more similar.
  torch::Tensor head(const torch::Tensor& a, const torch::Tensor& b);
  // The score of every row of `queries` (Q, D) against every row of
  // `references` (R, D): (Q, R) logits, the same values as head() on each pair.
  torch::Tensor score_matrix(const torch::Tensor& queries, const torch::Tensor& references);
  // The whole network on pairs of clips -> logits (B). As in the original
  // (one Keras model called on each input), each branch is encoded as its own
  // batch, so BatchNorm statistics are per branch in training.
  torch::Tensor forward(torch::Tensor x1, torch::Tensor x2);
  const std::string& dist() const { return dist_; }
  const std::string& head_kind() const { return head_kind_; }
  int64_t embedding_dim() const { return embedding_dim_; }
  // The lengths of the embedding's separately normalised parts, adding up to
  // embedding_dim(): the learned embedding (one part a member of an
  // ensemble), then (model.descriptor = "band_stats") its band statistics.
  // What domain centring (enroll/domain_centre.h) centres one at a time.
  std::vector<std::size_t> embedding_parts() const;
  // What the model was built from: every model.* key of the configuration and
  // the number of mel bands, as a JSON object ({"model.width": 32, ...,
  // "features.n_mels": 128}). Checkpoints store it and loading compares it
  // (train/checkpoint.h), so weights of another configuration are refused
  // even when every tensor shape happens to fit.
  const nlohmann::json& configuration() const { return configuration_; }

  InputNorm input_norm{nullptr};      // null when model.input_norm and clip_norm are "none"
  Encoder encoder{nullptr};           // model.arch = "original" (else null)
  CompactEncoder compact{nullptr};    // model.arch = "compact", model.ensemble = 1 (else null)
  EncoderEnsemble ensemble{nullptr};  // model.arch = "compact", model.ensemble > 1 (else null)
  EmbeddingNorm embedding_norm{nullptr};  // null when model.embedding_norm = "none"
  BandStatistics descriptor{nullptr};     // null when model.descriptor = "none"
  // "linear": Linear(D, 1); "monotone": Linear(D, 1) used as bias - m |W|;
  // "distance": Linear(1, 1) used as bias - |W| sum(m).
  torch::nn::Linear output{nullptr};

 private:
  torch::Tensor merge(const torch::Tensor& diff) const;
  std::string dist_, head_kind_;
  double sound_span_db_ = 0;  // 0: model.sound_span = "whole"
  int64_t embedding_dim_ = 0;
  nlohmann::json configuration_;
};
TORCH_MODULE(Siamese);

}  // namespace oneshot
