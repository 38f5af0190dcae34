#include "model/runtime.h"

#include <ATen/autocast_mode.h>
#include <dlfcn.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"

// LibTorch 2.4 replaced the per-device autocast setters with device-type ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define ONESHOT_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace oneshot {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string classify_blas(const std::string& path) {
  const std::string p = lower(path);
  if (p.find("openblas") != std::string::npos) return "openblas";
  if (p.find("mkl") != std::string::npos) return "mkl";
  if (p.find("blis") != std::string::npos) return "blis";
  if (p.find("atlas") != std::string::npos) return "atlas";
  // Debian's reference implementation: .../blas/libblas.so.3 (netlib).
  if (p.find("libblas") != std::string::npos) return "reference";
  return "unknown";
}

bool autocast_enabled() {
#ifdef ONESHOT_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

at::ScalarType autocast_dtype() {
#ifdef ONESHOT_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(at::kCPU);
#else
  return at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast(bool enabled, at::ScalarType dtype) {
#ifdef ONESHOT_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(at::kCPU, dtype);
  at::autocast::set_autocast_enabled(at::kCPU, enabled);
#else
  at::autocast::set_autocast_cpu_dtype(dtype);
  at::autocast::set_cpu_enabled(enabled);
#endif
}

}  // namespace

int configure_runtime(int threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // More threads than cores only spin-wait for each other: 20,000 turned a
  // 0.6 s classify into minutes. 4 x the cores leaves room for hyperthreads.
  if (threads > 4 * cores)
    throw Error("--threads (train.threads) " + std::to_string(threads) + " is more than " + std::to_string(4 * cores) +
                " (4 x the " + std::to_string(cores) + " cores of this machine); 0 uses every core");
  if (threads <= 0) threads = cores;
  torch::set_num_threads(threads);
  static std::once_flag interop_once;
  std::call_once(interop_once, [threads] {
    try {
      at::set_num_interop_threads(threads);
    } catch (const c10::Error&) {
      // Inter-op work has already started (some other code ran first): keep its count.
    }
  });
  return torch::get_num_threads();
}

BlasInfo blas_in_use() {
  BlasInfo info;
  // Make sure LibTorch's own libraries (and so their BLAS) are loaded, then ask
  // the dynamic linker where the sgemm_ the process resolves to lives.
  (void)torch::get_num_threads();
  void* symbol = ::dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info where{};
  if (symbol && ::dladdr(symbol, &where) && where.dli_fname) {
    std::error_code ec;
    auto resolved = std::filesystem::canonical(where.dli_fname, ec);
    info.library = ec ? std::string(where.dli_fname) : resolved.string();
  } else {
    // No sgemm_ exported: fall back to the libraries mapped into the process.
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      auto slash = line.find('/');
      if (slash == std::string::npos) continue;
      std::string path = line.substr(slash);
      auto name = std::filesystem::path(path).filename().string();
      if (name.find("blas") != std::string::npos || name.find("mkl_rt") != std::string::npos) {
        info.library = path;
        if (classify_blas(path) != "reference") break;  // prefer an optimised one
      }
    }
  }
  info.name = info.library.empty() ? "unknown" : classify_blas(info.library);
  if (info.name == "openblas") {
    using ConfigFn = char* (*)();
    if (auto fn = reinterpret_cast<ConfigFn>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) info.detail = fn();
  }
  return info;
}

std::string blas_warning(const BlasInfo& info) {
  if (!info.reference()) return "";
  return "warning: LibTorch uses the reference BLAS (" + info.library +
         "), about 16x slower than OpenBLAS; install libopenblas-openmp-dev (or select it with "
         "update-alternatives --config libblas.so.3-x86_64-linux-gnu)";
}

torch::Device parse_device(const std::string& name) {
  const std::string n = lower(name);
  if (n == "cpu") return torch::Device(torch::kCPU);
  if (n == "cuda" || n.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("device \"" + name + "\": CUDA is not available (this LibTorch build has no CUDA support or "
                  "no CUDA device is visible); use --device cpu");
    torch::Device device(n);  // parses the index
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count)
      throw Error("device \"" + name + "\": only " + std::to_string(count) + " CUDA device(s) visible");
    return device;
  }
  throw Error("unknown device \"" + name + "\" (expected \"cpu\", \"cuda\" or \"cuda:N\")");
}

torch::Tensor as_channels_last(const torch::Tensor& tensor) {
  if (tensor.dim() != 4 || is_channels_last(tensor)) return tensor;
  auto out = torch::empty_like(tensor, tensor.options(), at::MemoryFormat::ChannelsLast);
  out.copy_(tensor);
  return out;
}

bool is_channels_last(const torch::Tensor& tensor) {
  return tensor.dim() == 4 && tensor.is_contiguous(at::MemoryFormat::ChannelsLast) &&
         tensor.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
}

void convert_to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto convert = [](torch::Tensor& t) {
    if (t.defined() && t.dim() == 4 && !is_channels_last(t)) t.set_data(as_channels_last(t));
  };
  for (auto& p : module.parameters(/*recurse=*/true)) convert(p);
  for (auto& b : module.buffers(/*recurse=*/true)) convert(b);
}

CpuAutocast::CpuAutocast(bool enabled, at::ScalarType dtype) {
  if (!enabled) return;
  active_ = true;
  previous_enabled_ = autocast_enabled();
  previous_dtype_ = autocast_dtype();
  set_autocast(true, dtype);
  at::autocast::increment_nesting();
}

CpuAutocast::~CpuAutocast() {
  if (!active_) return;
  // As torch.autocast: the cast-weight cache lives until the outermost region ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(previous_enabled_, previous_dtype_);
}

bool precision_uses_autocast(const std::string& precision) {
  if (precision == "fp32") return false;
  if (precision == "bf16") return true;
  throw Error("train.precision must be \"fp32\" or \"bf16\", got \"" + precision + "\"");
}

std::string cpu_features() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::vector<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.push_back(w);
    break;
  }
  std::string out;
  for (const char* wanted : {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}) {
    if (std::find(flags.begin(), flags.end(), wanted) != flags.end()) out += (out.empty() ? "" : " ") + std::string(wanted);
  }
  return out;
}

}  // namespace oneshot
