#include "model/compact_encoder.h"

#include <sstream>

#include "core/error.h"

namespace oneshot {
namespace {

constexpr int64_t kKernel = 3;
constexpr int64_t kMinSize = 32;                 // 4 x 2 x 2 x 2 of pooling
// Max pooling after each block and channels as multiples of model.width;
// blocks past the 3rd (model.depth) pool nothing, so depth never moves the time grid.
constexpr int kMaxDepth = 6;
constexpr int64_t kPools[kMaxDepth] = {4, 2, 2, 1, 1, 1};
static_assert(kPools[0] * kPools[1] * kPools[2] == CompactEncoderImpl::kFramesPerColumn);
constexpr int64_t kWidths[kMaxDepth] = {1, 2, 4, 4, 4, 4};
constexpr int64_t kAttentionUnits = 64;          // "attention" pooling's hidden units

}  // namespace

std::vector<StageShape> compact_stages(const ModelConfig& config, int64_t n_mels, int64_t n_frames) {
  if (n_mels < kMinSize || n_frames < kMinSize) {
    std::ostringstream msg;
    msg << "model input shape " << n_mels << "x" << n_frames << " (n_mels x n_frames) is too small for the compact "
        << "encoder, which needs at least " << kMinSize << "x" << kMinSize;
    throw Error(msg.str());
  }
  std::vector<StageShape> stages{{"input", {1, n_mels, n_frames}, 0}};
  if (config.depth < 3 || config.depth > kMaxDepth) throw Error("model.depth must be in [3, 6]");
  int64_t c = 1, h = n_mels, w = n_frames;
  for (int b = 0; b < config.depth; ++b) {
    const int64_t out = kWidths[b] * config.width;
    const double flops = 2.0 * c * out * kKernel * kKernel * h * w;
    c = out, h /= kPools[b], w /= kPools[b];
    stages.push_back({"block" + std::to_string(b + 1), {c, h, w}, flops});
  }
  stages.push_back({"pool", {2 * c}, 0});
  if (config.pooling == "attention") stages.back().forward_flops = 2.0 * w * (c * kAttentionUnits + kAttentionUnits);
  stages.push_back({"embedding", {config.embedding_dim}, 2.0 * 2 * c * config.embedding_dim});
  return stages;
}

torch::Tensor attentive_statistics(const torch::Tensor& x, const torch::Tensor& logits) {
  const auto a = torch::softmax(logits.reshape({x.size(0), 1, x.size(2)}), 2);  // (B, 1, W)
  const auto mean = (a * x).sum(2);                                              // (B, C)
  const auto var = (a * x * x).sum(2) - mean * mean;
  return torch::cat({mean, var.clamp_min(1e-5).sqrt()}, 1);
}

CompactEncoderImpl::CompactEncoderImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames)
    : n_mels_(n_mels), embedding_dim_(config.embedding_dim) {
  compact_stages(config, n_mels, n_frames);  // throws on a too small input
  blocks_ = torch::nn::Sequential();
  int64_t channels = 1;
  for (int b = 0; b < config.depth; ++b) {
    const int64_t out = kWidths[b] * config.width;
    blocks_->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out, kKernel).padding(kKernel / 2).bias(false)));
    blocks_->push_back(torch::nn::BatchNorm2d(out));
    blocks_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    if (kPools[b] > 1) blocks_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(kPools[b])));
    channels = out;
  }
  register_module("blocks", blocks_);
  project_ = register_module("project", torch::nn::Linear(2 * channels, config.embedding_dim));
  if (config.pooling == "attention") {
    attention_hidden_ = register_module("attention_hidden", torch::nn::Linear(channels, kAttentionUnits));
    attention_score_ = register_module("attention_score", torch::nn::Linear(kAttentionUnits, 1));
  }
  // He initialisation for ReLU networks (torch's default for Conv2d is a
  // scaled-down kaiming_uniform that suits its own defaults less well here).
  for (auto& m : blocks_->modules(false))
    if (auto* conv = m->as<torch::nn::Conv2d>()) torch::nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut);
}

torch::Tensor CompactEncoderImpl::forward(torch::Tensor x) { return pool_project(trunk(std::move(x))); }

torch::Tensor CompactEncoderImpl::trunk(torch::Tensor x) {
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4 || x.size(1) != 1 || x.size(2) != n_mels_ || x.size(3) < kMinSize) {
    std::ostringstream msg;
    msg << "compact encoder input has shape " << x.sizes() << ", expected (batch, 1, " << n_mels_ << ", >= "
        << kMinSize << ")";
    throw Error(msg.str());
  }
  x = blocks_->forward(x);  // (B, C, H, W)
  return x.mean(2);         // over frequency: (B, C, W)
}

torch::Tensor CompactEncoderImpl::pool_project(const torch::Tensor& x) {
  if (attention_hidden_) {
    // Scores v . tanh(W h_t + b) + c of every time step h_t.
    const auto logits = attention_score_->forward(torch::tanh(attention_hidden_->forward(x.transpose(1, 2))));
    return project_->forward(attentive_statistics(x, logits));
  }
  return project_->forward(torch::cat({x.mean(2), std::get<0>(x.max(2))}, 1));  // mean and max over time: (B, 2C)
}

}  // namespace oneshot
