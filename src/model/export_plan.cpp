#include "model/export_plan.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "model/dropout.h"
#include "model/sound_span.h"

namespace oneshot {
namespace {

// What the exporters write, per configuration key (every other key only sizes the layers).
const std::vector<std::pair<std::string, std::vector<std::string>>>& supported_values() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> table = {
      {"model.arch", {"compact", "original"}},
      {"model.pooling", {"meanmax", "attention"}},
      {"model.sound_span", {"tile", "whole"}},
      {"model.descriptor", {"none", "band_stats"}},
      {"model.clip_norm", {"mean", "none"}},
      {"model.input_norm", {"bands", "none"}},
      {"model.embedding_norm", {"none", "l2", "centered_l2"}},
      {"model.head", {"linear", "monotone", "distance"}},
      {"model.dist", {"l1", "l2"}},
  };
  return table;
}

ExportLayer layer_of(std::string kind, std::string name, double eps = 0) {
  ExportLayer layer;
  layer.kind = std::move(kind);
  layer.name = std::move(name);
  layer.eps = eps;
  return layer;
}

torch::Tensor copy_of(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat).contiguous().clone(); }

class Walker {
 public:
  Walker(ExportPlan& plan, std::string format) : plan_(plan), format_(std::move(format)) {}

  void module(const std::string& name, torch::nn::Module& m) {
    if (auto* seq = m.as<torch::nn::SequentialImpl>()) {
      for (const auto& child : seq->named_children()) module(name + "." + child.key(), *child.value());
      return;
    }
    if (m.as<DropoutImpl>() || m.as<torch::nn::DropoutImpl>()) return;  // the identity in eval mode
    ExportLayer layer;
    layer.name = name;
    if (auto* conv = m.as<torch::nn::Conv2dImpl>()) {
      const auto& o = conv->options;
      const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
      if (!padding || o.groups() != 1 || (*o.dilation())[0] != 1 || (*o.dilation())[1] != 1 ||
          !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
        refuse(name, "a convolution with groups, dilation or non-zero padding");
      layer.kind = "conv2d";
      layer.tensors["weight"] = copy_of(conv->weight);
      if (conv->bias.defined()) layer.tensors["bias"] = copy_of(conv->bias);
      layer.stride = {(*o.stride())[0], (*o.stride())[1]};
      layer.padding = {(**padding)[0], (**padding)[1]};
    } else if (auto* bn = m.as<torch::nn::BatchNorm2dImpl>()) {
      batch_norm(layer, bn->options, bn->weight, bn->bias, bn->running_mean, bn->running_var);
    } else if (auto* bn1 = m.as<torch::nn::BatchNorm1dImpl>()) {
      batch_norm(layer, bn1->options, bn1->weight, bn1->bias, bn1->running_mean, bn1->running_var);
    } else if (m.as<torch::nn::ReLUImpl>()) {
      layer.kind = "relu";
    } else if (m.as<torch::nn::SigmoidImpl>()) {
      layer.kind = "sigmoid";
    } else if (auto* pool = m.as<torch::nn::MaxPool2dImpl>()) {
      const auto& o = pool->options;
      if ((*o.padding())[0] != 0 || (*o.padding())[1] != 0 || (*o.dilation())[0] != 1 || (*o.dilation())[1] != 1 ||
          o.ceil_mode())
        refuse(name, "max pooling with padding, dilation or ceil_mode");
      layer.kind = "max_pool2d";
      layer.kernel = {(*o.kernel_size())[0], (*o.kernel_size())[1]};
      layer.stride = {(*o.stride())[0], (*o.stride())[1]};
    } else if (auto* flatten = m.as<torch::nn::FlattenImpl>()) {
      if (flatten->options.start_dim() != 1 || flatten->options.end_dim() != -1)
        refuse(name, "a Flatten other than (start_dim 1, end_dim -1)");
      layer.kind = "flatten";
    } else if (auto* linear = m.as<torch::nn::LinearImpl>()) {
      layer.kind = "linear";
      layer.tensors["weight"] = copy_of(linear->weight);
      layer.tensors["bias"] = copy_of(linear->bias);
    } else {
      refuse(name, "a " + m.name() + " layer");
    }
    plan_.layers.push_back(std::move(layer));
  }

  [[noreturn]] void refuse(const std::string& name, const std::string& what) const {
    throw Error(format_ + " export cannot write " + what + " (" + name + ")");
  }

 private:
  template <class Options>
  void batch_norm(ExportLayer& layer, const Options& o, const torch::Tensor& weight, const torch::Tensor& bias,
                  const torch::Tensor& mean, const torch::Tensor& var) {
    if (!o.track_running_stats()) refuse(layer.name, "a BatchNorm without running statistics");
    layer.kind = "batch_norm";
    const auto c = mean.size(0);
    layer.tensors["weight"] = o.affine() ? copy_of(weight) : torch::ones({c});
    layer.tensors["bias"] = o.affine() ? copy_of(bias) : torch::zeros({c});
    layer.tensors["running_mean"] = copy_of(mean);
    layer.tensors["running_var"] = copy_of(var);
    layer.eps = o.eps();
  }

  ExportPlan& plan_;
  std::string format_;
};

torch::nn::Module& child(torch::nn::Module& parent, const std::string& name, const std::string& format) {
  for (const auto& c : parent.named_children())
    if (c.key() == name) return *c.value();
  throw Error(format + " export: the model has no module \"" + name + "\" (internal: the encoder changed)");
}

bool has_child(torch::nn::Module& parent, const std::string& name) {
  for (const auto& c : parent.named_children())
    if (c.key() == name) return true;
  return false;
}

torch::Tensor buffer(torch::nn::Module& m, const std::string& name, const std::string& format) {
  for (const auto& b : m.named_buffers(false))
    if (b.key() == name) return copy_of(b.value());
  throw Error(format + " export: the model has no buffer \"" + name + "\" (internal: the model changed)");
}

// The compact encoder's layers (CompactEncoderImpl::forward), its modules named under `name`.
void compact_layers(ExportPlan& plan, Walker& walk, torch::nn::Module& encoder, const std::string& name,
                    const std::string& format) {
  walk.module(name + ".blocks", child(encoder, "blocks", format));
  plan.layers.push_back(layer_of("mean_frequency", name));
  if (has_child(encoder, "attention_hidden")) {
    ExportLayer layer = layer_of("attentive_statistics", name + ".attention");
    auto& hidden = *child(encoder, "attention_hidden", format).as<torch::nn::LinearImpl>();
    auto& score = *child(encoder, "attention_score", format).as<torch::nn::LinearImpl>();
    layer.tensors["hidden_weight"] = copy_of(hidden.weight);
    layer.tensors["hidden_bias"] = copy_of(hidden.bias);
    layer.tensors["score_weight"] = copy_of(score.weight);
    layer.tensors["score_bias"] = copy_of(score.bias);
    plan.layers.push_back(std::move(layer));
  } else {
    plan.layers.push_back(layer_of("mean_max_time", name));
  }
  walk.module(name + ".project", child(encoder, "project", format));
}

}  // namespace

void check_exportable(const nlohmann::json& configuration, const std::string& format) {
  for (const auto& [key, values] : supported_values()) {
    std::string list;
    for (const auto& v : values) list += (list.empty() ? "" : ", ") + ("\"" + v + "\"");
    if (!configuration.contains(key) || !configuration[key].is_string())
      throw Error(format + " export needs " + key + " in the model's configuration (one of " + list + ")");
    const std::string value = configuration[key].get<std::string>();
    if (std::find(values.begin(), values.end(), value) == values.end())
      throw Error(format + " export does not support " + key + " = \"" + value + "\" (supported: " + list + ")");
  }
}

ExportPlan export_plan(SiameseImpl& model, int64_t n_mels, int64_t n_frames, const std::string& format) {
  const nlohmann::json& config = model.configuration();
  check_exportable(config, format);
  ExportPlan plan;
  plan.arch = config["model.arch"].get<std::string>();
  plan.n_mels = n_mels;
  plan.n_frames = n_frames;
  plan.embedding_dim = model.embedding_dim();
  Walker walk(plan, format);

  if (config["model.sound_span"] == "tile")
    plan.layers.push_back(layer_of("sound_span", "sound_span", sound_span_nats(config["model.sound_span_db"].get<double>())));
  // SiameseImpl::embed: the descriptor sees the clip after the sound span, before the input normalisation.
  if (model.descriptor) plan.layers.push_back(layer_of("descriptor_input", "descriptor"));
  if (model.input_norm) {
    if (config["model.clip_norm"] == "mean") plan.layers.push_back(layer_of("clip_mean", "input_norm"));
    if (config["model.input_norm"] == "bands") {
      ExportLayer layer = layer_of("band_norm", "input_norm");
      layer.tensors["mean"] = buffer(*model.input_norm, "band_mean", format);
      layer.tensors["std"] = buffer(*model.input_norm, "band_std", format);
      plan.layers.push_back(std::move(layer));
    }
  }
  if (model.compact) {
    plan.min_frames = 32;  // compact_stages' smallest input
    compact_layers(plan, walk, *model.compact, "encoder", format);
  } else if (model.ensemble) {
    plan.min_frames = 32;
    const int64_t members = model.ensemble_members();
    for (int64_t k = 0; k < members; ++k) {
      const std::string name = "encoder." + std::to_string(k);
      ExportLayer begin = layer_of("member_begin", name);
      begin.member = k;
      plan.layers.push_back(std::move(begin));
      compact_layers(plan, walk, child(*model.ensemble, std::to_string(k), format), name, format);
      ExportLayer end = layer_of("member_end", name);
      end.member = k;
      plan.layers.push_back(std::move(end));
    }
    ExportLayer concat = layer_of("members_concat", "encoder");
    concat.parts = members;
    plan.layers.push_back(std::move(concat));
  } else {
    plan.min_frames = n_frames;  // the flatten fixes the input length
    auto& encoder = *model.encoder;
    for (const char* name : {"input_norm", "conv", "dense"})
      walk.module(std::string("encoder.") + name, child(encoder, name, format));
  }
  const std::string norm = config["model.embedding_norm"].get<std::string>();
  if (norm == "centered_l2") {
    ExportLayer layer = layer_of("center", "embedding_norm");
    layer.tensors["mean"] = buffer(*model.embedding_norm, "running_mean", format);
    plan.layers.push_back(std::move(layer));
  }
  if (norm != "none") {
    ExportLayer layer = layer_of("l2_normalise", "embedding_norm", 1e-8);
    layer.parts = model.ensemble_members();
    plan.layers.push_back(std::move(layer));
  }
  if (model.descriptor) {
    ExportLayer layer = layer_of("band_statistics", "descriptor", 1e-8);
    layer.tensors["mean"] = buffer(*model.descriptor, "mean", format);
    layer.tensors["std"] = buffer(*model.descriptor, "std", format);
    layer.scale = std::sqrt(model.descriptor->weight());
    plan.layers.push_back(std::move(layer));
  }

  if (model.descriptor && plan.min_frames < 2)
    throw Error(format + " export: band statistics need inputs of at least 2 frames (the encoder takes " +
                std::to_string(plan.min_frames) + ")");

  plan.head = model.head_kind();
  plan.dist = model.dist();
  plan.head_weight = copy_of(model.output->weight);
  plan.head_bias = copy_of(model.output->bias);
  return plan;
}

}  // namespace oneshot
