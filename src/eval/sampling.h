#pragma once
// Seeded sampling that gives the same sequence with every standard library:
// std::shuffle and std::uniform_int_distribution are implementation-defined,
// so results would differ between libstdc++ and libc++ for the same seed.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace oneshot {

// Uniform integer in [0, n), n > 0, by rejection (no modulo bias).
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // a multiple of n
  std::uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

// Fisher-Yates: the first k elements become a uniform random k-subset in random order.
template <class T>
void partial_shuffle(std::vector<T>& v, std::size_t k, std::mt19937_64& rng) {
  for (std::size_t i = 0; i < k && i + 1 < v.size(); ++i)
    std::swap(v[i], v[i + uniform_below(rng, v.size() - i)]);
}

template <class T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  partial_shuffle(v, v.size(), rng);
}

}  // namespace oneshot
