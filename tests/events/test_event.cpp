// Event lists in sed_eval's format: read with and without header and score,
// every bad line reported with its number, written atomically and read back.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/event.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string error_of(const std::string& text) {
  try {
    parse_event_list(text, "ref.tsv");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(EventList, ReadsFourColumnsWithoutHeader) {
  const auto events = parse_event_list("a.wav\t1.5\t2.25\tdog\nb/c d.wav\t0\t10\tdoor bell\n", "x");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].filename, "a.wav");
  EXPECT_DOUBLE_EQ(events[0].onset, 1.5);
  EXPECT_DOUBLE_EQ(events[0].offset, 2.25);
  EXPECT_EQ(events[0].label, "dog");
  EXPECT_FALSE(events[0].has_score());
  EXPECT_EQ(events[1].filename, "b/c d.wav");  // spaces inside a field are part of it
  EXPECT_EQ(events[1].label, "door bell");
  EXPECT_DOUBLE_EQ(events[1].duration(), 10);
}

TEST(EventList, ReadsHeaderScoreCrlfCommentsAndBlankLines) {
  const auto events = parse_event_list(
      "# made by hand\r\nFilename\tEvent_Onset\tEvent_Offset\tEvent_Label\tScore\r\n\r\n"
      "a.wav\t1\t2\tdog\t0.75\r\na.wav\t3\t4\tcat\t\r\n",
      "x");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_DOUBLE_EQ(events[0].score, 0.75);
  EXPECT_EQ(events[1].label, "cat");
  EXPECT_FALSE(events[1].has_score());  // an empty score column: no score
}

TEST(EventList, AHeaderIsOnlyRecognisedOnTheFirstLine) {
  const std::string e = error_of("a.wav\t1\t2\tdog\nfilename\tonset\toffset\tevent_label\n");
  EXPECT_NE(e.find("ref.tsv line 2: onset 'onset' is not a number"), std::string::npos) << e;
}

TEST(EventList, EveryBadLineIsReportedWithItsNumber) {
  const std::string e = error_of(
      "filename\tonset\toffset\tevent_label\n"
      "a.wav\t1\t2\tdog\n"              // 2: fine
      "a.wav,1,2,dog\n"                 // 3: commas
      "a.wav\t2\t1\tdog\n"              // 4: onset after offset
      "a.wav\tx\t1\tdog\n"              // 5: not a number
      "a.wav\t1\tinf\tdog\n"            // 6: not finite
      "\t1\t2\tdog\n"                   // 7: no filename
      "a.wav\t1\t2\t\n"                 // 8: no label
      "a.wav\t-1\t2\tdog\n"             // 9: negative
      "a.wav\t1\t2\tdog\tnan\n"         // 10: score not finite
      "a.wav\t1\t2\tdog\t0.5\textra\n"  // 11: six columns
      "a.wav\t1\t2.5s\tdog\n");         // 12: trailing text
  EXPECT_NE(e.find("10 bad lines in event list ref.tsv"), std::string::npos) << e;
  EXPECT_NE(e.find("ref.tsv line 3: expected 4 or 5 tab-separated columns"), std::string::npos) << e;
  EXPECT_NE(e.find("not commas or spaces"), std::string::npos) << e;
  EXPECT_NE(e.find("line 4: onset 2 is after offset 1"), std::string::npos) << e;
  EXPECT_NE(e.find("line 5: onset 'x' is not a number"), std::string::npos) << e;
  EXPECT_NE(e.find("line 6: offset inf is not finite"), std::string::npos) << e;
  EXPECT_NE(e.find("line 7: empty filename"), std::string::npos) << e;
  EXPECT_NE(e.find("line 8: empty event label"), std::string::npos) << e;
  EXPECT_NE(e.find("line 9: onset -1 is negative"), std::string::npos) << e;
  EXPECT_NE(e.find("line 10: score nan is not finite"), std::string::npos) << e;
  EXPECT_NE(e.find("line 11: expected 4 or 5 tab-separated columns (filename onset offset event_label [score]), found 6"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("line 12: offset '2.5s' is not a number"), std::string::npos) << e;
  EXPECT_EQ(e.find("line 2:"), std::string::npos) << e;
}

TEST(EventList, ManyBadLinesAreCountedNotAllListed) {
  std::string text;
  for (int i = 0; i < 80; ++i) text += "garbage\n";
  const std::string e = error_of(text);
  EXPECT_NE(e.find("80 bad lines"), std::string::npos);
  EXPECT_NE(e.find("line 50:"), std::string::npos);
  EXPECT_EQ(e.find("line 51:"), std::string::npos);
  EXPECT_NE(e.find("... and 30 more"), std::string::npos);
}

TEST(EventList, EmptyFileAndHeaderOnlyAreEmptyLists) {
  EXPECT_TRUE(parse_event_list("", "x").empty());
  EXPECT_TRUE(parse_event_list("filename\tonset\toffset\tevent_label\n", "x").empty());
}

TEST(EventList, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  try {
    read_event_list(dir / "none.tsv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("none.tsv: event list not found"), std::string::npos) << e.what();
  }
}

TEST(EventList, WritesHeaderAndReadsBackExactly) {
  TempDir dir;
  std::vector<Event> events = {{"a.wav", 0.1 + 0.2, 1.0 / 3, "dog", 0.123456789012345},
                               {"b.wav", 2, 2, "cat", -0.5}};
  write_event_list(dir / "est.tsv", events);
  const std::string text = read_file(dir / "est.tsv");
  EXPECT_EQ(text.rfind("filename\tonset\toffset\tevent_label\tscore\n", 0), 0u) << text;
  const auto back = read_event_list(dir / "est.tsv");
  ASSERT_EQ(back.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].filename, events[i].filename);
    EXPECT_EQ(back[i].onset, events[i].onset);  // exact: shortest round-trip digits
    EXPECT_EQ(back[i].offset, events[i].offset);
    EXPECT_EQ(back[i].label, events[i].label);
    EXPECT_EQ(back[i].score, events[i].score);
  }
  // Only temporary-free output: the atomic writer left nothing beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(EventList, WithoutScoresTheScoreColumnIsLeftOut) {
  const std::string text = format_event_list({{"a.wav", 1, 2, "dog"}});
  EXPECT_EQ(text, "filename\tonset\toffset\tevent_label\na.wav\t1\t2\tdog\n");
  // Mixed: an empty score column where there is none, and it reads back so.
  const std::string mixed = format_event_list({{"a.wav", 1, 2, "dog"}, {"a.wav", 3, 4, "dog", 0.5}});
  const auto back = parse_event_list(mixed, "x");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_FALSE(back[0].has_score());
  EXPECT_EQ(back[1].score, 0.5);
  // A scored list keeps its columns when it holds no event (detect's with none found).
  EXPECT_EQ(format_event_list({}, true), "filename\tonset\toffset\tevent_label\tscore\n");
  EXPECT_EQ(format_event_list({}), "filename\tonset\toffset\tevent_label\n");
  EXPECT_EQ(format_event_list({{"a.wav", 1, 2, "dog"}}, true), "filename\tonset\toffset\tevent_label\tscore\na.wav\t1\t2\tdog\t\n");
}

TEST(EventList, RefusesToWriteAnEventItCouldNotRead) {
  TempDir dir;
  EXPECT_THROW(write_event_list(dir / "x.tsv", {{"a.wav", 2, 1, "dog"}}), Error);
  EXPECT_THROW(write_event_list(dir / "x.tsv", {{"a\tb.wav", 1, 2, "dog"}}), Error);
  EXPECT_THROW(write_event_list(dir / "x.tsv", {{"a.wav", 1, 2, ""}}), Error);
  EXPECT_FALSE(fs::exists(dir / "x.tsv"));
}

}  // namespace
}  // namespace oneshot
