#include "model/export_onnx.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>

#include "audio/mel_filters.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace {

constexpr int64_t kOpset = 17;
constexpr int64_t kIrVersion = 8;  // ONNX 1.12's IR version, the first to know opset 17

// Names every value and node of the graph; adds initializers and nodes.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  std::string floats(const std::string& name, const float* data, const std::vector<int64_t>& dims) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) t->add_dims(d), n *= d;
    t->set_raw_data(std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n) * sizeof(float)));
    return name;
  }
  std::string tensor(const std::string& name, const torch::Tensor& value, std::vector<int64_t> dims = {}) {
    const auto c = value.to(torch::kFloat).contiguous();
    if (dims.empty()) dims = c.sizes().vec();
    return floats(name, c.data_ptr<float>(), dims);
  }
  std::string scalar(const std::string& name, float v) { return floats(name, &v, {}); }
  std::string ints(const std::string& name, const std::vector<int64_t>& values) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }
  std::string int_scalar(const std::string& name, int64_t v) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_int64_data(v);
    return name;
  }
  std::string ints2d(const std::string& name, const std::vector<int64_t>& values, int64_t rows, int64_t cols) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(rows);
    t->add_dims(cols);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)));
    return name;
  }

  // A node with one output named after `name`; returns the node (for attributes).
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& name) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name + "/" + op + "_" + std::to_string(count_++));
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(n->name());
    return n;
  }
  std::string op(const std::string& op, const std::vector<std::string>& inputs, const std::string& name,
                 const std::function<void(onnx::NodeProto*)>& attributes = {}) {
    auto* n = node(op, inputs, name);
    if (attributes) attributes(n);
    return n->output(0);
  }

 private:
  onnx::GraphProto* graph_;
  int count_ = 0;
};

void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}
void attr_int(onnx::NodeProto* n, const std::string& name, int64_t value) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}
void attr_float(onnx::NodeProto* n, const std::string& name, float value) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}
void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& value) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

void set_shape(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::string>& symbolic,
               const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  for (std::size_t i = 0; i < dims.size(); ++i) {
    auto* d = shape->add_dim();
    if (i < symbolic.size() && !symbolic[i].empty()) d->set_dim_param(symbolic[i]);
    else d->set_dim_value(dims[i]);
  }
}

// The log-mel of waveforms (B, N) -> (B, 1, n_mels, n_frames), as audio/logmel.cpp computes it.
std::string frontend(GraphBuilder& g, const std::string& waveform, const OnnxFrontend& f) {
  const int64_t half = f.n_fft / 2, n_bins = f.n_fft / 2 + 1;
  const std::string padded = g.op("Pad", {waveform, g.ints("frontend.pads", {0, half, 0, half})}, "frontend",
                                  [&](onnx::NodeProto* n) { attr_string(n, "mode", f.pad_mode); });
  std::vector<int64_t> index(static_cast<std::size_t>(f.n_frames * f.n_fft));
  for (int64_t t = 0; t < f.n_frames; ++t)
    for (int64_t j = 0; j < f.n_fft; ++j) index[static_cast<std::size_t>(t * f.n_fft + j)] = t * f.hop_length + j;
  const std::string frames = g.op("Gather", {padded, g.ints2d("frontend.frame_index", index, f.n_frames, f.n_fft)},
                                  "frontend", [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });  // (B, T, n_fft)
  // The periodic Hann window folded into the DFT matrices (n_fft, n_bins).
  std::vector<float> re(static_cast<std::size_t>(f.n_fft * n_bins)), im(re.size());
  for (int64_t j = 0; j < f.n_fft; ++j) {
    const double w = 0.5 - 0.5 * std::cos(2 * M_PI * static_cast<double>(j) / static_cast<double>(f.n_fft));
    for (int64_t k = 0; k < n_bins; ++k) {
      // The angle reduced modulo n_fft first: exact for large j * k.
      const double angle = 2 * M_PI * static_cast<double>((j * k) % f.n_fft) / static_cast<double>(f.n_fft);
      re[static_cast<std::size_t>(j * n_bins + k)] = static_cast<float>(w * std::cos(angle));
      im[static_cast<std::size_t>(j * n_bins + k)] = static_cast<float>(-w * std::sin(angle));
    }
  }
  const std::string real = g.op("MatMul", {frames, g.floats("frontend.dft_real", re.data(), {f.n_fft, n_bins})}, "frontend");
  const std::string imag = g.op("MatMul", {frames, g.floats("frontend.dft_imag", im.data(), {f.n_fft, n_bins})}, "frontend");
  const std::string power = g.op("Add", {g.op("Mul", {real, real}, "frontend"), g.op("Mul", {imag, imag}, "frontend")},
                                 "frontend");  // (B, T, n_bins)
  std::vector<float> mel_t(static_cast<std::size_t>(n_bins * f.n_mels));
  for (int64_t m = 0; m < f.n_mels; ++m)
    for (int64_t k = 0; k < n_bins; ++k)
      mel_t[static_cast<std::size_t>(k * f.n_mels + m)] = f.mel[static_cast<std::size_t>(m * n_bins + k)];
  const std::string mel = g.op("MatMul", {power, g.floats("frontend.mel_basis", mel_t.data(), {n_bins, f.n_mels})},
                               "frontend");  // (B, T, n_mels)
  const std::string logged = g.op(
      "Log", {g.op("Max", {mel, g.scalar("frontend.log_floor", static_cast<float>(f.log_floor))}, "frontend")},
      "frontend");
  const std::string bands = g.op("Transpose", {logged}, "frontend",
                                 [](onnx::NodeProto* n) { attr_ints(n, "perm", {0, 2, 1}); });  // (B, n_mels, T)
  return g.op("Unsqueeze", {bands, g.ints("frontend.channel_axis", {1})}, "frontend");
}

// model/band_statistics.h on the kept input k (B, 1, M, T), T >= 2, appended to x (B, D).
std::string band_statistics(GraphBuilder& g, const std::string& x, const std::string& k, const ExportLayer& l,
                            const std::string& prefix) {
  const std::string& name = l.name;
  const std::string s = g.op("Squeeze", {k, g.ints(prefix + name + ".channel_axis", {1})}, name);  // (B, M, T)
  auto mean_over = [&](const std::string& v, int64_t axis) {
    return g.op("ReduceMean", {v}, name, [axis](onnx::NodeProto* n) {
      attr_ints(n, "axes", {axis});
      attr_int(n, "keepdims", 1);
    });
  };
  const std::string band_mean = mean_over(s, 2);  // (B, M, 1)
  const std::string relative = g.op("Sub", {band_mean, mean_over(band_mean, 1)}, name);
  const std::string centred = g.op("Sub", {s, band_mean}, name);
  const std::string deviation = g.op("Sqrt", {mean_over(g.op("Mul", {centred, centred}, name), 2)}, name);
  const std::string time_axis = g.ints(prefix + name + ".time_axis", {2});
  const std::string later = g.op("Slice", {s, g.ints(prefix + name + ".from_second", {1}),
                                           g.ints(prefix + name + ".to_end", {INT64_MAX}), time_axis}, name);
  const std::string earlier = g.op("Slice", {s, g.ints(prefix + name + ".from_first", {0}),
                                             g.ints(prefix + name + ".to_last", {-1}), time_axis}, name);
  const std::string flux = mean_over(g.op("Abs", {g.op("Sub", {later, earlier}, name)}, name), 2);
  const std::string stats = g.op("Flatten", {g.op("Concat", {relative, deviation, flux}, name, [](onnx::NodeProto* n) {
                                   attr_int(n, "axis", 1);
                                 })},
                                 name, [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });  // (B, 3M)
  const std::string fitted_mean = g.tensor(prefix + name + ".mean", l.tensors.at("mean"));
  const std::string fitted_std = g.tensor(prefix + name + ".std", l.tensors.at("std"));
  const std::string z = g.op("Div", {g.op("Sub", {stats, fitted_mean}, name), fitted_std}, name);
  const std::string norm = g.op("ReduceL2", {z}, name, [](onnx::NodeProto* n) {
    attr_ints(n, "axes", {1});
    attr_int(n, "keepdims", 1);
  });
  const std::string eps = g.scalar(prefix + name + ".eps", static_cast<float>(l.eps));
  const std::string unit = g.op("Div", {z, g.op("Max", {norm, eps}, name)}, name);
  const std::string scaled = g.op("Mul", {unit, g.scalar(prefix + name + ".scale", static_cast<float>(l.scale))}, name);
  return g.op("Concat", {x, scaled}, name, [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });
}

// What layers leave for later ones: the "descriptor_input" for "band_statistics",
// an ensemble's input and its members' embeddings for "members_concat".
struct KeptValues {
  std::string descriptor_input, members_input;
  std::vector<std::string> members;
};

// One layer of the plan applied to x.
std::string layer(GraphBuilder& g, const std::string& x, const ExportLayer& l, const std::string& prefix,
                  KeptValues& kept) {
  const std::string& name = l.name;
  auto t = [&](const std::string& tensor, std::vector<int64_t> dims = {}) {
    return g.tensor(prefix + name + "." + tensor, l.tensors.at(tensor), std::move(dims));
  };
  if (l.kind == "sound_span") {
    // model/sound_span.h: frame t sounds when logsumexp over (C, M) >= the loudest frame's - eps;
    // the clip's frame t becomes frame first + t mod (last - first + 1).
    const std::string energy = g.op("ReduceLogSumExp", {x}, name, [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {1, 2});
      attr_int(n, "keepdims", 1);
    });  // (B, 1, 1, T)
    const std::string loudest = g.op("ReduceMax", {energy}, name, [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {3});
      attr_int(n, "keepdims", 1);
    });
    const std::string floor = g.op("Sub", {loudest, g.scalar(prefix + name + ".below_loudest", static_cast<float>(l.eps))}, name);
    const std::string sounds = g.op("Cast", {g.op("GreaterOrEqual", {energy, floor}, name)}, name,
                                    [](onnx::NodeProto* n) { attr_int(n, "to", onnx::TensorProto::FLOAT); });
    auto arg_max = [&](int64_t last) {
      return g.op("ArgMax", {sounds}, name, [last](onnx::NodeProto* n) {
        attr_int(n, "axis", 3);
        attr_int(n, "keepdims", 1);
        attr_int(n, "select_last_index", last);
      });
    };
    const std::string first = arg_max(0), last = arg_max(1);  // (B, 1, 1, 1) int64
    const std::string one = g.int_scalar(prefix + name + ".one", 1);
    const std::string length = g.op("Add", {g.op("Sub", {last, first}, name), one}, name);
    const std::string shape = g.op("Shape", {x}, name);
    const std::string frames = g.op("Gather", {shape, g.int_scalar(prefix + name + ".time_axis", 3)}, name);
    const std::string t = g.op("Range", {g.int_scalar(prefix + name + ".zero", 0), frames, one}, name);  // (T)
    const std::string index = g.op("Add", {first, g.op("Mod", {t, length}, name)}, name);  // (B, 1, 1, T)
    return g.op("GatherElements", {x, g.op("Expand", {index, shape}, name)}, name,
                [](onnx::NodeProto* n) { attr_int(n, "axis", 3); });
  }
  if (l.kind == "clip_mean") {
    const std::string mean = g.op("ReduceMean", {x}, name, [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {2, 3});
      attr_int(n, "keepdims", 1);
    });
    return g.op("Sub", {x, mean}, name);
  }
  if (l.kind == "band_norm") {
    const int64_t m = l.tensors.at("mean").numel();
    return g.op("Div", {g.op("Sub", {x, t("mean", {1, 1, m, 1})}, name), t("std", {1, 1, m, 1})}, name);
  }
  if (l.kind == "conv2d") {
    std::vector<std::string> inputs{x, t("weight")};
    if (l.tensors.count("bias")) inputs.push_back(t("bias"));
    const auto& w = l.tensors.at("weight");
    return g.op("Conv", inputs, name, [&](onnx::NodeProto* n) {
      attr_ints(n, "kernel_shape", {w.size(2), w.size(3)});
      attr_ints(n, "strides", l.stride);
      attr_ints(n, "pads", {l.padding[0], l.padding[1], l.padding[0], l.padding[1]});
    });
  }
  if (l.kind == "batch_norm")
    return g.op("BatchNormalization", {x, t("weight"), t("bias"), t("running_mean"), t("running_var")}, name,
                [&](onnx::NodeProto* n) { attr_float(n, "epsilon", static_cast<float>(l.eps)); });
  if (l.kind == "relu") return g.op("Relu", {x}, name);
  if (l.kind == "sigmoid") return g.op("Sigmoid", {x}, name);
  if (l.kind == "max_pool2d")
    return g.op("MaxPool", {x}, name, [&](onnx::NodeProto* n) {
      attr_ints(n, "kernel_shape", l.kernel);
      attr_ints(n, "strides", l.stride);
    });
  if (l.kind == "flatten") return g.op("Flatten", {x}, name, [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });
  if (l.kind == "linear")
    return g.op("Gemm", {x, t("weight"), t("bias")}, name, [](onnx::NodeProto* n) { attr_int(n, "transB", 1); });
  if (l.kind == "mean_frequency")
    return g.op("ReduceMean", {x}, name, [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {2});
      attr_int(n, "keepdims", 0);
    });
  if (l.kind == "mean_max_time") {
    auto over_time = [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {2});
      attr_int(n, "keepdims", 0);
    };
    const std::string mean = g.op("ReduceMean", {x}, name, over_time);
    const std::string max = g.op("ReduceMax", {x}, name, over_time);
    return g.op("Concat", {mean, max}, name, [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });
  }
  if (l.kind == "attentive_statistics") {
    // x (B, C, W): scores v . tanh(W h_t + b) + c of every time step, softmax over time.
    auto transposed = [&](const std::string& key) { return g.tensor(prefix + name + "." + key + "_t", l.tensors.at(key).t()); };
    auto swap_last = [](onnx::NodeProto* n) { attr_ints(n, "perm", {0, 2, 1}); };
    const std::string steps = g.op("Transpose", {x}, name, swap_last);  // (B, W, C)
    const std::string hidden = g.op(
        "Tanh", {g.op("Add", {g.op("MatMul", {steps, transposed("hidden_weight")}, name), t("hidden_bias")}, name)}, name);
    const std::string score =
        g.op("Add", {g.op("MatMul", {hidden, transposed("score_weight")}, name), t("score_bias")}, name);  // (B, W, 1)
    const std::string a = g.op("Softmax", {g.op("Transpose", {score}, name, swap_last)}, name,
                               [](onnx::NodeProto* n) { attr_int(n, "axis", 2); });  // (B, 1, W)
    const std::string axes = g.ints(prefix + name + ".time_axis", {2});
    auto sum_time = [&](const std::string& v) {
      return g.op("ReduceSum", {v, axes}, name, [](onnx::NodeProto* n) { attr_int(n, "keepdims", 0); });
    };
    const std::string ax = g.op("Mul", {a, x}, name);
    const std::string mean = sum_time(ax);
    const std::string var = g.op("Sub", {sum_time(g.op("Mul", {ax, x}, name)), g.op("Mul", {mean, mean}, name)}, name);
    const std::string sd =
        g.op("Sqrt", {g.op("Max", {var, g.scalar(prefix + name + ".min_variance", 1e-5f)}, name)}, name);
    return g.op("Concat", {mean, sd}, name, [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });
  }
  if (l.kind == "center") return g.op("Sub", {x, t("mean")}, name);
  if (l.kind == "descriptor_input") {
    kept.descriptor_input = x;
    return x;
  }
  if (l.kind == "band_statistics") {
    if (kept.descriptor_input.empty())
      throw Error("ONNX export: band statistics without their input (internal: the plan changed)");
    return band_statistics(g, x, kept.descriptor_input, l, prefix);
  }
  if (l.kind == "member_begin") {
    if (l.member == 0) kept.members_input = x;
    return kept.members_input;
  }
  if (l.kind == "member_end") {
    kept.members.push_back(x);
    return x;
  }
  if (l.kind == "members_concat") {
    if (static_cast<int64_t>(kept.members.size()) != l.parts)
      throw Error("ONNX export: an ensemble of " + std::to_string(l.parts) + " members ended with " +
                  std::to_string(kept.members.size()) + " (internal: the plan changed)");
    return g.op("Concat", kept.members, name, [](onnx::NodeProto* n) { attr_int(n, "axis", 1); });
  }
  if (l.kind == "l2_normalise" && l.parts > 1) {
    // Each member's block of columns on its own, to length 1/sqrt(K) (model/normalisation.h).
    const std::string parts = g.op("Reshape", {x, g.ints(prefix + name + ".parts_shape", {0, l.parts, -1})}, name);
    const std::string norm = g.op("ReduceL2", {parts}, name, [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {2});
      attr_int(n, "keepdims", 1);
    });
    const std::string unit = g.op(
        "Div", {parts, g.op("Max", {norm, g.scalar(prefix + name + ".eps", static_cast<float>(l.eps))}, name)}, name);
    const auto share_of_each = static_cast<float>(1.0 / std::sqrt(static_cast<double>(l.parts)));
    const std::string share = g.op("Mul", {unit, g.scalar(prefix + name + ".share", share_of_each)}, name);
    return g.op("Reshape", {share, g.ints(prefix + name + ".whole_shape", {0, -1})}, name);
  }
  if (l.kind == "l2_normalise") {
    const std::string norm = g.op("ReduceL2", {x}, name, [](onnx::NodeProto* n) {
      attr_ints(n, "axes", {1});
      attr_int(n, "keepdims", 1);
    });
    return g.op("Div", {x, g.op("Max", {norm, g.scalar(prefix + name + ".eps", static_cast<float>(l.eps))}, name)},
                name);
  }
  throw Error("ONNX export: no translation of a \"" + l.kind + "\" layer (" + l.name + ")");
}

}  // namespace

OnnxFrontend OnnxFrontend::from(const FeaturesConfig& features, std::size_t window_samples) {
  if (features.log != "floor")
    throw Error("ONNX export --with-frontend does not compute features.log = \"" + features.log +
                "\" (supported: \"floor\"); export without --with-frontend and compute the log-mel as the card says");
  if (features.pad_mode != "reflect" && features.pad_mode != "constant")
    throw Error("ONNX export --with-frontend does not support features.pad_mode = \"" + features.pad_mode + "\"");
  OnnxFrontend f;
  f.window_samples = static_cast<int64_t>(window_samples);
  f.n_fft = features.n_fft;
  f.hop_length = features.hop_length;
  if (f.window_samples <= f.n_fft / 2 && features.pad_mode == "reflect")
    throw Error("ONNX export --with-frontend: the window (" + std::to_string(window_samples) +
                " samples) must be longer than features.n_fft / 2 for reflect padding");
  f.n_frames = 1 + f.window_samples / f.hop_length;  // centred frames, as librosa
  f.pad_mode = features.pad_mode;
  f.n_mels = features.n_mels;
  f.mel = mel_basis({features.sample_rate, features.n_fft, features.n_mels, features.fmin, features.fmax,
                     features.mel_scale == "htk"});
  f.log_floor = features.log_floor;
  return f;
}

std::string onnx_model_bytes(const ExportPlan& plan, const OnnxOptions& options) {
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("oneshot-audio");
  model.set_producer_version("0.1.0");
  model.set_doc_string("oneshot-audio encoder (" + plan.arch + "): log-mel -> embedding; see the model card (FILE.json)");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  auto* graph = model.mutable_graph();
  graph->set_name("oneshot_audio_" + plan.arch + "_encoder");
  GraphBuilder g(graph);

  std::string x;
  if (options.frontend) {
    const auto& f = *options.frontend;
    if (f.n_mels != plan.n_mels || (!plan.any_frames() && f.n_frames != plan.n_frames) || f.n_frames < plan.min_frames)
      throw Error("ONNX export: the front end gives " + std::to_string(f.n_mels) + " x " + std::to_string(f.n_frames) +
                  " log-mels but the encoder takes " + std::to_string(plan.n_mels) + " x " +
                  std::to_string(plan.n_frames) + " (internal: features and model disagree)");
    set_shape(graph->add_input(), "waveform", {"batch"}, {0, f.window_samples});
    x = frontend(g, "waveform", f);
  } else {
    set_shape(graph->add_input(), "log_mel", {"batch", "", "", plan.any_frames() ? "frames" : ""},
              {0, 1, plan.n_mels, plan.n_frames});
    x = "log_mel";
  }
  KeptValues kept;
  for (const auto& l : plan.layers) x = layer(g, x, l, "", kept);
  auto* out = g.node("Identity", {x}, "embedding");
  out->set_output(0, "embedding");
  set_shape(graph->add_output(), "embedding", {"batch"}, {0, plan.embedding_dim});
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("ONNX export: the model could not be serialised (over 2 GB?)");
  return bytes;
}

void save_onnx(const ExportPlan& plan, const std::filesystem::path& path, const OnnxOptions& options) {
  write_file_atomic(path, onnx_model_bytes(plan, options));
}

}  // namespace oneshot
