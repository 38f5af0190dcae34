#include "model/export_torchscript.h"

#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // a float literal in TorchScript
  return s;
}

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// The attribute name of a layer's tensor: "encoder.blocks.0" + "weight" -> "encoder_blocks_0_weight".
std::string attribute(const ExportLayer& layer, const std::string& tensor) {
  std::string s = layer.name + "_" + tensor;
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

std::string self(const ExportLayer& layer, const std::string& tensor) { return "self." + attribute(layer, tensor); }

void forward_line(std::ostringstream& out, const ExportLayer& l) {
  const std::string in = "        ";
  if (l.kind == "sound_span") {
    // model/sound_span.h: the span from the first to the last frame within eps of the loudest, tiled.
    out << in << "energy = torch.logsumexp(x.flatten(1, 2), 1)\n"
        << in << "sounds = (energy >= energy.amax(1, True) - " << number(l.eps) << ").long()\n"
        << in << "first = torch.argmax(sounds, 1, True)\n"
        << in << "last = torch.argmax(sounds.flip([1]), 1, True).neg() + (sounds.size(1) - 1)\n"
        << in << "t = torch.arange(x.size(3), device=x.device).unsqueeze(0)\n"
        << in << "index = first + torch.remainder(t, last - first + 1)\n"
        << in << "x = torch.gather(x, 3, index.view(x.size(0), 1, 1, -1).expand(x.size()))\n";
  } else if (l.kind == "clip_mean") {
    out << in << "x = x - x.mean([2, 3], True)\n";
  } else if (l.kind == "band_norm") {
    out << in << "x = (x - " << self(l, "mean") << ".view([1, 1, -1, 1])) / " << self(l, "std")
        << ".view([1, 1, -1, 1])\n";
  } else if (l.kind == "conv2d") {
    out << in << "x = torch.conv2d(x, " << self(l, "weight") << ", "
        << (l.tensors.count("bias") ? self(l, "bias") : "None") << ", " << ints(l.stride) << ", " << ints(l.padding)
        << ")\n";
  } else if (l.kind == "batch_norm") {
    out << in << "x = torch.batch_norm(x, " << self(l, "weight") << ", " << self(l, "bias") << ", "
        << self(l, "running_mean") << ", " << self(l, "running_var") << ", False, 0.0, " << number(l.eps)
        << ", False)\n";
  } else if (l.kind == "relu") {
    out << in << "x = torch.relu(x)\n";
  } else if (l.kind == "sigmoid") {
    out << in << "x = torch.sigmoid(x)\n";
  } else if (l.kind == "max_pool2d") {
    out << in << "x = torch.max_pool2d(x, " << ints(l.kernel) << ", " << ints(l.stride) << ")\n";
  } else if (l.kind == "flatten") {
    out << in << "x = torch.flatten(x, 1)\n";
  } else if (l.kind == "linear") {
    out << in << "x = torch.linear(x, " << self(l, "weight") << ", " << self(l, "bias") << ")\n";
  } else if (l.kind == "mean_frequency") {
    out << in << "x = x.mean(2)\n";
  } else if (l.kind == "mean_max_time") {
    out << in << "x = torch.cat([x.mean(2), torch.amax(x, 2)], 1)\n";
  } else if (l.kind == "attentive_statistics") {
    out << in << "h = torch.tanh(torch.linear(x.transpose(1, 2), " << self(l, "hidden_weight") << ", "
        << self(l, "hidden_bias") << "))\n"
        << in << "a = torch.softmax(torch.linear(h, " << self(l, "score_weight") << ", " << self(l, "score_bias")
        << ").reshape([x.size(0), 1, x.size(2)]), 2)\n"
        << in << "m = (a * x).sum(2)\n"
        << in << "v = (a * x * x).sum(2) - m * m\n"
        << in << "x = torch.cat([m, v.clamp_min(1e-05).sqrt()], 1)\n";
  } else if (l.kind == "center") {
    out << in << "x = x - " << self(l, "mean") << "\n";
  } else if (l.kind == "descriptor_input") {
    out << in << "sound = x\n";
  } else if (l.kind == "band_statistics") {
    // model/band_statistics.h on the kept input (T >= 2 frames).
    out << in << "s = sound.squeeze(1)\n"
        << in << "band_mean = s.mean(2)\n"
        << in << "deviation = (s - band_mean.unsqueeze(2)).square().mean(2).sqrt()\n"
        << in << "flux = (s[:, :, 1:] - s[:, :, :-1]).abs().mean(2)\n"
        << in << "z = (torch.cat([band_mean - band_mean.mean(1, True), deviation, flux], 1) - " << self(l, "mean")
        << ") / " << self(l, "std") << "\n"
        << in << "x = torch.cat([x, z / z.norm(2, [1], True).clamp_min(" << number(l.eps) << ") * "
        << number(l.scale) << "], 1)\n";
  } else if (l.kind == "l2_normalise" && l.parts > 1) {
    // Each member's block of columns on its own, to length 1/sqrt(K) (model/normalisation.h).
    out << in << "p = x.reshape([x.size(0), " << l.parts << ", -1])\n"
        << in << "x = (p / p.norm(2, [2], True).clamp_min(" << number(l.eps) << ") * "
        << number(1.0 / std::sqrt(static_cast<double>(l.parts))) << ").reshape([x.size(0), -1])\n";
  } else if (l.kind == "l2_normalise") {
    out << in << "x = x / x.norm(2, [1], True).clamp_min(" << number(l.eps) << ")\n";
  } else if (l.kind == "member_begin") {
    out << in << (l.member == 0 ? "members_input = x" : "x = members_input") << "\n";
  } else if (l.kind == "member_end") {
    out << in << "member_" << l.member << " = x\n";
  } else if (l.kind == "members_concat") {
    out << in << "x = torch.cat([";
    for (int64_t k = 0; k < l.parts; ++k) out << (k ? ", " : "") << "member_" << k;
    out << "], 1)\n";
  } else {
    throw Error("TorchScript export: no translation of a \"" + l.kind + "\" layer (" + l.name + ")");
  }
}

}  // namespace

std::string torchscript_source(const ExportPlan& plan) {
  std::ostringstream out;
  out << "def forward(self, x):\n"
      << "        # x: (B, 1, " << plan.n_mels << ", "
      << (plan.any_frames() ? "T >= " + std::to_string(plan.min_frames) : std::to_string(plan.n_frames))
      << ") log-mel -> (B, " << plan.embedding_dim << ") embeddings\n";
  for (const auto& layer : plan.layers) forward_line(out, layer);
  out << "        return x\n\n";
  out << "def score(self, queries, references):\n"
      << "        # (Q, D), (R, D) -> (Q, R) scores, higher = more similar\n"
      << "        d = queries.unsqueeze(1) - references.unsqueeze(0)\n"
      << "        m = " << (plan.dist == "l1" ? "d.abs()" : "d * d") << "\n";
  if (plan.head == "linear")
    out << "        return torch.linear(m, self.head_weight, self.head_bias).squeeze(2)\n";
  else if (plan.head == "monotone")
    out << "        return self.head_bias - torch.matmul(m, self.head_weight.abs().t()).squeeze(2)\n";
  else
    out << "        return self.head_bias - self.head_weight.abs().squeeze() * m.sum(2)\n";
  return out.str();
}

torch::jit::Module torchscript_module(const ExportPlan& plan) {
  torch::jit::Module module("OneshotAudioEncoder");
  for (const auto& layer : plan.layers)
    for (const auto& [name, tensor] : layer.tensors) {
      // Learned weights are parameters (a PyTorch user can fine-tune them); statistics are buffers.
      const bool statistic = name == "running_mean" || name == "running_var" || layer.kind == "band_norm" ||
                             layer.kind == "center" || layer.kind == "band_statistics";
      module.register_parameter(attribute(layer, name), tensor.clone(), statistic);
    }
  module.register_parameter("head_weight", plan.head_weight.clone(), false);
  module.register_parameter("head_bias", plan.head_bias.clone(), false);
  const std::string source = torchscript_source(plan);
  try {
    module.define(source);
  } catch (const std::exception& e) {
    throw Error(std::string("TorchScript export: the generated source does not compile (a bug): ") + e.what() +
                "\n" + source);
  }
  module.eval();
  return module;
}

void save_torchscript(const ExportPlan& plan, const std::filesystem::path& path, const std::string& card) {
  torch::jit::Module module = torchscript_module(plan);
  std::ostringstream bytes;
  torch::jit::ExtraFilesMap extra;
  if (!card.empty()) extra["model_card.json"] = card;
  module.save(bytes, extra);
  write_file_atomic(path, bytes.str());
}

}  // namespace oneshot
