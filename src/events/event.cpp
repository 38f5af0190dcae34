#include "events/event.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace {

// Bad lines listed in one error; the rest are counted (a binary file given by
// mistake would otherwise make a message as long as the file).
constexpr std::size_t kMaxListedProblems = 50;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', begin);
    fields.push_back(trim(line.substr(begin, tab == std::string_view::npos ? std::string_view::npos : tab - begin)));
    if (tab == std::string_view::npos) break;
    begin = tab + 1;
  }
  return fields;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool is_header(const std::vector<std::string_view>& f) {
  if (f.size() != 4 && f.size() != 5) return false;
  const std::string onset = lower(f[1]), offset = lower(f[2]), label = lower(f[3]);
  return lower(f[0]) == "filename" && (onset == "onset" || onset == "event_onset") &&
         (offset == "offset" || offset == "event_offset") && (label == "event_label" || label == "label") &&
         (f.size() == 4 || lower(f[4]) == "score");
}

// A number, or the reason it is not one.
bool parse_number(std::string_view text, double& value, std::string& why, const char* what) {
  if (text.empty()) {
    why = std::string(what) + " is empty";
    return false;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    why = std::string(what) + " '" + std::string(text) + "' is not a number";
    return false;
  }
  return true;
}

std::string number(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back as v
  return std::string(buf, ec == std::errc() ? end : buf);
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

std::vector<Event> parse_event_list(const std::string& text, const std::string& source) {
  std::vector<Event> events;
  std::vector<std::string> problems;
  std::size_t n_problems = 0;
  auto problem = [&](std::size_t line_no, const std::string& why) {
    if (++n_problems <= kMaxListedProblems) problems.push_back(source + " line " + std::to_string(line_no) + ": " + why);
  };

  bool seen_content = false;
  // A UTF-8 byte-order mark (spreadsheets on Windows write one) is not part of the first column.
  std::size_t line_no = 0, begin = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view raw = std::string_view(text).substr(begin, end - begin);
    begin = end + 1;
    ++line_no;
    const std::string_view line = trim(raw);
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
  if (n_problems > 0) {
    std::string message = std::to_string(n_problems) + " bad line" + (n_problems == 1 ? "" : "s") + " in event list " +
                          source + ":";
    for (const std::string& p : problems) message += "\n  " + p;
    if (n_problems > problems.size())
      message += "\n  ... and " + std::to_string(n_problems - problems.size()) + " more";
    throw Error(message);
  }
  return events;
}

std::vector<Event> read_event_list(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw file_error(path, "event list not found (or not a file)");
  return parse_event_list(read_file(path), path.string());
}

std::string format_event_line(const Event& e) {
  std::string line = e.filename + '\t' + number(e.onset) + '\t' + number(e.offset) + '\t' + e.label;
  if (e.has_score()) line += '\t' + number(e.score);
  return line;
}

std::string format_event_list(const std::vector<Event>& events) {
  const bool scores = std::any_of(events.begin(), events.end(), [](const Event& e) { return e.has_score(); });
  std::string out = scores ? "filename\tonset\toffset\tevent_label\tscore\n" : "filename\tonset\toffset\tevent_label\n";
  for (const Event& e : events) {
    if (std::string p = event_problem(e); !p.empty())
      throw Error("cannot write event " + e.filename + " " + number(e.onset) + "-" + number(e.offset) + " " +
                  e.label + ": " + p);
    out += format_event_line(e);
    if (scores && !e.has_score()) out += '\t';  // an empty score column
    out += '\n';
  }
  return out;
}

void write_event_list(const std::filesystem::path& path, const std::vector<Event>& events) {
  write_file_atomic(path, format_event_list(events));
}

}  // namespace oneshot
