#include "archive/review_sample.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"

namespace oneshot::archive {
namespace {

// A uniform index in [0, n) from the generator, the same on every platform
// (std::uniform_int_distribution's algorithm is left to the library).
std::size_t draw(std::mt19937_64& rng, std::size_t n) {
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  std::uint64_t x;
  do x = rng();
  while (x >= limit);
  return static_cast<std::size_t>(x % n);
}

}  // namespace

SampleMethod parse_sample_method(const std::string& text) {
  if (text == "top") return SampleMethod::top;
  if (text == "random") return SampleMethod::random;
  if (text == "balanced") return SampleMethod::balanced;
  if (text == "margin") return SampleMethod::margin;
  throw Error("--sample must be top, random, balanced or margin, got \"" + text + "\"");
}

const char* sample_method_name(SampleMethod method) {
  switch (method) {
    case SampleMethod::random: return "random";
    case SampleMethod::balanced: return "balanced";
    case SampleMethod::margin: return "margin";
    case SampleMethod::top: break;
  }
  return "top";
}

std::vector<ScoredWindow> sample_for_review(std::vector<ScoredWindow> c, const SampleOptions& o) {
  if (o.k == 0) throw Error("review sample: K must be at least 1");
  if (o.method == SampleMethod::margin && !std::isfinite(o.threshold))
    throw Error("--sample margin picks the windows nearest the class's decision threshold, and there is none here: "
                "search with --library LIB --class NAME (a class with a threshold)");
  std::erase_if(c, [](const ScoredWindow& w) { return std::isnan(w.score); });
  // One order whatever order the candidates came in: by id.
  std::sort(c.begin(), c.end(), [](const ScoredWindow& a, const ScoredWindow& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < c.size(); ++i)
    if (c[i].id == c[i - 1].id) throw Error("review sample: window " + std::to_string(c[i].id) + " offered twice");

  std::vector<ScoredWindow> out;
  if (c.size() <= o.k) {
    out = std::move(c);
  } else {
    switch (o.method) {
      case SampleMethod::top:
        std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(o.k), c.end(), better);
        out.assign(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(o.k));
        break;
      case SampleMethod::random: {
        std::mt19937_64 rng(o.seed);
        for (std::size_t i = 0; i < o.k; ++i) std::swap(c[i], c[i + draw(rng, c.size() - i)]);  // partial Fisher-Yates
        out.assign(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(o.k));
        break;
      }
      case SampleMethod::balanced: {
        std::sort(c.begin(), c.end(), better);
        std::mt19937_64 rng(o.seed);
        const std::size_t n = c.size();
        for (std::size_t b = 0; b < o.k; ++b) {
          const std::size_t lo = b * n / o.k, hi = (b + 1) * n / o.k;  // hi > lo as n > k
          out.push_back(c[lo + draw(rng, hi - lo)]);
        }
        break;
      }
      case SampleMethod::margin: {
        const double t = o.threshold;
        auto nearer = [t](const ScoredWindow& a, const ScoredWindow& b) {
          const double da = std::abs(a.score - t), db = std::abs(b.score - t);
          return da != db ? da < db : a.id < b.id;
        };
        std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(o.k), c.end(), nearer);
        out.assign(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(o.k));
        break;
      }
    }
  }
  std::sort(out.begin(), out.end(), better);
  return out;
}

}  // namespace oneshot::archive
