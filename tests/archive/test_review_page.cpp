// The review page (src/archive/review_page.h): every hit named, every excerpt
// a WAV of the hit with its context, clamped at the recording's edges, each
// spectrogram a PNG; an unreadable recording named on the page, not fatal; and
// in a headless Chromium (skipped where it is not installed) the players
// decode, clicked verdicts export a table that archive/verdicts.h reads.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "archive/review_page.h"
#include "archive/verdicts.h"
#include "audio/audio_reader.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/synthetic.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {
namespace fs = std::filesystem;

constexpr int kRate = 16000;

// A recording whose sample i is a known function of i (a slow ramp plus a tone), so an excerpt's place shows.
std::vector<float> recording(double seconds) {
  std::vector<float> s(static_cast<std::size_t>(seconds * kRate));
  for (std::size_t i = 0; i < s.size(); ++i)
    s[i] = static_cast<float>(0.5 * std::fmod(static_cast<double>(i) / kRate, 1.0) - 0.25 +
                              0.2 * std::sin(2 * M_PI * 440.0 * static_cast<double>(i) / kRate));
  return s;
}

std::vector<float> read_all(const fs::path& p, int* rate) {
  AudioReader r(p);
  *rate = r.info().sample_rate;
  std::vector<float> out(1 << 20), all;
  while (std::size_t n = r.read(out.data(), out.size())) all.insert(all.end(), out.begin(), out.begin() + n);
  return all;
}

SearchHit hit(int rank, const fs::path& file, double on, double off, double score, std::int64_t window) {
  SearchHit h;
  h.rank = rank;
  h.file = file.string();
  h.onset_s = on;
  h.offset_s = off;
  h.score = score;
  h.best_window_id = window;
  h.window_ids = {window};
  return h;
}

ReviewPageOptions options() {
  ReviewPageOptions o;
  o.label = "dog <bark>";  // escaped in HTML
  o.features.sample_rate = kRate;
  o.features.n_fft = 512;
  o.features.hop_length = 256;
  o.features.n_mels = 64;
  o.high_freq_hz = kRate / 2.0;
  return o;
}

struct Page {
  test::TempDir dir;
  fs::path a, b;
  std::vector<float> a_samples, b_samples;
  std::vector<SearchHit> hits;
  ReviewPageResult result;
  Page() {
    a = dir / "rec a.wav";  // a space in the name
    b = dir / "sub" / "b.wav";
    a_samples = recording(10);
    b_samples = recording(3);
    write_wav16(a, a_samples, kRate);
    write_wav16(b, b_samples, kRate);
    hits = {hit(1, a, 4, 6, 3.5, 11),       // excerpt 3-7 s
            hit(2, b, 0.5, 2, 3.1, 21),     // 0-3 s: clamped at both ends (the file is 3 s)
            hit(3, a, 8.5, 10, 2.9, 17),    // 7.5-10 s: clamped at the end
            hit(4, dir / "gone.wav", 1, 2, 2.0, 30),  // deleted since indexing
            hit(5, a, 0.2, 1.0, 1.5, 10)};  // 0-2 s: clamped at the start
    result = write_review_page(hits, dir / "page", options());
  }
};

TEST(ReviewPage, EveryHitIsNamedAndEveryExcerptIsTheHitWithItsContextClampedAtTheEdges) {
  Page p;
  const fs::path page = p.dir / "page" / "index.html";
  EXPECT_EQ(p.result.page, page);
  const std::string text = read_file(page);
  for (const auto& h : p.hits) {
    EXPECT_NE(text.find("id=\"hit-" + std::to_string(h.rank) + "\""), std::string::npos) << h.rank;
    EXPECT_NE(text.find(h.file), std::string::npos) << h.file;
  }
  EXPECT_NE(text.find("<h1>Review: dog &lt;bark&gt;</h1>"), std::string::npos);  // escaped in HTML
  EXPECT_EQ(text.find("http"), std::string::npos) << "nothing fetched from a network";
  EXPECT_EQ(text.find("<script src"), std::string::npos);
  EXPECT_EQ(text.find("<link"), std::string::npos);

  // Clips: hit-0001 (rank 1) .. ; the missing file's hit has none and is named with its reason.
  ASSERT_EQ(p.result.clips, 4u);
  ASSERT_EQ(p.result.unreadable.size(), 1u);
  EXPECT_NE(p.result.unreadable[0].find("gone.wav"), std::string::npos);
  EXPECT_NE(text.find("no audio: "), std::string::npos);
  EXPECT_FALSE(fs::exists(p.dir / "page" / "clips" / "hit-0004.wav"));
  struct Want {
    int n;
    const std::vector<float>* source;
    double start, end;
  };
  for (const Want& w : {Want{1, &p.a_samples, 3, 7}, Want{2, &p.b_samples, 0, 3}, Want{3, &p.a_samples, 7.5, 10},
                        Want{5, &p.a_samples, 0, 2}}) {
    char name[32];
    std::snprintf(name, sizeof name, "hit-%04d", w.n);
    const fs::path wav = p.dir / "page" / "clips" / (std::string(name) + ".wav");
    EXPECT_NE(text.find("clips/" + std::string(name) + ".wav"), std::string::npos);
    int rate = 0;
    const auto got = read_all(wav, &rate);
    EXPECT_EQ(rate, kRate);
    const auto first = static_cast<std::size_t>(std::llround(w.start * kRate));
    const auto frames = static_cast<std::size_t>(std::llround((w.end - w.start) * kRate));
    ASSERT_EQ(got.size(), frames) << wav;
    for (std::size_t i = 0; i < frames; i += 997)
      ASSERT_NEAR(got[i], (*w.source)[first + i], 1.0 / 16384) << wav << " sample " << i;  // 16-bit PCM
    // Its spectrogram: a PNG 64 bands x 3 pixels high.
    const std::string png = read_file(p.dir / "page" / "spectrograms" / (std::string(name) + ".png"));
    ASSERT_GT(png.size(), 33u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_EQ(png.substr(12, 4), "IHDR");
    const auto u32 = [&](std::size_t at) {
      return (std::uint32_t(std::uint8_t(png[at])) << 24) | (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
             (std::uint32_t(std::uint8_t(png[at + 2])) << 8) | std::uint32_t(std::uint8_t(png[at + 3]));
    };
    EXPECT_EQ(u32(16), 1 + frames / 256) << "one column a frame";
    EXPECT_EQ(u32(20), 64u * 3);
  }
}

// A merged span of an hour (every window of a recording ranked high) is
// played from its best window for at most 30 s: the clip and the page's
// memory stay bounded whatever --top is (attack finding F11, issue 19).
TEST(ReviewPage, AnHourLongSpanIsPlayedFromItsBestWindowForAtMostHalfAMinute) {
  SearchHit h = hit(1, "x.wav", 100, 3700, 2.0, 5);
  h.best_window_onset_s = 1234;
  Excerpt e = excerpt_of(h, 1.0);
  EXPECT_TRUE(e.shortened);
  EXPECT_DOUBLE_EQ(e.start_s, 1233);
  EXPECT_DOUBLE_EQ(e.end_s, 1234 + kLongestPlayedSpan_s + 1);
  h.best_window_onset_s = 3695;  // near the span's end: the clip ends with the span
  e = excerpt_of(h, 1.0);
  EXPECT_DOUBLE_EQ(e.end_s, 3701);
  const SearchHit short_hit = hit(2, "x.wav", 10, 15, 2.0, 6);
  e = excerpt_of(short_hit, 1.0);
  EXPECT_FALSE(e.shortened);
  EXPECT_DOUBLE_EQ(e.start_s, 9);
  EXPECT_DOUBLE_EQ(e.end_s, 16);

  // On a page: a 60 s recording whose whole length is one hit gives a clip of 30 s + context, and says so.
  test::TempDir dir;
  const fs::path rec = dir / "long.wav";
  write_wav16(rec, recording(60), kRate);
  SearchHit whole = hit(1, rec, 0, 60, 2.0, 7);
  whole.best_window_onset_s = 20;
  const ReviewPageResult r = write_review_page({whole}, dir / "page", options());
  ASSERT_EQ(r.clips, 1u);
  int rate = 0;
  EXPECT_EQ(read_all(dir / "page" / "clips" / "hit-0001.wav", &rate).size(),
            static_cast<std::size_t>((kLongestPlayedSpan_s + 2) * kRate));  // 19 s to 51 s
  EXPECT_NE(read_file(dir / "page" / "index.html").find("playing 30 s of it from its best window"), std::string::npos);
}

TEST(ReviewPage, ARewrittenPageRemovesTheClipsItNoLongerNames) {
  Page p;
  ASSERT_TRUE(fs::exists(p.dir / "page" / "clips" / "hit-0005.wav"));
  test::write_text(p.dir / "page" / "clips" / "mine.wav", "a user's file");
  const auto r = write_review_page({p.hits[0]}, p.dir / "page", options());
  EXPECT_EQ(r.clips, 1u);
  EXPECT_TRUE(fs::exists(p.dir / "page" / "clips" / "hit-0001.wav"));
  EXPECT_FALSE(fs::exists(p.dir / "page" / "clips" / "hit-0005.wav"));
  EXPECT_FALSE(fs::exists(p.dir / "page" / "spectrograms" / "hit-0002.png"));
  EXPECT_TRUE(fs::exists(p.dir / "page" / "clips" / "mine.wav"));  // not ours: kept
  // A directory that cannot be made is named before any work.
  test::write_text(p.dir / "file", "x");
  EXPECT_NE(test::error_of([&] { write_review_page(p.hits, p.dir / "file" / "page", options()); }).find("file"),
            std::string::npos);
}

// Recording names that look like markup: the page's data element holds no '<' (a "<!--" and a "<script"
// in it put the HTML tokenizer in its double-escaped state, hid the element's end tag and swallowed the
// page's script), and reads back as the same paths.
std::vector<SearchHit> markup_named_hits(const fs::path& dir) {
  const fs::path odd[] = {dir / "<!--c.wav", dir / "x</script><script>document.title='x'<" / "y.wav",
                          dir / "&amp;<b>.wav"};
  std::vector<SearchHit> hits;
  int rank = 0;
  for (const fs::path& f : odd) {
    fs::create_directories(f.parent_path());
    write_wav16(f, recording(2), kRate);
    hits.push_back(hit(++rank, f, 0.5, 1.5, 3.0 - rank, 40 + rank));
  }
  return hits;
}

TEST(ReviewPage, RecordingNamesThatLookLikeMarkupStayInsideThePagesDataElement) {
  test::TempDir dir;
  const auto hits = markup_named_hits(dir.path());
  auto o = options();
  o.label = "<!--<script>";
  write_review_page(hits, dir / "page", o);
  const std::string text = read_file(dir / "page" / "index.html");
  const std::string open = "id=\"hits-data\">";
  const auto at = text.find(open);
  ASSERT_NE(at, std::string::npos);
  const auto end = text.find("</script>", at);
  ASSERT_NE(end, std::string::npos);
  const std::string data = text.substr(at + open.size(), end - at - open.size());
  EXPECT_EQ(data.find('<'), std::string::npos) << data;
  const auto j = nlohmann::json::parse(data);
  EXPECT_EQ(j["label"], "<!--<script>");
  ASSERT_EQ(j["hits"].size(), hits.size());
  for (std::size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(j["hits"][i]["path"], hits[i].file) << i;
  // The script after it is the page's own: one more <script> element, the last.
  EXPECT_EQ(text.find("<script", end), text.rfind("<script>"));
}

// In a browser: the page's script runs (its self-test finishes) and the export names those recordings.
TEST(ReviewPage, InAHeadlessBrowserAPageOfMarkupNamedRecordingsRunsAndExportsThem) {
  std::string browser;
  for (const char* b : {"chromium", "chromium-browser", "google-chrome"})
    if (test::run_command(std::string("command -v ") + b + " >/dev/null 2>&1") == 0) {
      browser = b;
      break;
    }
  if (browser.empty()) GTEST_SKIP() << "no chromium installed: the browser test is skipped";
  test::TempDir dir;
  const auto hits = markup_named_hits(dir.path());
  write_review_page(hits, dir / "page", options());
  std::string out;
  ASSERT_EQ(test::run_command("timeout 120 " + browser + " --headless=new --no-sandbox --disable-gpu --no-first-run "
                              "--user-data-dir=" + (dir / "profile").string() +
                              " --virtual-time-budget=15000 --dump-dom 'file://" + (dir / "page" / "index.html").string() +
                              "#selftest=yes,no,skip' 2>/dev/null",
                              &out),
            0);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(<pre id="selftest-result"[^>]*>([^<]*)</pre>)")))
      << "the page's script did not run:\n" << out.substr(0, 3000);
  std::string json = m[1];
  for (auto [from, to] : {std::pair<const char*, const char*>{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}})
    for (std::size_t at = 0; (at = json.find(from, at)) != std::string::npos; at += std::string(to).size())
      json.replace(at, std::string(from).size(), to);
  const VerdictTable t = parse_verdict_table(nlohmann::json::parse(json)["tsv"].get<std::string>(), "export");
  ASSERT_EQ(t.rows.size(), hits.size());
  for (std::size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(t.rows[i].file, hits[i].file) << i;
}

TEST(ReviewPage, AHitAfterTheRecordingsEndIsShownWithTheRecordingsLengthAndTheHitsSpan) {
  // A recording shortened since it was indexed (or a stored window past its end): the card says where the
  // recording ends and where the hit is (it once gave the excerpt's start, 9 s here, as "ends before this hit").
  test::TempDir dir;
  const fs::path f = dir / "short.wav";
  write_wav16(f, recording(3), kRate);
  const auto r = write_review_page({hit(1, f, 10, 12, 1.0, 5), hit(2, f, 0, 1, 0.5, 6)}, dir / "page", options());
  EXPECT_EQ(r.clips, 1u);
  const std::string text = read_file(dir / "page" / "index.html");
  EXPECT_NE(text.find("the recording ends at 3.00 s, before this hit (10.00 - 12.00 s)"), std::string::npos)
      << text.substr(text.find("no audio"), 300);
}

TEST(ReviewPage, ARecordingNamedWithATabOrLineBreakIsRefusedBeforeAnyWork) {
  test::TempDir dir;
  for (const char* name : {"a\tb.wav", "a\nb.wav"}) {
    const std::vector<SearchHit> hits = {hit(1, dir / "ok.wav", 0, 1, 1.0, 1), hit(2, dir / name, 0, 1, 0.5, 2)};
    const std::string e = test::error_of([&] { write_review_page(hits, dir / "page", options()); });
    EXPECT_NE(e.find(name), std::string::npos) << e;
    EXPECT_NE(e.find("tab or line break"), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(dir / "page")) << "refused before any work";
  }
}

// Headless Chromium: the page's own self-test (#selftest=...) clicks the verdicts and Export, then
// reports the exported table and each player's decoded duration into the DOM that --dump-dom prints.
TEST(ReviewPage, InAHeadlessBrowserThePlayersDecodeAndTheClickedVerdictsExportAReadableTable) {
  std::string browser;
  for (const char* b : {"chromium", "chromium-browser", "google-chrome"})
    if (test::run_command(std::string("command -v ") + b + " >/dev/null 2>&1") == 0) {
      browser = b;
      break;
    }
  if (browser.empty()) GTEST_SKIP() << "no chromium installed (apt-get install -y chromium): the browser test is skipped";
  Page p;
  const fs::path page = p.dir / "page" / "index.html";
  std::string out;
  const int rc = test::run_command(
      "timeout 120 " + browser + " --headless=new --no-sandbox --disable-gpu --no-first-run --autoplay-policy=no-user-gesture-required "
      "--user-data-dir=" + (p.dir / "profile").string() + " --virtual-time-budget=15000 --dump-dom 'file://" +
      page.string() + "#selftest=yes,no,skip,no' 2>/dev/null",
      &out);
  ASSERT_EQ(rc, 0) << out.substr(0, 2000);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(<pre id="selftest-result"[^>]*>([^<]*)</pre>)")))
      << "the page's self-test did not finish:\n" << out.substr(0, 3000);
  std::string json = m[1];
  for (auto [from, to] : {std::pair<const char*, const char*>{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
    for (std::size_t at = 0; (at = json.find(from, at)) != std::string::npos; at += std::string(to).size())
      json.replace(at, std::string(from).size(), to);
  }
  const auto result = nlohmann::json::parse(json);
  // Every player answered with the excerpt's length.
  ASSERT_EQ(result["players"].size(), 4u);
  const double want[] = {4, 3, 2.5, 2};
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(result["players"][i].contains("duration")) << result["players"][i].dump();
    EXPECT_NEAR(result["players"][i]["duration"].get<double>(), want[i], 0.01) << i;
  }
  // The export reads back: verdicts as clicked, the rest skip; the paths and spans of the hits.
  const VerdictTable t = parse_verdict_table(result["tsv"].get<std::string>(), "exported verdicts.tsv");
  ASSERT_EQ(t.rows.size(), 5u);
  const Verdict v[] = {Verdict::yes, Verdict::no, Verdict::skip, Verdict::no, Verdict::skip};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(t.rows[i].verdict, v[i]) << i;
    EXPECT_EQ(t.rows[i].file, p.hits[i].file);
    EXPECT_DOUBLE_EQ(t.rows[i].onset_s, p.hits[i].onset_s);
    EXPECT_DOUBLE_EQ(t.rows[i].offset_s, p.hits[i].offset_s);
    EXPECT_EQ(t.rows[i].label, "dog <bark>");
  }
  EXPECT_EQ(t.verdict_column, "Verdict");
  EXPECT_EQ(t.file_column, "Begin Path");
}

}  // namespace
}  // namespace oneshot::archive
