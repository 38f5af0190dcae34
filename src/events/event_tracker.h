#pragma once
// One class's score curve -> sound events, streaming: windows go in one at a
// time as a detector scores them, and each event comes out as soon as it is
// certain (so `detect` reading a pipe can print it at once).
//
// Rules, in the order they apply:
//  1. Hysteresis. An event starts at a window whose score is >= on_threshold
//     and goes on while the scores stay >= off_threshold (<= on_threshold);
//     it ends before the first window below off_threshold. A dip below `on`
//     that stays above `off` does not split a sound into two events.
//     Default off threshold (when off_threshold is NaN):
//       off = on - kDefaultHysteresis * (on - floor),   kDefaultHysteresis = 0.5,
//     i.e. halfway between the on threshold and `floor`, the typical score of
//     a window WITHOUT the sound (the caller knows it: the median of the
//     calibration's different-class scores, say). The score scale depends on
//     the model's head (cosine, probability, negative distance), so a margin
//     is only meaningful relative to such a level; the half-way rule is the
//     common 0.5 / 0.25 pair of probability outputs (floor 0). Without a floor
//     (NaN), or with floor >= on, off = on: no hysteresis.
//  2. Merging. Two events separated by a gap (next onset - previous offset)
//     smaller than merge_gap become one (0 = never merge).
//  3. Minimum duration. An event (after merging) shorter than min_duration is
//     dropped (0 = keep all). Merging comes first so that a sound broken by a
//     short dip counts as one long event, not as two short ones to drop.
//
// Time span. Window i stands for the time around its centre c_i: its "cell"
// runs from midway between c_{i-1} and c_i to midway between c_i and c_{i+1}
// (the first cell starts at the first window's start, the last ends at the
// last window's end), so the cells tile the recording. An event spans the
// cells of its windows: onset = the lower edge of its first window's cell,
// offset = the upper edge of its last window's cell. Why centres, not the
// windows themselves: a window that overlaps the sound by any part may score
// high, so the union of the windows above threshold spans the sound plus up
// to a whole window on each side (length L + 2W for a sound of length L in
// windows of length W); the cells span at most L + W + one hop, and about L
// (+ one hop) when the score crosses the threshold with the window half
// covered. A sound shorter than the window is reported about one window long,
// centred on it, whatever the rule (IoU ~ L / W), so to locate short sounds
// use a shorter window: the DCASE matching rule (IoU > 0.3) needs W < ~3 L.
// (detect then reports the sounding parts inside each event by default,
// events/sounding.h sounding_parts, which locates a short sound whatever W.)
//
// Score of an event: the maximum window score over its windows (of both
// events, when merged): the detector's confidence that the sound is there at
// all, comparable between events of different lengths (a mean would favour
// short events and depend on the hysteresis tail).
//
// Latency (time in the recording between an event's offset and the push that
// returns it): an event ends at the first window below `off`, whose centre is
// half a hop after the offset and which is complete W/2 after its centre; so
// without merging an event comes out W/2 + hop/2 after its offset. With
// merging it must wait until no later event can start within merge_gap: it is
// returned by the push of the first window whose centre is >= offset +
// merge_gap, i.e. at most merge_gap + W/2 + one hop after its offset.
// finish() returns what is still open at the end of the recording.
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "events/event.h"

namespace oneshot {

inline constexpr double kDefaultHysteresis = 0.5;

struct EventRules {
  double on_threshold = std::numeric_limits<double>::quiet_NaN();   // required
  double off_threshold = std::numeric_limits<double>::quiet_NaN();  // NaN: the default above
  double floor = std::numeric_limits<double>::quiet_NaN();          // score of a window without the sound
  double min_duration = 0;                                          // seconds
  double merge_gap = 0;                                             // seconds

  // off_threshold, or the default from on_threshold and floor.
  double resolved_off_threshold() const;
  // Throws oneshot::Error naming the field: a non-finite on threshold, an
  // off threshold above the on one or not finite, a negative or non-finite
  // min_duration or merge_gap.
  void validate() const;
};

// on - hysteresis * (on - floor), or on when floor is NaN or >= on.
double default_off_threshold(double on_threshold, double floor, double hysteresis = kDefaultHysteresis);

// One scored window: [start, end] in seconds from the start of the recording.
struct ScoredWindow {
  double start = 0;
  double end = 0;
  double score = 0;
};

class EventTracker {
 public:
  // Events carry LABEL and FILENAME. Validates RULES (see EventRules::validate).
  EventTracker(std::string label, EventRules rules, std::string filename = {});

  // The next window, in order: window centres must not go back in time.
  // Returns the events that became final with this window (usually none, at
  // most a few), in time order. Errors (oneshot::Error naming the label and
  // the time): non-finite times or score, end < start, a centre before the
  // previous one, a push after finish().
  std::vector<Event> push(double window_start, double window_end, double score);
  std::vector<Event> push(const ScoredWindow& w) { return push(w.start, w.end, w.score); }
  // End of the recording: returns the events still open or waiting for a
  // merge. Later calls return nothing.
  std::vector<Event> finish();

  const std::string& label() const { return label_; }
  const EventRules& rules() const { return rules_; }
  double off_threshold() const { return off_; }
  // Inside an event (the last window was part of one).
  bool active() const { return active_; }

 private:
  void emit(const Event& e, std::vector<Event>& out) const;

  std::string label_, filename_;
  EventRules rules_;
  double off_;
  bool started_ = false, finished_ = false, active_ = false, pending_ = false;
  double last_centre_ = 0, last_end_ = 0;
  Event current_, waiting_;  // the open event; an ended one waiting for merge_gap to pass
};

// The batch form: every window of one recording through an EventTracker.
std::vector<Event> events_from_curve(std::span<const ScoredWindow> curve, const std::string& label,
                                     const EventRules& rules, const std::string& filename = {});

}  // namespace oneshot
