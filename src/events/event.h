#pragma once
// Sound events and event lists in sed_eval's event-list format
// (https://tut-arg.github.io/sed_eval/, "event list" files): one event per
// line, tab-separated columns
//
//   filename  onset  offset  event_label  [score]
//
// with onset and offset in seconds from the start of the file and an optional
// fifth column holding the detector's score for the event (higher = more
// confident; the project's one score convention). This is the format `detect`
// writes and `score-events` reads.
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace oneshot {

struct Event {
  std::string filename;  // as written in the list; matched literally (no path normalisation)
  double onset = 0;      // seconds, >= 0
  double offset = 0;     // seconds, >= onset
  std::string label;
  // The detector's score; NaN when the list has no score for the event (a
  // reference annotation, say).
  double score = std::numeric_limits<double>::quiet_NaN();

  double duration() const { return offset - onset; }
  bool has_score() const { return !std::isnan(score); }
};

// Reads an event list. Accepted:
//  - 4 or 5 tab-separated columns per line (a 5th column may be empty: no score);
//  - an optional header as the first non-blank line: `filename onset offset
//    event_label [score]` (sed_eval's and dcase_util's spellings `event_onset`,
//    `event_offset` and `label` are accepted too, in any letter case);
//  - blank lines and lines starting with '#' (skipped); a trailing '\r' (CRLF files);
//    a UTF-8 byte-order mark at the start.
// Each event must have a non-empty filename and label, finite onset and offset
// with 0 <= onset <= offset, and a finite score when one is given.
// Errors: oneshot::Error "PATH: ..." when the file cannot be read, and one
// Error listing every bad line as "PATH line N: reason" (all of them, not just
// the first, so one run shows everything to fix). Events keep the file's order.
std::vector<Event> read_event_list(const std::filesystem::path& path);
// The same for text already in memory; `source` names it in errors.
std::vector<Event> parse_event_list(const std::string& text, const std::string& source);

// Writes EVENTS with a header line, atomically (a reader never sees half a
// file). The score column is written when any event has a score, or always
// with `scored` (a list of scored events has the same columns when it is
// empty: detect's, search's); events without one leave it empty. Numbers are
// written with enough digits to read back the same double. Errors:
// oneshot::Error for an event read_event_list would refuse (so a written list
// always reads back) or a failed write.
void write_event_list(const std::filesystem::path& path, const std::vector<Event>& events, bool scored = false);
// The text write_event_list writes, header included.
std::string format_event_list(const std::vector<Event>& events, bool scored = false);
// One event as a line without the newline, with its score column when it has
// a score (for printing events one at a time as a stream finds them).
std::string format_event_line(const Event& event);

// The reason EVENT is invalid ("onset -1 is negative", ...), or "" when valid.
std::string event_problem(const Event& event);
// Error "cannot write event FILE ONSET-OFFSET LABEL: reason" for an event
// read_event_list (or any annotation reader) would refuse: every writer's check.
void require_writable(const Event& event);

}  // namespace oneshot
