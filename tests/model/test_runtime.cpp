#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "model_test_util.h"

namespace oneshot {
namespace {

using test::kFrames;
using test::kMels;
using test::random_clips;
using test::tiny_config;

TEST(Runtime, ConfigureThreads) {
  EXPECT_EQ(configure_runtime(1), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_EQ(configure_runtime(2), 2);
  EXPECT_GE(configure_runtime(0), 1);  // all cores
  EXPECT_EQ(configure_runtime(1), 1);  // calling again is fine (inter-op count is set once)
}

TEST(Runtime, ReportsTheBlasLibraryInUse) {
  const auto info = blas_in_use();
  ASSERT_FALSE(info.library.empty()) << "LibTorch's sgemm_ was not found in the process";
  EXPECT_TRUE(std::filesystem::exists(info.library)) << info.library;
  EXPECT_NE(info.name, "unknown") << info.library;
  // The warning is there exactly when the reference BLAS is.
  EXPECT_EQ(blas_warning(info).empty(), !info.reference());
  BlasInfo reference{"reference", "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", ""};
  EXPECT_NE(blas_warning(reference).find("reference BLAS"), std::string::npos);
}

TEST(Runtime, ParsesDevices) {
  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_EQ(parse_device("CPU"), torch::Device(torch::kCPU));
  EXPECT_THROW(parse_device("gpu"), Error);
  if (!torch::cuda::is_available()) {
    try {
      parse_device("cuda");
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
    }
  } else {
    EXPECT_TRUE(parse_device("cuda").is_cuda());
  }
}

TEST(Runtime, PrecisionNames) {
  EXPECT_FALSE(precision_uses_autocast("fp32"));
  EXPECT_TRUE(precision_uses_autocast("bf16"));
  EXPECT_THROW(precision_uses_autocast("fp16"), Error);
}

TEST(ChannelsLast, PlainContiguousLeavesOneChannelWeightsInNchw) {
  // Why as_channels_last exists: a (64, 1, 5, 5) NCHW weight already counts as
  // channels-last "contiguous", so .contiguous(ChannelsLast) keeps its strides.
  const auto w = torch::randn({64, 1, 5, 5});
  EXPECT_FALSE(is_channels_last(w.contiguous(at::MemoryFormat::ChannelsLast)));
  const auto converted = as_channels_last(w);
  EXPECT_TRUE(is_channels_last(converted));
  EXPECT_TRUE(torch::equal(converted, w));
}

TEST(ChannelsLast, ConvertedModelKeepsTheLayoutEverywhere) {
  torch::manual_seed(2);
  Siamese reference(tiny_config(), kMels, kFrames);
  torch::manual_seed(2);
  Siamese model(tiny_config(), kMels, kFrames);
  convert_to_channels_last(*model);
  int n_conv = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.value().dim() != 4) continue;
    EXPECT_TRUE(is_channels_last(p.value())) << p.key();
    ++n_conv;
  }
  EXPECT_EQ(n_conv, tiny_config().n_conv_layers);

  {
    torch::NoGradGuard no_grad;
    // Same numbers as the NCHW network (eval mode: no dropout).
    model->eval();
    reference->eval();
    const auto a = random_clips(4, 1), b = random_clips(4, 2);
    const auto ea = model->embed(a), ra = reference->embed(a);
    EXPECT_TRUE(torch::allclose(ea, ra, 1e-4, 1e-5)) << (ea - ra).abs().max();
    EXPECT_TRUE(torch::allclose(model->forward(a, b), reference->forward(a, b), 1e-4, 1e-5));
  }

  // Every 4-D activation is channels-last, in training and in eval.
  for (bool training : {true, false}) {
    model->train(training);
    std::vector<torch::Tensor> acts;
    model->encoder->forward_traced(random_clips(3, 4), &acts);
    int n4 = 0;
    for (size_t i = 0; i < acts.size(); ++i) {
      if (acts[i].dim() != 4) continue;
      EXPECT_TRUE(is_channels_last(acts[i])) << "activation " << i << " training " << training;
      ++n4;
    }
    EXPECT_EQ(n4, 1 + 5 * tiny_config().n_conv_layers);
  }
}

TEST(ChannelsLast, LayoutSurvivesTrainingSteps) {
  Siamese model(tiny_config(), kMels, kFrames);
  convert_to_channels_last(*model);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-7));
  model->train();
  for (int step = 0; step < 2; ++step) {
    adam.zero_grad();
    auto logits = model->forward(random_clips(4, step), random_clips(4, step + 10));
    torch::binary_cross_entropy_with_logits(logits, torch::tensor({1.f, 0.f, 1.f, 0.f})).backward();
    adam.step();
  }
  for (const auto& p : model->named_parameters())
    if (p.value().dim() == 4) EXPECT_TRUE(is_channels_last(p.value())) << p.key();
}

TEST(Autocast, Bf16InsideTheScopeOnly) {
  Siamese model(tiny_config(), kMels, kFrames);
  model->train();
  const auto x = random_clips(4, 1);
  torch::Tensor embedding;
  {
    CpuAutocast autocast;
    embedding = model->embed(x);
    // Linear and convolutions run in bf16 under CPU autocast.
    std::vector<torch::Tensor> acts;
    model->encoder->forward_traced(x, &acts);
    EXPECT_EQ(acts[1].scalar_type(), torch::kBFloat16);  // the first convolution
    {
      CpuAutocast nested;
    }
    EXPECT_EQ(model->embed(x).dim(), 2);  // still usable after a nested scope ends
    EXPECT_EQ(model->output->forward(torch::ones({1, 8})).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(model->output->forward(torch::ones({1, 8})).scalar_type(), torch::kFloat);
  // Backward outside the scope: fp32 gradients on the fp32 weights.
  embedding.to(torch::kFloat).sum().backward();
  for (const auto& p : model->encoder->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
  }
  CpuAutocast disabled(false);
  EXPECT_EQ(model->output->forward(torch::ones({1, 8})).scalar_type(), torch::kFloat);
}

TEST(Autocast, Bf16EmbeddingsCloseToFp32) {
  Siamese model(tiny_config(), kMels, kFrames);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = random_clips(4, 3);
  const auto fp32 = model->embed(x);
  torch::Tensor bf16;
  {
    CpuAutocast autocast;
    bf16 = model->embed(x).to(torch::kFloat);
  }
  EXPECT_TRUE(torch::allclose(bf16, fp32, 0.05, 0.05));
}

}  // namespace
}  // namespace oneshot
