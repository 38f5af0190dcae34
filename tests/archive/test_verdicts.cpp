// Review tables (src/archive/verdicts.h): the review page's export, a search's
// Raven table or sed_eval list with a verdict column, and a Raven Pro table
// annotated in Raven read back; damaged tables named by file, line and reason.
#include <gtest/gtest.h>

#include "archive/verdicts.h"
#include "core/error.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {

using test::error_of;

TEST(Verdicts, VerdictWordsInAnyCase) {
  for (const char* s : {"yes", "YES", "Yes", "y", "TRUE", "1", "positive", "Correct"})
    EXPECT_EQ(parse_verdict(s), Verdict::yes) << s;
  for (const char* s : {"no", "No", "N", "false", "0", "negative", "wrong", "INCORRECT"})
    EXPECT_EQ(parse_verdict(s), Verdict::no) << s;
  for (const char* s : {"skip", "SKIP", "", "  ", "?", "unsure"}) EXPECT_EQ(parse_verdict(s), Verdict::skip) << s;
  for (const char* s : {"maybe", "dog", "yess", "2"}) EXPECT_FALSE(parse_verdict(s).has_value()) << s;
  EXPECT_STREQ(verdict_name(Verdict::yes), "yes");
  EXPECT_STREQ(verdict_name(Verdict::no), "no");
  EXPECT_STREQ(verdict_name(Verdict::skip), "skip");
}

TEST(Verdicts, TheReviewPagesRavenExportReadsBack) {
  // The columns of search's Raven table (archive/hit_tables.h) plus Verdict, as the page exports them.
  const std::string text =
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin File\t"
      "Begin Path\tFile Offset (s)\tAnnotation\tScore\tConfidence\tRank\tWindow\tVerdict\n"
      "1\tSpectrogram 1\t1\t12.5\t17.5\t0\t11025\trec.wav\t/data/a/rec.wav\t12.5\tdog\t3.2\t0.9\t1\t41\tyes\n"
      "2\tSpectrogram 1\t1\t0\t5\t0\t11025\trec.wav\t/data/b/rec.wav\t0\tdog\t2.1\t\t2\t7\tNO\n"
      "3\tSpectrogram 1\t1\t30\t35\t0\t11025\tother.flac\t/data/other.flac\t30\tdog\t1\t\t3\t99\tskip\n";
  const VerdictTable t = parse_verdict_table(text, "verdicts.tsv");
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.file_column, "Begin Path");
  EXPECT_EQ(t.verdict_column, "Verdict");
  EXPECT_EQ(t.rows[0].file, "/data/a/rec.wav");
  EXPECT_FALSE(t.rows[0].base_name);
  EXPECT_DOUBLE_EQ(t.rows[0].onset_s, 12.5);
  EXPECT_DOUBLE_EQ(t.rows[0].offset_s, 17.5);
  EXPECT_EQ(t.rows[0].verdict, Verdict::yes);
  EXPECT_EQ(t.rows[0].label, "dog");  // Annotation is the label when Verdict holds the verdict
  EXPECT_EQ(t.rows[0].line, 2u);
  EXPECT_EQ(t.rows[1].file, "/data/b/rec.wav");  // same base name, told apart by the path
  EXPECT_EQ(t.rows[1].verdict, Verdict::no);
  EXPECT_EQ(t.rows[2].verdict, Verdict::skip);
  EXPECT_EQ(t.rows[2].line, 4u);
}

TEST(Verdicts, ARavenTableAnnotatedInRavenUsesItsAnnotationColumnAndEachSelectionOnce) {
  // Raven writes a selection once per view; Begin Time counts over a file sequence, File Offset within the file.
  const std::string text =
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin File\t"
      "File Offset (s)\tAnnotation\r\n"
      "1\tWaveform 1\t1\t100.0\t101.5\t0\t8000\tnight_02.wav\t40.0\ty\r\n"
      "1\tSpectrogram 1\t1\t100.0\t101.5\t0\t8000\tnight_02.wav\t40.0\ty\r\n"
      "2\tSpectrogram 1\t1\t3.0\t3.0\t0\t8000\tnight_01.wav\t\tn\r\n";
  const VerdictTable t = parse_verdict_table(text, "night.Table.1.selections.txt");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.file_column, "Begin File");
  EXPECT_EQ(t.verdict_column, "Annotation");
  EXPECT_TRUE(t.rows[0].base_name);
  EXPECT_EQ(t.rows[0].file, "night_02.wav");
  EXPECT_DOUBLE_EQ(t.rows[0].onset_s, 40.0);
  EXPECT_DOUBLE_EQ(t.rows[0].offset_s, 41.5);
  EXPECT_EQ(t.rows[0].verdict, Verdict::yes);
  EXPECT_DOUBLE_EQ(t.rows[1].onset_s, 3.0);  // no File Offset: Begin Time is the file's own
  EXPECT_DOUBLE_EQ(t.rows[1].offset_s, 3.0);  // a point selection
  EXPECT_EQ(t.rows[1].verdict, Verdict::no);
}

TEST(Verdicts, TwoExportsConcatenatedKeepEveryRowThoughTheirSelectionNumbersRepeat) {
  // Two review rounds' pages, each numbered from 1, pasted into one table: every row is its own verdict
  // (it once kept the first row of each number and dropped the others without a word).
  const std::string head = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tBegin File\tBegin Path\tVerdict\n";
  const std::string text = head + "1\tSpectrogram 1\t1\t0\t5\ta.wav\t/r/a.wav\tyes\n2\tSpectrogram 1\t1\t5\t10\ta.wav\t/r/a.wav\tno\n" +
                           "1\tSpectrogram 1\t1\t0\t5\tb.wav\t/r/b.wav\tyes\n2\tSpectrogram 1\t1\t20\t25\ta.wav\t/r/a.wav\tno\n" +
                           "1\tWaveform 1\t1\t0\t5\tb.wav\t/r/b.wav\tyes\n";  // b's selection in another view: once
  const VerdictTable t = parse_verdict_table(text, "two-rounds.tsv");
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0].file, "/r/a.wav");
  EXPECT_EQ(t.rows[1].file, "/r/a.wav");
  EXPECT_EQ(t.rows[2].file, "/r/b.wav");
  EXPECT_EQ(t.rows[2].verdict, Verdict::yes);
  EXPECT_EQ(t.rows[3].file, "/r/a.wav");
  EXPECT_DOUBLE_EQ(t.rows[3].onset_s, 20.0);
  EXPECT_EQ(t.rows[3].verdict, Verdict::no);
  // The same selection (number, recording, span) marked differently in two views is still an error.
  const std::string e = error_of([&] {
    parse_verdict_table(head + "3\tWaveform 1\t1\t0\t5\tb.wav\t/r/b.wav\tyes\n3\tSpectrogram 1\t1\t0\t5\tb.wav\t/r/b.wav\tno\n",
                        "views.tsv");
  });
  EXPECT_NE(e.find("views.tsv line 3: selection 3 is marked no here but yes on line 2"), std::string::npos) << e;
}

TEST(Verdicts, ASedEvalListWithAVerdictColumnWithOrWithoutHeader) {
  const VerdictTable h = parse_verdict_table(
      "filename\tonset\toffset\tevent_label\tscore\tverdict\n/x/a.wav\t1\t6\tdog\t0.5\tYes\n/x/b.wav\t0\t5\tdog\t\tno\n",
      "hand.tsv");
  ASSERT_EQ(h.rows.size(), 2u);
  EXPECT_EQ(h.rows[0].file, "/x/a.wav");
  EXPECT_EQ(h.rows[0].label, "dog");
  EXPECT_EQ(h.rows[0].verdict, Verdict::yes);
  EXPECT_EQ(h.rows[1].verdict, Verdict::no);

  const VerdictTable n = parse_verdict_table(
      "# my review\n/x/a.wav\t1\t6\tyes\n\n/x/b.wav\t0\t5\tdog\tno\n/x/c.wav\t2\t7\tdog\t0.25\tskip\n", "bare.tsv");
  ASSERT_EQ(n.rows.size(), 3u);
  EXPECT_EQ(n.rows[0].verdict, Verdict::yes);
  EXPECT_EQ(n.rows[0].label, "");
  EXPECT_EQ(n.rows[1].label, "dog");
  EXPECT_EQ(n.rows[1].verdict, Verdict::no);
  EXPECT_EQ(n.rows[2].verdict, Verdict::skip);
  EXPECT_EQ(n.rows[2].line, 5u);
  EXPECT_TRUE(n.verdict_column.empty());
}

TEST(Verdicts, EveryBadRowIsNamedWithItsLineAndReason) {
  const std::string text =
      "Begin Path\tBegin Time (s)\tEnd Time (s)\tVerdict\n"
      "/a.wav\t1\t2\tmaybe\n"           // line 2: not a verdict
      "/a.wav\tone\t2\tyes\n"           // line 3: not a number
      "/a.wav\t-1\t2\tyes\n"            // line 4: negative
      "/a.wav\t5\t2\tno\n"              // line 5: offset before onset
      "\t1\t2\tyes\n"                   // line 6: empty file
      "/a.wav\t1\n"                     // line 7: too few columns
      "/a.wav\t1\t2\tyes\n";            // fine
  const std::string e = error_of([&] { parse_verdict_table(text, "bad.tsv"); });
  EXPECT_NE(e.find("6 bad lines"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.tsv line 2: verdict \"maybe\" (column Verdict) is not yes, no or skip"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.tsv line 3: onset 'one' is not a number"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.tsv line 4: onset -1 is negative"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.tsv line 5: offset 2 is before onset 5"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.tsv line 6: empty file"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.tsv line 7: expected 4 tab-separated columns as in the header, found 2"), std::string::npos)
      << e;
}

TEST(Verdicts, DamagedTablesAreNamed) {
  // A header without the columns needed names what is missing and the names accepted.
  std::string e = error_of([] { parse_verdict_table("Begin Time (s)\tEnd Time (s)\tScore\n1\t2\t3\n", "t.tsv"); });
  EXPECT_NE(e.find("t.tsv: review table without a file column"), std::string::npos) << e;
  EXPECT_NE(e.find("a verdict column (\"verdict\""), std::string::npos) << e;
  EXPECT_NE(e.find("(line 1)"), std::string::npos) << e;
  e = error_of([] { parse_verdict_table("Begin Path\tBegin Time (s)\tVerdict\n/a.wav\t1\tyes\n", "t.tsv"); });
  EXPECT_NE(e.find("an end column"), std::string::npos) << e;
  // Empty, header only.
  EXPECT_NE(error_of([] { parse_verdict_table("\n# nothing\n", "e.tsv"); }).find("e.tsv: empty review table"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_verdict_table("filename\tonset\toffset\tverdict\n", "h.tsv"); })
                .find("h.tsv: review table without rows"),
            std::string::npos);
  // A headerless row of the wrong width.
  e = error_of([] { parse_verdict_table("/a.wav\t1\tyes\n", "w.tsv"); });
  EXPECT_NE(e.find("w.tsv line 1: expected a header row naming the columns, or 4 to 6"), std::string::npos) << e;
  // Latin-1 text: file, line and byte named (core/utf8.h).
  e = error_of([] { parse_verdict_table("filename\tonset\toffset\tverdict\n/caf\xE9.wav\t1\t2\tyes\n", "l1.tsv"); });
  EXPECT_NE(e.find("l1.tsv line 2: not UTF-8 text: byte 0xE9"), std::string::npos) << e;
  // One selection marked twice differently.
  e = error_of([] {
    parse_verdict_table("Selection\tBegin File\tBegin Time (s)\tEnd Time (s)\tVerdict\n"
                        "4\ta.wav\t1\t2\tyes\n4\ta.wav\t1\t2\tno\n",
                        "twice.tsv");
  });
  EXPECT_NE(e.find("twice.tsv line 3: selection 4 is marked no here but yes on line 2"), std::string::npos) << e;
  // A file that is not there, or a directory.
  test::TempDir dir;
  EXPECT_NE(error_of([&] { read_verdict_table(dir / "missing.tsv"); }).find("review table not found"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_verdict_table(dir.path()); }).find("review table not found (or not a file)"),
            std::string::npos);
}

TEST(Verdicts, AFileReadsAsItsText) {
  test::TempDir dir;
  test::write_text(dir / "v.tsv", "filename\tonset\toffset\tverdict\n/r.wav\t0\t5\tYES\n");
  const VerdictTable t = read_verdict_table(dir / "v.tsv");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.source, (dir / "v.tsv").string());
  EXPECT_EQ(t.rows[0].verdict, Verdict::yes);
}

}  // namespace
}  // namespace oneshot::archive
