#include "train/validation.h"

#include <chrono>
#include <cstring>

#include "core/clock.h"
#include "core/error.h"
#include "eval/protocols.h"
#include "model/dropout.h"
#include "train/rng.h"
#include "train/split.h"

namespace oneshot {

torch::Tensor clips_tensor(const FeatureSet& features, const std::vector<std::size_t>& clips, torch::Device device) {
  const auto m = static_cast<std::int64_t>(features.n_mels()), t = static_cast<std::int64_t>(features.n_frames());
  auto x = torch::empty({static_cast<std::int64_t>(clips.size()), 1, m, t}, torch::kFloat32);
  float* dst = x.data_ptr<float>();
  for (std::size_t i = 0; i < clips.size(); ++i)
    std::memcpy(dst + i * features.clip_size(), features.clip(clips[i]), features.clip_size() * sizeof(float));
  return device.is_cpu() ? x : x.to(device);
}

namespace {

template <class Fn>
void for_each_batchnorm(torch::nn::Module& root, Fn&& fn) {
  for (auto& m : root.modules(/*include_self=*/true)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) fn(*bn);
    if (auto* bn = m->as<torch::nn::BatchNorm1d>()) fn(*bn);
  }
}

bool is_dropout(torch::nn::Module& m) {
  return m.as<oneshot::Dropout>() || m.as<torch::nn::Dropout>() || m.as<torch::nn::Dropout2d>() || m.as<torch::nn::AlphaDropout>() ||
         m.as<torch::nn::FeatureAlphaDropout>();
}

}  // namespace

void recalibrate_batchnorm(Siamese& model, const FeatureSet& features, const std::vector<std::size_t>& clips,
                           std::int64_t batch_size, torch::Device device) {
  if (clips.empty()) return;
  const bool was_training = model->is_training();
  std::vector<c10::optional<double>> momenta;
  for_each_batchnorm(*model, [&](auto& bn) {
    momenta.push_back(bn.options.momentum());
    bn.reset_running_stats();
  });
  const double embedding_momentum = model->embedding_norm ? model->embedding_norm->momentum : 0;
  model->train();
  for (auto& m : model->modules(true))
    if (is_dropout(*m)) m->eval();
  {
    torch::NoGradGuard no_grad;
    const auto b = static_cast<std::size_t>(std::max<std::int64_t>(batch_size, 2));
    for (std::size_t begin = 0; begin < clips.size(); begin += b) {
      std::vector<std::size_t> batch(clips.begin() + static_cast<std::ptrdiff_t>(begin),
                                     clips.begin() + static_cast<std::ptrdiff_t>(std::min(begin + b, clips.size())));
      if (batch.size() < 2) break;  // BatchNorm needs two samples for a variance
      // Momentum 1 / (k + 1) at batch k makes the running statistics the plain
      // average over the batches (what torch's momentum = None does, spelled
      // out so that layers reading the momentum themselves agree).
      const double momentum = 1.0 / static_cast<double>(begin / b + 1);
      for_each_batchnorm(*model, [&](auto& bn) { bn.options.momentum(momentum); });
      if (model->embedding_norm) model->embedding_norm->momentum = momentum;
      model->embed(clips_tensor(features, batch, device));
    }
  }
  std::size_t i = 0;
  for_each_batchnorm(*model, [&](auto& bn) { bn.options.momentum(momenta[i++]); });
  if (model->embedding_norm) model->embedding_norm->momentum = embedding_momentum;
  model->train(was_training);
}

ValidationPlan plan_validation(const Config& config, const FeatureSet& features, const std::vector<int>& train_classes,
                               const std::vector<int>& val_classes, std::int64_t batch_size) {
  if (val_classes.size() < 2)
    throw Error("one-shot validation needs at least 2 validation classes; the split has " +
                std::to_string(val_classes.size()) + " (raise split.n_val)");
  ValidationPlan plan;
  plan.classes = val_classes;
  plan.batch_size = batch_size;
  if (config.train.bn_recalibration > 0) {
    Rng rng(static_cast<std::uint64_t>(config.train.seed) * 0x9E3779B97F4A7C15ull + 0x626e);
    plan.recalibration = sample_without_replacement(clips_of_classes(features.labels(), train_classes),
                                                    static_cast<std::size_t>(config.train.bn_recalibration), rng);
  }
  plan.episodes.protocol = "episodes";
  plan.episodes.ways = std::min<int>(5, static_cast<int>(val_classes.size()));
  plan.episodes.shots = 1;
  plan.episodes.queries = config.train.val_queries;  // fewer where a class has fewer clips
  plan.episodes.episodes = config.train.val_episodes;
  plan.episodes.aggregate = "mean";
  plan.episodes.seed = config.train.seed;
  return plan;
}

ValidationResult validate(Siamese& model, const FeatureSet& features, const ValidationPlan& plan,
                          torch::Device device) {
  const auto start = std::chrono::steady_clock::now();
  recalibrate_batchnorm(model, features, plan.recalibration, plan.batch_size, device);
  const EvalSubset subset = subset_of_classes(features, plan.classes);
  const torch::Tensor embeddings = embed_subset(model, features, subset, device);
  const EvalResult r = evaluate_episodes(model, embeddings, subset, plan.episodes);
  ValidationResult v;
  v.accuracy = r.mean_accuracy;
  v.ci95 = r.ci95;
  v.std = r.std;
  v.ways = plan.episodes.ways;
  v.episodes = plan.episodes.episodes;
  v.seconds = seconds_since(start);
  return v;
}

}  // namespace oneshot
