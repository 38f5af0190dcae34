#pragma once
// ONNX export of a trained network's embedding path (model/export_plan.h),
// written with the ONNX 1.12 protobuf classes (Debian's libonnx-dev), opset 17
// (IR version 8), the trained tensors as initializers. ONNX Runtime (Node,
// Python, C#, the browser) and any other ONNX runtime opens it.
//
// Graph input "log_mel": float32 (batch, 1, n_mels, frames), the log-mel
// exactly as the encoder gets it (natural log of mel power, the model card's
// units), before any normalisation; frames is the run's (original encoder)
// or symbolic, any >= 32 (compact encoder). Output "embedding": float32
// (batch, D). Operators: ReduceMean/Sub/Div (clip and band normalisation),
// Conv, BatchNormalization (inference), Relu, MaxPool, Flatten, Gemm, Sigmoid,
// ReduceMax, Concat, MatMul/Add/Tanh/Softmax/ReduceSum/Sqrt (attentive
// pooling), ReduceL2/Max (embedding normalisation): one node or a few per layer
// of the trained network, none folded.
//
// With a front end (OnnxOptions::frontend), the input is "waveform": float32
// (batch, window_samples) mono samples at the run's rate, and the graph
// computes the log-mel first: centred frames (Pad reflect/constant, Gather),
// the periodic Hann window, the DFT as two matrix products (cos, sin), power,
// the mel filter bank as a matrix product, and the log.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/export_plan.h"

namespace oneshot {

// The log-mel front end's settings, for a graph that takes waveforms.
struct OnnxFrontend {
  int64_t window_samples = 0;
  int64_t n_fft = 0, hop_length = 0, n_frames = 0;
  std::string pad_mode;     // "reflect" or "constant"
  int64_t n_mels = 0;
  std::vector<float> mel;   // n_mels x (n_fft / 2 + 1), librosa's filter bank (audio/mel_filters.h)
  double log_floor = 0;     // ln(max(S, log_floor))
  // From the run's features for windows of `window_samples`. Error naming the
  // key for a setting the ONNX front end does not compute (features.log = "nonzero").
  static OnnxFrontend from(const FeaturesConfig& features, std::size_t window_samples);
};

struct OnnxOptions {
  std::optional<OnnxFrontend> frontend;  // none: the graph takes the log-mel
};

// The serialised ModelProto.
std::string onnx_model_bytes(const ExportPlan& plan, const OnnxOptions& options = {});
// Writes it to `path` atomically (core/atomic_file.h).
void save_onnx(const ExportPlan& plan, const std::filesystem::path& path, const OnnxOptions& options = {});

}  // namespace oneshot
