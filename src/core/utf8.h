#pragma once
// UTF-8 validation of text files a user brings (event lists, annotation
// tables, dataset metadata). Text in another 8-bit encoding (Latin-1,
// Windows-1252: what many spreadsheets and older tools save) is not guessed
// at or replaced: a label "café" saved as Latin-1 would otherwise match
// nothing that is spelt in UTF-8, silently.
#include <cstddef>
#include <string>
#include <string_view>

namespace oneshot {

// The offset of the first byte of TEXT that is not part of a well-formed
// UTF-8 character (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF, no sequence cut short), or std::string_view::npos when all is.
std::size_t invalid_utf8_offset(std::string_view text);

// Throws oneshot::Error when TEXT (the whole of file SOURCE) is not UTF-8:
// "SOURCE line L: not UTF-8 text: byte 0xE9 at byte offset N is not part of a
// UTF-8 character (saved as Latin-1 or Windows-1252? convert it: iconv -f
// latin1 -t utf-8 SOURCE > NEW_FILE)". Lines count from 1, byte offsets from 0.
void require_utf8(std::string_view text, const std::string& source);

// The columns a terminal gives UTF-8 TEXT: 2 for East Asian wide and
// full-width characters and emoji, 0 for combining marks and the zero-width
// joiner, 1 for every other character (Markus Kuhn's wcwidth ranges, without
// the locale that wcwidth() needs); a byte that is not UTF-8 counts 1.
std::size_t display_width(std::string_view text);

// TEXT followed by spaces up to `columns` display columns (printf's "%-24s"
// counts bytes, so a name such as "café" or "鳥" would misalign a table);
// TEXT itself when it is already as wide.
std::string pad_to_width(std::string_view text, std::size_t columns);

}  // namespace oneshot
