#include "data/cache_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/half.h"

namespace oneshot {
namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "the cache format is little-endian");

namespace {

constexpr std::size_t kPrefixBytes = 8 + 4 + 4 + 8;  // magic, version, reserved, header size
constexpr std::size_t kAlignment = 64;
constexpr std::uint64_t kMaxCount = 1ull << 32;  // no real dataset has more clips/classes

std::size_t element_size(CacheDtype dtype) { return dtype == CacheDtype::float16 ? 2 : 4; }

std::uint64_t align_up(std::uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// ---- Header serialisation ----------------------------------------------------

class ByteWriter {
 public:
  template <class T> void put(T value) { bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T)); }
  void put_raw(const void* p, std::size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    bytes_ += s;
  }
  void put_strings(const std::vector<std::string>& v) {
    put<std::uint64_t>(v.size());
    for (const auto& s : v) put_string(s);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Reads from an untrusted buffer: every read is bounds-checked and fails by
// returning false, never by reading past the end.
class ByteReader {
 public:
  ByteReader(const char* data, std::size_t size) : p_(data), end_(data + size) {}
  template <class T> bool get(T& value) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(T)) return false;
    std::memcpy(&value, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool get_string(std::string& s) {
    std::uint64_t n = 0;
    if (!get(n) || n > static_cast<std::uint64_t>(end_ - p_)) return false;
    s.assign(p_, n);
    p_ += n;
    return true;
  }
  // A count is trusted only as far as the bytes left can hold it: each string
  // needs at least its 8-byte length, so a damaged count fails here instead of
  // sizing a vector (bad_alloc, or minutes of constructing empty strings).
  bool get_strings(std::vector<std::string>& v) {
    std::uint64_t n = 0;
    if (!get(n) || n > kMaxCount || n > remaining() / sizeof(std::uint64_t)) return false;
    v.clear();
    v.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string s;
      if (!get_string(s)) return false;
      v.push_back(std::move(s));
    }
    return true;
  }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

std::string serialize_header(const CacheHeader& h) {
  ByteWriter w;
  w.put(h.key);
  w.put(static_cast<std::uint32_t>(h.dtype));
  w.put<std::uint32_t>(0);
  w.put(h.n_clips);
  w.put(h.n_mels);
  w.put(h.n_frames);
  w.put_string(h.features_toml);
  w.put_strings(h.class_names);
  w.put_strings(h.file_names);
  for (std::int32_t id : h.class_ids) w.put(id);
  w.put_strings(h.skipped_names);
  w.put_strings(h.skipped_reasons);
  return w.bytes();
}

// The header's fixed-size fields (key, dtype, shape), which fix the file's
// size: read before the checksum is verified, and allocate nothing.
// Empty on success, else what is wrong with them.
std::string parse_fixed_fields(ByteReader& r, CacheHeader& h) {
  std::uint32_t dtype = 0, reserved = 0;
  if (!r.get(h.key) || !r.get(dtype) || !r.get(reserved) || !r.get(h.n_clips) || !r.get(h.n_mels) ||
      !r.get(h.n_frames))
    return "header too short";
  if (dtype > 1) return "unknown dtype " + std::to_string(dtype);
  h.dtype = static_cast<CacheDtype>(dtype);
  if (h.n_clips > kMaxCount || h.n_mels > (1u << 24) || h.n_frames > (1u << 24)) return "implausible shape";
  return {};
}

// The whole header. Called once the file's checksum is verified, and still
// bounds every count by the bytes that remain.
// Empty on success, else what is wrong with the header.
std::string parse_header(const char* data, std::size_t size, CacheHeader& h) {
  ByteReader r(data, size);
  if (std::string why = parse_fixed_fields(r, h); !why.empty()) return why;
  if (!r.get_string(h.features_toml) || !r.get_strings(h.class_names) || !r.get_strings(h.file_names))
    return "header fields truncated";
  if (h.file_names.size() != h.n_clips) return "file name count differs from the clip count";
  if (h.n_clips > r.remaining() / sizeof(std::int32_t)) return "class ids truncated";
  h.class_ids.resize(h.n_clips);
  for (auto& id : h.class_ids)
    if (!r.get(id)) return "class ids truncated";
  for (std::int32_t id : h.class_ids)
    if (id < 0 || static_cast<std::size_t>(id) >= h.class_names.size()) return "class id out of range";
  if (!r.get_strings(h.skipped_names) || !r.get_strings(h.skipped_reasons) ||
      h.skipped_names.size() != h.skipped_reasons.size())
    return "skipped-file list truncated";
  if (!r.at_end()) return "trailing bytes in the header";
  return {};
}

// ---- Memory mapping ------------------------------------------------------------

struct Mapping {
  void* base = MAP_FAILED;
  std::size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
  const char* bytes() const { return static_cast<const char*>(base); }
};

}  // namespace

void write_cache_file(const fs::path& path, const CacheHeader& header, const float* data) {
  const std::string header_bytes = serialize_header(header);
  const std::uint64_t payload_offset = align_up(kPrefixBytes + header_bytes.size());
  const std::size_t n_values = header.n_clips * header.n_mels * header.n_frames;

  XXH3_state_t* state = XXH3_createState();
  if (!state) throw Error("out of memory for the cache checksum");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state_owner(state, XXH3_freeState);
  XXH3_64bits_reset(state);

  AtomicWriter out(path);
  auto emit = [&](const void* bytes, std::size_t n) {
    XXH3_64bits_update(state, bytes, n);
    out.write(bytes, n);
  };
  ByteWriter prefix;
  prefix.put_raw(kCacheMagic, sizeof kCacheMagic);
  prefix.put(kCacheVersion);
  prefix.put<std::uint32_t>(0);
  prefix.put<std::uint64_t>(header_bytes.size());
  emit(prefix.bytes().data(), prefix.bytes().size());
  emit(header_bytes.data(), header_bytes.size());
  const std::string padding(payload_offset - kPrefixBytes - header_bytes.size(), '\0');
  emit(padding.data(), padding.size());

  if (header.dtype == CacheDtype::float32) {
    emit(data, n_values * sizeof(float));
  } else {
    std::vector<std::uint16_t> chunk(1 << 16);
    for (std::size_t start = 0; start < n_values; start += chunk.size()) {
      const std::size_t n = std::min(chunk.size(), n_values - start);
      for (std::size_t i = 0; i < n; ++i) chunk[i] = float_to_half(data[start + i]);
      emit(chunk.data(), n * sizeof(std::uint16_t));
    }
  }
  const std::uint64_t checksum = XXH3_64bits_digest(state);
  out.write(&checksum, sizeof checksum);
  out.commit();
}

// ---- Writing while computing -------------------------------------------------------

struct CacheFileWriter::Impl {
  CacheHeader header;
  std::string header_bytes;
  std::uint64_t payload_offset = 0, clip_bytes = 0, payload_end = 0;
  std::unique_ptr<AtomicWriter> atomic;  // owns the temporary file: removal, fsync, rename
  int fd = -1;                           // a second descriptor on it, for writes at offsets

  void pwrite_all(const void* data, std::size_t size, std::uint64_t offset) {
    atomic->pwrite(offset, data, size);  // a full disk: an Error naming the cache file
  }
};

CacheFileWriter::CacheFileWriter(const fs::path& path, CacheHeader header) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.header = std::move(header);
  m.header_bytes = serialize_header(m.header);
  m.payload_offset = align_up(kPrefixBytes + m.header_bytes.size());
  m.clip_bytes = m.header.n_mels * m.header.n_frames * element_size(m.header.dtype);
  m.payload_end = m.payload_offset + m.header.n_clips * m.clip_bytes;
  m.atomic = std::make_unique<AtomicWriter>(path, OutputRules{.streaming = false});  // written at offsets, mapped
  m.fd = ::open(m.atomic->temp_path().c_str(), O_RDWR | O_CLOEXEC);
  if (m.fd < 0) throw file_error(m.atomic->temp_path(), "cannot open: " + std::string(std::strerror(errno)));
}

CacheFileWriter::~CacheFileWriter() {
  if (impl_ && impl_->fd >= 0) ::close(impl_->fd);
}

void CacheFileWriter::write_clip(std::size_t i, const float* values) {
  Impl& m = *impl_;
  if (i >= m.header.n_clips) throw Error("CacheFileWriter: clip " + std::to_string(i) + " of " + std::to_string(m.header.n_clips));
  const std::uint64_t offset = m.payload_offset + i * m.clip_bytes;
  const std::size_t n = m.header.n_mels * m.header.n_frames;
  if (m.header.dtype == CacheDtype::float32) {
    m.pwrite_all(values, n * sizeof(float), offset);
  } else {
    std::vector<std::uint16_t> halves(n);
    for (std::size_t k = 0; k < n; ++k) halves[k] = float_to_half(values[k]);
    m.pwrite_all(halves.data(), n * sizeof(std::uint16_t), offset);
  }
  // Start writeback now, so that commit's fsync finds little left to do.
  ::sync_file_range(m.fd, static_cast<off_t>(offset), static_cast<off_t>(m.clip_bytes), SYNC_FILE_RANGE_WRITE);
}

void CacheFileWriter::commit() {
  Impl& m = *impl_;
  ByteWriter prefix;
  prefix.put_raw(kCacheMagic, sizeof kCacheMagic);
  prefix.put(kCacheVersion);
  prefix.put<std::uint32_t>(0);
  prefix.put<std::uint64_t>(m.header_bytes.size());
  std::string head = prefix.bytes() + m.header_bytes;
  head.resize(m.payload_offset, '\0');
  m.pwrite_all(head.data(), head.size(), 0);
  // The checksum covers the bytes as they are in the file (page cache: fast).
  std::uint64_t checksum = 0;
  if (m.payload_end > 0) {
    void* map = ::mmap(nullptr, m.payload_end, PROT_READ, MAP_SHARED, m.fd, 0);
    if (map == MAP_FAILED) throw file_error(m.atomic->temp_path(), "cannot map: " + std::string(std::strerror(errno)));
    checksum = XXH3_64bits(map, m.payload_end);
    ::munmap(map, m.payload_end);
  }
  m.pwrite_all(&checksum, sizeof checksum, m.payload_end);
  ::close(m.fd);
  m.fd = -1;
  m.atomic->commit();  // fsync (the file's data, whichever descriptor wrote it), rename, fsync the directory
}

std::optional<CacheContents> read_cache_file(const fs::path& path, std::string* problem) {
  auto fail = [&](std::string why) -> std::optional<CacheContents> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  // O_NONBLOCK: a named pipe in the cache's place opens at once (and is
  // refused below) instead of blocking until some program writes to it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(errno == ENOENT ? "absent" : "corrupt: cannot open (" + std::string(std::strerror(errno)) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return fail("corrupt: cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("corrupt: not a regular file");
  }
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  if (size < kPrefixBytes + sizeof(std::uint64_t)) {
    ::close(fd);
    return fail("corrupt: truncated (" + std::to_string(size) + " bytes)");
  }
  auto map = std::make_shared<Mapping>();
  map->base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  map->size = size;
  ::close(fd);
  if (map->base == MAP_FAILED) return fail("corrupt: cannot map (" + std::string(std::strerror(errno)) + ")");
  const char* bytes = map->bytes();

  if (std::memcmp(bytes, kCacheMagic, sizeof kCacheMagic) != 0) return fail("corrupt: not a feature cache (bad magic)");
  std::uint32_t version = 0;
  std::uint64_t header_size = 0;
  std::memcpy(&version, bytes + 8, 4);
  std::memcpy(&header_size, bytes + 16, 8);
  if (version != kCacheVersion)
    return fail("stale: format version " + std::to_string(version) + ", this build reads " +
                std::to_string(kCacheVersion));
  if (header_size > size - kPrefixBytes) return fail("corrupt: truncated header");

  // Nothing the file says sizes an allocation before its checksum is verified:
  // the fixed fields give the size the file must have, the checksum proves the
  // bytes, and only then are the header's counts and strings read.
  CacheContents contents;
  CacheHeader& h = contents.header;
  {
    ByteReader fixed(bytes + kPrefixBytes, header_size);
    if (std::string why = parse_fixed_fields(fixed, h); !why.empty()) return fail("corrupt: " + why);
  }
  const std::uint64_t payload_offset = align_up(kPrefixBytes + header_size);
  std::uint64_t n_values = 0, payload_bytes = 0, expected = 0;
  if (__builtin_mul_overflow(h.n_clips, h.n_mels * h.n_frames, &n_values) ||
      __builtin_mul_overflow(n_values, element_size(h.dtype), &payload_bytes) ||
      __builtin_add_overflow(payload_offset + sizeof(std::uint64_t), payload_bytes, &expected))
    return fail("corrupt: implausible shape");
  if (size < expected)
    return fail("corrupt: truncated (" + std::to_string(size) + " of " + std::to_string(expected) + " bytes)");
  if (size > expected) return fail("corrupt: " + std::to_string(size - expected) + " unexpected trailing bytes");

  std::uint64_t stored = 0;
  std::memcpy(&stored, bytes + size - sizeof stored, sizeof stored);
  if (XXH3_64bits(bytes, size - sizeof stored) != stored) return fail("corrupt: checksum mismatch");
  if (std::string why = parse_header(bytes + kPrefixBytes, header_size, h); !why.empty())
    return fail("corrupt: " + why);

  const char* payload = bytes + payload_offset;
  if (h.dtype == CacheDtype::float32) {
    contents.data = reinterpret_cast<const float*>(payload);  // 64-byte aligned within the page-aligned map
    contents.storage = map;
  } else {
    // A 65536-entry table turns the bit-twiddling conversion into one load.
    static const std::vector<float> table = [] {
      std::vector<float> t(1 << 16);
      for (std::uint32_t h = 0; h < t.size(); ++h) t[h] = half_to_float(static_cast<std::uint16_t>(h));
      return t;
    }();
    auto values = std::make_shared<std::vector<float>>(n_values);
    const auto* halves = reinterpret_cast<const std::uint16_t*>(payload);  // 64-byte aligned
    float* out = values->data();
    for (std::size_t i = 0; i < n_values; ++i) out[i] = table[halves[i]];
    contents.data = values->data();
    contents.storage = values;
  }
  return contents;
}

}  // namespace oneshot
