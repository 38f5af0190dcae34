#pragma once
// A sound archive (issue 19): every window of every indexed recording with its
// embedding, so that a sound can be searched for by example without running
// the model over the recordings again. Model-free: the embeddings come from
// src/inference (app/cmd_index.cpp), which also checks the run's fingerprint.
//
// ArchiveStore is the storage interface (the idea of Perch's hoplite
// "graph database" interface: one small interface, one implementation per
// database): SQLite (sqlite_archive.h), and PostgreSQL for workers on many
// hosts (postgres_store.h).
// What an archive holds:
//  - the run its embeddings came from (path and fingerprint), the embedding
//    size, window and hop, and the precision of the stored embeddings
//    (float32, or float16: half the size; data/half.h);
//  - each recording (FileRecord): absolute path, size, modification time and
//    the XXH3-64 of its first MiB, which together say whether it changed
//    since it was indexed, and its duration;
//  - each window: its recording, its start in seconds and its embedding;
//  - reviews: a verdict (yes / no / skip) on a window for a class, written by
//    `review` (issue 19 item 4).
//
// A recording is stored with all its windows in one transaction
// (FileWriter::commit): a killed or failed index never leaves part of a file
// visible, and storing a path again replaces its record (never two).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace oneshot::archive {

// The model an archive's embeddings came from. `fingerprint` is the run's
// (inference/run_model.h: hex XXH3-128 of its weights and feature settings).
struct ArchiveModel {
  std::string run;               // the run directory, absolute
  std::string fingerprint;
  std::int64_t embedding_dim = 0;
  double window_s = 0;           // the model's input length, seconds
  double hop_s = 0;              // seconds between window starts
  int sample_rate = 0;           // Hz, the model's feature rate
  bool half = false;             // embeddings stored as float16 (else float32)
  // How the windows were embedded: "per-window" (each on its own, as classify
  // embeds) or "shared" (index --shared: overlapping windows share the
  // encoder's work, a slightly different embedding); "" = not recorded (an
  // archive indexed before this was kept, or a caller that only reads).
  std::string windows;
  // Another fingerprint of the same model, accepted as equal by
  // archive_mismatch (the run's former fingerprint); never stored. Empty: none.
  std::string former_fingerprint;
  // This archive's identity: random, made when it is created (table meta
  // "archive_id"; "" in an archive made before it was kept). An approximate
  // index records it, so that one left from a deleted archive, or copied from
  // another archive of the same model, is refused rather than searched.
  std::string id;
};

// A new archive identity: 32 hexadecimal digits from std::random_device.
std::string new_archive_id();

// Why an archive holding `stored` cannot take the windows that `wanted` (and,
// when given, the precision `half`) would add: another model's fingerprint,
// another hop (wanted.hop_s > 0), another precision, or windows embedded the
// other way (both recorded); "" when it can. The message names both sides and
// the option to change (--hop, --half, --shared); the stores prefix it with
// the archive's name.
std::string archive_mismatch(const ArchiveModel& stored, const ArchiveModel& wanted, std::optional<bool> half);

// One indexed recording. size, mtime_ns and head_hash are its identity when it
// was indexed (file_identity): equal on disk now means unchanged.
struct FileRecord {
  std::int64_t id = 0;
  std::string path;              // absolute, lexically normal
  std::int64_t size = 0;         // bytes
  std::int64_t mtime_ns = 0;     // modification time, ns since the epoch
  std::string head_hash;         // hex XXH3-64 of the first MiB (kHeadHashBytes)
  double duration_s = 0;         // seconds of audio read
  std::int64_t windows = 0;      // windows stored
  std::string indexed;           // ISO 8601 UTC
};

inline constexpr std::size_t kHeadHashBytes = std::size_t{1} << 20;

// The identity of the file at `path` now: absolute path, size, mtime, and the
// XXH3-64 of its first MiB. Error naming the file when it cannot be read.
FileRecord file_identity(const std::filesystem::path& path);
// Whether `stored` and `now` are the same file content by size, mtime and hash.
bool same_identity(const FileRecord& stored, const FileRecord& now);

// A block of stored windows, in id order, embeddings converted to float32.
struct WindowBlock {
  std::vector<std::int64_t> ids, file_ids;
  std::vector<double> starts_s;
  std::vector<float> embeddings;  // count() x embedding_dim, row-major
  std::size_t count() const { return ids.size(); }
};

// One stored window, found by id (for the review page and `review`).
struct StoredWindow {
  std::int64_t id = 0;
  std::int64_t file_id = 0;
  std::string file;              // its recording's path
  double start_s = 0;
  std::vector<float> embedding;  // embedding_dim values (float32)
};

// A verdict on a window for a class (`review`).
struct Review {
  std::int64_t window_id = 0;
  std::string class_name;
  std::string verdict;           // "yes", "no" or "skip"
  std::string added;             // ISO 8601 UTC (set by add_reviews)
};

// The windows of one recording, stored when commit() runs. add() may be called
// any number of times (memory holds what the implementation buffers, bounded
// whatever the recording's length); nothing is visible to any reader before
// commit(), and a writer destroyed without commit() (an error, a kill) leaves
// the archive as it was.
class FileWriter {
 public:
  virtual ~FileWriter() = default;
  // `n` windows: starts in seconds, embeddings n x embedding_dim float32.
  // Error naming the archive and the file for a non-finite or out-of-range
  // value (nothing a model gives) or a start that is not finite and >= 0.
  virtual void add(const double* starts_s, const float* embeddings, std::size_t n) = 0;
  // Stores the recording (replacing a stored record of the same path and its
  // windows and reviews; when only the modification time differs, the same
  // size and head hash, the reviews move to the new windows of the same
  // starts) with every window added, in one transaction; returns
  // the new record. `duration_s`: the seconds of audio read.
  virtual FileRecord commit(double duration_s) = 0;
  // After commit(): true when nothing was stored because another worker had
  // stored the recording with the same identity first (PostgreSQL: a claim
  // taken over while this worker was slow); commit() then returned that record.
  virtual bool stored_by_another() const { return false; }
};

// A failure inside write_group after which the group is gone, not only the
// recording being stored (SQLite's own rollback on a full disk or an I/O
// error): what the group stored is undone, and any statement run after it
// would run outside a transaction. The message is the failure's.
struct GroupLost : Error {
  using Error::Error;
};

// A stored window found damaged (its embedding or start; scan, windows,
// damaged_files): what() names the archive and the way out, `problem` the
// window and what is wrong alone ("the embedding of window 7 ... does not
// match its checksum ...").
struct DamagedWindow : Error {
  DamagedWindow(const std::string& message, std::string problem_) : Error(message), problem(std::move(problem_)) {}
  std::string problem;
};

class ArchiveStore {
 public:
  virtual ~ArchiveStore() = default;
  // The archive as the user named it (a path, or later a URL).
  virtual const std::string& location() const = 0;
  virtual ArchiveModel model() const = 0;

  virtual std::vector<FileRecord> files() const = 0;
  virtual std::optional<FileRecord> file(const std::string& path) const = 0;
  virtual std::int64_t window_count() const = 0;

  // Starts storing `file` (its path, size, mtime, hash). See FileWriter.
  virtual std::unique_ptr<FileWriter> begin_file(const FileRecord& file) = 0;
  // As begin_file, for one of several workers indexing the same recordings
  // (postgres_store.h: claims with heartbeats): nullptr when the recording is
  // stored with `file`'s identity already or another live worker holds it
  // (the caller tries again later, or counts it done). SQLite: begin_file.
  virtual std::unique_ptr<FileWriter> try_begin_file(const FileRecord& file) { return begin_file(file); }
  // Drops recordings (by path) with their windows and reviews, in one transaction.
  virtual void remove_files(const std::vector<std::string>& paths) = 0;
  // Runs `body` as one transaction: the recordings committed inside it
  // (FileWriter::commit) become visible together when it returns, each still
  // whole; a recording whose commit fails is undone alone (the others stay in
  // the group); an exception leaving `body`, or a kill, undoes the whole group.
  // `index` stores a few seconds of recordings a group: one commit (two
  // fsyncs) per recording made an archive of one-window clips ten times slower.
  // The default runs `body` as it is (each recording its own transaction).
  // A failure that ends the whole group (a full disk: SQLite rolls the
  // transaction back itself) is a GroupLost, which a caller that goes on
  // after one recording's failure must let through.
  virtual void write_group(const std::function<void()>& body) { body(); }

  // Every stored window in id order, `block` windows at a time (the last block
  // may be smaller), in one read snapshot: memory holds one block. Error
  // naming the archive, the window and the way out for a damaged embedding
  // (wrong blob size, a non-finite value).
  virtual void scan(std::size_t block, const std::function<void(const WindowBlock&)>& on_block) const = 0;
  // The windows of `ids` (in that order); Error naming an id not stored.
  virtual std::vector<StoredWindow> windows(const std::vector<std::int64_t>& ids) const = 0;
  // The ids of every stored window, ascending, in one read snapshot (no
  // embeddings read): what an approximate index (ann_index.h) compares its
  // own window set with. The default reads them through scan().
  virtual std::vector<std::int64_t> window_ids() const;
  // The recordings whose stored windows are damaged (an embedding of the wrong
  // size, not matching its checksum, non-finite or beyond
  // kMaxArchiveEmbeddingValue; a start out of range; fewer or more windows
  // than the recording's record says: one deleted): file id -> the first
  // damaged window's problem, as scan() would name it. One read snapshot,
  // every embedding read once: `index --update` checks it before it calls a
  // recording unchanged, and embeds those recordings again (scan() and search
  // stop at the first damaged window).
  virtual std::map<std::int64_t, std::string> damaged_files() const = 0;

  // Adds or replaces (same window and class) verdicts, in one transaction.
  // Error for a verdict other than yes/no/skip, an empty class or an unknown window.
  virtual void add_reviews(const std::vector<Review>& reviews) = 0;
  // The verdicts for `class_name` (every class when empty), by window id.
  virtual std::vector<Review> reviews(const std::string& class_name = {}) const = 0;
};

// `location`: a file path (SQLite, sqlite_archive.h), "sqlite:///PATH" (as
// tune's studies; core/store_location.h) or a "postgresql://" URL
// (postgres_store.h: postgresql://USER@HOST[:PORT]/DB[?archive=NAME]); a URL
// of any other scheme is an Error naming the forms, in open_archive,
// open_or_create_archive and archive_exists alike. archive_location gives the
// location as the store takes it (the file of a sqlite:/// URL, a
// PostgreSQL URL as it is), for a command that checks or derives paths from it.
std::string archive_location(const std::string& location);
// Opens the archive at `location` to read (search, review); Error when it does
// not exist or is not an archive.
std::unique_ptr<ArchiveStore> open_archive(const std::string& location, bool read_only = true);
// Opens the archive to index into, creating it for `model` when it does not
// exist. An existing archive of another fingerprint is an Error naming both
// (the class library's rule). model.hop_s 0 and `half` nullopt mean the
// archive's own (a new archive needs a hop; its precision is then float32);
// given ones that differ from an existing archive's are an Error naming both
// and the option (--hop, --half, --shared: archive_mismatch): one archive
// holds one window grid, embedded one way. The same model at a new run path
// records the new path (a moved run), and an archive that did not record how
// its windows were embedded records model.windows.
std::unique_ptr<ArchiveStore> open_or_create_archive(const std::string& location, const ArchiveModel& model,
                                                     std::optional<bool> half = std::nullopt);
// Whether an archive exists at `location` (a file, not an empty one; a URL's archive schema).
bool archive_exists(const std::string& location);

// The largest magnitude a stored embedding value may have (as the class library).
inline constexpr float kMaxArchiveEmbeddingValue = 1e9f;

// A window's start in seconds as an archive stores it: finite, >= 0 and at
// most kMaxWindowStartSeconds (about 31 years of audio, so that a start times
// any sample rate fits an int64 sample index); anything else is damage.
inline constexpr double kMaxWindowStartSeconds = 1e9;
inline bool valid_window_start(double start_s) {
  return std::isfinite(start_s) && start_s >= 0 && start_s <= kMaxWindowStartSeconds;
}

// A stored embedding's blob: its values (float32 or float16, little-endian as
// in memory) followed by the XXH3-64 of those bytes (8 bytes), so that a bit
// flipped on disk is named rather than searched (a break test flipped 20 bits
// in 8 copies of an archive: 6 searched on without a word). Windows stored
// before the checksum hold the values alone and are read unchecked.
inline constexpr std::size_t kEmbeddingChecksumBytes = 8;
// Appends the checksum of blob[0, size) to the `size` bytes at `blob` (the
// caller's buffer holds size + kEmbeddingChecksumBytes).
void seal_embedding(unsigned char* blob, std::size_t size);
// "" when a stored blob of `bytes` bytes is `values_bytes` of values, sealed
// (checksum matching) or from before the checksum; else what is wrong, as
// "has N bytes; ... take M" or "does not match its checksum ...".
std::string embedding_blob_problem(const unsigned char* blob, std::size_t bytes, std::size_t values_bytes,
                                   const std::string& values_text);

}  // namespace oneshot::archive
