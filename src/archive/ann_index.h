#pragma once
// An approximate nearest-neighbour index over an archive's stored embeddings
// (issue 19 item 3), for archives too large to score every window: built by
// `index --ann hnsw|ivf`, used by `search --approx`. Model-free; the index
// itself is Debian's libfaiss (1.7.3): HNSW (IndexHNSWFlat, Malkov & Yashunin
// 2018) or IVF (IndexIVFFlat: k-means lists, Jégou et al. 2011), both on the
// Euclidean (L2) distance between the stored float32 embeddings.
//
// Why L2 and a re-rank. The run's head is not a dot product: it scores a
// function of the difference a - b (model/siamese.h: Linear or monotone
// weights on |a - b| or (a - b)^2, or a scaled L1 / squared-L2 distance), an
// example's score is the mean over its windows, and a library class's score
// is AS-normalised. No index can rank by that directly, so the index only
// retrieves candidates: the `candidates` nearest stored windows (L2) of each
// query vector (each of the example's windows, or each of the class's
// examples, and their mean when there are several: a score averaged over the
// queries peaks near it); their union is scored by the exact scorer (the same BlockScorer
// exact search uses) and the top K of those kept. A candidate's score is
// therefore exactly its exact-search score; what approximation can lose is a
// window of the exact top K that is not among any query's candidates (recall
// measured in tests/archive/test_ann_index.cpp and bench_archive_search).
//
// Where it lives: a file beside the archive (ARCH.ann for a SQLite archive
// ARCH; a PostgreSQL archive names one with --ann-file), written atomically
// (core/atomic_file.h), not a blob in the store: an HNSW index of 10^6 windows
// is about 800 MB, which a SQLite or PostgreSQL row would hold and copy whole
// on every read, and the archive's own tables stay as they are. The file
// cannot silently disagree with the store because it records the window set
// it covers: the archive's fingerprint and embedding size, and the ascending
// ids of its windows (their count, largest id and XXH3-64; window ids are
// never reused, AUTOINCREMENT / BIGSERIAL). At every search the store's ids
// are read (ids only, no embeddings) and compared:
//  - windows stored since the index was built are scored exactly (fetched by
//    id) and merged with the candidates; windows dropped since are left out;
//    search reports both and the way out (`index --archive A --ann KIND`);
//  - when more than a quarter of the archive is not covered, the whole
//    archive is searched exactly instead (fetching that many windows by id
//    would be slower than the scan), with the same note.
// So a stale index costs time, never wrong scores: every window it returns
// is a stored window scored exactly, and every window it does not cover is
// scored.
//
// File format (host byte order, little-endian on every machine this builds
// for): "ONESHOT-ANN\n", u32 version 1, u32 kind (0 hnsw, 1 ivf), i64 dim,
// i64 count, i64 max_id, u64 ids_hash, u64 nlist, u32 n + n bytes of the
// model's fingerprint, count x i64 ascending ids, u64 m + m bytes of
// faiss::write_index, then the XXH3-64 of everything before it. Every size is
// checked against the file's length before it is used; a damaged file (a
// wrong checksum, a short file, faiss refusing its part) is an Error naming
// the file, the reason and the way out (build it again), never a crash.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/archive_store.h"
#include "archive/search.h"

namespace oneshot::archive {

enum class AnnKind { hnsw, ivf };
// "hnsw" or "ivf"; Error naming the choices otherwise.
AnnKind parse_ann_kind(const std::string& name);
const char* ann_kind_name(AnnKind kind);

// The index file of the archive at `location` when none is named: a file
// archive's path + ".ann"; for a postgresql:// URL an Error asking for --ann-file.
std::string default_ann_path(const std::string& location);

// The window set an index covers.
struct AnnCoverage {
  std::int64_t count = 0;
  std::int64_t max_id = 0;      // 0 for an empty set
  std::uint64_t ids_hash = 0;   // XXH3-64 of the ascending ids, 8 bytes each, host order
  bool operator==(const AnnCoverage&) const = default;
};
// `ids` ascending (ArchiveStore::window_ids).
AnnCoverage coverage_of(const std::vector<std::int64_t>& ids);

struct AnnBuildOptions {
  AnnKind kind = AnnKind::hnsw;
  int hnsw_m = 32;              // HNSW links a node (faiss's M; level 0 has 2M)
  int ef_construction = 64;     // HNSW candidate list while building
  std::size_t nlist = 0;        // IVF lists; 0: round(sqrt(windows)), at most windows / 39 (faiss's
                                // least training points a list), at least 1
  int threads = 0;              // OpenMP threads; 0: every core
};

struct AnnBuildReport {
  std::string path;
  AnnKind kind = AnnKind::hnsw;
  std::int64_t windows = 0;
  std::size_t nlist = 0;        // IVF only
  double read_seconds = 0;      // reading the archive's embeddings
  double build_seconds = 0;     // faiss: training (IVF) and adding
  std::uint64_t bytes = 0;      // the file's size
};

// Reads every stored window of `store` (one scan) and writes the index to
// `path` atomically; an existing file at `path` must be an approximate index
// (anything else, the archive itself included, is an Error naming it, left
// as it is). Error for an empty archive, a damaged embedding (the
// store's error), an unwritable path, or faiss failing (its message).
// Memory: the embeddings (windows x dim float32) and the index, twice while
// the file is written.
AnnBuildReport build_ann_index(const ArchiveStore& store, const std::string& path, const AnnBuildOptions& options);

// The search knobs; 0 means the default. Ranges are checked by approx_top_k
// (Error naming the option and its range).
struct AnnSearchOptions {
  std::size_t candidates = 0;   // neighbours a query vector, 1..100000; default max(100, 10 x top_k)
  int ef = 0;                   // HNSW: the candidate list while searching (faiss efSearch), 1..100000;
                                // default max(128, candidates); used as max(ef, candidates)
  int nprobe = 0;               // IVF: lists visited, 1..nlist; default min(nlist, 16)
};

class AnnIndex {
 public:
  // Loads and checks the index at `path` for an archive of `model` at
  // `archive_location` (named in the way out of each error). Errors: no file
  // (build it), a damaged file, another model's or embedding size's index.
  static AnnIndex load(const std::string& path, const ArchiveModel& model, const std::string& archive_location);
  AnnIndex(AnnIndex&&) noexcept;
  AnnIndex& operator=(AnnIndex&&) noexcept;
  ~AnnIndex();

  AnnKind kind() const;
  std::size_t nlist() const;                      // IVF lists (0 for HNSW)
  const std::vector<std::int64_t>& ids() const;   // the covered window ids, ascending
  const AnnCoverage& coverage() const;
  const std::string& path() const;
  // The `k` nearest (L2) covered window ids of each of `nq` queries (nq x dim,
  // row-major), nq x k, -1 where fewer were found. `ef` / `nprobe` as resolved.
  std::vector<std::int64_t> neighbours(const float* queries, std::size_t nq, std::size_t k, int ef, int nprobe,
                                       int threads) const;

 private:
  struct Impl;
  explicit AnnIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ApproxStats {
  std::int64_t covered = 0;     // stored windows the index covers
  std::int64_t uncovered = 0;   // stored windows it does not (added since): scored exactly
  std::int64_t gone = 0;        // windows it covers that are no longer stored: left out
  std::int64_t scored = 0;      // windows scored (candidates + uncovered)
  bool fell_back = false;       // more than a quarter uncovered: the whole archive searched exactly
  int ef = 0, nprobe = 0;       // as used
  std::size_t candidates = 0;   // neighbours a query vector, as used
  double seconds = 0;           // wall time: id check, index search, fetching and scoring
};

// The top_k best windows of `store` under `scorer` among the candidates the
// index retrieves for `queries` (nq x dim, the vectors the scorer compares
// windows with), merged with every window the index does not cover, best
// first (the order and ties of exact_top_k). `options` as exact_top_k's
// (top_k, dim, threads, exclude; block for a fall-back scan).
std::vector<ScoredWindow> approx_top_k(const ArchiveStore& store, const AnnIndex& index, const float* queries,
                                       std::size_t nq, const BlockScorer& scorer, const SearchOptions& options,
                                       const AnnSearchOptions& ann, ApproxStats* stats = nullptr);

}  // namespace oneshot::archive
