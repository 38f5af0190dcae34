#pragma once
// The CPU (or CUDA) runtime LibTorch runs on: thread counts, which BLAS the
// gemm calls resolve to, the device, channels-last layout and bf16 autocast.
#include <torch/torch.h>

#include <string>

namespace oneshot {

// Sets LibTorch's intra-op thread count (threads <= 0: all cores; LibTorch
// would otherwise start with whatever OMP_NUM_THREADS says, often 1) and, on
// the first call only, the inter-op thread count (LibTorch allows that once,
// before any inter-op work). Returns the intra-op thread count now in effect.
int configure_runtime(int threads = 0);

// Which BLAS library LibTorch's sgemm_ resolves to in this process.
struct BlasInfo {
  std::string name;     // "openblas", "mkl", "blis", "atlas", "reference" or "unknown"
  std::string library;  // the resolved path of the library that defines sgemm_ (empty if none)
  std::string detail;   // e.g. OpenBLAS's build configuration string
  bool reference() const { return name == "reference"; }
};
BlasInfo blas_in_use();
// A one-line start-up warning when the reference BLAS is in use (empty otherwise):
// it makes gemm ~16x slower; the fix is the OpenBLAS libblas.so.3 alternative.
std::string blas_warning(const BlasInfo& info);

// "cpu", "cuda" or "cuda:N" -> a device. An unknown name, or CUDA when this
// LibTorch has no CUDA or no such device, is an oneshot::Error saying so.
torch::Device parse_device(const std::string& name);

// A 4-D tensor copied into a truly channels-last layout. Unlike
// .contiguous(ChannelsLast), this also changes 1-channel tensors, whose
// NCHW strides already count as channels-last "contiguous" and which then
// make convolutions fall back to NCHW. Other tensors are returned unchanged.
torch::Tensor as_channels_last(const torch::Tensor& tensor);
// Whether a tensor's strides are those of the channels-last layout
// (suggest_memory_format() == ChannelsLast), the test convolutions use.
bool is_channels_last(const torch::Tensor& tensor);

// Converts every 4-D parameter and buffer of `module` (recursively) to
// channels-last, in place (same Parameter objects, so optimizers that hold
// them keep working; create optimizer state after converting). LibTorch's
// C++ Module::to has no memory-format overload.
void convert_to_channels_last(torch::nn::Module& module);

// RAII: enables autocast on the CPU to `dtype` (bf16 by default) for its
// lifetime and restores the previous state after; `enabled` false does
// nothing. Backward passes run outside it, as in PyTorch.
class CpuAutocast {
 public:
  explicit CpuAutocast(bool enabled = true, at::ScalarType dtype = at::kBFloat16);
  ~CpuAutocast();
  CpuAutocast(const CpuAutocast&) = delete;
  CpuAutocast& operator=(const CpuAutocast&) = delete;

 private:
  bool active_ = false;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

// "fp32" -> false, "bf16" -> true (autocast), anything else an Error.
bool precision_uses_autocast(const std::string& precision);

// The CPU's relevant instruction-set features from /proc/cpuinfo, e.g.
// "avx2 fma avx512f avx512_bf16 amx_bf16" (the ones present).
std::string cpu_features();

}  // namespace oneshot
