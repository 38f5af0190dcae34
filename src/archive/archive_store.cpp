#include "archive/archive_store.h"

#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <sys/stat.h>

#include "archive/postgres_store.h"
#include "archive/sqlite_archive.h"
#include "core/error.h"

namespace oneshot::archive {
namespace fs = std::filesystem;

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

std::unique_ptr<ArchiveStore> open_archive(const std::string& location, bool read_only) {
  if (is_postgres_archive(location)) return open_postgres_archive(location, read_only);
  return open_sqlite_archive(location, read_only);
}

std::unique_ptr<ArchiveStore> open_or_create_archive(const std::string& location, const ArchiveModel& model,
                                                     std::optional<bool> half) {
  if (is_postgres_archive(location)) return open_or_create_postgres_archive(location, model, half);
  return open_or_create_sqlite_archive(location, model, half);
}

bool archive_exists(const std::string& location) {
  if (is_postgres_archive(location)) return postgres_archive_exists(location);
  // An empty file (made by `touch`, or left by a tool) holds no archive yet: SQLite makes one in it.
  std::error_code ec;
  return fs::exists(location, ec) && !(fs::is_regular_file(location, ec) && fs::file_size(location, ec) == 0);
}

}  // namespace oneshot::archive
