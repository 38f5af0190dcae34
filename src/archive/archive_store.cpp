#include "archive/archive_store.h"

#include <xxhash.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include <sys/stat.h>

#include "archive/postgres_store.h"
#include "archive/sqlite_archive.h"
#include "core/error.h"
#include "core/number_text.h"
#include "core/store_location.h"

namespace oneshot::archive {
namespace fs = std::filesystem;

void seal_embedding(unsigned char* blob, std::size_t size) {
  const std::uint64_t sum = XXH3_64bits(blob, size);
  std::memcpy(blob + size, &sum, sizeof sum);
}

std::string embedding_blob_problem(const unsigned char* blob, std::size_t bytes, std::size_t values_bytes,
                                   const std::string& values_text) {
  if (bytes == values_bytes) return "";  // stored before the checksum
  if (bytes != values_bytes + kEmbeddingChecksumBytes)
    return "has " + std::to_string(bytes) + " bytes; the archive's " + values_text + " take " +
           std::to_string(values_bytes) + " (" + std::to_string(values_bytes + kEmbeddingChecksumBytes) +
           " with their checksum)";
  std::uint64_t sum;
  std::memcpy(&sum, blob + values_bytes, sizeof sum);
  if (XXH3_64bits(blob, values_bytes) != sum) return "does not match its checksum (a changed or damaged value)";
  return "";
}

std::string new_archive_id() {
  std::random_device device;
  std::string id;
  char buf[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(device()));
    id += buf;
  }
  return id;
}

FileRecord file_identity(const fs::path& path) {
  FileRecord f;
  f.path = fs::absolute(path).lexically_normal().string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw file_error(path, std::string("cannot read: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw file_error(path, "is not a regular file (an archive indexes recordings on disk)");
  f.size = static_cast<std::int64_t>(st.st_size);
  f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw file_error(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<char> head(kHeadHashBytes);
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (in.bad()) throw file_error(path, "cannot read its first MiB");
  const XXH64_hash_t h = XXH3_64bits(head.data(), static_cast<std::size_t>(in.gcount()));
  char hex[20];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  f.head_hash = hex;
  return f;
}

bool same_identity(const FileRecord& stored, const FileRecord& now) {
  return stored.size == now.size && stored.mtime_ns == now.mtime_ns && stored.head_hash == now.head_hash;
}

std::vector<std::int64_t> ArchiveStore::window_ids() const {
  std::vector<std::int64_t> ids;
  scan(8192, [&](const WindowBlock& b) { ids.insert(ids.end(), b.ids.begin(), b.ids.end()); });
  return ids;
}

std::string archive_location(const std::string& location) {
  return is_postgres_url(location) ? location : sqlite_file_of(location, "archive");
}

std::unique_ptr<ArchiveStore> open_archive(const std::string& location, bool read_only) {
  if (is_postgres_url(location)) return open_postgres_archive(location, read_only);
  return open_sqlite_archive(archive_location(location), read_only);
}

std::string archive_mismatch(const ArchiveModel& stored, const ArchiveModel& wanted, std::optional<bool> half) {
  if (stored.fingerprint != wanted.fingerprint &&
      (wanted.former_fingerprint.empty() || stored.fingerprint != wanted.former_fingerprint))
    return "the archive was embedded with model " + stored.fingerprint + " (run " + stored.run + "), not with " +
           wanted.fingerprint + " (run " + wanted.run + "); index into another archive, or search this one with its own run";
  if (wanted.hop_s > 0 && std::fabs(stored.hop_s - wanted.hop_s) > 1e-9)
    return "the archive's windows start every " + short_number(stored.hop_s) + " s, not every " +
           short_number(wanted.hop_s) + " s (--hop): one archive holds one window grid; leave --hop out to use the "
           "archive's, or index into another archive";
  if (half && *half != stored.half)
    return std::string("the archive stores its embeddings as ") + (stored.half ? "float16" : "float32") + ", not " +
           (*half ? "float16" : "float32") + (stored.half ? "" : " (--half)") +
           ": leave --half out to use the archive's, or index into another archive";
  if (!stored.windows.empty() && !wanted.windows.empty() && stored.windows != wanted.windows)
    return "the archive's windows were embedded " +
           std::string(stored.windows == "shared" ? "sharing the encoder's work (index --shared)" : "one by one") +
           ", not " + (wanted.windows == "shared" ? "shared (--shared)" : "one by one (without --shared)") +
           ": one archive's embeddings are computed one way, so that their scores compare; " +
           (stored.windows == "shared" ? "add --shared" : "leave --shared out") + ", or index into another archive";
  return "";
}

std::unique_ptr<ArchiveStore> open_or_create_archive(const std::string& location, const ArchiveModel& model,
                                                     std::optional<bool> half) {
  if (is_postgres_url(location)) return open_or_create_postgres_archive(location, model, half);
  return open_or_create_sqlite_archive(archive_location(location), model, half);
}

bool archive_exists(const std::string& location) {
  if (is_postgres_url(location)) return postgres_archive_exists(location);
  // An empty file (made by `touch`, or left by a tool) holds no archive yet: SQLite makes one in it.
  const std::string file = archive_location(location);
  std::error_code ec;
  return fs::exists(file, ec) && !(fs::is_regular_file(file, ec) && fs::file_size(file, ec) == 0);
}

}  // namespace oneshot::archive
