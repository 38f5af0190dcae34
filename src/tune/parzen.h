#pragma once
// The pieces of hyperopt's TPE (hyperopt/tpe.py), one function each:
// linear forgetting, the adaptive Parzen estimator, the split of trials into
// the good group l(x) and the rest g(x), categorical posteriors, and the
// truncated Gaussian mixtures (GMM1, LGMM1) with their log-densities.
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include "tune/rng.h"

namespace oneshot::tune {

inline constexpr double kEps = 1e-12;                 // hyperopt's EPS
inline constexpr std::size_t kLinearForgetting = 25;  // hyperopt's DEFAULT_LF

// A 1-D Gaussian mixture; weights sum to 1.
struct Mixture {
  std::vector<double> weights, mus, sigmas;
};

// Weights of n observations in order of age (oldest first): all 1 below
// lf observations, else a ramp from 1/n to 1 over the oldest n - lf and 1
// for the newest lf.
std::vector<double> linear_forgetting_weights(std::size_t n, std::size_t lf = kLinearForgetting);

// hyperopt's adaptive_parzen_normal: one component per observation plus the
// prior (inserted in sorted position, weight prior_weight, width prior_sigma);
// each observation's width is the larger gap to its sorted neighbours, clipped
// to [prior_sigma / min(100, 1 + components), prior_sigma]. Components come
// back sorted by mu.
Mixture adaptive_parzen_normal(std::span<const double> mus, double prior_weight, double prior_mu,
                               double prior_sigma, std::size_t lf = kLinearForgetting);

// hyperopt's ap_split_trials: the n_below = min(ceil(gamma * sqrt(n)), cap)
// lowest losses form l(x), the rest g(x). Returns indices in their original
// (trial) order, which linear forgetting relies on. Ties keep trial order.
struct Split {
  std::vector<std::size_t> below, above;
};
std::size_t n_below(std::size_t n, double gamma, std::size_t cap = kLinearForgetting);
Split split_trials(std::span<const double> losses, double gamma, std::size_t cap = kLinearForgetting);

// Posterior probabilities of n_choices categories: linearly forgotten counts
// of the observed indices plus prior_weight pseudo-counts each.
std::vector<double> categorical_posterior(std::span<const std::size_t> observed, std::size_t n_choices,
                                          double prior_weight, std::size_t lf = kLinearForgetting);

double normal_cdf(double x, double mu, double sigma);

// The q-grid points inside [low, high]: multiples k*q, k from ceil(low/q) to
// floor(high/q) (a relative 1e-9 of slack for values like 0.3 / 0.1).
struct QGrid {
  double first = 0, last = 0;
  bool empty() const { return first > last; }
};
QGrid q_grid(double low, double high, double q);
// x rounded to a multiple of q (half to even, as numpy) and then kept on the
// grid inside [low, high]. hyperopt's round(x / q) * q can leave the range
// (quniform(1, 10, 4) gives 0); ours never does (the README notes it).
double quantize_within(double x, double low, double high, double q);

// GMM1: a draw from the mixture truncated to [low, high), rounded to a
// multiple of q when q > 0 and kept on the q-grid inside [low, high].
double sample_gmm(const Mixture& m, double low, double high, double q, Rng& rng);
// GMM1_lpdf: log-density (q == 0) or log-probability of the quantisation
// bin [x - q/2, x + q/2] clipped to [low, high] (q > 0), the end points'
// bins reaching to low and high (the values quantize_within moves onto
// them), renormalised by the mixture's mass inside [low, high].
double gmm_log_pdf(double x, const Mixture& m, double low, double high, double q);

// LGMM1 (log-space mixture): exp of a draw truncated to [log_low, log_high).
double sample_lgmm(const Mixture& m, double log_low, double log_high, Rng& rng);
// LGMM1_lpdf with q = None: the mixture of log-normal densities at x > 0.
// As in hyperopt, it is not renormalised for the truncation.
double lgmm_log_pdf(double x, const Mixture& m);

}  // namespace oneshot::tune
