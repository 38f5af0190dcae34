// Exact search (src/archive/search.h): the blocked, parallel top-K equals a
// plain sort of every score (random embeddings in a real archive, several
// block, chunk and thread counts, ties and excluded windows); hit windows of
// one file that overlap or touch merge into one span; every output format of
// src/archive/hit_tables.h reads back to the same hits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "archive/archive_store.h"
#include "archive/hit_tables.h"
#include "archive/search.h"
#include "core/error.h"
#include "events/annotation_tables.h"
#include "events/event.h"
#include "support/test_support.h"

namespace oneshot::archive {
namespace {
namespace fs = std::filesystem;

constexpr std::size_t kDim = 16;

// An archive of `files` recordings of `per_file` windows each, random embeddings.
std::unique_ptr<ArchiveStore> random_archive(const fs::path& path, int files, std::size_t per_file, unsigned seed,
                                             bool quantised = false) {
  ArchiveModel m{"/runs/a", "f00d", static_cast<std::int64_t>(kDim), 2.0, 1.0, 16000, false};
  auto a = open_or_create_archive(path.string(), m);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  for (int f = 0; f < files; ++f) {
    FileRecord r;
    r.path = "/rec/file" + std::to_string(f) + ".wav";
    r.head_hash = "00";
    auto w = a->begin_file(r);
    std::vector<float> e(per_file * kDim);
    // Quantised values make many exact ties in the scores.
    for (float& x : e) x = quantised ? std::round(d(rng)) : d(rng);
    std::vector<double> starts(per_file);
    for (std::size_t i = 0; i < per_file; ++i) starts[i] = static_cast<double>(i);
    w->add(starts.data(), e.data(), per_file);
    w->commit(static_cast<double>(per_file) + 1);
  }
  return a;
}

// The score: dot product with a fixed query.
BlockScorer dot_scorer(const std::vector<float>& query) {
  return [query](const float* e, std::size_t n, double* out) {
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::size_t d = 0; d < kDim; ++d) s += static_cast<double>(e[i * kDim + d]) * query[d];
      out[i] = s;
    }
  };
}

// The reference: every window scored, then one sort.
std::vector<ScoredWindow> brute_force(const ArchiveStore& a, const BlockScorer& scorer, std::size_t k,
                                      const std::unordered_set<std::int64_t>& exclude = {}) {
  std::vector<ScoredWindow> all;
  a.scan(1u << 30, [&](const WindowBlock& b) {
    std::vector<double> s(b.count());
    scorer(b.embeddings.data(), b.count(), s.data());
    for (std::size_t i = 0; i < b.count(); ++i)
      if (!exclude.count(b.ids[i])) all.push_back({s[i], b.ids[i], b.file_ids[i], b.starts_s[i]});
  });
  std::sort(all.begin(), all.end(), [](const ScoredWindow& x, const ScoredWindow& y) {
    return x.score != y.score ? x.score > y.score : x.id < y.id;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

void expect_same(const std::vector<ScoredWindow>& got, const std::vector<ScoredWindow>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << what << " rank " << i;
    EXPECT_EQ(got[i].score, want[i].score) << what << " rank " << i;
    EXPECT_EQ(got[i].file_id, want[i].file_id) << what;
    EXPECT_EQ(got[i].start_s, want[i].start_s) << what;
  }
}

TEST(ArchiveSearch, BlockedParallelTopKEqualsAPlainSortOfEveryScore) {
  test::TempDir dir;
  for (bool quantised : {false, true}) {
    auto a = random_archive(dir / (quantised ? "q.db" : "r.db"), 7, 413, quantised ? 5 : 3, quantised);
    std::mt19937 rng(11);
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> query(kDim);
    for (float& x : query) x = quantised ? std::round(d(rng)) : d(rng);
    const BlockScorer scorer = dot_scorer(query);
    const BlockSource source = [&](std::size_t block, const std::function<void(const WindowBlock&)>& f) {
      a->scan(block, f);
    };
    for (std::size_t k : {1u, 10u, 100u, 5000u}) {
      const auto want = brute_force(*a, scorer, k);
      for (std::size_t block : {1u, 97u, 1000u, 100000u})
        for (std::size_t chunk : {1u, 64u, 512u})
          for (int threads : {1, 2, 3}) {
            SearchOptions o;
            o.top_k = k;
            o.block = block;
            o.chunk = chunk;
            o.threads = threads;
            o.dim = kDim;
            SearchStats stats;
            const auto got = exact_top_k(source, scorer, o, &stats);
            EXPECT_EQ(stats.windows, 7 * 413);
            expect_same(got, want,
                        "k " + std::to_string(k) + " block " + std::to_string(block) + " chunk " +
                            std::to_string(chunk) + " threads " + std::to_string(threads) +
                            (quantised ? " (ties)" : ""));
          }
    }
    // Excluded windows (reviewed ones) are left out, and the next ones take their place.
    SearchOptions o;
    o.top_k = 20;
    o.dim = kDim;
    o.block = 300;
    o.threads = 2;
    const auto first = exact_top_k(source, scorer, o);
    for (std::size_t i = 0; i < 5; ++i) o.exclude.insert(first[i * 2].id);
    expect_same(exact_top_k(source, scorer, o), brute_force(*a, scorer, 20, o.exclude), "exclude");
  }
}

TEST(ArchiveSearch, TopKKeepsNoNaNAndCopesWithFewerWindowsThanK) {
  TopK k(3);
  k.offer({std::numeric_limits<double>::quiet_NaN(), 1, 1, 0});
  k.offer({0.5, 2, 1, 0});
  k.offer({0.7, 3, 1, 0});
  const auto s = k.sorted();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].id, 3);
  EXPECT_EQ(s[1].id, 2);
}

std::vector<FileRecord> two_files() {
  FileRecord a, b;
  a.id = 1;
  a.path = "/rec/a b.wav";
  a.duration_s = 9.0;
  b.id = 2;
  b.path = "/rec/c,d.wav";
  b.duration_s = 100;
  return {a, b};
}

TEST(ArchiveSearch, OverlappingAndTouchingHitWindowsOfOneFileMergeIntoOneSpan) {
  // Window 2 s. File 1: starts 0, 1 (overlap), 3 (touches 1's end at 3), 6 (gap), 8 (past the end: clamped).
  // File 2: start 0 (file 1's span must not take it).
  const std::vector<ScoredWindow> top = {{0.9, 11, 1, 1.0}, {0.8, 10, 1, 0.0}, {0.7, 12, 1, 3.0}, {0.95, 13, 1, 6.0},
                                         {0.5, 14, 1, 7.5},  {0.6, 20, 2, 0.0}};
  const auto hits = merge_hits(top, 2.0, two_files(), [](double s) { return s / 2; });
  ASSERT_EQ(hits.size(), 3u);
  // Ranked by score: file 1's 6..9 span (0.95), file 1's 0..5 span (0.9), file 2 (0.6).
  EXPECT_EQ(hits[0].rank, 1);
  EXPECT_EQ(hits[0].file, "/rec/a b.wav");
  EXPECT_DOUBLE_EQ(hits[0].onset_s, 6.0);
  EXPECT_DOUBLE_EQ(hits[0].offset_s, 9.0);  // 7.5 + 2 = 9.5, clamped to the 9 s file
  EXPECT_EQ(hits[0].window_ids, (std::vector<std::int64_t>{13, 14}));
  EXPECT_DOUBLE_EQ(hits[0].confidence, 0.475);
  EXPECT_EQ(hits[1].rank, 2);
  EXPECT_DOUBLE_EQ(hits[1].onset_s, 0.0);
  EXPECT_DOUBLE_EQ(hits[1].offset_s, 5.0);
  EXPECT_DOUBLE_EQ(hits[1].score, 0.9);
  EXPECT_EQ(hits[1].best_window_id, 11);
  EXPECT_DOUBLE_EQ(hits[1].best_window_onset_s, 1.0);
  EXPECT_EQ(hits[1].window_ids, (std::vector<std::int64_t>{11, 10, 12}));
  EXPECT_EQ(hits[2].file_id, 2);
  EXPECT_DOUBLE_EQ(hits[2].offset_s, 2.0);
  // Without a confidence function: NaN.
  EXPECT_TRUE(std::isnan(merge_hits(top, 2.0, two_files(), nullptr)[0].confidence));
  // Unmerged: every window its own hit, clamped to its file, ranked.
  const auto windows = merge_hits(top, 2.0, two_files(), nullptr, false);
  ASSERT_EQ(windows.size(), top.size());
  EXPECT_EQ(windows[0].best_window_id, 13);
  EXPECT_DOUBLE_EQ(windows[0].offset_s, 8.0);
  EXPECT_EQ(windows[5].best_window_id, 14);
  EXPECT_DOUBLE_EQ(windows[5].offset_s, 9.0);
  EXPECT_EQ(windows[5].window_ids, (std::vector<std::int64_t>{14}));
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::stringstream s(line);
  while (std::getline(s, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

TEST(ArchiveSearch, EveryOutputFormatReadsBackToTheSameHits) {
  const std::vector<ScoredWindow> top = {{0.9, 11, 1, 1.0}, {0.8, 10, 1, 0.0}, {-1.25, 20, 2, 4.5}};
  auto hits = merge_hits(top, 2.0, two_files(), [](double s) { return s > 0 ? 0.75 : 0.125; });
  hits[1].confidence = std::numeric_limits<double>::quiet_NaN();  // no confidence: empty / null
  const HitContext context{"door knock", 50, 8000};

  // JSON
  const auto j = nlohmann::json::parse(format_hits(hits, HitFormat::json, context));
  EXPECT_EQ(j.at("query"), "door knock");
  ASSERT_EQ(j.at("hits").size(), 2u);
  EXPECT_EQ(j["hits"][0]["file"], "/rec/a b.wav");
  EXPECT_DOUBLE_EQ(j["hits"][0]["onset_s"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["hits"][0]["offset_s"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(j["hits"][0]["score"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(j["hits"][0]["confidence"].get<double>(), 0.75);
  EXPECT_EQ(j["hits"][0]["window_ids"], nlohmann::json({11, 10}));
  EXPECT_TRUE(j["hits"][1]["confidence"].is_null());
  EXPECT_DOUBLE_EQ(j["hits"][1]["score"].get<double>(), -1.25);

  // CSV: the comma in a file name quoted.
  {
    std::stringstream s(format_hits(hits, HitFormat::csv, context));
    std::string line;
    std::getline(s, line);
    EXPECT_EQ(line, "rank,file,onset_s,offset_s,score,confidence,best_window_id");
    std::getline(s, line);
    EXPECT_EQ(split(line, ','), (std::vector<std::string>{"1", "/rec/a b.wav", "0", "3", "0.9", "0.75", "11"}));
    std::getline(s, line);
    EXPECT_EQ(line, "2,\"/rec/c,d.wav\",4.5,6.5,-1.25,,20");
  }

  // sed_eval TSV, read by the event-list reader.
  const auto events = parse_event_list(format_hits(hits, HitFormat::tsv, context), "hits.tsv");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].filename, "/rec/c,d.wav");
  EXPECT_DOUBLE_EQ(events[1].onset, 4.5);
  EXPECT_DOUBLE_EQ(events[1].offset, 6.5);
  EXPECT_EQ(events[1].label, "door knock");
  EXPECT_DOUBLE_EQ(events[1].score, -1.25);

  // Raven, read by the annotation reader and column by column.
  const std::string raven = format_hits(hits, HitFormat::raven, context);
  EXPECT_EQ(annotation_format(raven), AnnotationFormat::Raven);
  bool file_column = false;
  const auto selections = parse_raven_table(raven, "hits.selections.txt", "hits", &file_column);
  EXPECT_TRUE(file_column);
  ASSERT_EQ(selections.size(), 2u);
  EXPECT_EQ(selections[0].filename, "a b.wav");
  EXPECT_DOUBLE_EQ(selections[0].onset, 0.0);
  EXPECT_DOUBLE_EQ(selections[0].offset, 3.0);
  EXPECT_EQ(selections[0].label, "door knock");
  EXPECT_DOUBLE_EQ(selections[0].score, 0.9);
  EXPECT_DOUBLE_EQ(selections[1].onset, 4.5);
  std::stringstream s(raven);
  std::string line;
  std::getline(s, line);
  const auto header = split(line, '\t');
  ASSERT_GE(header.size(), 7u);
  EXPECT_EQ(std::vector<std::string>(header.begin(), header.begin() + 7),
            (std::vector<std::string>{"Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
                                      "High Freq (Hz)"}));
  for (const char* c : {"Begin File", "Score", "Confidence"})
    EXPECT_NE(std::find(header.begin(), header.end(), c), header.end()) << c;
  std::getline(s, line);
  const auto row = split(line, '\t');
  ASSERT_EQ(row.size(), header.size());
  auto cell = [&](const std::vector<std::string>& r, const std::string& name) {
    return r[static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin())];
  };
  EXPECT_EQ(cell(row, "View"), "Spectrogram 1");
  EXPECT_EQ(cell(row, "Channel"), "1");
  EXPECT_EQ(cell(row, "Low Freq (Hz)"), "50");
  EXPECT_EQ(cell(row, "High Freq (Hz)"), "8000");
  EXPECT_EQ(cell(row, "Begin Path"), "/rec/a b.wav");
  EXPECT_EQ(cell(row, "Confidence"), "0.75");
  std::getline(s, line);
  EXPECT_EQ(cell(split(line, '\t'), "Confidence"), "");

  // The table: one line a hit under a header.
  const std::string table = format_hits(hits, HitFormat::table, context);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3);
  EXPECT_NE(table.find("/rec/c,d.wav"), std::string::npos);

  // A file name with a tab cannot be a TSV or Raven cell: named, with the way out.
  hits[0].file = "/rec/a\tb.wav";
  for (HitFormat f : {HitFormat::tsv, HitFormat::raven})
    EXPECT_NE(test::error_of([&] { format_hits(hits, f, context); }).find("use --format json or csv"),
              std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_hit_format("xml"); }).find("table, json, csv, tsv or raven"), std::string::npos);
}

}  // namespace
}  // namespace oneshot::archive
