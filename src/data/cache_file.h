#pragma once
// The feature cache file format (little-endian):
//
//   "OSFEATC\0"  magic (8 bytes)
//   u32          format version
//   u32          reserved (0)
//   u64          header size in bytes
//   header       key, dtype, shape, feature parameters (TOML), class names,
//                file names, class ids, skipped files
//   zero padding to a 64-byte boundary (so float32 payloads map in place)
//   payload      n_clips x n_mels x n_frames, float32 or float16, row-major
//   u64          XXH3-64 of every byte before it
//
// Written atomically; read by mmap, after checking magic, version, size and
// checksum, so a truncated, foreign, old or damaged file is never used.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace oneshot {

inline constexpr char kCacheMagic[8] = {'O', 'S', 'F', 'E', 'A', 'T', 'C', '\0'};
inline constexpr std::uint32_t kCacheVersion = 1;

enum class CacheDtype : std::uint32_t { float32 = 0, float16 = 1 };

struct CacheHeader {
  std::uint64_t key = 0;  // hash of feature parameters + (name, size, mtime) of every clip
  CacheDtype dtype = CacheDtype::float32;
  std::uint64_t n_clips = 0, n_mels = 0, n_frames = 0;
  std::string features_toml;  // the parameters, for people inspecting the file
  std::vector<std::string> class_names;
  std::vector<std::string> file_names;     // one per clip
  std::vector<std::int32_t> class_ids;     // one per clip
  std::vector<std::string> skipped_names;  // files left out (skip_bad), with reasons
  std::vector<std::string> skipped_reasons;
};

// An opened, verified cache file. `data` points into `storage`: the mapping
// itself for float32, a converted copy for float16.
struct CacheContents {
  CacheHeader header;
  std::shared_ptr<void> storage;
  const float* data = nullptr;
};

// Writes header + payload (`data` is n_clips x n_mels x n_frames float32,
// converted when header.dtype is float16) atomically to `path`.
void write_cache_file(const std::filesystem::path& path, const CacheHeader& header, const float* data);

// Writes a cache file while its payload is computed, so that the durable
// write overlaps the work instead of following it: write_clip() from any
// thread, in any order, puts each clip's bytes at their place in a temporary
// file beside `path` and asks the kernel to start writing them back;
// commit() adds the header and checksum, fsyncs and renames (AtomicWriter).
// The header must be final (its size fixes every clip's offset). Destroyed
// without commit(), the temporary file is removed.
class CacheFileWriter {
 public:
  CacheFileWriter(const std::filesystem::path& path, CacheHeader header);
  ~CacheFileWriter();
  CacheFileWriter(const CacheFileWriter&) = delete;
  CacheFileWriter& operator=(const CacheFileWriter&) = delete;
  // Clip i's n_mels x n_frames float32 values (stored as header.dtype).
  // Throws Error naming the cache file ("the disk is full ..." for a full disk).
  void write_clip(std::size_t i, const float* values);
  // Every clip must have been written.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Maps and verifies `path`. On failure returns nullopt and sets `problem`:
// "absent", "corrupt: ..." or "stale: ..." (an older or newer format version).
std::optional<CacheContents> read_cache_file(const std::filesystem::path& path, std::string* problem);

}  // namespace oneshot
