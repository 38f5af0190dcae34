#pragma once
// Projects power spectra onto a mel basis without a dot product per filter:
// filters are taken eight at a time, and for every bin any of the eight
// touches, one 8-wide multiply-add adds that bin's power times the eight
// weights. Eight mel values come out of one vector, no horizontal sums, and
// each bin is read about once per group it falls in (~1.2 times, as
// neighbouring triangles overlap).
#include <cstddef>
#include <vector>

#include "audio/mel_filters.h"

namespace oneshot {

class MelProjection {
 public:
  static constexpr int kGroup = 8;
  // Eight floats as one vector; read from plain float storage, so no
  // alignment is assumed (and the type may alias floats).
  typedef float Weights8 __attribute__((vector_size(kGroup * sizeof(float)), aligned(4), may_alias));

  explicit MelProjection(const SparseMelBasis& basis);

  int n_mels() const { return n_mels_; }
  int n_bins() const { return n_bins_; }
  // For each of `count` spectra (power + i * power_stride, n_bins values
  // each), writes its n_mels projections to out_column[i][m * out_stride].
  void project(const float* power, std::size_t power_stride, int count, float* const* out_column,
               std::size_t out_stride) const;

 private:
  int n_mels_ = 0, n_bins_ = 0;
  std::vector<int> first_bin_, n_group_bins_;  // per group of eight filters
  std::vector<std::size_t> offset_;            // per group, into weights_
  std::vector<float> weights_;  // per group and bin: the eight filters' weights (kGroup floats)
};

}  // namespace oneshot
