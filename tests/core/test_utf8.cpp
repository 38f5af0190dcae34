// UTF-8 validation of the text files a user brings (core/utf8.h).
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

constexpr auto npos = std::string_view::npos;

TEST(Utf8, WellFormedTextOfEveryLengthIsAccepted) {
  EXPECT_EQ(invalid_utf8_offset(""), npos);
  EXPECT_EQ(invalid_utf8_offset("dog\tbark\n"), npos);
  // 2, 3 and 4 bytes: é, €, the last BMP character before the surrogates, U+10FFFF, 🐦.
  EXPECT_EQ(invalid_utf8_offset("caf\xC3\xA9 \xE2\x82\xAC \xED\x9F\xBF \xF4\x8F\xBF\xBF \xF0\x9F\x90\xA6"), npos);
  EXPECT_EQ(invalid_utf8_offset("\xEF\xBB\xBF" "a"), npos);  // a byte-order mark
}

TEST(Utf8, TheFirstByteThatIsNoCharacterIsFound) {
  EXPECT_EQ(invalid_utf8_offset("caf\xE9\n"), 3u);                 // Latin-1 é
  EXPECT_EQ(invalid_utf8_offset("ok \x93quoted\x94"), 3u);         // Windows-1252 quotes
  EXPECT_EQ(invalid_utf8_offset("a\xC3"), 1u);                     // cut short at the end
  EXPECT_EQ(invalid_utf8_offset("a\xE2\x82z"), 1u);                // cut short before an ASCII byte
  EXPECT_EQ(invalid_utf8_offset("\xC0\xAF"), 0u);                  // an overlong "/"
  EXPECT_EQ(invalid_utf8_offset("x\xE0\x80\xAF"), 1u);             // an overlong three-byte form
  EXPECT_EQ(invalid_utf8_offset("xy\xED\xA0\x80"), 2u);            // a surrogate (U+D800)
  EXPECT_EQ(invalid_utf8_offset("\xF4\x90\x80\x80"), 0u);          // past U+10FFFF
  EXPECT_EQ(invalid_utf8_offset("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(invalid_utf8_offset("\x80"), 0u);                      // a continuation byte alone
}

TEST(Utf8, TheErrorNamesTheFileLineByteAndTheWayOut) {
  const std::string text = "filename\tonset\noffice.wav\t1\ncaf\xE9.wav\t2\n";
  const std::string message = test::error_of([&] { require_utf8(text, "ref.tsv"); });
  EXPECT_EQ(message, "ref.tsv line 3: not UTF-8 text: byte 0xE9 at byte offset 31 is not part of a UTF-8 character "
                     "(saved as Latin-1 or Windows-1252? convert it: iconv -f latin1 -t utf-8 ref.tsv > NEW_FILE)");
  EXPECT_EQ(test::error_of([] { require_utf8("caf\xC3\xA9\n", "ok.tsv"); }), "");
}

// The program's JSON outputs hold paths, which may be any bytes: a file name
// with byte 0xFF made nlohmann's dump throw type_error.316 and lose the output.
TEST(Utf8, JsonTextWritesBytesThatAreNotUtf8AsReplacementCharacters) {
  const nlohmann::json j = {{"file", "b\xFF.wav"}, {"class", "caf\xC3\xA9"}};
  EXPECT_EQ(json_text(j), "{\"class\":\"caf\xC3\xA9\",\"file\":\"b\xEF\xBF\xBD.wav\"}");
  EXPECT_EQ(nlohmann::json::parse(json_text(j, 2)).at("file"), "b\xEF\xBF\xBD.wav");
  EXPECT_EQ(json_text(nlohmann::json{{"a", 1}}, 2), "{\n  \"a\": 1\n}");
}

TEST(DisplayWidth, CountsColumnsNotBytes) {
  EXPECT_EQ(display_width(""), 0u);
  EXPECT_EQ(display_width("dog"), 3u);
  EXPECT_EQ(display_width("caf\xC3\xA9"), 4u);          // é: 2 bytes, 1 column
  EXPECT_EQ(display_width("cafe\xCC\x81"), 4u);         // e + combining acute: 0 columns for the mark
  EXPECT_EQ(display_width("\xE9\xB3\xA5"), 2u);        // 鳥: 3 bytes, 2 columns (wide)
  EXPECT_EQ(display_width("\xF0\x9F\x90\xA6"), 2u);    // 🐦: 4 bytes, 2 columns
  EXPECT_EQ(display_width("a\xE9z"), 3u);                // a Latin-1 byte: 1 column, not a crash
  EXPECT_EQ(display_width("\xE9\xB3"), 2u);             // a cut-short character: each byte alone
}

TEST(DisplayWidth, PadsToColumns) {
  EXPECT_EQ(pad_to_width("dog", 6), "dog   ");
  EXPECT_EQ(pad_to_width("caf\xC3\xA9", 6), "caf\xC3\xA9  ");
  EXPECT_EQ(pad_to_width("\xE9\xB3\xA5", 6), "\xE9\xB3\xA5    ");
  EXPECT_EQ(pad_to_width("longer than six", 6), "longer than six");
}

}  // namespace
}  // namespace oneshot
