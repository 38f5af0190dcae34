#include "events/table_text.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/error.h"

namespace oneshot::table_text {

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
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

std::vector<Line> lines(const std::string& text) {
  std::vector<Line> out;
  // A UTF-8 byte-order mark (spreadsheets on Windows write one) is not part of the first column.
  std::size_t line_no = 0, begin = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    out.push_back({++line_no, trim(std::string_view(text).substr(begin, end - begin))});
    begin = end + 1;
  }
  return out;
}

void LineProblems::add(std::size_t line, const std::string& why) {
  problems_.push_back(source_ + " line " + std::to_string(line) + ": " + why);
}

void LineProblems::throw_if_any() const {
  if (problems_.empty()) return;
  const std::size_t n = problems_.size();
  std::string message = std::to_string(n) + " bad line" + (n == 1 ? "" : "s") + " in " + what_ + " " + source_ + ":";
  for (std::size_t i = 0; i < std::min(n, kMaxListedProblems); ++i) message += "\n  " + problems_[i];
  if (n > kMaxListedProblems) message += "\n  ... and " + std::to_string(n - kMaxListedProblems) + " more";
  throw Error(message);
}

}  // namespace oneshot::table_text
