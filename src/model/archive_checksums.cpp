#include "model/archive_checksums.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"

// No LibTorch here: the fuzz target fuzz/fuzz_checkpoint.cpp compiles this
// file alone into the model-free sanitizer build.
namespace oneshot {
namespace {

// Little-endian fields of the ZIP structures, each read only after its
// extent was checked against the archive's length.
struct ZipBytes {
  std::string_view bytes;
  bool has(std::uint64_t offset, std::uint64_t size) const {
    return offset <= bytes.size() && size <= bytes.size() - offset;
  }
  std::uint64_t le(std::uint64_t offset, int size) const {
    std::uint64_t v = 0;
    for (int i = size - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[offset + i]);
    return v;
  }
};

constexpr std::uint32_t kEndOfDirectory = 0x06054b50, kZip64Locator = 0x07064b50, kZip64End = 0x06064b50,
                        kDirectoryEntry = 0x02014b50, kLocalHeader = 0x04034b50;

}  // namespace

std::string damaged_checkpoint_way_out(const std::filesystem::path& path) {
  const std::filesystem::path run = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  const std::string name = path.filename().string();
  if (name == "best.pt")
    return "restore it from a copy, or copy the run's last.pt (its latest weights) over it: `cp " +
           (run / "last.pt").string() + " " + path.string() + "`; or train again";
  if (name == "last.pt")
    return "restore it from a copy, or train again in a new run directory (`train --run NEW`); " +
           (run / "best.pt").string() + " still holds the run's weights for evaluate, enroll and classify";
  return "restore it from a copy, or train again";
}

void verify_archive_checksums(std::string_view bytes, const std::filesystem::path& origin) {
  const ZipBytes z{bytes};
  auto damaged = [&](const std::string& what) {
    return file_error(origin, "damaged checkpoint: " + what + " (a damaged copy or disk): " +
                                  damaged_checkpoint_way_out(origin));
  };
  if (bytes.size() < 22) throw damaged("too short to be a checkpoint archive");
  // The end-of-directory record is within the last 22 + 65535 bytes (its comment).
  std::uint64_t end = bytes.size() - 22;
  const std::uint64_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  while (z.le(end, 4) != kEndOfDirectory) {
    if (end == lowest) throw damaged("no ZIP directory at its end");
    --end;
  }
  std::uint64_t disk_entries = z.le(end + 8, 2), entries = z.le(end + 10, 2), directory_size = z.le(end + 12, 4),
                directory = z.le(end + 16, 4);
  if ((entries == 0xFFFF || directory_size == 0xFFFFFFFF || directory == 0xFFFFFFFF) && end >= 20 &&
      z.le(end - 20, 4) == kZip64Locator) {
    const std::uint64_t record = z.le(end - 20 + 8, 8);
    if (!z.has(record, 56) || z.le(record, 4) != kZip64End) throw damaged("bad ZIP64 directory record");
    disk_entries = z.le(record + 24, 8);
    entries = z.le(record + 32, 8);
    directory_size = z.le(record + 40, 8);
    directory = z.le(record + 48, 8);
  }
  // One disk: both counts are the same (LibTorch writes one file).
  if (disk_entries != entries)
    throw damaged("the ZIP end record counts " + std::to_string(disk_entries) + " and " + std::to_string(entries) +
                  " entries");
  if (!z.has(directory, directory_size) || entries > directory_size / 46)
    throw damaged("the ZIP directory points outside the file");
  std::uint64_t at = directory;
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (!z.has(at, 46) || z.le(at, 4) != kDirectoryEntry) throw damaged("ZIP directory entry " + std::to_string(i));
    const std::uint64_t method = z.le(at + 10, 2), name_length = z.le(at + 28, 2), extra_length = z.le(at + 30, 2),
                        comment_length = z.le(at + 32, 2);
    const auto crc = static_cast<std::uint32_t>(z.le(at + 16, 4));
    std::uint64_t stored_size = z.le(at + 20, 4), plain_size = z.le(at + 24, 4), local = z.le(at + 42, 4);
    if (!z.has(at + 46, name_length + extra_length + comment_length))
      throw damaged("ZIP directory entry " + std::to_string(i));
    const std::string name(bytes.substr(at + 46, name_length));
    // ZIP64 extra field: the 8-byte values of the fields that read 0xFFFFFFFF, in this order.
    for (std::uint64_t e = at + 46 + name_length; e + 4 <= at + 46 + name_length + extra_length;) {
      const std::uint64_t id = z.le(e, 2), size = z.le(e + 2, 2);
      if (e + 4 + size > at + 46 + name_length + extra_length) throw damaged("ZIP extra field of \"" + name + "\"");
      if (id == 1) {
        std::uint64_t f = e + 4;
        for (std::uint64_t* field : {&plain_size, &stored_size, &local}) {
          if (*field != 0xFFFFFFFF) continue;
          if (f + 8 > e + 4 + size) throw damaged("ZIP64 field of \"" + name + "\"");
          *field = z.le(f, 8);
          f += 8;
        }
      }
      e += 4 + size;
    }
    if (!z.has(local, 30) || z.le(local, 4) != kLocalHeader) throw damaged("entry \"" + name + "\" has no header");
    const std::uint64_t data = local + 30 + z.le(local + 26, 2) + z.le(local + 28, 2);
    if (!z.has(data, stored_size)) throw damaged("entry \"" + name + "\" runs past the end of the file");
    if (method == 0) {  // stored, as LibTorch writes every entry
      if (plain_size != stored_size) throw damaged("entry \"" + name + "\" has two sizes");
      uLong sum = crc32(0L, Z_NULL, 0);
      for (std::uint64_t done = 0; done < stored_size;) {  // zlib takes 32-bit lengths
        const auto chunk = static_cast<uInt>(std::min<std::uint64_t>(stored_size - done, 1u << 30));
        sum = crc32(sum, reinterpret_cast<const Bytef*>(bytes.data() + data + done), chunk);
        done += chunk;
      }
      if (static_cast<std::uint32_t>(sum) != crc)
        throw damaged("entry \"" + name + "\" fails its CRC-32 check");
    }
    at += 46 + name_length + extra_length + comment_length;
  }
  // Entries the end record does not count were never checked: the directory
  // must end where the record says (a damaged count let 78 of 79 entries by).
  if (at != directory + directory_size)
    throw damaged("the ZIP end record counts " + std::to_string(entries) + (entries == 1 ? " entry" : " entries") +
                  " in " + std::to_string(directory_size) + " bytes of directory, but they take " +
                  std::to_string(at - directory) + " bytes");
}

}  // namespace oneshot
