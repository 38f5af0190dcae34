#pragma once
// Exact search of an archive: every stored window scored against the query,
// the K best kept, and the hits of one recording that overlap or touch merged
// into spans (SearchHit). Model-free: the score of a block of windows comes
// from a BlockScorer (app/cmd_search.cpp: the run's head against the example's
// windows, or a library class's LibraryScorer score).
//
// Streamed: the archive is read a block at a time (ArchiveStore::scan), each
// block's windows scored in chunks on `threads` workers (core/parallel.h),
// each worker keeping its own K best, merged at the end; memory holds one
// block and K windows a worker, whatever the archive's size. The result is
// the same as scoring every window and sorting (ties: lower window id first).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "archive/archive_store.h"
#include "archive/search_hit.h"

namespace oneshot::archive {

struct ScoredWindow {
  double score = 0;
  std::int64_t id = 0;
  std::int64_t file_id = 0;
  double start_s = 0;
};

// Orders by score, highest first; equal scores by lower id first.
bool better(const ScoredWindow& a, const ScoredWindow& b);

// The K best windows offered (a bounded heap). NaN scores are never kept.
class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) {}
  void offer(const ScoredWindow& w);
  void merge(const TopK& other);
  std::size_t size() const { return heap_.size(); }
  // Best first.
  std::vector<ScoredWindow> sorted() const;

 private:
  std::size_t k_;
  std::vector<ScoredWindow> heap_;  // a heap whose top is the worst kept
};

// Scores `n` windows (embeddings n x D, row-major float32) into scores[0, n),
// higher = more similar. Called from several threads at once.
using BlockScorer = std::function<void(const float* embeddings, std::size_t n, double* scores)>;
// Reads the windows a block at a time (ArchiveStore::scan's signature).
using BlockSource = std::function<void(std::size_t block, const std::function<void(const WindowBlock&)>&)>;

struct SearchOptions {
  std::size_t top_k = 10;        // windows kept
  std::size_t block = 8192;      // windows read at a time
  std::size_t chunk = 512;       // windows a worker scores at a time
  int threads = 0;               // 0: every core
  std::size_t dim = 0;           // embedding size (values a window)
  std::unordered_set<std::int64_t> exclude;  // window ids left out (reviewed ones)
};

struct SearchStats {
  std::int64_t windows = 0;      // scored
  double seconds = 0;            // wall time of the scan and scoring
};

// The top_k best windows of `source` under `scorer`, best first.
std::vector<ScoredWindow> exact_top_k(const BlockSource& source, const BlockScorer& scorer,
                                      const SearchOptions& options, SearchStats* stats = nullptr);

// Merges `top` (any order) into spans: windows of one file whose intervals
// [start, start + window_s] overlap or touch become one span from the first
// start to the last end (clamped to the file's duration); its score is the
// best of its windows, its window_ids best first. Spans are ranked by score
// (ties: file path, then onset). `files` gives each file id's path and
// duration (a window of a file not listed, dropped since the scan by a
// concurrent `index --update`, is left out); `confidence` turns a score into [0, 1] (NaN when there is none).
// With merge false, every window is its own hit (search --no-merge).
std::vector<SearchHit> merge_hits(const std::vector<ScoredWindow>& top, double window_s,
                                  const std::vector<FileRecord>& files,
                                  const std::function<double(double)>& confidence, bool merge = true);

}  // namespace oneshot::archive
