#include "events/event.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/table_text.h"

namespace oneshot {
namespace {

using table_text::lower;
using table_text::number;
using table_text::parse_number;
using table_text::split_tabs;

bool is_header(const std::vector<std::string_view>& f) {
  if (f.size() != 4 && f.size() != 5) return false;
  const std::string onset = lower(f[1]), offset = lower(f[2]), label = lower(f[3]);
  return lower(f[0]) == "filename" && (onset == "onset" || onset == "event_onset") &&
         (offset == "offset" || offset == "event_offset") && (label == "event_label" || label == "label") &&
         (f.size() == 4 || lower(f[4]) == "score");
}

bool has_control(const std::string& s) {
  return s.find_first_of("\t\n\r") != std::string::npos;
}

}  // namespace

std::string event_problem(const Event& e) {
  if (e.filename.empty()) return "empty filename";
  if (e.label.empty()) return "empty event label";
  if (has_control(e.filename)) return "filename '" + e.filename + "' holds a tab or line break";
  if (has_control(e.label)) return "event label '" + e.label + "' holds a tab or line break";
  if (!std::isfinite(e.onset)) return "onset " + number(e.onset) + " is not finite";
  if (!std::isfinite(e.offset)) return "offset " + number(e.offset) + " is not finite";
  if (e.onset < 0) return "onset " + number(e.onset) + " is negative";
  if (e.onset > e.offset) return "onset " + number(e.onset) + " is after offset " + number(e.offset);
  if (std::isinf(e.score)) return "score " + number(e.score) + " is not finite";
  return {};
}

void require_writable(const Event& e) {
  if (std::string p = event_problem(e); !p.empty())
    throw Error("cannot write event " + e.filename + " " + number(e.onset) + "-" + number(e.offset) + " " + e.label +
                ": " + p);
}

std::vector<Event> parse_event_list(const std::string& text, const std::string& source) {
  std::vector<Event> events;
  table_text::LineProblems problems("event list", source);
  auto problem = [&](std::size_t line_no, const std::string& why) { problems.add(line_no, why); };

  bool seen_content = false;
  for (const auto& [line_no, line] : table_text::lines(text)) {
    if (line.empty() || line.front() == '#') continue;

    const std::vector<std::string_view> f = split_tabs(line);
    const bool first = !seen_content;
    seen_content = true;
    if (first && is_header(f)) continue;
    if (f.size() != 4 && f.size() != 5) {
      std::string why = "expected 4 or 5 tab-separated columns (filename onset offset event_label [score]), found " +
                        std::to_string(f.size());
      if (f.size() == 1 && (line.find(',') != std::string_view::npos || line.find(' ') != std::string_view::npos))
        why += " (columns must be separated by tabs, not commas or spaces)";
      problem(line_no, why);
      continue;
    }
    Event e;
    e.filename = std::string(f[0]);
    e.label = std::string(f[3]);
    std::string why;
    if (!parse_number(f[1], e.onset, why, "onset") || !parse_number(f[2], e.offset, why, "offset") ||
        (f.size() == 5 && !f[4].empty() && !parse_number(f[4], e.score, why, "score"))) {
      if (first) why += " (a header line must read: filename onset offset event_label [score])";
      problem(line_no, why);
      continue;
    }
    if (f.size() == 5 && !f[4].empty() && !std::isfinite(e.score)) {
      problem(line_no, "score " + std::string(f[4]) + " is not finite");
      continue;
    }
    if (std::string p = event_problem(e); !p.empty()) {
      problem(line_no, p);
      continue;
    }
    events.push_back(std::move(e));
  }
  problems.throw_if_any();
  return events;
}

std::vector<Event> read_event_list(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw file_error(path, "event list not found (or not a file)");
  return parse_event_list(table_text::read_text_file(path), path.string());
}

std::string format_event_line(const Event& e) {
  std::string line = e.filename + '\t' + number(e.onset) + '\t' + number(e.offset) + '\t' + e.label;
  if (e.has_score()) line += '\t' + number(e.score);
  return line;
}

std::string format_event_list(const std::vector<Event>& events, bool scored) {
  const bool scores = scored || std::any_of(events.begin(), events.end(), [](const Event& e) { return e.has_score(); });
  std::string out = scores ? "filename\tonset\toffset\tevent_label\tscore\n" : "filename\tonset\toffset\tevent_label\n";
  for (const Event& e : events) {
    require_writable(e);
    out += format_event_line(e);
    if (scores && !e.has_score()) out += '\t';  // an empty score column
    out += '\n';
  }
  return out;
}

void write_event_list(const std::filesystem::path& path, const std::vector<Event>& events, bool scored) {
  write_file_atomic(path, format_event_list(events, scored));
}

}  // namespace oneshot
