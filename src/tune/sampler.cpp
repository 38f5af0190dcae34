#include "tune/sampler.h"

#include <cmath>

#include "core/config.h"
#include "core/error.h"

namespace oneshot::tune {

Overrides RandomSampler::suggest(const SearchSpace& space, std::span<const Observation>, std::uint64_t seed) const {
  Rng rng(seed);
  return space.sample_prior(rng);
}

Posterior::Posterior(const Param& param, std::span<const double> observed, const TpeOptions& o) : param_(param) {
  const double prior_weight = o.prior_weight;
  switch (param.kind) {
    case ParamKind::choice: {
      std::vector<std::size_t> idx;
      for (double v : observed) idx.push_back(static_cast<std::size_t>(std::llround(v)));
      p_ = categorical_posterior(idx, param.choices.size(), prior_weight, o.linear_forgetting);
      break;
    }
    case ParamKind::uniform:
    case ParamKind::quniform:
    case ParamKind::integer:
      // ap_uniform_sampler / ap_quniform_sampler (uniformint is quniform with q = 1).
      mixture_ = adaptive_parzen_normal(observed, prior_weight, 0.5 * (param.high + param.low),
                                        param.high - param.low, o.linear_forgetting);
      break;
    case ParamKind::loguniform: {
      // ap_loguniform_sampler: the estimator works on log values and log bounds.
      std::vector<double> logs;
      for (double v : observed) logs.push_back(std::log(v));
      const double lo = std::log(param.low), hi = std::log(param.high);
      mixture_ = adaptive_parzen_normal(logs, prior_weight, 0.5 * (hi + lo), hi - lo, o.linear_forgetting);
      break;
    }
  }
}

double Posterior::sample(Rng& rng) const {
  switch (param_.kind) {
    case ParamKind::choice: return static_cast<double>(rng.categorical(p_));
    case ParamKind::uniform: return sample_gmm(mixture_, param_.low, param_.high, 0, rng);
    case ParamKind::quniform: return sample_gmm(mixture_, param_.low, param_.high, param_.q, rng);
    case ParamKind::integer: return sample_gmm(mixture_, param_.low, param_.high, 1.0, rng);
    case ParamKind::loguniform: return sample_lgmm(mixture_, std::log(param_.low), std::log(param_.high), rng);
  }
  return 0;
}

double Posterior::log_pdf(double x) const {
  switch (param_.kind) {
    case ParamKind::choice: {
      const auto i = static_cast<std::size_t>(std::llround(x));
      if (i >= p_.size()) return -std::numeric_limits<double>::infinity();
      return std::log(p_[i]);
    }
    case ParamKind::uniform: return gmm_log_pdf(x, mixture_, param_.low, param_.high, 0);
    case ParamKind::quniform: return gmm_log_pdf(x, mixture_, param_.low, param_.high, param_.q);
    case ParamKind::integer: return gmm_log_pdf(x, mixture_, param_.low, param_.high, 1.0);
    case ParamKind::loguniform: return lgmm_log_pdf(x, mixture_);
  }
  return 0;
}

double TpeSampler::suggest_param(const Param& param, std::span<const double> below, std::span<const double> above,
                                 Rng& rng) const {
  const Posterior l(param, below, options_);
  const Posterior g(param, above, options_);
  double best = 0, best_score = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < options_.n_ei_candidates; ++i) {
    const double x = l.sample(rng);
    const double score = l.log_pdf(x) - g.log_pdf(x);
    // broadcast_best: numpy.argmax keeps the first of equal scores.
    if (i == 0 || score > best_score) {
      best = x;
      best_score = score;
    }
  }
  return best;
}

Overrides TpeSampler::suggest(const SearchSpace& space, std::span<const Observation> history, std::uint64_t seed) const {
  if (history.size() < static_cast<std::size_t>(std::max(options_.n_startup_jobs, 0)))
    return RandomSampler().suggest(space, history, seed);
  std::vector<double> losses;
  for (const auto& h : history) losses.push_back(h.loss);
  const Split split = split_trials(losses, options_.gamma);
  Rng rng(seed);
  Overrides out;
  for (const auto& param : space.params()) {
    std::vector<double> below, above;
    for (auto i : split.below) below.push_back(param.encode(history[i].params.at(param.name)));
    for (auto i : split.above) above.push_back(param.encode(history[i].params.at(param.name)));
    out.set(param.name, param.decode(suggest_param(param, below, above, rng)));
  }
  return out;
}

std::unique_ptr<Sampler> make_sampler(const TuneConfig& c) {
  if (c.sampler == "random") return std::make_unique<RandomSampler>();
  if (c.sampler == "tpe") {
    TpeOptions o;
    o.n_startup_jobs = c.n_startup_jobs;
    o.n_ei_candidates = c.n_ei_candidates;
    o.gamma = c.gamma;
    o.prior_weight = c.prior_weight;
    return std::make_unique<TpeSampler>(o);
  }
  throw Error("tune.sampler = \"" + c.sampler + "\" is not one of \"tpe\", \"random\"");
}

}  // namespace oneshot::tune
