#include "events/event_tracker.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace oneshot {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

double default_off_threshold(double on, double floor, double hysteresis) {
  if (std::isnan(floor) || floor >= on) return on;
  return on - hysteresis * (on - floor);
}

double EventRules::resolved_off_threshold() const {
  return std::isnan(off_threshold) ? default_off_threshold(on_threshold, floor) : off_threshold;
}

void EventRules::validate() const {
  if (!std::isfinite(on_threshold)) throw Error("event rules: on threshold " + num(on_threshold) + " is not finite");
  if (!std::isnan(off_threshold)) {
    if (!std::isfinite(off_threshold))
      throw Error("event rules: off threshold " + num(off_threshold) + " is not finite");
    if (off_threshold > on_threshold)
      throw Error("event rules: off threshold " + num(off_threshold) + " is above the on threshold " +
                  num(on_threshold) + " (hysteresis needs off <= on)");
  }
  if (std::isinf(floor)) throw Error("event rules: floor " + num(floor) + " is not finite");
  if (!std::isfinite(min_duration) || min_duration < 0)
    throw Error("event rules: min duration " + num(min_duration) + " s must be a finite number >= 0");
  if (!std::isfinite(merge_gap) || merge_gap < 0)
    throw Error("event rules: merge gap " + num(merge_gap) + " s must be a finite number >= 0");
}

EventTracker::EventTracker(std::string label, EventRules rules, std::string filename)
    : label_(std::move(label)), filename_(std::move(filename)), rules_(rules) {
  rules_.validate();
  off_ = rules_.resolved_off_threshold();
  current_.filename = waiting_.filename = filename_;
  current_.label = waiting_.label = label_;
}

void EventTracker::emit(const Event& e, std::vector<Event>& out) const {
  if (e.duration() >= rules_.min_duration) out.push_back(e);
}

std::vector<Event> EventTracker::push(double start, double end, double score) {
  const std::string where = "event tracker for '" + label_ + "'" + (filename_.empty() ? "" : " in " + filename_);
  if (finished_) throw Error(where + ": window pushed after finish()");
  if (!std::isfinite(start) || !std::isfinite(end))
    throw Error(where + ": window time " + num(start) + "-" + num(end) + " s is not finite");
  if (end < start) throw Error(where + ": window ends (" + num(end) + " s) before it starts (" + num(start) + " s)");
  if (!std::isfinite(score))
    throw Error(where + ": score " + num(score) + " of the window at " + num(start) + " s is not finite");
  const double centre = 0.5 * (start + end);
  if (started_ && centre < last_centre_)
    throw Error(where + ": window centres must not go back in time (" + num(centre) + " s after " +
                num(last_centre_) + " s)");

  // The lower edge of this window's cell, which is also the upper edge of the
  // previous window's.
  const double lower = started_ ? 0.5 * (last_centre_ + centre) : start;
  started_ = true;
  last_centre_ = centre;
  last_end_ = end;

  std::vector<Event> out;
  if (active_) {
    if (score >= off_) {
      current_.score = std::max(current_.score, score);
      return out;
    }
    active_ = false;
    current_.offset = lower;
    waiting_ = current_;
    pending_ = true;
  } else if (score >= rules_.on_threshold) {
    if (pending_ && lower - waiting_.offset < rules_.merge_gap) {
      current_ = waiting_;  // the gap was short: the waiting event goes on
      current_.score = std::max(current_.score, score);
    } else {
      if (pending_) emit(waiting_, out);
      current_.onset = lower;
      current_.score = score;
    }
    pending_ = false;
    active_ = true;
    return out;
  }
  // No event can start before the next window's cell, which starts after
  // this centre: once the centre is merge_gap past the waiting event's
  // offset, nothing can merge with it any more.
  if (pending_ && centre >= waiting_.offset + rules_.merge_gap) {
    emit(waiting_, out);
    pending_ = false;
  }
  return out;
}

std::vector<Event> EventTracker::finish() {
  std::vector<Event> out;
  if (finished_) return out;
  finished_ = true;
  if (pending_) emit(waiting_, out);  // an open event cannot coexist with a waiting one: it would have merged
  if (active_) {
    current_.offset = last_end_;
    emit(current_, out);
  }
  pending_ = active_ = false;
  return out;
}

std::vector<Event> events_from_curve(std::span<const ScoredWindow> curve, const std::string& label,
                                     const EventRules& rules, const std::string& filename) {
  EventTracker tracker(label, rules, filename);
  std::vector<Event> events;
  for (const ScoredWindow& w : curve)
    for (Event& e : tracker.push(w)) events.push_back(std::move(e));
  for (Event& e : tracker.finish()) events.push_back(std::move(e));
  return events;
}

}  // namespace oneshot
