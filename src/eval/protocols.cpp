#include "eval/protocols.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace oneshot {

EvalSubset subset_of_classes(const FeatureSet& features, const std::vector<int>& classes) {
  EvalSubset subset;
  subset.class_names = features.class_names();
  const auto& labels = features.labels();
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (std::find(classes.begin(), classes.end(), labels[i]) != classes.end()) {
      subset.clips.push_back(i);
      subset.labels.push_back(labels[i]);
    }
  return subset;
}

namespace {

// Restores a module's training mode on scope exit (also when embedding throws).
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Siamese& model) : model_(model), was_training_(model->is_training()) { model_->eval(); }
  ~EvalModeGuard() { model_->train(was_training_); }

 private:
  Siamese& model_;
  bool was_training_;
};

torch::Dtype parameter_dtype(Siamese& model) {
  for (const auto& p : model->parameters()) return p.scalar_type();
  return torch::kFloat;
}

}  // namespace

torch::Tensor embed_subset(Siamese& model, const FeatureSet& features, const EvalSubset& subset,
                           torch::Device device, int64_t batch_size, const EmbedProgress& progress) {
  if (batch_size < 1) throw Error("embed_subset: batch size must be >= 1");
  EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;
  const int64_t n_mels = static_cast<int64_t>(features.n_mels());
  const int64_t n_frames = static_cast<int64_t>(features.n_frames());
  const std::size_t clip_size = features.clip_size();
  const auto dtype = parameter_dtype(model);
  std::vector<torch::Tensor> parts;
  for (std::size_t start = 0; start < subset.clips.size(); start += static_cast<std::size_t>(batch_size)) {
    const std::size_t n = std::min(static_cast<std::size_t>(batch_size), subset.clips.size() - start);
    auto batch = torch::empty({static_cast<int64_t>(n), 1, n_mels, n_frames}, torch::kFloat);
    float* dst = batch.data_ptr<float>();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t clip = subset.clips[start + i];
      if (clip >= features.n_clips())
        throw Error("embed_subset: clip index " + std::to_string(clip) + " is outside the feature set of " +
                    std::to_string(features.n_clips()) + " clips");
      std::memcpy(dst + i * clip_size, features.clip(clip), clip_size * sizeof(float));
    }
    parts.push_back(model->embed(batch.to(device, dtype)));
    if (progress) progress(start + n, subset.clips.size());
  }
  if (parts.empty()) throw Error("embed_subset: the subset has no clips");
  return torch::cat(parts, 0);
}

EvalResult evaluate(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                    const EvalConfig& config) {
  config.validate();
  if (config.protocol == "grid") return evaluate_grid(model, embeddings, subset, config.seed);
  return evaluate_episodes(model, embeddings, subset, config);
}

}  // namespace oneshot
