// Speed of the default siamese model at 128 x 431 on the CPU.
//
// For each thread count (1, 2), layout (NCHW, channels-last) and precision
// (fp32, bf16 autocast):
//   BM_TrainAnchors   one "anchors" training step: 20 pairs, both branches
//                     encoded (40 clips), BCE, backward, Adam step.
//                     clips/s = encoder forward+backward throughput;
//                     pairs/s = clips/s / 2 (two encodes per pair).
//   BM_TrainInBatch   one in-batch step: 32 clips (8 classes x 4) encoded once,
//                     all 496 pairs inside the batch through the head.
//   BM_Embed          inference: embeddings/s, eval mode, batches of 32.
// GFLOP/s counts convolutions and dense layers analytically
// (encoder_forward_flops), forward+backward = 3x forward.
//   BM_DropoutMask    torch's Bernoulli mask vs ours on a conv1-sized tensor.
//   BM_CompactTrain   the default recipe's step: the compact encoder on 32
//                     clips (8 classes x 4), prototypical loss (1 support, 3
//                     queries a class), backward, Adam; fp32 vs bf16 autocast.
//   BM_CompactEmbed   the compact encoder's inference, batches of 32.
// At start-up it prints both encoders' FLOPs per clip and parameter counts.
//
// Run: build/bench_model --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

#include "model/dropout.h"
#include "train/objectives.h"
#include "model/runtime.h"
#include "model/siamese.h"

namespace {

using namespace oneshot;

constexpr int64_t kMels = 128, kFrames = 431;

struct Variant {
  int threads;
  bool channels_last;
  bool bf16;
};

Variant variant_of(const benchmark::State& state) {
  return {static_cast<int>(state.range(0)), state.range(1) != 0, state.range(2) != 0};
}

// bf16 autocast pays off only where the CPU has bf16 arithmetic (AVX-512 BF16
// or AMX); elsewhere oneDNN emulates it, about 8x slower than fp32 (measured
// on an AVX2-only EPYC). Those variants are skipped there unless
// ONESHOT_BENCH_BF16=1.
bool skip_bf16(benchmark::State& state, const Variant& v) {
  if (!v.bf16 || std::getenv("ONESHOT_BENCH_BF16")) return false;
  const auto features = cpu_features();
  if (features.find("avx512_bf16") != std::string::npos || features.find("amx_bf16") != std::string::npos)
    return false;
  state.SkipWithError("no AVX-512 BF16/AMX on this CPU: bf16 is emulated (set ONESHOT_BENCH_BF16=1 to run)");
  return true;
}

Siamese make_model(const Variant& v) {
  configure_runtime(v.threads);
  torch::manual_seed(1);
  Siamese model(original_model(), kMels, kFrames);
  if (v.channels_last) convert_to_channels_last(*model);
  return model;
}

void set_counters(benchmark::State& state, double clips, double pairs, double flops_per_clip_pass) {
  using benchmark::Counter;
  state.counters["clips/s"] = Counter(clips, Counter::kIsRate);
  state.counters["pairs/s"] = Counter(pairs, Counter::kIsRate);
  state.counters["GFLOP/s"] = Counter(clips * flops_per_clip_pass / 1e9, Counter::kIsRate);
}

void anchors_step(Siamese& model, torch::optim::Adam& adam, const torch::Tensor& x1, const torch::Tensor& x2,
                  const torch::Tensor& target, bool bf16) {
  adam.zero_grad();
  torch::Tensor logits;
  {
    CpuAutocast autocast(bf16);
    logits = model->forward(x1, x2);
  }
  torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat), target).backward();
  adam.step();
}

void BM_TrainAnchors(benchmark::State& state) {
  const Variant v = variant_of(state);
  if (skip_bf16(state, v)) return;
  auto model = make_model(v);
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-7));
  const int64_t batch = 20;
  const auto x1 = torch::randn({batch, 1, kMels, kFrames}), x2 = torch::randn({batch, 1, kMels, kFrames});
  const auto target = (torch::arange(batch) % 2).to(torch::kFloat);
  anchors_step(model, adam, x1, x2, target, v.bf16);  // warm-up: oneDNN primitives, allocator
  for (auto _ : state) anchors_step(model, adam, x1, x2, target, v.bf16);
  const double clips = 2.0 * batch * state.iterations();
  set_counters(state, clips, clips / 2, 3 * encoder_forward_flops(original_model(), kMels, kFrames));
}

void in_batch_step(Siamese& model, torch::optim::Adam& adam, const torch::Tensor& x, const torch::Tensor& i,
                   const torch::Tensor& j, const torch::Tensor& target, bool bf16) {
  adam.zero_grad();
  torch::Tensor logits;
  {
    CpuAutocast autocast(bf16);
    const auto e = model->embed(x);
    logits = model->head(e.index_select(0, i), e.index_select(0, j));
  }
  torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat), target).backward();
  adam.step();
}

void BM_TrainInBatch(benchmark::State& state) {
  const Variant v = variant_of(state);
  if (skip_bf16(state, v)) return;
  auto model = make_model(v);
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-7));
  const int64_t classes = 8, per_class = 4, batch = classes * per_class;
  const auto x = torch::randn({batch, 1, kMels, kFrames});
  std::vector<int64_t> is, js;
  std::vector<float> same;
  for (int64_t a = 0; a < batch; ++a)
    for (int64_t b = a + 1; b < batch; ++b) {
      is.push_back(a), js.push_back(b);
      same.push_back(a / per_class == b / per_class ? 1.f : 0.f);
    }
  const auto i = torch::tensor(is), j = torch::tensor(js), target = torch::tensor(same);
  in_batch_step(model, adam, x, i, j, target, v.bf16);  // warm-up
  for (auto _ : state) in_batch_step(model, adam, x, i, j, target, v.bf16);
  set_counters(state, double(batch) * state.iterations(), double(is.size()) * state.iterations(),
               3 * encoder_forward_flops(original_model(), kMels, kFrames));
}

void BM_Embed(benchmark::State& state) {
  const Variant v = variant_of(state);
  if (skip_bf16(state, v)) return;
  auto model = make_model(v);
  model->eval();
  const int64_t batch = 32;
  const auto x = torch::randn({batch, 1, kMels, kFrames});
  auto embed = [&] {
    torch::InferenceMode inference;
    CpuAutocast autocast(v.bf16);
    benchmark::DoNotOptimize(model->embed(x));
  };
  embed();  // warm-up
  for (auto _ : state) embed();
  const double clips = double(batch) * state.iterations();
  set_counters(state, clips, 0, encoder_forward_flops(original_model(), kMels, kFrames));
  state.counters.erase("pairs/s");
}

// The first dropout's input: 20 clips x 64 x 62 x 213 after conv1 + pooling.
void BM_DropoutMask(benchmark::State& state) {
  configure_runtime(static_cast<int>(state.range(0)));
  const bool ours = state.range(1) != 0;
  const auto like = torch::empty({20, 64, 62, 213});
  torch::manual_seed(1);
  for (auto _ : state) {
    if (ours) {
      benchmark::DoNotOptimize(dropout_mask(like, 0.25, draw_seed_from_default_generator()));
    } else {  // what torch::dropout does on the CPU
      benchmark::DoNotOptimize(torch::empty_like(like).bernoulli_(0.75).div_(0.75));
    }
  }
  state.counters["Melem/s"] = benchmark::Counter(like.numel() / 1e6 * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}

Siamese make_compact(const Variant& v) {
  configure_runtime(v.threads);
  torch::manual_seed(1);
  Siamese model(ModelConfig{}, kMels, kFrames);
  if (v.channels_last) convert_to_channels_last(*model);
  return model;
}

void BM_CompactTrain(benchmark::State& state) {
  const Variant v = variant_of(state);
  if (skip_bf16(state, v)) return;
  auto model = make_compact(v);
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-7));
  const int64_t classes = 8, per_class = 4, batch = classes * per_class;
  const auto x = torch::randn({batch, 1, kMels, kFrames});
  std::vector<int> labels;
  for (int64_t c = 0; c < classes; ++c) labels.insert(labels.end(), per_class, static_cast<int>(c));
  auto step = [&] {
    adam.zero_grad();
    StepLoss loss;
    {
      CpuAutocast autocast(v.bf16);
      loss = prototypical_loss(model, model->embed(x).to(torch::kFloat), labels, 1);
    }
    loss.loss.backward();
    adam.step();
  };
  step();  // warm-up
  for (auto _ : state) step();
  set_counters(state, double(batch) * state.iterations(), 0, 3 * model_forward_flops(ModelConfig{}, kMels, kFrames));
  state.counters.erase("pairs/s");
}

void BM_CompactEmbed(benchmark::State& state) {
  const Variant v = variant_of(state);
  if (skip_bf16(state, v)) return;
  auto model = make_compact(v);
  model->eval();
  const auto x = torch::randn({32, 1, kMels, kFrames});
  auto embed = [&] {
    torch::InferenceMode inference;
    CpuAutocast autocast(v.bf16);
    benchmark::DoNotOptimize(model->embed(x));
  };
  embed();
  for (auto _ : state) embed();
  set_counters(state, 32.0 * state.iterations(), 0, model_forward_flops(ModelConfig{}, kMels, kFrames));
  state.counters.erase("pairs/s");
}

void model_variants(benchmark::internal::Benchmark* b) {
  b->ArgNames({"threads", "channels_last", "bf16"});
  for (int threads : {1, 2})
    for (int cl : {0, 1})
      for (int bf16 : {0, 1}) b->Args({threads, cl, bf16});
  b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);
}

BENCHMARK(BM_TrainAnchors)->Apply(model_variants);
BENCHMARK(BM_TrainInBatch)->Apply(model_variants);
BENCHMARK(BM_Embed)->Apply(model_variants);
BENCHMARK(BM_CompactTrain)->Apply(model_variants);
BENCHMARK(BM_CompactEmbed)->Apply(model_variants);
BENCHMARK(BM_DropoutMask)
    ->ArgNames({"threads", "ours"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const auto blas = blas_in_use();
  std::fprintf(stderr, "LibTorch %s, BLAS: %s (%s)%s, CPU features: %s\n", TORCH_VERSION, blas.name.c_str(),
               blas.library.c_str(), blas.detail.empty() ? "" : (" " + blas.detail).c_str(),
               cpu_features().c_str());
  if (const auto warning = blas_warning(blas); !warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
  for (const auto& [name, config] : {std::pair{"original", original_model()}, std::pair{"compact", ModelConfig{}}}) {
    Siamese model(config, kMels, kFrames);
    std::int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    std::fprintf(stderr, "%s encoder at %lldx%lld: %.3f GFLOP per clip forward, %.3f M parameters\n", name,
                 static_cast<long long>(kMels), static_cast<long long>(kFrames),
                 model_forward_flops(config, kMels, kFrames) / 1e9, static_cast<double>(params) / 1e6);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
