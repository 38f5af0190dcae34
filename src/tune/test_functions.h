#pragma once
// Standard optimisation test functions with their search spaces, for checking
// that TPE beats random search (tests, bench/bench_tpe.cpp) and as a cheap
// objective for exercising studies and workers without training a network.
#include <string>

#include "tune/space.h"

namespace oneshot::tune {

struct TestFunction {
  std::string name;
  SearchSpace space;
  double minimum;  // the known global minimum
  double (*evaluate)(const Overrides& point);
};

// Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887.
double branin(double x1, double x2);
// Hartmann-6 on [0, 1]^6; minimum -3.32237.
double hartmann6(const double x[6]);

TestFunction branin_function();     // branin.x1, branin.x2 (uniform)
TestFunction hartmann6_function();  // hartmann.x1 .. x6 (uniform)
// Branin plus penalties over a choice, a loguniform, an int and a quniform
// parameter, so every kind of parameter matters; minimum 0.397887.
TestFunction mixed_function();

}  // namespace oneshot::tune

#include <cstdint>
#include <vector>

namespace oneshot::tune {
class Sampler;
// Minimises `fn` for n_trials with `sampler` in memory (no study), trial i
// seeded with mix_seed(seed, i) as a study does; returns the best value so
// far after each trial.
std::vector<double> minimize_in_memory(const Sampler& sampler, const TestFunction& fn, int n_trials,
                                       std::uint64_t seed);
}  // namespace oneshot::tune
