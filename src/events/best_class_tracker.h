#pragma once
// Several classes' score curves -> events, a window holding at most one
// enrolled sound (the detector's rule, inference/detector.h): per window only
// the best-scoring positive class is eligible, and only when it scores above
// every negative class; the other classes' trackers see the lowest score for
// that window. Negative classes never make events. Each class's eligible
// curve then follows its own EventRules (events/event_tracker.h).
//
// Model-free, so that a stored score curve can be replayed under other rules
// (bench/bench_user_path --rule-grid) with exactly the detector's decisions.
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "events/event_tracker.h"

namespace oneshot {

class BestClassTracker {
 public:
  // One label, one negative flag and one EventRules per class (same sizes,
  // else Error); a negative class's rules are ignored. Validates the rules of
  // the positive classes (EventRules::validate).
  BestClassTracker(const std::vector<std::string>& labels, const std::vector<bool>& negative,
                   const std::vector<EventRules>& rules, const std::string& filename = {});

  // The next window [start, end] (seconds) and its scores, one per class.
  // Returns the events that ended, in class order (see EventTracker::push).
  std::vector<Event> push(double start, double end, std::span<const double> scores);
  // End of the recording: every open event, sorted by onset.
  std::vector<Event> finish();

  std::size_t n_classes() const { return negative_.size(); }
  const EventTracker& tracker(std::size_t c) const { return trackers_[c]; }

 private:
  std::vector<bool> negative_;
  std::vector<EventTracker> trackers_;
};

// The batch form: a stored curve (window spans in seconds, and per window one
// score a class, row-major) through a BestClassTracker; events sorted by onset
// as the detector returns them.
std::vector<Event> events_from_curves(const std::vector<std::string>& labels, const std::vector<bool>& negative,
                                      const std::vector<EventRules>& rules,
                                      std::span<const std::pair<double, double>> windows,
                                      std::span<const double> scores, const std::string& filename = {});

}  // namespace oneshot
