#pragma once
// The original thesis's encoder (model.arch = "original"): 5x5 valid
// convolutions with max pooling, then dense layers; about 3.2 GFLOP per
// 128 x 431 clip with the default sizes.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace oneshot {

// Keras semantics where torch's defaults differ.
// Keras BatchNormalization: moving = 0.99 * moving + 0.01 * batch; torch's
// momentum is the weight of the new batch, so Keras 0.99 == torch 0.01.
inline constexpr double kBatchNormMomentum = 0.01;
// Keras BatchNormalization epsilon (torch's default is 1e-5).
inline constexpr double kBatchNormEps = 1e-3;
inline constexpr int64_t kConvKernel = 5;  // Conv2D(n_filters, (5, 5), padding='valid')
inline constexpr int64_t kPool = 2;        // MaxPooling2D((2, 2), padding='valid')

// The activation shape after each encoder stage, for one clip (no batch dim).
struct StageShape {
  std::string name;                 // "input", "conv1", ..., "flatten", "dense1", ...
  std::vector<int64_t> shape;       // (C, H, W) or (D)
  double forward_flops = 0;         // multiply-adds x 2 of the stage's conv/linear, per clip
};

// The stages of the original encoder for an (n_mels, n_frames) input. Throws
// oneshot::Error naming the input shape and the layer count when the input
// is too small for the convolution and pooling layers.
std::vector<StageShape> encoder_stages(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
// FLOPs of one original-encoder forward pass per clip (convolutions and dense layers:
// conv = 2 * Cin * Cout * 25 * Hout * Wout, dense = 2 * in * out). Batch
// normalisation, activations, pooling and dropout are elementwise and left out.
double encoder_forward_flops(const ModelConfig& config, int64_t n_mels, int64_t n_frames);

// Keras-like initialisation: glorot_uniform weights (limit sqrt(6 / (fan_in +
// fan_out)), with the 5x5 receptive field in both fans for convolutions) and
// zero biases for every Conv2d and Linear in `module`; BatchNorm keeps gamma 1,
// beta 0. Draws from `generator` (the global torch generator when undefined),
// so torch::manual_seed(seed) before construction, or an explicit generator,
// makes the weights reproducible.
void keras_initialize(torch::nn::Module& module, c10::optional<at::Generator> generator = c10::nullopt);

// BatchNorm(input) -> n_conv_layers x [Conv2d 5x5 valid -> BatchNorm -> ReLU
// -> MaxPool 2x2 -> Dropout] -> Flatten -> n_dense_layers x [Linear -> BatchNorm
// -> Sigmoid -> Dropout]. Keras semantics: BatchNorm momentum 0.99 (torch 0.01),
// epsilon 1e-3. forward() folds the input BatchNorm's scale and shift into the
// first convolution (same values and gradients, less work; see stem()).
class EncoderImpl : public torch::nn::Module {
 public:
  // Throws oneshot::Error when (n_mels, n_frames) is too small for the layers.
  EncoderImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
  // x: (B, 1, n_mels, n_frames) or (B, n_mels, n_frames) -> (B, embedding_dim).
  // When the convolution weights are channels-last (convert_to_channels_last),
  // the input is converted too, so that every activation stays channels-last.
  torch::Tensor forward(torch::Tensor x);
  // The same pass, also returning the output of every layer in order (tests,
  // profiling): input norm, then each conv-block and dense-block layer.
  torch::Tensor forward_traced(torch::Tensor x, std::vector<torch::Tensor>* activations);
  // The layers applied one after the other, without folding the input
  // BatchNorm into the first convolution (see stem()): the reference that
  // tests compare forward() with.
  torch::Tensor forward_unfolded(torch::Tensor x);
  int64_t embedding_dim() const { return embedding_dim_; }
  int64_t n_mels() const { return n_mels_; }
  int64_t n_frames() const { return n_frames_; }

 private:
  torch::Tensor prepare_input(torch::Tensor x) const;  // shape check, (B, M, T) -> (B, 1, M, T)
  bool channels_last() const;                          // the convolutions' weights are channels-last
  torch::Tensor standardise_input(const torch::Tensor& x);
  torch::Tensor stem(torch::Tensor x);                 // input BatchNorm folded into the first conv

  int64_t embedding_dim_ = 0;
  int64_t n_mels_ = 0, n_frames_ = 0;
  torch::nn::BatchNorm2d input_norm_{nullptr};
  torch::nn::Sequential conv_{nullptr};
  torch::nn::Sequential dense_{nullptr};
};
TORCH_MODULE(Encoder);

}  // namespace oneshot
