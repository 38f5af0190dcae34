#include "events/table_text.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/utf8.h"

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

namespace {

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// UTF-16 (from byte `begin`, little- or big-endian) as UTF-8.
std::string utf16_to_utf8(const std::string& text, std::size_t begin, bool little_endian, const std::string& source) {
  if ((text.size() - begin) % 2)
    throw Error(source + ": UTF-16 text with an odd number of bytes (cut short?)");
  auto unit = [&](std::size_t at) {
    const auto lo = static_cast<unsigned char>(text[at + (little_endian ? 0 : 1)]);
    const auto hi = static_cast<unsigned char>(text[at + (little_endian ? 1 : 0)]);
    return static_cast<char32_t>(hi << 8 | lo);
  };
  std::string out;
  out.reserve((text.size() - begin) / 2);
  for (std::size_t at = begin; at < text.size(); at += 2) {
    char32_t c = unit(at);
    if (c >= 0xD800 && c < 0xDC00) {  // a high surrogate: its low one follows
      const char32_t low = at + 2 < text.size() ? unit(at + 2) : 0;
      if (!(low >= 0xDC00 && low < 0xE000))
        throw Error(source + ": damaged UTF-16 text (a lone surrogate at byte " + std::to_string(at) + ")");
      c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
      at += 2;
    } else if (c >= 0xDC00 && c < 0xE000) {
      throw Error(source + ": damaged UTF-16 text (a lone surrogate at byte " + std::to_string(at) + ")");
    }
    append_utf8(out, c);
  }
  return out;
}

}  // namespace

// UTF-32 (from byte 4, after its mark) as UTF-8.
std::string utf32_to_utf8(const std::string& text, bool little_endian, const std::string& source) {
  if (text.size() % 4) throw Error(source + ": UTF-32 text with a length not a multiple of 4 bytes (cut short?)");
  std::string out;
  for (std::size_t at = 4; at < text.size(); at += 4) {
    char32_t c = 0;
    for (int k = 0; k < 4; ++k)
      c = c << 8 | static_cast<unsigned char>(text[at + static_cast<std::size_t>(little_endian ? 3 - k : k)]);
    if (c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
      throw Error(source + ": damaged UTF-32 text (no character at byte " + std::to_string(at) + ")");
    append_utf8(out, c);
  }
  return out;
}

std::string decode_text(std::string text, const std::string& source) {
  if (text.rfind(std::string("\xFF\xFE\0\0", 4), 0) == 0) return utf32_to_utf8(text, true, source);
  if (text.rfind(std::string("\0\0\xFE\xFF", 4), 0) == 0) return utf32_to_utf8(text, false, source);
  if (text.rfind("\xFF\xFE", 0) == 0) return utf16_to_utf8(text, 2, true, source);
  if (text.rfind("\xFE\xFF", 0) == 0) return utf16_to_utf8(text, 2, false, source);
  const std::size_t nul = text.find('\0');
  if (nul == std::string::npos) {
    // 8-bit text in another encoding (Latin-1 from a spreadsheet) is named, not
    // read: its labels would match no label spelt in UTF-8, silently.
    require_utf8(text, source);
    return text;
  }
  // No mark: UTF-16 when at least half the characters of the start have a NUL
  // high byte (ASCII and Latin-1 text), always on the same side.
  const std::size_t pairs = std::min<std::size_t>(text.size() / 2, 256);
  std::size_t odd_nul = 0, even_nul = 0;
  for (std::size_t i = 0; i < pairs; ++i) {
    odd_nul += text[2 * i + 1] == '\0';
    even_nul += text[2 * i] == '\0';
  }
  if (pairs > 0 && even_nul == 0 && 2 * odd_nul >= pairs) return utf16_to_utf8(text, 0, true, source);
  if (pairs > 0 && odd_nul == 0 && 2 * even_nul >= pairs) return utf16_to_utf8(text, 0, false, source);
  throw Error(source + ": not a text file (a NUL byte at byte " + std::to_string(nul) +
              "); event lists and tables are tab-separated text, UTF-8 or UTF-16");
}

std::string read_text_file(const std::filesystem::path& path) { return decode_text(read_file(path), path.string()); }

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
