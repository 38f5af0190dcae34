#include "model/siamese.h"

#include <sstream>

#include "core/error.h"
#include "model/sound_span.h"

namespace oneshot {

std::vector<StageShape> model_stages(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  return config.arch == "compact" ? compact_stages(config, n_mels, n_frames)
                                  : encoder_stages(config, n_mels, n_frames);
}

double model_forward_flops(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  double total = 0;
  for (const auto& stage : model_stages(config, n_mels, n_frames)) total += stage.forward_flops;
  return total * config.ensemble;  // the stages are one member's
}

SiameseImpl::SiameseImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames)
    : dist_(config.dist), head_kind_(config.head),
      sound_span_db_(config.sound_span == "tile" ? config.sound_span_db : 0.0) {
  config.validate();
  configuration_ = nlohmann::json::object();
  ModelConfig copy = config;
  copy.visit([&](const char* key, const auto& value) { configuration_[std::string("model.") + key] = value; });
  configuration_["features.n_mels"] = n_mels;
  // The normalisation modules exist only when used, so that the original's
  // checkpoints hold exactly the original's parameters.
  if (config.input_norm != "none" || config.clip_norm != "none")
    input_norm = register_module("input_norm", InputNorm(config, n_mels));
  if (config.arch == "compact" && config.ensemble > 1) {
    ensemble = register_module("encoder", EncoderEnsemble(config, n_mels, n_frames));
    embedding_dim_ = ensemble->embedding_dim();
  } else if (config.arch == "compact") {
    compact = register_module("encoder", CompactEncoder(config, n_mels, n_frames));
    embedding_dim_ = compact->embedding_dim();
  } else {
    encoder = register_module("encoder", Encoder(config, n_mels, n_frames));
    embedding_dim_ = encoder->embedding_dim();
  }
  if (config.embedding_norm != "none")
    embedding_norm = register_module("embedding_norm",
                                     EmbeddingNorm(config.embedding_norm, embedding_dim_, ensemble_members()));
  if (config.descriptor == "band_stats") {
    descriptor = register_module("descriptor", BandStatistics(n_mels, config.descriptor_weight));
    embedding_dim_ += descriptor->dim();
  }
  if (head_kind_ == "distance") {
    output = register_module("output", torch::nn::Linear(1, 1));
    torch::NoGradGuard no_grad;
    // Unit-length embeddings have squared distances in [0, 4]: start at the
    // temperature of scaled cosine classifiers (10) rather than 1.
    output->weight.fill_(config.embedding_norm == "none" ? 1.0 : 10.0);
    output->bias.zero_();
  } else {
    output = register_module("output", torch::nn::Linear(embedding_dim_, 1));
    keras_initialize(*output);
  }
}

std::vector<std::size_t> SiameseImpl::embedding_parts() const {
  const auto stats = descriptor ? static_cast<std::size_t>(descriptor->dim()) : 0;
  const auto members = static_cast<std::size_t>(ensemble_members());
  std::vector<std::size_t> parts(members, (static_cast<std::size_t>(embedding_dim_) - stats) / members);
  if (stats > 0) parts.push_back(stats);
  return parts;
}

torch::Tensor SiameseImpl::select_sound(torch::Tensor x) const {
  return sound_span_db_ > 0 ? tile_sound_span(x, sound_span_db_) : x;
}

torch::Tensor SiameseImpl::embed(torch::Tensor x) {
  const torch::Tensor sound = select_sound(std::move(x));
  x = input_norm ? input_norm->forward(sound) : sound;
  x = ensemble ? ensemble->forward(x) : compact ? compact->forward(std::move(x)) : encoder->forward(std::move(x));
  if (embedding_norm) x = embedding_norm->forward(std::move(x));
  return append_descriptor(sound, std::move(x));
}

torch::Tensor SiameseImpl::embed_member(torch::Tensor x, int64_t k) {
  if (!ensemble) {
    if (k != 0) throw Error("internal: member " + std::to_string(k) + " of a model of one encoder");
    return embed(std::move(x));
  }
  const torch::Tensor sound = select_sound(std::move(x));
  x = input_norm ? input_norm->forward(sound) : sound;
  x = embedding_norm->forward_part(ensemble->forward_member(x, k), k);  // an ensemble has an L2 norm (config rule)
  return append_descriptor(sound, std::move(x));
}

torch::Tensor SiameseImpl::trunk(const torch::Tensor& x) {
  if (ensemble) return ensemble->trunk(x);
  if (compact) return compact->trunk(x);
  throw Error("internal: model.arch = \"original\" has no trunk to share between windows");
}

torch::Tensor SiameseImpl::pool_project(const torch::Tensor& columns) {
  if (ensemble) return ensemble->pool_project(columns);
  if (compact) return compact->pool_project(columns);
  throw Error("internal: model.arch = \"original\" has no trunk to share between windows");
}

torch::Tensor SiameseImpl::append_descriptor(const torch::Tensor& sound, torch::Tensor embedding) {
  if (!descriptor) return embedding;
  return torch::cat({embedding, descriptor->forward(sound).to(embedding.dtype())}, 1);
}

torch::Tensor SiameseImpl::merge(const torch::Tensor& diff) const {
  return dist_ == "l1" ? diff.abs() : diff.square();
}

torch::Tensor SiameseImpl::head(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes() || a.dim() != 2 || a.size(1) != embedding_dim_) {
    std::ostringstream msg;
    msg << "siamese head: embeddings of shapes " << a.sizes() << " and " << b.sizes() << ", expected two (B, "
        << embedding_dim_ << ")";
    throw Error(msg.str());
  }
  const torch::Tensor merged = merge(a - b);
  if (head_kind_ == "linear") return output->forward(merged).squeeze(1);
  if (head_kind_ == "monotone")
    return output->bias - torch::matmul(merged, output->weight.abs().t()).squeeze(1);
  return output->bias - output->weight.abs().squeeze() * merged.sum(1);
}

torch::Tensor SiameseImpl::score_matrix(const torch::Tensor& queries, const torch::Tensor& references) {
  const auto q = queries.size(0), r = references.size(0);
  if (head_kind_ == "distance" && dist_ == "l2") {
    // |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matrix product instead of Q x R x D differences.
    const auto d2 = (queries.square().sum(1, true) + references.square().sum(1).unsqueeze(0) -
                     2 * torch::matmul(queries, references.t()))
                        .clamp_min(0);
    return output->bias - output->weight.abs().squeeze() * d2;
  }
  const auto a = queries.unsqueeze(1).expand({q, r, queries.size(1)}).reshape({q * r, queries.size(1)});
  const auto b = references.unsqueeze(0).expand({q, r, references.size(1)}).reshape({q * r, references.size(1)});
  return head(a, b).view({q, r});
}

torch::Tensor SiameseImpl::forward(torch::Tensor x1, torch::Tensor x2) {
  return head(embed(std::move(x1)), embed(std::move(x2)));
}

}  // namespace oneshot
