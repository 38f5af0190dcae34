// Raven selection tables and Audacity label tracks: recognised from their
// contents, read as events (views of one selection are one event, File Offset
// for tables over a sequence of files), written and read back, every bad row
// named with its line.
#include <gtest/gtest.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/annotation_tables.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

// As Raven Pro 1.6 saves a table of one recording: two views per selection, a renamed label column.
const char* const kRavenTable =
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\r\n"
    "1\tWaveform 1\t1\t1.250000000\t2.500000000\t0.000\t11025.000\tdog\r\n"
    "1\tSpectrogram 1\t1\t1.250000000\t2.500000000\t0.000\t11025.000\tdog\r\n"
    "2\tWaveform 1\t1\t7.000000000\t9.125000000\t0.000\t11025.000\trooster\r\n"
    "2\tSpectrogram 1\t1\t7.000000000\t9.125000000\t0.000\t11025.000\trooster\r\n";

TEST(AnnotationTables, FormatIsRecognisedFromTheContents) {
  EXPECT_EQ(annotation_format(kRavenTable), AnnotationFormat::Raven);
  EXPECT_EQ(annotation_format("1.5\t2.0\tdog\n"), AnnotationFormat::Audacity);
  EXPECT_EQ(annotation_format("\\\t100\t2000\n1\t2\tx\n"), AnnotationFormat::Audacity);
  EXPECT_EQ(annotation_format("a.wav\t1.5\t2.0\tdog\n"), AnnotationFormat::SedEval);
  EXPECT_EQ(annotation_format("filename\tonset\toffset\tevent_label\n"), AnnotationFormat::SedEval);
  EXPECT_EQ(annotation_format("# a comment\n\n1\t2\tx\n"), AnnotationFormat::Audacity);
}

TEST(AnnotationTables, RecordingIsTheTableNameLessItsSuffix) {
  EXPECT_EQ(recording_of_table("/x/rec 1.Table.1.selections.txt"), "rec 1");
  EXPECT_EQ(recording_of_table("rec.wav.Table.12.selections.txt"), "rec.wav");
  EXPECT_EQ(recording_of_table("rec.selections.txt"), "rec");
  EXPECT_EQ(recording_of_table("rec.labels.txt"), "rec");
  EXPECT_EQ(recording_of_table("rec.txt"), "rec");
  EXPECT_EQ(filename_stem("a/b/rec.wav"), "rec");
  EXPECT_EQ(filename_stem("C:\\data\\rec.flac"), "rec");
  EXPECT_EQ(filename_stem("rec"), "rec");
}

TEST(AnnotationTables, RavenViewsOfOneSelectionAreOneEvent) {
  const auto events = parse_raven_table(kRavenTable, "t.txt", "rec");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].filename, "rec");
  EXPECT_DOUBLE_EQ(events[0].onset, 1.25);
  EXPECT_DOUBLE_EQ(events[0].offset, 2.5);
  EXPECT_EQ(events[0].label, "dog");
  EXPECT_FALSE(events[0].has_score());
  EXPECT_EQ(events[1].label, "rooster");
  EXPECT_DOUBLE_EQ(events[1].offset, 9.125);
}

TEST(AnnotationTables, RavenTableOverFilesUsesBeginFileAndFileOffset) {
  // As BirdNET-Analyzer's combined table: Begin Time counts from the start of the sequence.
  const std::string text =
      "Selection\tView\tChannel\tBegin Path\tFile Offset (s)\tBegin Time (s)\tEnd Time (s)\tCommon Name\tConfidence\n"
      "1\tSpectrogram 1\t1\tC:\\rec\\a.wav\t3.0\t3.0\t6.0\tdog\t0.8\n"
      "2\tSpectrogram 1\t1\t/rec/b.wav\t1.5\t61.5\t64.0\tcat\t0.25\n";
  const auto events = parse_raven_table(text, "t.txt", "unused");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].filename, "a.wav");
  EXPECT_DOUBLE_EQ(events[0].onset, 3.0);
  EXPECT_DOUBLE_EQ(events[0].offset, 6.0);
  EXPECT_DOUBLE_EQ(events[0].score, 0.8);
  EXPECT_EQ(events[1].filename, "b.wav");
  EXPECT_DOUBLE_EQ(events[1].onset, 1.5);
  EXPECT_DOUBLE_EQ(events[1].offset, 4.0);  // 1.5 + (64 - 61.5)
  EXPECT_EQ(events[1].label, "cat");
}

TEST(AnnotationTables, RavenBadRowsAreNamedAndAMissingColumnIsAnError) {
  const std::string bad =
      "Selection\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
      "1\t2.0\t1.0\tdog\n"
      "2\tx\t3.0\tdog\n"
      "3\t1.0\t2.0\t\n"
      "4\t1.0\t2.0\tok\n";
  const std::string e = test::error_of([&] { parse_raven_table(bad, "sel.txt", "rec"); });
  EXPECT_NE(e.find("3 bad lines"), std::string::npos) << e;
  EXPECT_NE(e.find("sel.txt line 2: onset 2 is after offset 1"), std::string::npos) << e;
  EXPECT_NE(e.find("sel.txt line 3: Begin Time (s) 'x' is not a number"), std::string::npos) << e;
  EXPECT_NE(e.find("sel.txt line 4: empty event label"), std::string::npos) << e;
  const std::string no_label =
      test::error_of([] { parse_raven_table("Selection\tBegin Time (s)\tEnd Time (s)\tNotes\n", "sel.txt", "r"); });
  EXPECT_NE(no_label.find("sel.txt"), std::string::npos) << no_label;
  EXPECT_NE(no_label.find("label column"), std::string::npos) << no_label;
}

TEST(AnnotationTables, AudacitySkipsFrequencyRowsAndNamesBadLines) {
  const auto events = parse_audacity_labels("0.500000\t1.250000\tdog\n\\\t200.0\t4000.0\n3\t3\tclick\n", "l.txt", "rec");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].filename, "rec");
  EXPECT_DOUBLE_EQ(events[0].onset, 0.5);
  EXPECT_DOUBLE_EQ(events[0].offset, 1.25);
  EXPECT_EQ(events[1].label, "click");  // a point label: onset == offset
  const std::string e = test::error_of([] { parse_audacity_labels("1\t2\n1,2,dog\n5\t4\tx\n", "l.txt", "rec"); });
  EXPECT_NE(e.find("3 bad lines in Audacity label track l.txt"), std::string::npos) << e;
  EXPECT_NE(e.find("l.txt line 1: expected 3 tab-separated columns"), std::string::npos) << e;
  EXPECT_NE(e.find("l.txt line 3: onset 5 is after offset 4"), std::string::npos) << e;
}

TEST(AnnotationTables, WrittenTablesReadBackAsTheSameEvents) {
  TempDir dir;
  const std::vector<Event> events{{"long/rec.wav", 0.25, 1.75, "dog", 0.91}, {"long/rec.wav", 10, 12.5, "door bell", 0.5}};
  const fs::path raven = dir / "rec.Table.1.selections.txt", audacity = dir / "rec.labels.txt";
  write_file_atomic(raven, format_raven_table(events, 11025));
  write_file_atomic(audacity, format_audacity_labels(events));
  const Annotations r = read_annotations(raven), a = read_annotations(audacity);
  EXPECT_EQ(r.format, AnnotationFormat::Raven);
  EXPECT_EQ(a.format, AnnotationFormat::Audacity);
  EXPECT_EQ(r.names, Annotations::Names::BaseName);
  EXPECT_EQ(a.names, Annotations::Names::Recording);
  ASSERT_EQ(r.events.size(), 2u);
  ASSERT_EQ(a.events.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.events[i].filename, "rec.wav");  // Begin File: the base name
    EXPECT_EQ(a.events[i].filename, "rec");      // the table's own name
    for (const auto* e : {&r.events[i], &a.events[i]}) {
      EXPECT_EQ(e->label, events[i].label);
      EXPECT_NEAR(e->onset, events[i].onset, 1e-6);  // Audacity keeps six decimals
      EXPECT_NEAR(e->offset, events[i].offset, 1e-6);
    }
    EXPECT_DOUBLE_EQ(r.events[i].score, events[i].score);  // Raven's Score column: exact
    EXPECT_FALSE(a.events[i].has_score());
  }
  // A sed_eval list is read as before.
  write_file_atomic(dir / "e.tsv", format_event_list(events));
  const Annotations s = read_annotations(dir / "e.tsv");
  EXPECT_EQ(s.format, AnnotationFormat::SedEval);
  EXPECT_EQ(s.names, Annotations::Names::Path);
  EXPECT_EQ(s.events.size(), 2u);
  // An event no reader would accept is not written.
  EXPECT_THROW(format_raven_table({{"r.wav", 2, 1, "x"}}, 8000), Error);
  EXPECT_THROW(format_audacity_labels({{"r.wav", 0, 1, "a\tb"}}), Error);
  const std::string missing = test::error_of([&] { read_annotations(dir / "none.txt"); });
  EXPECT_NE(missing.find("none.txt"), std::string::npos) << missing;
}

// Dated recordings hold dots: a table's recording name is matched as it is,
// a file name less its last extension only.
TEST(AnnotationTables, DottedRecordingNamesMatchTheirFiles) {
  TempDir dir;
  const fs::path track = dir / "site.2024.05.01.labels.txt";
  write_file_atomic(track, "1.000000\t2.000000\tcrow\n");
  const Annotations a = read_annotations(track);
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_EQ(a.recording_key(a.events[0]), "site.2024.05.01");
  const Event file{"/x/site.2024.05.01.wav", 1, 2, "crow"};
  EXPECT_EQ(Annotations{}.recording_key(file), "site.2024.05.01");
  // A Raven table without a file column is the recording's too; an empty Begin File cell is an error.
  const fs::path raven = dir / "site.2024.05.01.Table.1.selections.txt";
  write_file_atomic(raven, "Selection\tBegin Time (s)\tEnd Time (s)\tAnnotation\n1\t1\t2\tcrow\n");
  const Annotations r = read_annotations(raven);
  EXPECT_EQ(r.recording_key(r.events.at(0)), "site.2024.05.01");
  const std::string e = test::error_of([] {
    parse_raven_table("Selection\tBegin File\tBegin Time (s)\tEnd Time (s)\tAnnotation\n1\t\t1\t2\tcrow\n", "t.txt", "r");
  });
  EXPECT_NE(e.find("t.txt line 2: empty Begin File"), std::string::npos) << e;
}

}  // namespace
}  // namespace oneshot
