#pragma once
// Samplers propose the next point of a search space from the trials so far.
// RandomSampler draws from the prior; TpeSampler is hyperopt's tpe.suggest.
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "tune/parzen.h"
#include "tune/space.h"

namespace oneshot {
struct TuneConfig;
}

namespace oneshot::tune {

// One earlier trial as a sampler sees it, in suggestion order. As in
// hyperopt, a running or failed trial has an infinite loss.
struct Observation {
  Overrides params;
  double loss = std::numeric_limits<double>::infinity();
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // Deterministic for a given history and seed.
  virtual Overrides suggest(const SearchSpace& space, std::span<const Observation> history,
                            std::uint64_t seed) const = 0;
};

class RandomSampler final : public Sampler {
 public:
  Overrides suggest(const SearchSpace& space, std::span<const Observation> history,
                    std::uint64_t seed) const override;
};

struct TpeOptions {
  int n_startup_jobs = 20;
  int n_ei_candidates = 24;
  double gamma = 0.25;
  double prior_weight = 1.0;
  std::size_t linear_forgetting = kLinearForgetting;
};

// The posterior of one parameter given a group of observations (encoded as
// Param::encode does): what TPE draws candidates from, l(x), and scores them
// under, l(x) and g(x). Values are in the encoded space.
class Posterior {
 public:
  Posterior(const Param& param, std::span<const double> observed, const TpeOptions& options);
  double sample(Rng& rng) const;
  double log_pdf(double x) const;
  const Mixture& mixture() const { return mixture_; }            // continuous kinds
  const std::vector<double>& probabilities() const { return p_; }  // choice

 private:
  const Param& param_;
  Mixture mixture_;
  std::vector<double> p_;
};

class TpeSampler final : public Sampler {
 public:
  explicit TpeSampler(TpeOptions options) : options_(options) {}
  Overrides suggest(const SearchSpace& space, std::span<const Observation> history,
                    std::uint64_t seed) const override;
  // One parameter: n_ei_candidates draws from l(x), the one with the largest
  // log l(x) - log g(x) returned (encoded).
  double suggest_param(const Param& param, std::span<const double> below, std::span<const double> above,
                       Rng& rng) const;
  const TpeOptions& options() const { return options_; }

 private:
  TpeOptions options_;
};

std::unique_ptr<Sampler> make_sampler(const TuneConfig& config);

}  // namespace oneshot::tune
