#pragma once
// The embedding path of a trained siamese network (SiameseImpl::embed in eval
// mode: input normalisation, encoder, embedding normalisation, band statistics) as a flat list
// of layers with their trained tensors, for the exporters to write in another
// format (model/export_torchscript.h, model/export_onnx.h). Built by walking
// the model's modules, so every layer of the trained network appears exactly
// once, in order; dropout (the identity in eval mode) is left out.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/siamese.h"

namespace oneshot {

// One layer of the plan. `kind` and what it uses:
//  "sound_span"      each clip's frames first..last within eps (natural-log power) of
//                    its loudest frame, tiled over its T frames (model/sound_span.h) (B,1,M,T)
//  "clip_mean"       x - mean of each clip over (mel, frame)            (B,1,M,T)
//  "band_norm"       (x - mean) / std per mel band; tensors mean, std (M)
//  "conv2d"          tensors weight (O,I,kh,kw), bias (O) or none; stride, padding
//  "batch_norm"      eval mode: tensors weight, bias, running_mean, running_var (C); eps
//  "relu", "sigmoid" elementwise
//  "max_pool2d"      kernel, stride (no padding, floor)
//  "flatten"         (B, C, H, W) -> (B, C*H*W)
//  "linear"          tensors weight (O, I), bias (O)
//  "mean_frequency"  (B, C, H, W) -> (B, C, W): the mean over H
//  "mean_max_time"   (B, C, W) -> (B, 2C): [mean over W, max over W]
//  "attentive_statistics"  (B, C, W) -> (B, 2C): tensors hidden_weight (U, C),
//                    hidden_bias (U), score_weight (1, U), score_bias (1);
//                    softmax_W(score(tanh(hidden(x_t))))-weighted mean and
//                    standard deviation (variance clamped at 1e-5 before the root)
//  "center"          x - tensor mean (D)
//  "l2_normalise"    x / max(|x|_2, eps) over dim 1; with parts K > 1 (model.ensemble),
//                    each of the K equal column blocks on its own, times 1/sqrt(K)
//  "member_begin"    an ensemble member's layers follow (model/encoder_ensemble.h):
//                    member 0 keeps x as the members' input, member k > 0 starts again from it
//  "member_end"      keeps x as member `member`'s embedding
//  "members_concat"  x = the `parts` members' embeddings side by side (B, K * E)
//  "descriptor_input"  keeps x (B,1,M,T), the clip as the encoder's input normalisation
//                    receives it, for "band_statistics"; x passes unchanged
//  "band_statistics" (B, D) -> (B, D + 3M): appends the statistics of the kept input
//                    (model/band_statistics.h: per band the mean minus the clip mean, the
//                    population deviation and the mean |x[t+1] - x[t]|, over T >= 2 frames),
//                    (s - mean) / std with tensors mean, std (3M), divided by max(|.|_2, eps)
//                    and multiplied by `scale` (sqrt(model.descriptor_weight))
struct ExportLayer {
  std::string kind;
  std::string name;  // the module it came from, e.g. "encoder.blocks.0"
  std::map<std::string, torch::Tensor> tensors;  // contiguous float32 CPU copies
  std::vector<int64_t> kernel, stride, padding;
  double eps = 0;
  double scale = 1;
  int64_t parts = 1;   // "l2_normalise", "members_concat": the ensemble's members
  int64_t member = 0;  // "member_begin", "member_end": which member
};

struct ExportPlan {
  std::string arch;             // model.arch
  int64_t n_mels = 0;
  int64_t n_frames = 0;         // the run's input frames
  // The fewest frames the network takes; == n_frames when it takes exactly
  // that many (the original encoder's flatten), < n_frames when it pools over
  // time (the compact encoder: any length >= min_frames).
  int64_t min_frames = 0;
  bool any_frames() const { return min_frames < n_frames; }
  int64_t embedding_dim = 0;
  std::vector<ExportLayer> layers;
  // The pair score on two embeddings (SiameseImpl::head): head "linear",
  // "monotone" or "distance", dist "l1" or "l2"; weight (1, D) or (1, 1), bias (1).
  std::string head, dist;
  torch::Tensor head_weight, head_bias;
};

// The plan of `model` (built for n_mels x n_frames inputs). `format` names the
// exporter in errors. Throws oneshot::Error naming the configuration key (and
// its value) of a configuration the exporters do not know, or the module of a
// layer they cannot write.
ExportPlan export_plan(SiameseImpl& model, int64_t n_mels, int64_t n_frames, const std::string& format);

// Checks a model configuration (SiameseImpl::configuration(): {"model.arch":
// ..., ...}) against what the exporters write; Error "FORMAT export does not
// support model.KEY = VALUE (supported: ...)" otherwise.
void check_exportable(const nlohmann::json& configuration, const std::string& format);

}  // namespace oneshot
