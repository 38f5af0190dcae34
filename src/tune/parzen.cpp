#include "tune/parzen.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "core/error.h"

namespace oneshot::tune {

std::vector<double> linear_forgetting_weights(std::size_t n, std::size_t lf) {
  std::vector<double> w(n, 1.0);
  if (n < lf) return w;
  // numpy.linspace(1/n, 1, num=n-lf): the endpoint 1 included.
  const std::size_t ramp = n - lf;
  for (std::size_t i = 0; i < ramp; ++i) {
    w[i] = ramp == 1 ? 1.0 / static_cast<double>(n)
                     : 1.0 / static_cast<double>(n) +
                           (1.0 - 1.0 / static_cast<double>(n)) * static_cast<double>(i) /
                               static_cast<double>(ramp - 1);
  }
  return w;
}

Mixture adaptive_parzen_normal(std::span<const double> mus, double prior_weight, double prior_mu,
                               double prior_sigma, std::size_t lf) {
  if (!(prior_sigma > 0)) throw Error("adaptive Parzen estimator: prior sigma must be > 0");
  const std::size_t n = mus.size();
  // Sort the observations (stable, so equal values keep their age order)
  // and insert the prior where numpy.searchsorted would (left side).
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return mus[a] < mus[b]; });
  std::size_t prior_pos = 0;
  while (prior_pos < n && mus[order[prior_pos]] < prior_mu) ++prior_pos;
  if (n == 1) prior_pos = prior_mu < mus[0] ? 0 : 1;  // hyperopt's one-observation case

  Mixture m;
  m.mus.resize(n + 1);
  m.sigmas.resize(n + 1);
  m.weights.resize(n + 1);
  // obs_at[k]: which observation sits at sorted position k (n for the prior).
  std::vector<std::size_t> obs_at(n + 1);
  for (std::size_t k = 0, i = 0; k <= n; ++k) {
    if (k == prior_pos) {
      obs_at[k] = n;
      m.mus[k] = prior_mu;
    } else {
      obs_at[k] = order[i++];
      m.mus[k] = mus[obs_at[k]];
    }
  }

  if (n == 0) {
    m.sigmas[0] = prior_sigma;
  } else if (n == 1) {
    m.sigmas[prior_pos] = prior_sigma;
    m.sigmas[1 - prior_pos] = prior_sigma * 0.5;
  } else {
    for (std::size_t k = 1; k < n; ++k)
      m.sigmas[k] = std::max(m.mus[k] - m.mus[k - 1], m.mus[k + 1] - m.mus[k]);
    m.sigmas[0] = m.mus[1] - m.mus[0];
    m.sigmas[n] = m.mus[n] - m.mus[n - 1];
  }

  if (lf > 0 && lf < n) {
    const auto w = linear_forgetting_weights(n, lf);
    for (std::size_t k = 0; k <= n; ++k) m.weights[k] = obs_at[k] == n ? prior_weight : w[obs_at[k]];
  } else {
    for (std::size_t k = 0; k <= n; ++k) m.weights[k] = obs_at[k] == n ? prior_weight : 1.0;
  }

  const double max_sigma = prior_sigma;
  const double min_sigma = prior_sigma / std::min(100.0, 1.0 + static_cast<double>(n + 1));
  for (auto& s : m.sigmas) s = std::clamp(s, min_sigma, max_sigma);
  m.sigmas[prior_pos] = prior_sigma;

  const double total = std::accumulate(m.weights.begin(), m.weights.end(), 0.0);
  for (auto& w : m.weights) w /= total;
  return m;
}

std::size_t n_below(std::size_t n, double gamma, std::size_t cap) {
  const auto k = static_cast<std::size_t>(std::ceil(gamma * std::sqrt(static_cast<double>(n))));
  return std::min(k, cap);
}

Split split_trials(std::span<const double> losses, double gamma, std::size_t cap) {
  const std::size_t n = losses.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return losses[a] < losses[b]; });
  const std::size_t k = std::min(n_below(n, gamma, cap), n);
  std::vector<bool> is_below(n, false);
  for (std::size_t i = 0; i < k; ++i) is_below[order[i]] = true;
  Split split;
  for (std::size_t i = 0; i < n; ++i) (is_below[i] ? split.below : split.above).push_back(i);
  return split;
}

std::vector<double> categorical_posterior(std::span<const std::size_t> observed, std::size_t n_choices,
                                          double prior_weight, std::size_t lf) {
  const auto w = linear_forgetting_weights(observed.size(), lf);
  // tpe_cat_pseudocounts: counts + n * (prior_weight * p) with a uniform prior p.
  std::vector<double> p(n_choices, prior_weight);
  for (std::size_t i = 0; i < observed.size(); ++i) {
    if (observed[i] >= n_choices) throw Error("categorical posterior: observed index out of range");
    p[observed[i]] += w[i];
  }
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (auto& v : p) v /= total;
  return p;
}

double normal_cdf(double x, double mu, double sigma) {
  const double z = (x - mu) / std::max(std::numbers::sqrt2 * sigma, kEps);
  return 0.5 * (1.0 + std::erf(z));
}

namespace {

// The mixture's probability mass inside [low, high].
double accepted_mass(const Mixture& m, double low, double high) {
  double p = 0;
  for (std::size_t i = 0; i < m.weights.size(); ++i)
    p += m.weights[i] * (normal_cdf(high, m.mus[i], m.sigmas[i]) - normal_cdf(low, m.mus[i], m.sigmas[i]));
  return p;
}

double log_sum_exp(std::span<const double> x) {
  const double top = *std::max_element(x.begin(), x.end());
  if (!std::isfinite(top)) return top;
  double s = 0;
  for (double v : x) s += std::exp(v - top);
  return std::log(s) + top;
}

// A draw from the mixture truncated to [low, high), by rejection as hyperopt does.
double truncated_draw(const Mixture& m, double low, double high, Rng& rng) {
  if (!(low < high)) throw Error("truncated mixture: low must be below high");
  for (;;) {
    const std::size_t k = rng.categorical(m.weights);
    const double draw = rng.normal(m.mus[k], m.sigmas[k]);
    if (low <= draw && draw < high) return draw;
  }
}

}  // namespace

QGrid q_grid(double low, double high, double q) {
  const double slack = 1e-9;
  return {std::ceil(low / q - slack) * q, std::floor(high / q + slack) * q};
}

double quantize_within(double x, double low, double high, double q) {
  const QGrid grid = q_grid(low, high, q);
  return std::clamp(std::nearbyint(x / q) * q, grid.first, grid.last);
}

double sample_gmm(const Mixture& m, double low, double high, double q, Rng& rng) {
  const double x = truncated_draw(m, low, high, rng);
  return q > 0 ? quantize_within(x, low, high, q) : x;
}

double gmm_log_pdf(double x, const Mixture& m, double low, double high, double q) {
  const double p_accept = accepted_mass(m, low, high);
  const std::size_t n = m.weights.size();
  if (q <= 0) {
    std::vector<double> terms(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double d = (x - m.mus[i]) / std::max(m.sigmas[i], kEps);
      const double z = std::sqrt(2.0 * std::numbers::pi * m.sigmas[i] * m.sigmas[i]);
      terms[i] = -0.5 * d * d + std::log(m.weights[i] / z / p_accept);
    }
    return log_sum_exp(terms);
  }
  const QGrid grid = q_grid(low, high, q);
  const double ub = x >= grid.last - q / 2.0 ? high : std::min(x + q / 2.0, high);
  const double lb = x <= grid.first + q / 2.0 ? low : std::max(x - q / 2.0, low);
  double prob = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double inc = m.weights[i] * normal_cdf(ub, m.mus[i], m.sigmas[i]);
    inc -= m.weights[i] * normal_cdf(lb, m.mus[i], m.sigmas[i]);
    prob += inc;
  }
  return std::log(prob) - std::log(p_accept);
}

double sample_lgmm(const Mixture& m, double log_low, double log_high, Rng& rng) {
  return std::exp(truncated_draw(m, log_low, log_high, rng));
}

double lgmm_log_pdf(double x, const Mixture& m) {
  const std::size_t n = m.weights.size();
  std::vector<double> terms(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double sigma = std::max(m.sigmas[i], kEps);
    const double z = sigma * x * std::sqrt(2.0 * std::numbers::pi);
    const double e = 0.5 * std::pow((std::log(x) - m.mus[i]) / sigma, 2);
    terms[i] = -e - std::log(z) + std::log(m.weights[i]);
  }
  return log_sum_exp(terms);
}

}  // namespace oneshot::tune
