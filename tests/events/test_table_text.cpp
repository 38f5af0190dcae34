// Encodings of table files: spreadsheets save "Unicode Text" as UTF-16.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/annotation_tables.h"
#include "events/event.h"
#include "events/table_text.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

// TEXT (ASCII or Latin-1 characters) as UTF-16, with or without a byte-order mark.
std::string utf16(const std::u16string& text, bool little_endian, bool mark) {
  std::string out;
  auto put = [&](char16_t c) {
    const char lo = static_cast<char>(c & 0xFF), hi = static_cast<char>(c >> 8);
    out += little_endian ? lo : hi;
    out += little_endian ? hi : lo;
  };
  if (mark) put(0xFEFF);
  for (char16_t c : text) put(c);
  return out;
}

TEST(TableText, Utf16EventListsReadAsTheirUtf8Twins) {
  test::TempDir dir;
  const std::u16string list = u"clip.wav\t1.5\t2.25\tdog\r\nclip.wav\t3\t4\tcaf\u00e9 \U0001F426\r\n";
  write_file_atomic(dir / "utf8.tsv", "clip.wav\t1.5\t2.25\tdog\r\nclip.wav\t3\t4\tcaf\xC3\xA9 \xF0\x9F\x90\xA6\r\n");
  const auto expected = read_event_list(dir / "utf8.tsv");
  ASSERT_EQ(expected.size(), 2u);
  for (bool little : {true, false})
    for (bool mark : {true, false}) {
      SCOPED_TRACE(std::string(little ? "LE" : "BE") + (mark ? " with mark" : " without mark"));
      write_file_atomic(dir / "utf16.tsv", utf16(list, little, mark));
      const auto events = read_event_list(dir / "utf16.tsv");
      ASSERT_EQ(events.size(), expected.size());
      for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].label, expected[i].label);
        EXPECT_EQ(events[i].onset, expected[i].onset);
        EXPECT_EQ(events[i].offset, expected[i].offset);
      }
      EXPECT_EQ(read_annotations(dir / "utf16.tsv").events.size(), 2u);
    }
}

TEST(TableText, Utf32WithAMarkIsRead) {
  test::TempDir dir;
  for (bool little : {true, false}) {
    std::string bytes;
    for (char32_t c : std::u32string(U"\uFEFFclip.wav\t1\t2\tcaf\u00e9\n")) {
      std::string unit(4, '\0');
      for (int k = 0; k < 4; ++k) unit[static_cast<std::size_t>(little ? k : 3 - k)] = static_cast<char>((c >> (8 * k)) & 0xFF);
      bytes += unit;
    }
    write_file_atomic(dir / "utf32.tsv", bytes);
    const auto events = read_event_list(dir / "utf32.tsv");
    ASSERT_EQ(events.size(), 1u) << (little ? "LE" : "BE");
    EXPECT_EQ(events[0].label, "caf\xC3\xA9");
  }
}

TEST(TableText, BinaryAndDamagedUtf16AreNamedErrors) {
  test::TempDir dir;
  write_file_atomic(dir / "binary.tsv", std::string("clip.wav\t1\t2\tdog\n\x01\x02\0\x03", 20));
  try {
    read_event_list(dir / "binary.tsv");
    FAIL() << "binary read as an event list";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("binary.tsv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a text file"), std::string::npos) << e.what();
  }
  write_file_atomic(dir / "lone.tsv", utf16(u"a\t1\t2\tdog\n", true, true) + std::string("\x00\xD8", 2));
  EXPECT_THROW(read_event_list(dir / "lone.tsv"), Error);
  write_file_atomic(dir / "odd.tsv", utf16(u"a\t1\t2\tdog\n", true, true) + "x");
  try {
    read_annotations(dir / "odd.tsv");
    FAIL() << "odd-length UTF-16 read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("UTF-16"), std::string::npos) << e.what();
  }
}

// A table saved as Latin-1 (Windows-1252 too: a spreadsheet's "Text"
// export) used to be read with its labels garbled: "caf\xE9" matched no "café"
// of a UTF-8 list, so score-events gave F = 0 and exit 0. It is named, with
// the line and byte, and how to convert it.
TEST(TableText, Latin1TextIsNamedWithItsLineAndByteNotReadGarbled) {
  test::TempDir dir;
  const std::string latin1 = "filename\tonset\toffset\tevent_label\nclip.wav\t1\t2\tdog\nclip.wav\t3\t4\tcaf\xE9\n";
  write_file_atomic(dir / "latin1.tsv", latin1);
  const std::string offset = std::to_string(latin1.find('\xE9'));
  for (auto read : {+[](const std::filesystem::path& p) { read_event_list(p); },
                    +[](const std::filesystem::path& p) { read_annotations(p); }}) {
    const std::string message = test::error_of([&] { read(dir / "latin1.tsv"); });
    EXPECT_NE(message.find((dir / "latin1.tsv").string() + " line 3: not UTF-8 text"), std::string::npos) << message;
    EXPECT_NE(message.find("byte 0xE9 at byte offset " + offset), std::string::npos) << message;
    EXPECT_NE(message.find("iconv -f latin1 -t utf-8"), std::string::npos) << message;
  }
  // The same table in UTF-8 reads, its label as written.
  write_file_atomic(dir / "utf8.tsv", "clip.wav\t3\t4\tcaf\xC3\xA9\n");
  ASSERT_EQ(read_event_list(dir / "utf8.tsv").size(), 1u);
  EXPECT_EQ(read_event_list(dir / "utf8.tsv")[0].label, "caf\xC3\xA9");
}

}  // namespace
}  // namespace oneshot
