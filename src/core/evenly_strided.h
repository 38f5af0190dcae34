#pragma once
// At most `limit` entries of a list, spread evenly over it: entry
// i * size / limit for i in [0, limit), in order. All of them when there are
// no more than `limit`, or when `limit` is 0 (no limit). Used to cap the
// score-normalisation cohorts and the calibration's clips.
#include <cstddef>
#include <utility>
#include <vector>

namespace oneshot {

template <class T>
std::vector<T> evenly_strided(std::vector<T> v, std::size_t limit) {
  if (v.size() <= limit || limit == 0) return v;
  std::vector<T> out;
  out.reserve(limit);
  for (std::size_t i = 0; i < limit; ++i) out.push_back(std::move(v[i * v.size() / limit]));
  return out;
}

}  // namespace oneshot
