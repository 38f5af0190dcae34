#pragma once
// Portable seeded sampling. std::shuffle and std::uniform_int_distribution are
// implementation-defined, so the same seed could give another split or pair
// order under another standard library; these are fully specified.
#include <cstddef>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace oneshot {

using Rng = std::mt19937_64;

// Uniform integer in [0, n), n >= 1 (rejection sampling, no modulo bias).
inline std::size_t uniform_index(Rng& rng, std::size_t n) {
  const std::uint64_t range = static_cast<std::uint64_t>(n);
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  std::uint64_t x;
  do x = rng(); while (x >= limit);
  return static_cast<std::size_t>(x % range);
}

// Fisher-Yates, from the back.
template <class T>
void shuffle_in_place(std::vector<T>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_index(rng, i)]);
}

// k distinct elements of `pool`, in random order (partial Fisher-Yates on a copy).
template <class T>
std::vector<T> sample_without_replacement(std::vector<T> pool, std::size_t k, Rng& rng) {
  if (k > pool.size()) k = pool.size();
  for (std::size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + uniform_index(rng, pool.size() - i)]);
  pool.resize(k);
  return pool;
}

// The generator's full state as text (the standard's stream format), and back.
inline std::string rng_state(const Rng& rng) {
  std::ostringstream ss;
  ss << rng;
  return ss.str();
}
inline void set_rng_state(Rng& rng, const std::string& state) {
  std::istringstream ss(state);
  Rng restored;
  ss >> restored;
  if (ss.fail()) throw Error("random generator state is corrupt");
  rng = restored;
}

}  // namespace oneshot
