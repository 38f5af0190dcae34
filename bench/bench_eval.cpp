// The grid protocol (the original's one-shot test) on 5 classes x 40 clips with
// the default model at 128 x 431: 200 encoder passes, then the head on 10,000
// pairs. The original ran the whole network twice per pair (20,000 encoder
// passes). Target: under 10 s on 2 threads.
//   build/bench_eval --benchmark_filter=Grid
#include <benchmark/benchmark.h>

#include <random>

#include "eval/protocols.h"
#include "model/runtime.h"

namespace oneshot {
namespace {

constexpr std::size_t kMels = 128, kFrames = 431, kClasses = 5, kClipsPerClass = 40;

const FeatureSet& features() {
  static const FeatureSet set = [] {
    std::mt19937_64 rng(1);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    std::vector<float> data(kClasses * kClipsPerClass * kMels * kFrames);
    for (auto& v : data) v = noise(rng);
    std::vector<int> labels;
    std::vector<std::string> names, files;
    for (std::size_t c = 0; c < kClasses; ++c) {
      names.push_back("class_" + std::to_string(c));
      for (std::size_t k = 0; k < kClipsPerClass; ++k) {
        labels.push_back(static_cast<int>(c));
        files.push_back(names.back() + "_" + std::to_string(k));
      }
    }
    return FeatureSet::from_vectors(std::move(data), kMels, kFrames, std::move(labels), std::move(names),
                                    std::move(files));
  }();
  return set;
}

Siamese default_model() {
  torch::manual_seed(1);
  Siamese model(original_model(), kMels, kFrames);
  model->eval();
  convert_to_channels_last(*model);  // as `evaluate` runs it on a CPU
  return model;
}

EvalSubset all_clips() {
  std::vector<int> classes;
  for (std::size_t c = 0; c < kClasses; ++c) classes.push_back(static_cast<int>(c));
  return subset_of_classes(features(), classes);
}

// The whole protocol: embeddings of the 200 clips, then 10,000 head decisions.
void BM_GridProtocol(benchmark::State& state) {
  configure_runtime(static_cast<int>(state.range(0)));
  auto model = default_model();
  const auto subset = all_clips();
  for (auto _ : state) {
    auto embeddings = embed_subset(model, features(), subset, torch::kCPU, 50);
    auto result = evaluate_grid(model, embeddings, subset, 1);
    benchmark::DoNotOptimize(result.mean_accuracy);
  }
  state.counters["clips/s"] = benchmark::Counter(static_cast<double>(subset.clips.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["decisions"] = static_cast<double>(kClasses * 400);
}
BENCHMARK(BM_GridProtocol)->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

// The head alone on precomputed embeddings: the grid's 10,000 pairs.
void BM_GridHeadOnly(benchmark::State& state) {
  configure_runtime(2);
  auto model = default_model();
  const auto subset = all_clips();
  torch::manual_seed(2);
  auto embeddings = torch::rand({static_cast<int64_t>(subset.clips.size()), model->encoder->embedding_dim()});
  for (auto _ : state) benchmark::DoNotOptimize(evaluate_grid(model, embeddings, subset, 1).mean_accuracy);
}
BENCHMARK(BM_GridHeadOnly)->Unit(benchmark::kMillisecond);

// 10,000 5-way 1-shot episodes of 15 queries a class (750,000 head pairs) on precomputed embeddings.
void BM_EpisodesHeadOnly(benchmark::State& state) {
  configure_runtime(2);
  auto model = default_model();
  const auto subset = all_clips();
  torch::manual_seed(2);
  auto embeddings = torch::rand({static_cast<int64_t>(subset.clips.size()), model->encoder->embedding_dim()});
  EvalConfig config;
  config.protocol = "episodes";
  config.shots = static_cast<int>(state.range(0));
  config.aggregate = "prototype";
  for (auto _ : state) benchmark::DoNotOptimize(evaluate_episodes(model, embeddings, subset, config).mean_accuracy);
}
BENCHMARK(BM_EpisodesHeadOnly)->Arg(1)->Arg(5)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace
}  // namespace oneshot

BENCHMARK_MAIN();
