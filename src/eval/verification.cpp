#include "eval/verification.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <utility>

#include "core/error.h"
#include "eval/sampling.h"

namespace oneshot {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_scores(const std::vector<double>& target, const std::vector<double>& nontarget, const char* what) {
  if (target.empty() || nontarget.empty())
    throw Error(std::string(what) + ": needs same-class and different-class scores (got " +
                std::to_string(target.size()) + " and " + std::to_string(nontarget.size()) + ")");
  for (const auto* list : {&target, &nontarget})
    for (double s : *list)
      if (std::isnan(s)) throw Error(std::string(what) + ": a score is NaN");
}

void check_far(double far) {
  if (!(far >= 0 && far < 1)) throw Error("false-accept rate must be in [0, 1), got " + std::to_string(far));
}

// Operating points as counts: accepted non-targets and rejected targets.
struct CountPoint {
  double threshold;
  std::int64_t accepted_nontargets, rejected_targets;
};

std::vector<CountPoint> count_points(const std::vector<double>& target, const std::vector<double>& nontarget) {
  std::vector<std::pair<double, bool>> all;  // (score, is target)
  all.reserve(target.size() + nontarget.size());
  for (double s : target) all.emplace_back(s, true);
  for (double s : nontarget) all.emplace_back(s, false);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<CountPoint> points;
  std::int64_t accepted = static_cast<std::int64_t>(nontarget.size()), rejected = 0;
  points.push_back({-kInf, accepted, rejected});
  for (std::size_t i = 0; i < all.size();) {
    const double s = all[i].first;
    for (; i < all.size() && all[i].first == s; ++i) (all[i].second ? rejected += 1 : accepted -= 1);
    points.push_back({s, accepted, rejected});
  }
  return points;
}

double mean_of_defined(const std::vector<double>& v, double* std_out) {
  double sum = 0;
  std::size_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++n;
  if (n == 0) {
    *std_out = kNaN;
    return kNaN;
  }
  const double mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double x : v)
    if (std::isfinite(x)) ss += (x - mean) * (x - mean);
  *std_out = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  return mean;
}

}  // namespace

std::vector<OperatingPoint> operating_points(const std::vector<double>& target, const std::vector<double>& nontarget) {
  check_scores(target, nontarget, "operating points");
  const double p = static_cast<double>(target.size()), n = static_cast<double>(nontarget.size());
  std::vector<OperatingPoint> out;
  for (const auto& c : count_points(target, nontarget))
    out.push_back({c.threshold, static_cast<double>(c.accepted_nontargets) / n,
                   static_cast<double>(c.rejected_targets) / p});
  return out;
}

double equal_error_rate(const std::vector<double>& target, const std::vector<double>& nontarget) {
  check_scores(target, nontarget, "EER");
  // Points as integer counts (x: accepted non-targets, y: rejected targets), so
  // the hull's orientation tests are exact; scaling the axes keeps convexity.
  std::vector<std::pair<std::int64_t, std::int64_t>> pts;
  for (const auto& c : count_points(target, nontarget)) pts.emplace_back(c.accepted_nontargets, c.rejected_targets);
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  // Andrew's monotone chain, lower hull.
  using Pt = std::pair<std::int64_t, std::int64_t>;
  auto cross = [](const Pt& o, const Pt& a, const Pt& b) {
    return static_cast<long double>(a.first - o.first) * static_cast<long double>(b.second - o.second) -
           static_cast<long double>(a.second - o.second) * static_cast<long double>(b.first - o.first);
  };
  std::vector<Pt> hull;
  for (const auto& q : pts) {
    while (hull.size() >= 2 && cross(hull[hull.size() - 2], hull.back(), q) <= 0) hull.pop_back();
    hull.push_back(q);
  }
  const double p = static_cast<double>(target.size()), n = static_cast<double>(nontarget.size());
  auto far = [&](const Pt& q) { return static_cast<double>(q.first) / n; };
  auto frr = [&](const Pt& q) { return static_cast<double>(q.second) / p; };
  // FRR - FAR falls from >= 0 at the first vertex (FAR 0) to -1 at the last (FAR 1, FRR 0).
  for (std::size_t i = 0; i < hull.size(); ++i) {
    const double d1 = frr(hull[i]) - far(hull[i]);
    if (d1 > 0) continue;
    if (d1 == 0 || i == 0) return far(hull[i]);
    const double d0 = frr(hull[i - 1]) - far(hull[i - 1]);
    const double lambda = d0 / (d0 - d1);
    return far(hull[i - 1]) + lambda * (far(hull[i]) - far(hull[i - 1]));
  }
  return 0.5;  // unreachable: the last vertex has FRR 0 and FAR 1
}

double threshold_at_far(const std::vector<double>& nontarget, double far) {
  check_far(far);
  if (nontarget.empty()) throw Error("threshold at a false-accept rate: no different-class scores");
  std::vector<double> d = nontarget;
  const auto k = std::min(static_cast<std::size_t>(std::floor(far * static_cast<double>(d.size()))), d.size() - 1);
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end(), std::greater<>());
  return d[k];
}

RatesAtFar frr_at_far(const std::vector<double>& target, const std::vector<double>& nontarget, double far) {
  check_scores(target, nontarget, "FRR at a false-accept rate");
  RatesAtFar r;
  r.target_far = far;
  r.threshold = threshold_at_far(nontarget, far);
  r.far = static_cast<double>(std::count_if(nontarget.begin(), nontarget.end(),
                                            [&](double s) { return s > r.threshold; })) /
          static_cast<double>(nontarget.size());
  r.frr = static_cast<double>(std::count_if(target.begin(), target.end(),
                                            [&](double s) { return s <= r.threshold; })) /
          static_cast<double>(target.size());
  return r;
}

FarThresholdTracker::FarThresholdTracker(double far, std::int64_t n_nontarget) : expected_(n_nontarget) {
  check_far(far);
  if (n_nontarget < 1) throw Error("threshold at a false-accept rate: no different-class scores");
  keep_ = std::min(static_cast<std::size_t>(std::floor(far * static_cast<double>(n_nontarget))) + 1,
                   static_cast<std::size_t>(n_nontarget));
  heap_.reserve(keep_);
}

void FarThresholdTracker::add(double score) {
  if (seen_ == expected_)
    throw Error("FarThresholdTracker: more than the " + std::to_string(expected_) + " scores announced");
  if (std::isnan(score)) throw Error("FarThresholdTracker: a score is NaN");
  ++seen_;
  if (heap_.size() < keep_) {
    heap_.push_back(score);
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  } else if (score > heap_.front()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    heap_.back() = score;
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  }
}

double FarThresholdTracker::threshold() const {
  if (seen_ != expected_)
    throw Error("FarThresholdTracker: " + std::to_string(seen_) + " of the " + std::to_string(expected_) +
                " scores announced were added");
  return heap_.front();
}

double auroc(const std::vector<double>& target, const std::vector<double>& nontarget) {
  check_scores(target, nontarget, "AUROC");
  std::vector<std::pair<double, bool>> all;
  for (double s : target) all.emplace_back(s, true);
  for (double s : nontarget) all.emplace_back(s, false);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Sum of the targets' mid-ranks (1-based): a tie group at ranks [i+1, j] has rank (i + 1 + j) / 2.
  double rank_sum = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    std::int64_t targets = 0;
    for (; j < all.size() && all[j].first == all[i].first; ++j) targets += all[j].second;
    rank_sum += static_cast<double>(targets) * (static_cast<double>(i + 1 + j) / 2.0);
    i = j;
  }
  const double p = static_cast<double>(target.size()), n = static_cast<double>(nontarget.size());
  const double u = rank_sum - p * (p + 1) / 2;
  return u / (p * n);
}

ScoreHistogram score_histogram(const std::vector<double>& target, const std::vector<double>& nontarget, int bins) {
  check_scores(target, nontarget, "score histogram");
  if (bins < 1) throw Error("score histogram: bins must be >= 1, got " + std::to_string(bins));
  double lo = kInf, hi = -kInf;
  for (const auto* list : {&target, &nontarget})
    for (double s : *list) lo = std::min(lo, s), hi = std::max(hi, s);
  if (!std::isfinite(lo) || !std::isfinite(hi)) throw Error("score histogram: a score is infinite");
  if (hi == lo) lo -= 0.5, hi += 0.5;
  ScoreHistogram h;
  const double width = (hi - lo) / bins;
  for (int i = 0; i < bins; ++i) h.edges.push_back(lo + width * i);
  h.edges.push_back(hi);
  h.target.assign(static_cast<std::size_t>(bins), 0);
  h.nontarget.assign(static_cast<std::size_t>(bins), 0);
  auto bin_of = [&](double s) {
    const auto b = static_cast<std::int64_t>(std::floor((s - lo) / width));
    return static_cast<std::size_t>(std::clamp<std::int64_t>(b, 0, bins - 1));
  };
  for (double s : target) ++h.target[bin_of(s)];
  for (double s : nontarget) ++h.nontarget[bin_of(s)];
  return h;
}

std::vector<OperatingPoint> thin_curve(const std::vector<OperatingPoint>& points, double step) {
  if (points.size() <= 2) return points;
  std::vector<OperatingPoint> out{points.front()};
  for (std::size_t i = 1; i + 1 < points.size(); ++i)
    if (std::abs(points[i].far - out.back().far) >= step || std::abs(points[i].frr - out.back().frr) >= step)
      out.push_back(points[i]);
  out.push_back(points.back());
  return out;
}

double probit(double p) {
  if (std::isnan(p)) return kNaN;
  if (p <= 0) return -kInf;
  if (p >= 1) return kInf;
  // P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution function" (2003).
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01,  -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  double x;
  if (p < p_low || p > 1 - p_low) {
    const double q = std::sqrt(-2 * std::log(p < p_low ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 1 - p_low) x = -x;
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // One step of Halley's method on Phi(x) - p.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

EnrolmentResult enrol_one_clip(const std::vector<double>& scores, const std::vector<int>& labels,
                               const EnrolmentOptions& options) {
  const std::size_t n = labels.size();
  if (scores.size() != n * n)
    throw Error("enrol-one-clip task: a score matrix of " + std::to_string(scores.size()) + " values for " +
                std::to_string(n) + " clips (needs " + std::to_string(n * n) + ")");
  if (options.draws < 1) throw Error("enrol-one-clip task: draws must be >= 1, got " + std::to_string(options.draws));
  std::map<int, std::vector<std::size_t>> by_class;
  for (std::size_t i = 0; i < n; ++i) by_class[labels[i]].push_back(i);
  std::vector<std::vector<std::size_t>> rows;
  std::vector<int> class_ids;
  for (auto& [id, r] : by_class) class_ids.push_back(id), rows.push_back(std::move(r));
  const int n_classes = static_cast<int>(rows.size());
  if (n_classes < 2)
    throw Error("enrol-one-clip task: needs at least 2 classes, the split has " + std::to_string(n_classes));
  int enrolled = options.enrolled_classes;
  if (enrolled < 0) throw Error("enrol-one-clip task: enrolled classes must be >= 0, got " + std::to_string(enrolled));
  if (enrolled == 0) enrolled = std::min(n_classes, std::max(2, n_classes / 2));
  if (enrolled > n_classes)
    throw Error("enrol-one-clip task: " + std::to_string(enrolled) + " enrolled classes asked for, the split has " +
                std::to_string(n_classes));

  EnrolmentResult result;
  result.classes = n_classes;
  result.enrolled_classes = enrolled;
  result.draws = options.draws;
  result.threshold = options.threshold;
  std::mt19937_64 rng(static_cast<std::uint64_t>(options.seed));
  std::vector<int> order(static_cast<std::size_t>(n_classes));
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> top1, accepted, rejected;
  std::vector<int> enrolled_index(static_cast<std::size_t>(n_classes));  // table class -> way, -1 if not enrolled
  std::vector<int> table_of(n);                                          // clip -> table class
  for (std::size_t c = 0; c < rows.size(); ++c)
    for (std::size_t i : rows[c]) table_of[i] = static_cast<int>(c);
  std::vector<std::size_t> enrol_clip(static_cast<std::size_t>(enrolled));
  std::vector<char> is_enrolment(n);
  for (int draw = 0; draw < options.draws; ++draw) {
    partial_shuffle(order, static_cast<std::size_t>(enrolled), rng);
    std::fill(enrolled_index.begin(), enrolled_index.end(), -1);
    std::fill(is_enrolment.begin(), is_enrolment.end(), 0);
    for (int w = 0; w < enrolled; ++w) {
      const auto& r = rows[static_cast<std::size_t>(order[static_cast<std::size_t>(w)])];
      enrol_clip[static_cast<std::size_t>(w)] = r[uniform_below(rng, r.size())];
      enrolled_index[static_cast<std::size_t>(order[static_cast<std::size_t>(w)])] = w;
      is_enrolment[enrol_clip[static_cast<std::size_t>(w)]] = 1;
    }
    std::int64_t known = 0, known_top1 = 0, known_accepted = 0, unknown = 0, unknown_rejected = 0;
    for (std::size_t q = 0; q < n; ++q) {
      if (is_enrolment[q]) continue;
      int best = 0;
      double best_score = scores[q * n + enrol_clip[0]];
      for (int w = 1; w < enrolled; ++w) {
        const double s = scores[q * n + enrol_clip[static_cast<std::size_t>(w)]];
        if (s > best_score) best = w, best_score = s;
      }
      const int truth = enrolled_index[static_cast<std::size_t>(table_of[q])];
      if (truth >= 0) {
        ++known;
        known_top1 += best == truth;
        known_accepted += best == truth && best_score > options.threshold;
      } else {
        ++unknown;
        unknown_rejected += !(best_score > options.threshold);
      }
    }
    result.enrolled_queries += known;
    result.unknown_queries += unknown;
    top1.push_back(known ? static_cast<double>(known_top1) / known : kNaN);
    accepted.push_back(known ? static_cast<double>(known_accepted) / known : kNaN);
    rejected.push_back(unknown ? static_cast<double>(unknown_rejected) / unknown : kNaN);
  }
  result.top1 = mean_of_defined(top1, &result.top1_std);
  result.accepted = mean_of_defined(accepted, &result.accepted_std);
  result.rejected = mean_of_defined(rejected, &result.rejected_std);
  return result;
}

VerificationMetrics verification_metrics(const std::vector<double>& target, const std::vector<double>& nontarget,
                                         double far, int bins) {
  check_scores(target, nontarget, "verification");
  VerificationMetrics m;
  m.target_pairs = static_cast<std::int64_t>(target.size());
  m.nontarget_pairs = static_cast<std::int64_t>(nontarget.size());
  m.eer = equal_error_rate(target, nontarget);
  m.at_far = frr_at_far(target, nontarget, far);
  m.auroc = auroc(target, nontarget);
  m.target_mean = std::accumulate(target.begin(), target.end(), 0.0) / static_cast<double>(target.size());
  m.nontarget_mean = std::accumulate(nontarget.begin(), nontarget.end(), 0.0) / static_cast<double>(nontarget.size());
  m.histogram = score_histogram(target, nontarget, bins);
  m.curve = thin_curve(operating_points(target, nontarget));
  return m;
}

void split_pair_scores(const std::vector<double>& scores, const std::vector<int>& labels, std::vector<double>& target,
                       std::vector<double>& nontarget) {
  const std::size_t n = labels.size();
  if (scores.size() != n * n)
    throw Error("pair scores: a matrix of " + std::to_string(scores.size()) + " values for " + std::to_string(n) +
                " clips");
  target.clear();
  nontarget.clear();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) (labels[i] == labels[j] ? target : nontarget).push_back(scores[i * n + j]);
}

}  // namespace oneshot
