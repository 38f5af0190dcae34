#pragma once
// Text helpers shared by the event-list and annotation-table readers and
// writers (events/event.cpp, events/annotation_tables.cpp).
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
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
// The text of a table file as UTF-8. Spreadsheets save "Unicode Text" as
// UTF-16 (Excel: little-endian with a byte-order mark): UTF-16 with a mark,
// or without one but with a NUL in every other byte of its start, is
// converted. Other text with NUL bytes is an Error naming the file and the
// byte ("not a text file"), as is UTF-16 with a broken surrogate pair. Text
// without a NUL must be UTF-8: Latin-1 or Windows-1252 text is an Error naming
// the file, line and byte offset (core/utf8.h), never read with its
// characters replaced.
std::string read_text_file(const std::filesystem::path& path);
// TEXT (the bytes of `source`) as read_text_file decodes them.
std::string decode_text(std::string text, const std::string& source);

// The lines of TEXT after a UTF-8 byte-order mark, with their 1-based numbers.
struct Line {
  std::size_t number;
  std::string_view text;  // trimmed
};
std::vector<Line> lines(const std::string& text);
// The bad lines of one file, reported together: add() each as it is found,
// then throw_if_any() throws one Error "N bad line(s) in WHAT SOURCE:" listing
// "SOURCE line N: why" (at most 50, then a count); nothing when there are none.
class LineProblems {
 public:
  LineProblems(std::string what, std::string source) : what_(std::move(what)), source_(std::move(source)) {}
  void add(std::size_t line, const std::string& why);
  void throw_if_any() const;

 private:
  std::string what_, source_;
  std::vector<std::string> problems_;
};

}  // namespace oneshot::table_text
