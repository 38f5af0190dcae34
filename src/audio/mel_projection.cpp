#include "audio/mel_projection.h"

#include <algorithm>

#include "audio/simd.h"

namespace oneshot {

MelProjection::MelProjection(const SparseMelBasis& basis) : n_mels_(basis.n_mels), n_bins_(basis.n_bins) {
  for (int g0 = 0; g0 < n_mels_; g0 += kGroup) {
    const int g1 = std::min(g0 + kGroup, n_mels_);
    int first = n_bins_, end = 0;
    for (int m = g0; m < g1; ++m)
      if (basis.n_nonzero[m] > 0) {
        first = std::min(first, basis.first_bin[m]);
        end = std::max(end, basis.first_bin[m] + basis.n_nonzero[m]);
      }
    if (end <= first) first = end = 0;  // eight empty filters
    first_bin_.push_back(first);
    n_group_bins_.push_back(end - first);
    offset_.push_back(weights_.size() / kGroup);
    weights_.resize(weights_.size() + static_cast<std::size_t>(end - first) * kGroup, 0.0f);
    for (int m = g0; m < g1; ++m)
      for (int k = 0; k < basis.n_nonzero[m]; ++k)
        weights_[(offset_.back() + basis.first_bin[m] + k - first) * kGroup + (m - g0)] =
            basis.weights[basis.offset[m] + k];
  }
}

namespace {

using Weights8 = MelProjection::Weights8;
constexpr int kGroup = MelProjection::kGroup;

struct Groups {
  int n_mels;
  const int* first_bin;
  const int* n_bins;
  const std::size_t* offset;
  const Weights8* weights;
};

void store(const Weights8& acc, float* out, std::size_t out_stride, int m0, int n_mels) {
  const int n = std::min(kGroup, n_mels - m0);
  for (int j = 0; j < n; ++j) out[(m0 + j) * out_stride] = acc[j];
}

// Two spectra at once: each weight vector is loaded once for both, and
// eight accumulators (four per spectrum, bins k mod 4) hide the latency of
// the multiply-adds, which would otherwise wait on each other.
ONESHOT_SIMD_CLONES
void project_pair(const Groups& g, const float* pa, const float* pb, float* out_a, float* out_b, std::size_t out_stride) {
  for (int group = 0, m0 = 0; m0 < g.n_mels; ++group, m0 += kGroup) {
    const Weights8* w = g.weights + g.offset[group];
    const float* a = pa + g.first_bin[group];
    const float* b = pb + g.first_bin[group];
    const int n = g.n_bins[group];
    Weights8 a0{}, a1{}, a2{}, a3{}, b0{}, b1{}, b2{}, b3{};
    int k = 0;
    for (; k + 4 <= n; k += 4) {
      a0 += w[k] * a[k];
      b0 += w[k] * b[k];
      a1 += w[k + 1] * a[k + 1];
      b1 += w[k + 1] * b[k + 1];
      a2 += w[k + 2] * a[k + 2];
      b2 += w[k + 2] * b[k + 2];
      a3 += w[k + 3] * a[k + 3];
      b3 += w[k + 3] * b[k + 3];
    }
    for (; k < n; ++k) {
      a0 += w[k] * a[k];
      b0 += w[k] * b[k];
    }
    store((a0 + a1) + (a2 + a3), out_a, out_stride, m0, g.n_mels);
    store((b0 + b1) + (b2 + b3), out_b, out_stride, m0, g.n_mels);
  }
}

ONESHOT_SIMD_CLONES
void project_one(const Groups& g, const float* pa, float* out_a, std::size_t out_stride) {
  for (int group = 0, m0 = 0; m0 < g.n_mels; ++group, m0 += kGroup) {
    const Weights8* w = g.weights + g.offset[group];
    const float* a = pa + g.first_bin[group];
    const int n = g.n_bins[group];
    Weights8 a0{}, a1{}, a2{}, a3{};
    int k = 0;
    for (; k + 4 <= n; k += 4) {
      a0 += w[k] * a[k];
      a1 += w[k + 1] * a[k + 1];
      a2 += w[k + 2] * a[k + 2];
      a3 += w[k + 3] * a[k + 3];
    }
    for (; k < n; ++k) a0 += w[k] * a[k];
    store((a0 + a1) + (a2 + a3), out_a, out_stride, m0, g.n_mels);
  }
}

}  // namespace

void MelProjection::project(const float* power, std::size_t power_stride, int count, float* const* out_column,
                            std::size_t out_stride) const {
  const Groups g{n_mels_, first_bin_.data(), n_group_bins_.data(), offset_.data(),
                 reinterpret_cast<const Weights8*>(weights_.data())};
  int i = 0;
  for (; i + 2 <= count; i += 2)
    project_pair(g, power + i * power_stride, power + (i + 1) * power_stride, out_column[i], out_column[i + 1],
                 out_stride);
  if (i < count) project_one(g, power + i * power_stride, out_column[i], out_stride);
}

}  // namespace oneshot
