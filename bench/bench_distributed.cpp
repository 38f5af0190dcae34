// Data-parallel training speed: steps/s and all-reduce seconds per step for
// 1, 2, ... local processes, original and compact encoders, beside PyTorch's
// DistributedDataParallel on the same models and steps in the same run
// (bench/peers/ddp_peer.py), and what the figures predict for several hosts
// on a 10 Gbit/s network.
//
// A step is bench_model's (and bench/peers/model_torch.py's): 32 clips of
// 128 x 431 per rank, original encoder: all 496 in-batch pairs, BCE;
// compact: prototypical loss; Adam; channels-last as the trainer. Ours
// communicates as the trainer does: the gradients in 25 MB buckets after
// backward, plus the two small sums of a step (loss statistics, stop flag).
// "all-reduce s/step" is ours: time inside those collectives (waiting for the
// slower rank included); DDP's: its step time minus its step time under
// no_sync() (DDP overlaps the all-reduce with backward).
//
// Run under the CPU lock: flock /tmp/oneshot-cpu.lock build/bench_distributed
//   [--steps 8] [--threads 1] [--procs 1,2] [--archs original,compact] [--no-peer]
// --bn TRIALS: instead, the effect of per-rank BatchNorm statistics on the
// gradient (batchnorm_effect below).
#include <torch/torch.h>
#include <torch/version.h>

#include <unistd.h>

#include <array>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/clock.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "train/distributed.h"
#include "train/launcher.h"
#include "train/objectives.h"

namespace {

using namespace oneshot;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::int64_t kMels = 128, kFrames = 431, kClasses = 8, kPerClass = 4, kBatch = kClasses * kPerClass;
constexpr const char* kWorkerEnv = "ONESHOT_BENCH_DIST";  // "ARCH STEPS THREADS OUT": this process is a rank

// One rank: warm-up step, then `steps` timed steps between barriers.
int run_rank(const std::string& arch, int steps, int threads, const fs::path& out) {
  const LaunchEnv env = LaunchEnv::from_environment();
  std::unique_ptr<Distributed> dist;
  if (env.world_size > 1) {
    GlooOptions o;
    o.env = env;
    dist = connect_gloo(o);
  } else {
    dist = single_process();
  }
  configure_runtime(threads);
  torch::manual_seed(1);
  Siamese model(arch == "original" ? original_model() : ModelConfig{}, kMels, kFrames);
  convert_to_channels_last(*model);
  model->train();
  std::vector<torch::Tensor> state = model->parameters();
  for (const auto& b : model->buffers()) state.push_back(b);
  dist->broadcast_tensors(state);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-7));
  torch::manual_seed(100 + static_cast<std::uint64_t>(env.rank));
  const auto x = torch::randn({kBatch, 1, kMels, kFrames});
  std::vector<int> labels;
  for (std::int64_t c = 0; c < kClasses; ++c) labels.insert(labels.end(), kPerClass, static_cast<int>(c));
  std::vector<std::int64_t> is, js;
  std::vector<float> same;
  for (std::int64_t a = 0; a < kBatch; ++a)
    for (std::int64_t b = a + 1; b < kBatch; ++b) {
      is.push_back(a), js.push_back(b);
      same.push_back(a / kPerClass == b / kPerClass ? 1.f : 0.f);
    }
  const auto i = torch::tensor(is), j = torch::tensor(js), target = torch::tensor(same);

  auto step = [&] {
    adam.zero_grad();
    torch::Tensor loss;
    const auto e = model->embed(x);
    if (arch == "original")
      loss = torch::binary_cross_entropy_with_logits(model->head(e.index_select(0, i), e.index_select(0, j)), target);
    else
      loss = prototypical_loss(model, e, labels, 1).loss;
    dist->sum_values({loss.item<double>(), 1, 1, 0, 0, 0});  // the trainer's step statistics
    loss.backward();
    dist->average_gradients(model->parameters());
    adam.step();
    dist->sum_values({0});  // the trainer's stop flag
  };
  step();  // warm-up: oneDNN primitives, allocator
  dist->barrier();
  const double comm_before = dist->communication_seconds();
  const auto start = SteadyClock::now();
  for (int s = 0; s < steps; ++s) step();
  dist->barrier();
  const double seconds = seconds_since(start) / steps;
  const double comm = (dist->communication_seconds() - comm_before) / steps;  // the closing barrier is in it
  std::int64_t grad_bytes = 0;
  for (const auto& p : model->parameters()) grad_bytes += p.numel() * static_cast<std::int64_t>(p.element_size());
  if (env.rank == 0)
    write_file_atomic(out, json{{"seconds_per_step", seconds},
                                {"steps_per_s", 1 / seconds},
                                {"comm_seconds_per_step", comm},
                                {"grad_bytes", grad_bytes}}
                               .dump());
  dist->finish();
  return 0;
}

// BatchNorm with each rank's statistics (ours, DDP's default) against
// statistics over the global batch (SyncBatchNorm): the gradient of two
// ranks' mean loss either way, each rank's loss on its own 32 clips. Inputs:
// 8 classes, each a fixed random spectrogram plus noise (scale 0.5), so the
// classes differ as sounds do, not only by noise. Prints the cosine between
// the two gradients and their relative difference, over `trials` batches.
void batchnorm_effect(const std::string& arch, int trials, int threads) {
  configure_runtime(threads);
  torch::manual_seed(1);
  Siamese model(arch == "original" ? original_model() : ModelConfig{}, kMels, kFrames);
  model->train();
  std::vector<int> labels;
  for (std::int64_t c = 0; c < kClasses; ++c) labels.insert(labels.end(), kPerClass, static_cast<int>(c));
  const auto prototypes = torch::randn({kClasses, 1, kMels, kFrames});
  const auto label_index = torch::arange(kClasses).repeat_interleave(kPerClass);
  auto loss_of = [&](const torch::Tensor& e) {
    if (arch == "original") {
      std::vector<std::int64_t> is, js;
      std::vector<float> same;
      for (std::int64_t a = 0; a < kBatch; ++a)
        for (std::int64_t b = a + 1; b < kBatch; ++b) {
          is.push_back(a), js.push_back(b);
          same.push_back(a / kPerClass == b / kPerClass ? 1.f : 0.f);
        }
      return torch::binary_cross_entropy_with_logits(
          model->head(e.index_select(0, torch::tensor(is)), e.index_select(0, torch::tensor(js))), torch::tensor(same));
    }
    return prototypical_loss(model, e, labels, 1).loss;
  };
  auto gradient = [&] {
    std::vector<torch::Tensor> parts;
    for (const auto& p : model->parameters())
      if (p.grad().defined()) parts.push_back(p.grad().reshape({-1}).clone());
    model->zero_grad();
    return torch::cat(parts);
  };
  double cos_sum = 0, rel_sum = 0;
  for (int t = 0; t < trials; ++t) {
    const auto x0 = prototypes.index_select(0, label_index) + 0.5 * torch::randn({kBatch, 1, kMels, kFrames});
    const auto x1 = prototypes.index_select(0, label_index) + 0.5 * torch::randn({kBatch, 1, kMels, kFrames});
    model->zero_grad();
    ((loss_of(model->embed(x0)) + loss_of(model->embed(x1))) / 2).backward();  // local statistics
    const auto local = gradient();
    const auto e = model->embed(torch::cat({x0, x1}));  // one batch: global statistics
    ((loss_of(e.narrow(0, 0, kBatch)) + loss_of(e.narrow(0, kBatch, kBatch))) / 2).backward();
    const auto global = gradient();
    cos_sum += torch::cosine_similarity(local, global, 0).item<double>();
    rel_sum += ((local - global).norm() / global.norm()).item<double>();
  }
  std::printf("%-9s  cosine %.4f  relative difference %.4f  (mean of %d batches of 2 x 32 clips)\n", arch.c_str(),
              cos_sum / trials, rel_sum / trials, trials);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string capture(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {};
  std::array<char, 4096> buf;
  std::string text;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) text.append(buf.data(), n);
  ::pclose(pipe);
  return text;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ',');) parts.push_back(p);
  return parts;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* worker = std::getenv(kWorkerEnv)) {
    std::istringstream w(worker);
    std::string arch, out;
    int steps = 0, threads = 1;
    w >> arch >> steps >> threads >> out;
    try {
      return run_rank(arch, steps, threads, out);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  int steps = 8, threads = 1;
  std::string procs = "1,2", archs = "original,compact";
  bool peer = true;
  int bn_trials = 0;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--steps" && a + 1 < argc) steps = std::atoi(argv[++a]);
    else if (arg == "--threads" && a + 1 < argc) threads = std::atoi(argv[++a]);
    else if (arg == "--procs" && a + 1 < argc) procs = argv[++a];
    else if (arg == "--archs" && a + 1 < argc) archs = argv[++a];
    else if (arg == "--no-peer") peer = false;
    else if (arg == "--bn" && a + 1 < argc) bn_trials = std::atoi(argv[++a]);
    else {
      std::fprintf(stderr, "usage: bench_distributed [--steps N] [--threads T] [--procs 1,2] "
                           "[--archs original,compact] [--no-peer] [--bn TRIALS]\n");
      return 2;
    }
  }
  const fs::path source = fs::path(__FILE__).parent_path();
  const fs::path peer_script = source / "peers" / "ddp_peer.py";
  const fs::path out = fs::temp_directory_path() / ("bench_distributed_" + std::to_string(::getpid()) + ".json");
  std::printf("CPU: %s (%u hardware threads); LibTorch %s; %d thread(s) a process; %d timed steps\n",
              cpu_model().c_str(), std::thread::hardware_concurrency(), TORCH_VERSION, threads, steps);
  if (bn_trials > 0) {
    std::printf("BatchNorm: gradient with each rank's statistics vs with the global batch's (2 ranks):\n");
    for (const auto& arch : split(archs)) batchnorm_effect(arch, bn_trials, threads);
    return 0;
  }
  std::printf("%-9s %5s  %10s %12s %10s  %10s %12s %10s  %9s\n", "encoder", "procs", "ours st/s", "ours ar s/st",
              "grad MB", "DDP st/s", "DDP ar s/st", "DDP nosync", "ours/DDP");
  json results = json::array();
  for (const auto& arch : split(archs)) {
    for (const auto& p : split(procs)) {
      const int n = std::stoi(p);
      const std::string spec = arch + " " + std::to_string(steps) + " " + std::to_string(threads) + " " + out.string();
      ::setenv(kWorkerEnv, spec.c_str(), 1);
      int code = 0;
      if (n == 1) {
        code = std::system(("'" + fs::canonical("/proc/self/exe").string() + "'").c_str());
      } else {
        LaunchOptions launch;
        launch.nproc = n;
        launch.argv = {fs::canonical("/proc/self/exe").string()};
        code = launch_local_ranks(launch, std::cerr);
      }
      ::unsetenv(kWorkerEnv);
      if (code != 0 || !fs::exists(out)) {
        std::fprintf(stderr, "%s x %d: ranks failed (status %d)\n", arch.c_str(), n, code);
        continue;
      }
      json ours = json::parse(read_file(out));
      fs::remove(out);
      json theirs;
      if (peer) {
        const std::string text = capture(peer_script.string() + " --arch " + arch + " --nproc " + std::to_string(n) +
                                         " --threads " + std::to_string(threads) + " --steps " +
                                         std::to_string(steps) + " 2>/dev/null");
        const auto line = text.substr(text.rfind('{') == std::string::npos ? 0 : text.rfind('{'));
        try {
          theirs = json::parse(line);
        } catch (const std::exception&) {
          std::fprintf(stderr, "the DDP peer printed no figures: %s\n", text.c_str());
        }
      }
      const bool have = !theirs.is_null();
      std::printf("%-9s %5d  %10.3f %12.4f %10.1f  %10s %12s %10s  %9s\n", arch.c_str(), n,
                  ours["steps_per_s"].get<double>(), ours["comm_seconds_per_step"].get<double>(),
                  ours["grad_bytes"].get<double>() / 1e6,
                  have ? std::to_string(theirs["steps_per_s"].get<double>()).substr(0, 6).c_str() : "-",
                  have ? std::to_string(theirs["comm_seconds_per_step"].get<double>()).substr(0, 6).c_str() : "-",
                  have ? std::to_string(theirs["nosync_seconds_per_step"].get<double>()).substr(0, 6).c_str() : "-",
                  have ? std::to_string(ours["steps_per_s"].get<double>() / theirs["steps_per_s"].get<double>())
                             .substr(0, 5)
                             .c_str()
                       : "-");
      std::fflush(stdout);
      results.push_back({{"arch", arch}, {"procs", n}, {"ours", ours}, {"ddp", theirs}});
    }
  }
  // Several hosts, one process each, 10 Gbit/s: a ring all-reduce sends and
  // receives 2 (N-1)/N of the gradient per rank (bandwidth term only). Ours
  // adds it to the one-process step; DDP hides it behind backward as far as
  // backward lasts (at best the step is max(compute, transfer)).
  std::printf("\nprediction, N hosts of this CPU on 10 Gbit/s (1.25 GB/s), one process of %d thread(s) each:\n",
              threads);
  std::printf("%-9s %5s  %12s %14s %14s %14s\n", "encoder", "hosts", "transfer s", "ours st/s", "DDP st/s (best)",
              "ours clips/s");
  for (const auto& r : results) {
    if (r["procs"].get<int>() != 1) continue;
    const double t1 = r["ours"]["seconds_per_step"].get<double>();
    const double bytes = r["ours"]["grad_bytes"].get<double>();
    for (int hosts : {2, 4, 8, 16}) {
      const double transfer = 2.0 * (hosts - 1) / hosts * bytes / 1.25e9;
      const double ours = 1 / (t1 + transfer), ddp = 1 / std::max(t1, transfer);
      std::printf("%-9s %5d  %12.4f %14.3f %14.3f %14.1f\n", r["arch"].get<std::string>().c_str(), hosts, transfer,
                  ours, ddp, ours * hosts * kBatch);
    }
  }
  return 0;
}
