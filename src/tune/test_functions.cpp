#include "tune/test_functions.h"

#include <cmath>
#include <numbers>

namespace oneshot::tune {

double branin(double x1, double x2) {
  constexpr double pi = std::numbers::pi;
  const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
  const double u = x2 - b * x1 * x1 + c * x1 - 6;
  return u * u + 10 * (1 - t) * std::cos(x1) + 10;
}

double hartmann6(const double x[6]) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double p[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                 {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                 {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                 {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j) inner += a[i][j] * (x[j] - p[i][j]) * (x[j] - p[i][j]);
    sum += alpha[i] * std::exp(-inner);
  }
  return -sum;
}

namespace {

Param uniform(const std::string& name, double low, double high) {
  Param p;
  p.name = name;
  p.kind = ParamKind::uniform;
  p.low = low;
  p.high = high;
  return p;
}

double eval_branin(const Overrides& o) { return branin(o.number("branin.x1"), o.number("branin.x2")); }

double eval_hartmann(const Overrides& o) {
  double x[6];
  for (int i = 0; i < 6; ++i) x[i] = o.number("hartmann.x" + std::to_string(i + 1));
  return hartmann6(x);
}

double eval_mixed(const Overrides& o) {
  const std::string kind = o.at("mixed.kind").get<std::string>();
  const double offset = kind == "a" ? 5.0 : kind == "b" ? 0.0 : 10.0;
  const double lr = std::log10(o.number("mixed.lr")) + 2;  // best at 0.01
  const double n = o.number("mixed.n") - 7;                // best at 7
  const double z = o.number("mixed.z") - 3.5;              // best at 3.5
  return branin(o.number("mixed.x1"), o.number("mixed.x2")) + offset + lr * lr + n * n / 4 + z * z / 4;
}

}  // namespace

TestFunction branin_function() {
  return {"branin", SearchSpace({uniform("branin.x1", -5, 10), uniform("branin.x2", 0, 15)}), 0.397887, eval_branin};
}

TestFunction hartmann6_function() {
  std::vector<Param> params;
  for (int i = 1; i <= 6; ++i) params.push_back(uniform("hartmann.x" + std::to_string(i), 0, 1));
  return {"hartmann6", SearchSpace(std::move(params)), -3.32237, eval_hartmann};
}

TestFunction mixed_function() {
  Param kind;
  kind.name = "mixed.kind";
  kind.kind = ParamKind::choice;
  kind.choices = {"a", "b", "c"};
  Param lr;
  lr.name = "mixed.lr";
  lr.kind = ParamKind::loguniform;
  lr.low = 1e-5;
  lr.high = 1;
  Param n;
  n.name = "mixed.n";
  n.kind = ParamKind::integer;
  n.low = 1;
  n.high = 16;
  Param z;
  z.name = "mixed.z";
  z.kind = ParamKind::quniform;
  z.low = 0;
  z.high = 10;
  z.q = 0.5;
  return {"mixed",
          SearchSpace({kind, uniform("mixed.x1", -5, 10), uniform("mixed.x2", 0, 15), lr, n, z}),
          0.397887, eval_mixed};
}

}  // namespace oneshot::tune

#include "tune/sampler.h"

namespace oneshot::tune {

std::vector<double> minimize_in_memory(const Sampler& sampler, const TestFunction& fn, int n_trials,
                                       std::uint64_t seed) {
  std::vector<Observation> history;
  std::vector<double> best;
  double so_far = std::numeric_limits<double>::infinity();
  for (int i = 0; i < n_trials; ++i) {
    Overrides point = sampler.suggest(fn.space, history, mix_seed(seed, static_cast<std::uint64_t>(i)));
    const double value = fn.evaluate(point);
    history.push_back({std::move(point), value});
    so_far = std::min(so_far, value);
    best.push_back(so_far);
  }
  return best;
}

}  // namespace oneshot::tune
