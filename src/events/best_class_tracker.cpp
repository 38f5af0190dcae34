#include "events/best_class_tracker.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace oneshot {

namespace {

EventRules never_on(EventRules rules) {
  rules.on_threshold = std::numeric_limits<double>::max();  // negatives never make events
  rules.off_threshold = std::numeric_limits<double>::quiet_NaN();
  rules.floor = std::numeric_limits<double>::quiet_NaN();
  return rules;
}

}  // namespace

BestClassTracker::BestClassTracker(const std::vector<std::string>& labels, const std::vector<bool>& negative,
                                   const std::vector<EventRules>& rules, const std::string& filename)
    : negative_(negative) {
  if (labels.size() != negative.size() || labels.size() != rules.size())
    throw Error("BestClassTracker: " + std::to_string(labels.size()) + " labels, " +
                std::to_string(negative.size()) + " negative flags and " + std::to_string(rules.size()) +
                " rules; one of each a class");
  trackers_.reserve(labels.size());
  for (std::size_t c = 0; c < labels.size(); ++c)
    trackers_.emplace_back(labels[c], negative[c] ? never_on(rules[c]) : rules[c], filename);
}

std::vector<Event> BestClassTracker::push(double start, double end, std::span<const double> scores) {
  const std::size_t n = negative_.size();
  if (scores.size() != n)
    throw Error("BestClassTracker: a window of " + std::to_string(scores.size()) + " scores for " +
                std::to_string(n) + " classes");
  std::size_t best = n;
  double best_negative = -std::numeric_limits<double>::infinity();
  for (std::size_t c = 0; c < n; ++c) {
    if (negative_[c]) best_negative = std::max(best_negative, scores[c]);
    else if (best == n || scores[c] > scores[best]) best = c;
  }
  std::vector<Event> out;
  for (std::size_t c = 0; c < n; ++c) {
    const bool eligible = c == best && scores[c] > best_negative;
    auto events = trackers_[c].push(start, end, eligible ? scores[c] : std::numeric_limits<double>::lowest());
    out.insert(out.end(), events.begin(), events.end());
  }
  return out;
}

std::vector<Event> BestClassTracker::finish() {
  std::vector<Event> out;
  for (auto& tracker : trackers_) {
    auto events = tracker.finish();
    out.insert(out.end(), events.begin(), events.end());
  }
  std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.onset < b.onset; });
  return out;
}

std::vector<Event> events_from_curves(const std::vector<std::string>& labels, const std::vector<bool>& negative,
                                      const std::vector<EventRules>& rules,
                                      std::span<const std::pair<double, double>> windows,
                                      std::span<const double> scores, const std::string& filename) {
  BestClassTracker tracker(labels, negative, rules, filename);
  const std::size_t n = tracker.n_classes();
  if (scores.size() != windows.size() * n)
    throw Error("events_from_curves: " + std::to_string(scores.size()) + " scores for " +
                std::to_string(windows.size()) + " windows of " + std::to_string(n) + " classes");
  std::vector<Event> events;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    auto e = tracker.push(windows[w].first, windows[w].second, scores.subspan(w * n, n));
    events.insert(events.end(), e.begin(), e.end());
  }
  auto e = tracker.finish();
  events.insert(events.end(), e.begin(), e.end());
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.onset < b.onset; });
  return events;
}

}  // namespace oneshot
