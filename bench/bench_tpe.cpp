// TPE against random search on standard test functions: the median (over
// seeds) of the best value found after each budget. A plain program, not a
// timing benchmark:  bench_tpe [--seeds N] [--trials N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tune/sampler.h"
#include "tune/test_functions.h"

using namespace oneshot::tune;

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 25, trials = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seeds")) seeds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--trials")) trials = std::atoi(argv[i + 1]);
  }
  const TpeSampler tpe{TpeOptions{}};
  const RandomSampler random;
  const std::vector<int> checkpoints{25, 50, trials};
  std::printf("Median best value over %d seeds (TPE: hyperopt defaults, 20 random start-up trials)\n\n", seeds);
  std::printf("%-10s %9s %7s %12s %12s %14s %8s\n", "function", "minimum", "trials", "TPE", "random", "TPE won/tie/lost", "seconds");
  bool all_better = true;
  for (const auto& fn : {branin_function(), hartmann6_function(), mixed_function()}) {
    std::vector<std::vector<double>> tpe_traces, random_traces;
    const auto start = std::chrono::steady_clock::now();
    for (int s = 1; s <= seeds; ++s) {
      tpe_traces.push_back(minimize_in_memory(tpe, fn, trials, static_cast<std::uint64_t>(s)));
      random_traces.push_back(minimize_in_memory(random, fn, trials, static_cast<std::uint64_t>(s)));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int n : checkpoints) {
      if (n > trials) continue;
      std::vector<double> t, r;
      int wins = 0, ties = 0;
      for (int s = 0; s < seeds; ++s) {
        t.push_back(tpe_traces[s][n - 1]);
        r.push_back(random_traces[s][n - 1]);
        wins += t.back() < r.back();
        ties += t.back() == r.back();  // the 20 start-up trials are the same random draws
      }
      const double mt = median_of(t), mr = median_of(r);
      if (n == trials && !(mt < mr)) all_better = false;
      char time_text[32] = "";
      if (n == trials) std::snprintf(time_text, sizeof time_text, "%.2f", seconds);
      std::printf("%-10s %9.5f %7d %12.5f %12.5f %8d/%d/%-3d %8s\n", fn.name.c_str(), fn.minimum, n, mt, mr, wins, ties,
                  seeds - wins - ties, time_text);
    }
  }
  std::printf("\nTPE's median best after %d trials %s random search's on every function.\n", trials,
              all_better ? "beats" : "does NOT beat");
  return all_better ? 0 : 1;
}
