#pragma once
// Text helpers shared by the event-list and annotation-table readers and
// writers (events/event.cpp, events/annotation_tables.cpp).
#include <string>
#include <string_view>
#include <vector>

namespace oneshot::table_text {

// Without leading and trailing spaces and carriage returns.
std::string_view trim(std::string_view s);
// The tab-separated fields of LINE, each trimmed.
std::vector<std::string_view> split_tabs(std::string_view line);
std::string lower(std::string_view s);
// Parses TEXT as a whole number (from_chars); on failure sets WHY to
// "WHAT 'TEXT' is not a number" (or "WHAT is empty") and returns false.
bool parse_number(std::string_view text, double& value, std::string& why, const char* what);
// The shortest text that reads back as V.
std::string number(double v);
// The lines of TEXT after a UTF-8 byte-order mark, with their 1-based numbers.
struct Line {
  std::size_t number;
  std::string_view text;  // trimmed
};
std::vector<Line> lines(const std::string& text);
// One Error listing PROBLEMS ("SOURCE line N: why", at most 50, then a count)
// under "N bad line(s) in WHAT SOURCE:"; nothing when there are none.
void throw_problems(const std::vector<std::string>& problems, const std::string& what, const std::string& source);

}  // namespace oneshot::table_text
