#include "model/original_encoder.h"

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "model/dropout.h"
#include "model/runtime.h"

namespace oneshot {
namespace {

std::string shape_text(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

torch::nn::BatchNorm2dOptions bn2d(int64_t channels) {
  return torch::nn::BatchNorm2dOptions(channels).momentum(kBatchNormMomentum).eps(kBatchNormEps);
}

torch::nn::BatchNorm1dOptions bn1d(int64_t features) {
  return torch::nn::BatchNorm1dOptions(features).momentum(kBatchNormMomentum).eps(kBatchNormEps);
}

// glorot_uniform on a weight whose fans are (in, out) x receptive field.
void glorot_uniform_(torch::Tensor& weight, c10::optional<at::Generator> generator) {
  const int64_t receptive = weight.dim() > 2 ? weight[0][0].numel() : 1;
  const double fan_in = static_cast<double>(weight.size(1) * receptive);
  const double fan_out = static_cast<double>(weight.size(0) * receptive);
  const double limit = std::sqrt(6.0 / (fan_in + fan_out));
  weight.uniform_(-limit, limit, generator);
}

}  // namespace

std::vector<StageShape> encoder_stages(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  if (n_mels < 1 || n_frames < 1)
    throw Error("model input shape " + shape_text(n_mels, n_frames) + " (n_mels x n_frames) is empty");
  std::vector<StageShape> stages;
  stages.push_back({"input", {1, n_mels, n_frames}, 0});
  int64_t c = 1, h = n_mels, w = n_frames;
  for (int layer = 1; layer <= config.n_conv_layers; ++layer) {
    const int64_t hc = h - kConvKernel + 1, wc = w - kConvKernel + 1;
    if (hc < kPool || wc < kPool) {
      std::ostringstream msg;
      msg << "model input shape " << shape_text(n_mels, n_frames) << " (n_mels x n_frames) is too small for "
          << config.n_conv_layers << " convolution layers (each a " << kConvKernel << "x" << kConvKernel
          << " valid convolution then " << kPool << "x" << kPool << " max pooling): convolution layer " << layer
          << " gets " << shape_text(h, w) << " and needs at least "
          << shape_text(kConvKernel + kPool - 1, kConvKernel + kPool - 1)
          << "; use fewer model.n_conv_layers or a longer/taller input";
      throw Error(msg.str());
    }
    const int64_t filters = config.n_filters;
    const double flops = 2.0 * c * filters * kConvKernel * kConvKernel * hc * wc;
    c = filters, h = hc / kPool, w = wc / kPool;
    stages.push_back({"conv" + std::to_string(layer), {c, h, w}, flops});
  }
  int64_t d = c * h * w;
  stages.push_back({"flatten", {d}, 0});
  for (int layer = 1; layer <= config.n_dense_layers; ++layer) {
    const double flops = 2.0 * d * config.n_dense;
    d = config.n_dense;
    stages.push_back({"dense" + std::to_string(layer), {d}, flops});
  }
  return stages;
}

double encoder_forward_flops(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  double total = 0;
  for (const auto& stage : encoder_stages(config, n_mels, n_frames)) total += stage.forward_flops;
  return total;
}

void keras_initialize(torch::nn::Module& module, c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  // apply() visits the module itself too, without needing it in a shared_ptr
  // (this runs inside constructors).
  module.apply([&](torch::nn::Module& child) {
    const bool weighted = child.as<torch::nn::Conv2dImpl>() || child.as<torch::nn::LinearImpl>();
    if (!weighted) return;
    for (auto& param : child.named_parameters(/*recurse=*/false)) {
      if (param.key() == "weight") glorot_uniform_(param.value(), generator);
      if (param.key() == "bias") param.value().zero_();
    }
  });
}

EncoderImpl::EncoderImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames)
    : n_mels_(n_mels), n_frames_(n_frames) {
  const auto stages = encoder_stages(config, n_mels, n_frames);  // throws on a too small input
  input_norm_ = register_module("input_norm", torch::nn::BatchNorm2d(bn2d(1)));

  conv_ = torch::nn::Sequential();
  int64_t channels = 1;
  for (int layer = 0; layer < config.n_conv_layers; ++layer) {
    conv_->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(channels, config.n_filters, kConvKernel).padding(0).bias(true)));
    conv_->push_back(torch::nn::BatchNorm2d(bn2d(config.n_filters)));
    conv_->push_back(torch::nn::ReLU());
    conv_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(kPool).stride(kPool)));
    conv_->push_back(Dropout(config.dropout_conv));
    channels = config.n_filters;
  }
  register_module("conv", conv_);

  dense_ = torch::nn::Sequential();
  dense_->push_back(torch::nn::Flatten());
  int64_t features = stages[config.n_conv_layers + 1].shape[0];  // the "flatten" stage
  for (int layer = 0; layer < config.n_dense_layers; ++layer) {
    dense_->push_back(torch::nn::Linear(features, config.n_dense));
    dense_->push_back(torch::nn::BatchNorm1d(bn1d(config.n_dense)));
    dense_->push_back(torch::nn::Sigmoid());
    dense_->push_back(Dropout(config.dropout_dense));
    features = config.n_dense;
  }
  register_module("dense", dense_);
  embedding_dim_ = features;
  keras_initialize(*this);
}

torch::Tensor EncoderImpl::prepare_input(torch::Tensor x) const {
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4 || x.size(1) != 1 || x.size(2) != n_mels_ || x.size(3) != n_frames_) {
    std::ostringstream msg;
    msg << "encoder input has shape " << x.sizes() << ", expected (batch, 1, " << n_mels_ << ", " << n_frames_
        << ")";
    throw Error(msg.str());
  }
  return x;
}

bool EncoderImpl::channels_last() const {
  if (conv_->is_empty()) return false;
  const auto& weight = conv_->ptr(0)->as<torch::nn::Conv2dImpl>()->weight;
  return weight.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
}

// The input BatchNorm's normalisation without its affine part, updating the
// running statistics exactly as torch::nn::BatchNorm2d does.
torch::Tensor EncoderImpl::standardise_input(const torch::Tensor& x) {
  auto& bn = *input_norm_;
  if (is_training()) bn.num_batches_tracked += 1;
  auto xhat = torch::batch_norm(x, /*weight=*/{}, /*bias=*/{}, bn.running_mean, bn.running_var, is_training(),
                                *bn.options.momentum(), bn.options.eps(), /*cudnn_enabled=*/false);
  // A channels-last network needs a truly channels-last input: with one
  // channel, .contiguous(ChannelsLast) would keep the NCHW strides.
  return channels_last() ? as_channels_last(xhat) : xhat;
}

// BatchNorm(x) = gamma * xhat + beta feeds a valid convolution, which is
// linear, so conv(BatchNorm(x), W, b) = conv(xhat, gamma * W, b + beta * sum(W)).
// Computing it that way gives the same values and gradients for all four
// parameters, but the convolution's input no longer needs a gradient: the
// backward pass skips the data-gradient convolution of the first layer
// (whose 1-channel output is slow in oneDNN), and one activation-sized
// BatchNorm pass each way is saved.
torch::Tensor EncoderImpl::stem(torch::Tensor x) {
  x = prepare_input(std::move(x));
  if (conv_->is_empty()) return input_norm_->forward(x);
  const torch::Tensor xhat = standardise_input(x);
  auto& conv = *conv_->ptr(0)->as<torch::nn::Conv2dImpl>();
  const auto& gamma = input_norm_->weight;
  const auto& beta = input_norm_->bias;
  torch::Tensor weight = conv.weight * gamma;
  if (channels_last()) weight = as_channels_last(weight);
  const torch::Tensor bias = conv.bias + beta * conv.weight.sum({1, 2, 3});
  return torch::conv2d(xhat, weight, bias);
}

torch::Tensor EncoderImpl::forward(torch::Tensor x) {
  x = stem(std::move(x));
  if (conv_->is_empty()) return dense_->forward(x);
  for (auto layer = conv_->begin() + 1; layer < conv_->end(); ++layer) x = layer->forward(x);  // after the stem's conv
  return dense_->forward(x);
}

torch::Tensor EncoderImpl::forward_traced(torch::Tensor x, std::vector<torch::Tensor>* activations) {
  if (activations && !conv_->is_empty()) {
    // The stem never materialises the input BatchNorm's output; record it.
    torch::NoGradGuard no_grad;
    auto& bn = *input_norm_;
    auto input = prepare_input(x);
    auto normed = torch::batch_norm(input, bn.weight, bn.bias, bn.running_mean.clone(), bn.running_var.clone(),
                                    is_training(), *bn.options.momentum(), bn.options.eps(), false);
    activations->push_back(channels_last() ? as_channels_last(normed) : normed);
  }
  x = stem(std::move(x));
  if (activations && conv_->is_empty()) activations->push_back(x);
  size_t index = 0;
  for (auto* sequence : {&conv_, &dense_}) {
    for (auto& layer : **sequence) {
      if (sequence == &conv_ && index++ == 0) {  // the first convolution ran in the stem
        if (activations) activations->push_back(x);
        continue;
      }
      x = layer.forward(x);
      if (activations) activations->push_back(x);
    }
  }
  return x;
}

torch::Tensor EncoderImpl::forward_unfolded(torch::Tensor x) {
  x = input_norm_->forward(prepare_input(std::move(x)));
  if (channels_last()) x = as_channels_last(x);
  return dense_->forward(conv_->forward(x));
}

}  // namespace oneshot
