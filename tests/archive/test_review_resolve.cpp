// Review rows resolved to archived windows (src/archive/review_resolve.h):
// a search's span is its windows, a short or point selection the windows
// overlapping it most, base names must be unique, and every row that matches
// nothing is named.
#include <gtest/gtest.h>

#include "archive/review_resolve.h"
#include "core/error.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {

// Two recordings: /a/rec.wav (id 1, windows 5 s every 2.5 s from 0 to 35: ids 100..114) and
// /b/rec.wav (id 2, windows at 0, 2.5, 5: ids 200..202), and /c/other.wav (id 3, no windows).
struct Fixture {
  std::vector<FileRecord> files;
  std::map<std::int64_t, std::vector<ArchivedWindow>> windows;
  std::set<std::int64_t> asked;
  Fixture() {
    files.push_back({1, "/a/rec.wav"});
    files.push_back({2, "/b/rec.wav"});
    files.push_back({3, "/c/other.wav"});
    for (int i = 14; i >= 0; --i) windows[1].push_back({100 + i, 2.5 * i});  // any order
    for (int i = 0; i < 3; ++i) windows[2].push_back({200 + i, 2.5 * i});
  }
  WindowLister lister() {
    return [this](const std::set<std::int64_t>& ids) {
      asked = ids;
      std::map<std::int64_t, std::vector<ArchivedWindow>> out;
      for (auto id : ids)
        if (windows.count(id)) out[id] = windows[id];
      return out;
    };
  }
};

std::vector<std::int64_t> v(std::initializer_list<std::int64_t> x) { return x; }

TEST(ReviewResolve, ASearchSpanIsItsWindowsAndAShortSelectionTheWindowsHoldingIt) {
  Fixture f;
  const VerdictTable t = parse_verdict_table(
      "Begin Path\tBegin Time (s)\tEnd Time (s)\tVerdict\n"
      "/a/rec.wav\t10\t17.5\tyes\n"      // windows at 10 and 12.5 merged: centres 12.5, 15
      "/a/rec.wav\t25\t30\tno\n"         // one window exactly: 25 (centre 27.5), not its neighbours
      "/a/rec.wav\t5.5\t6.5\tskip\n"     // a 1 s call: inside windows 2.5 and 5 (overlap 1 each)
      "/b/rec.wav\t3\t3\tyes\n"          // a point: windows 0 and 2.5 hold it
      "/a/rec.wav\t38\t45\tno\n",        // the last window ends at 40: 35 overlaps most
      "r.tsv");
  const auto r = resolve_verdicts(t, f.files, f.lister(), 5.0);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(f.asked, (std::set<std::int64_t>{1, 2}));  // only the files named
  EXPECT_EQ(r[0].file_id, 1);
  EXPECT_EQ(r[0].file, "/a/rec.wav");
  EXPECT_EQ(r[0].window_ids, v({104, 105}));
  EXPECT_EQ(r[1].window_ids, v({110}));
  EXPECT_EQ(r[2].window_ids, v({101, 102}));
  EXPECT_EQ(r[3].file_id, 2);
  EXPECT_EQ(r[3].window_ids, v({200, 201}));
  EXPECT_EQ(r[4].window_ids, v({114}));
  const auto verdicts = window_verdicts(r);
  EXPECT_EQ(verdicts.size(), 8u);
  EXPECT_EQ(verdicts.at(104), Verdict::yes);
  EXPECT_EQ(verdicts.at(110), Verdict::no);
  EXPECT_EQ(verdicts.at(101), Verdict::skip);
}

TEST(ReviewResolve, ASpanMergedAcrossAWindowJudgedBeforeLeavesThatWindowItsEarlierVerdict) {
  // Round 1 judged window 101 (2.5-7.5 s) no and 110 (25-30 s) yes; round 2's search left them out and merged
  // 100 (0-5) and 102 (5-10), which touch, into one hit 0-10 s, marked yes: its centres take 100, 101, 102.
  Fixture f;
  const VerdictTable t = parse_verdict_table(
      "Begin Path\tBegin Time (s)\tEnd Time (s)\tVerdict\n"
      "/a/rec.wav\t0\t10\tyes\n"
      "/a/rec.wav\t25\t30\tno\n"       // only the window judged yes before: a verdict changed on purpose, kept
      "/a/rec.wav\t20\t25\tno\n",      // 108 (20-25), judged no before too: the same verdict, kept
      "round2.tsv");
  auto r = resolve_verdicts(t, f.files, f.lister(), 5.0);
  ASSERT_EQ(r[0].window_ids, v({100, 101, 102}));
  const std::map<std::int64_t, Verdict> earlier = {{101, Verdict::no}, {110, Verdict::yes}, {108, Verdict::no}};
  EXPECT_EQ(keep_earlier_reviews(r, earlier), v({101}));
  EXPECT_EQ(r[0].window_ids, v({100, 102}));
  EXPECT_EQ(r[1].window_ids, v({110}));
  EXPECT_EQ(r[2].window_ids, v({108}));
  const auto verdicts = window_verdicts(r);
  EXPECT_EQ(verdicts.count(101), 0u);
  EXPECT_EQ(verdicts.at(100), Verdict::yes);
  EXPECT_EQ(verdicts.at(110), Verdict::no);
  // No earlier reviews: nothing changes.
  auto same = resolve_verdicts(t, f.files, f.lister(), 5.0);
  EXPECT_TRUE(keep_earlier_reviews(same, {}).empty());
  EXPECT_EQ(same[0].window_ids, v({100, 101, 102}));
}

TEST(ReviewResolve, BaseNamesMustBeUniqueAndEveryUnmatchedRowIsNamed) {
  Fixture f;
  const VerdictTable t = parse_verdict_table(
      "Begin File\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
      "rec.wav\t0\t5\ty\n"       // two recordings of that name
      "other.wav\t0\t5\ty\n"     // fine so far, but has no windows
      "missing.wav\t0\t5\tn\n",
      "raven.txt");
  std::string e = test::error_of([&] { resolve_verdicts(t, f.files, f.lister(), 5.0); });
  EXPECT_NE(e.find("raven.txt line 2: 2 archived recordings are named rec.wav (/a/rec.wav, /b/rec.wav): give the "
                   "table a Begin Path column"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("raven.txt line 4: no archived recording is named missing.wav"), std::string::npos) << e;

  const VerdictTable u = parse_verdict_table(
      "filename\tonset\toffset\tverdict\n/c/other.wav\t0\t5\tyes\n/a/rec.wav\t60\t65\tno\n/a/./x/../rec2.wav\t0\t1\tyes\n",
      "u.tsv");
  e = test::error_of([&] { resolve_verdicts(u, f.files, f.lister(), 5.0); });
  EXPECT_NE(e.find("u.tsv line 4: no archived recording /a/rec2.wav (/a/./x/../rec2.wav as written)"),
            std::string::npos)
      << e;
  const VerdictTable w = parse_verdict_table(
      "filename\tonset\toffset\tverdict\n/c/other.wav\t0\t5\tyes\n/a/rec.wav\t60\t65\tno\n/a/rec.wav\t40\t41\tno\n",
      "w.tsv");
  e = test::error_of([&] { resolve_verdicts(w, f.files, f.lister(), 5.0); });
  EXPECT_NE(e.find("w.tsv line 2: no archived window of /c/other.wav overlaps 0-5 s (it has no windows)"),
            std::string::npos) << e;
  EXPECT_NE(e.find("w.tsv line 3: no archived window of /a/rec.wav overlaps 60-65 s (its windows cover 0-40 s)"),
            std::string::npos) << e;
  EXPECT_NE(e.find("w.tsv line 4: no archived window"), std::string::npos) << e;  // touching the end is no overlap
}

TEST(ReviewResolve, TwoVerdictsOnOneWindowAreNamedAndTheSameTwiceCountsOnce) {
  Fixture f;
  const VerdictTable agree = parse_verdict_table(
      "filename\tonset\toffset\tverdict\n/a/rec.wav\t10\t17.5\tyes\n/a/rec.wav\t12.5\t20\tyes\n", "a.tsv");
  const auto r = resolve_verdicts(agree, f.files, f.lister(), 5.0);
  EXPECT_EQ(window_verdicts(r).size(), 3u);  // 104, 105, 106
  const VerdictTable clash = parse_verdict_table(
      "filename\tonset\toffset\tverdict\n/a/rec.wav\t10\t17.5\tyes\n/a/rec.wav\t12.5\t20\tno\n", "c.tsv");
  const std::string e = test::error_of([&] { resolve_verdicts(clash, f.files, f.lister(), 5.0); });
  EXPECT_NE(e.find("c.tsv line 3: marks no window 105 of /a/rec.wav, which line 2 marks yes"), std::string::npos)
      << e;
}

}  // namespace
}  // namespace oneshot::archive
