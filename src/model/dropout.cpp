#include "model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <mutex>

#include "core/error.h"

namespace oneshot {
namespace {

// splitmix64's finaliser: a good 64-bit mix of a counter.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <class T>
void fill_mask(T* out, int64_t n, uint32_t threshold, float keep_scale, uint64_t seed) {
  const T keep = static_cast<T>(keep_scale);
  const T drop = static_cast<T>(0.0f);
  // One hash gives two 32-bit decisions: elements 2i and 2i + 1.
  const int64_t n_pairs = (n + 1) / 2;
  at::parallel_for(0, n_pairs, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1));
      const int64_t k = 2 * i;
      out[k] = static_cast<uint32_t>(h) < threshold ? drop : keep;
      if (k + 1 < n) out[k + 1] = static_cast<uint32_t>(h >> 32) < threshold ? drop : keep;
    }
  });
}

}  // namespace

uint64_t draw_seed_from_default_generator() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

torch::Tensor dropout_mask(const torch::Tensor& like, double p, uint64_t seed) {
  if (!(p >= 0 && p < 1)) throw Error("dropout probability must be in [0, 1), got " + std::to_string(p));
  // empty_like keeps a dense layout (NCHW or channels-last); the mask is
  // written in memory order, so it never needs a copy.
  if (!like.is_cpu()) throw Error("dropout_mask: CPU tensors only");
  auto options = like.options().requires_grad(false);
  torch::Tensor mask = like.is_non_overlapping_and_dense() ? torch::empty_like(like, options)
                                                           : torch::empty(like.sizes(), options);
  const auto threshold = static_cast<uint32_t>(std::min(std::ldexp(p, 32), 4294967295.0));
  const auto scale = static_cast<float>(1.0 / (1.0 - p));
  const int64_t n = mask.numel();
  switch (mask.scalar_type()) {
    case torch::kFloat: fill_mask(mask.data_ptr<float>(), n, threshold, scale, seed); break;
    case torch::kDouble: fill_mask(mask.data_ptr<double>(), n, threshold, scale, seed); break;
    case torch::kBFloat16: fill_mask(mask.data_ptr<at::BFloat16>(), n, threshold, scale, seed); break;
    case torch::kHalf: fill_mask(mask.data_ptr<at::Half>(), n, threshold, scale, seed); break;
    default: throw Error(std::string("dropout: unsupported dtype ") + c10::toString(mask.scalar_type()));
  }
  return mask;
}

torch::Tensor DropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p_ == 0) return x;
  if (!x.is_cpu()) return torch::dropout(x, p_, /*train=*/true);  // the device's own kernel
  torch::Tensor mask;
  {
    torch::NoGradGuard no_grad;
    mask = dropout_mask(x, p_, draw_seed_from_default_generator());
  }
  return x * mask;
}

void DropoutImpl::pretty_print(std::ostream& stream) const { stream << "oneshot::Dropout(p=" << p_ << ")"; }

}  // namespace oneshot
