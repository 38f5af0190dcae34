#include "core/utf8.h"

#include <algorithm>
#include <cstdio>

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

}  // namespace oneshot
