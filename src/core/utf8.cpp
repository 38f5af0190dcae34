#include "core/utf8.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/error.h"

namespace oneshot {

std::size_t invalid_utf8_offset(std::string_view text) {
  const auto* b = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  auto continuation = [&](std::size_t i) { return i < n && (b[i] & 0xC0) == 0x80; };
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = b[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    if (c >= 0xC2 && c <= 0xDF) length = 2;       // C0, C1: overlong forms of ASCII
    else if (c >= 0xE0 && c <= 0xEF) length = 3;
    else if (c >= 0xF0 && c <= 0xF4) length = 4;  // F5..FF: past U+10FFFF
    else return i;
    for (std::size_t k = 1; k < length; ++k)
      if (!continuation(i + k)) return i;
    // The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF.
    const unsigned char second = b[i + 1];
    if ((c == 0xE0 && second < 0xA0) || (c == 0xED && second > 0x9F) || (c == 0xF0 && second < 0x90) ||
        (c == 0xF4 && second > 0x8F))
      return i;
    i += length;
  }
  return std::string_view::npos;
}

void require_utf8(std::string_view text, const std::string& source) {
  const std::size_t at = invalid_utf8_offset(text);
  if (at == std::string_view::npos) return;
  const auto before = text.substr(0, at);
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[at]));
  throw Error(source + " line " + std::to_string(line) + ": not UTF-8 text: byte " + byte + " at byte offset " +
              std::to_string(at) + " is not part of a UTF-8 character (saved as Latin-1 or Windows-1252? convert it: " +
              "iconv -f latin1 -t utf-8 " + source + " > NEW_FILE)");
}

namespace {

// The code point at text[i] and its length in bytes; a byte that is not the
// start of a well-formed character is taken alone, as U+FFFD.
std::pair<char32_t, std::size_t> decode(std::string_view text, std::size_t i) {
  const std::string_view rest = text.substr(i, std::min<std::size_t>(4, text.size() - i));
  const auto c = static_cast<unsigned char>(rest[0]);
  if (c < 0x80) return {c, 1};
  const std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  if (length > rest.size() || invalid_utf8_offset(rest.substr(0, length)) != std::string_view::npos)
    return {0xFFFD, 1};
  char32_t code = c & (0xFF >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) code = (code << 6) | (static_cast<unsigned char>(rest[k]) & 0x3F);
  return {code, length};
}

std::size_t code_point_width(char32_t c) {
  if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
      (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F) || c == 0x200B || c == 0x200D ||
      (c >= 0xFE00 && c <= 0xFE0F))
    return 0;
  if ((c >= 0x1100 && c <= 0x115F) || c == 0x2329 || c == 0x232A || (c >= 0x2E80 && c <= 0xA4CF && c != 0x303F) ||
      (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE6F) ||
      (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
      (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x2FFFD) || (c >= 0x30000 && c <= 0x3FFFD))
    return 2;
  return 1;
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto [code, length] = decode(text, i);
    width += code_point_width(code);
    i += length;
  }
  return width;
}

std::string pad_to_width(std::string_view text, std::size_t columns) {
  std::string out(text);
  const std::size_t width = display_width(text);
  if (width < columns) out.append(columns - width, ' ');
  return out;
}

}  // namespace oneshot
