#pragma once
// Portable random draws on std::mt19937_64. The standard's distributions are
// implementation-defined, so the tuner draws its own to give the same
// suggestions on every platform for the same seed.
#include <cstdint>
#include <random>
#include <span>

namespace oneshot::tune {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  double uniform();                            // [0, 1), 53 random bits
  double uniform(double low, double high);     // [low, high)
  double normal();                             // standard normal (Marsaglia's polar method)
  double normal(double mu, double sigma) { return mu + sigma * normal(); }
  std::int64_t integer(std::int64_t low, std::int64_t high);  // [low, high)
  // An index drawn with probability proportional to weights[i].
  std::size_t categorical(std::span<const double> weights);

 private:
  std::mt19937_64 gen_;
  bool has_spare_ = false;
  double spare_ = 0;
};

// Combines two numbers into a well-mixed seed (splitmix64 finaliser).
std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b);

}  // namespace oneshot::tune
