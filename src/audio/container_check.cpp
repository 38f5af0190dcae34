#include "audio/container_check.h"

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <vector>

namespace oneshot {
namespace fs = std::filesystem;

namespace {

struct ChunkHeader {
  char id[4];
  std::uint32_t size;
};

std::uint32_t read_u32(const unsigned char* p, bool big_endian) {
  return big_endian ? (std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3])
                    : (std::uint32_t(p[3]) << 24 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[1]) << 8 | p[0]);
}

// Walks the chunks of an IFF-style file (RIFF little-endian, RIFX/FORM big-endian)
// from `offset`, calling visit(id, size, payload_offset) until it returns true.
template <class Visit>
void walk_chunks(std::ifstream& in, std::uint64_t offset, std::uint64_t file_size, bool big_endian, Visit&& visit) {
  for (int count = 0; count < 256 && offset + 8 <= file_size; ++count) {
    unsigned char header[8];
    in.seekg(static_cast<std::streamoff>(offset));
    if (!in.read(reinterpret_cast<char*>(header), 8)) return;
    const std::uint32_t size = read_u32(header + 4, big_endian);
    if (visit(std::string(reinterpret_cast<char*>(header), 4), size, offset + 8)) return;
    offset += 8 + std::uint64_t(size) + (size & 1u);  // chunks are padded to even sizes
  }
}

std::string truncation_reason(std::uint64_t declared, std::uint64_t available) {
  return "truncated: the header declares " + std::to_string(declared) + " bytes of audio but the file holds " +
         std::to_string(available);
}

std::optional<std::string> iff_truncation(std::ifstream& in, std::uint64_t file_size, const char* magic) {
  const bool riff = std::memcmp(magic, "RIFF", 4) == 0 && std::memcmp(magic + 8, "WAVE", 4) == 0;
  const bool rifx = std::memcmp(magic, "RIFX", 4) == 0 && std::memcmp(magic + 8, "WAVE", 4) == 0;
  const bool aiff = std::memcmp(magic, "FORM", 4) == 0 &&
                    (std::memcmp(magic + 8, "AIFF", 4) == 0 || std::memcmp(magic + 8, "AIFC", 4) == 0);
  if (!riff && !rifx && !aiff) return std::nullopt;
  const char* data_id = aiff ? "SSND" : "data";
  std::optional<std::string> reason;
  walk_chunks(in, 12, file_size, !riff, [&](const std::string& id, std::uint32_t size, std::uint64_t payload) {
    if (id != data_id) return false;
    // 0 and 0xFFFFFFFF mark a stream written without knowing its length.
    if (size != 0 && size != 0xFFFFFFFFu && payload + size > file_size)
      reason = truncation_reason(size, file_size - payload);
    return true;
  });
  return reason;
}

// Ogg's page checksum (RFC 3533): CRC-32, polynomial 0x04c11db7, not
// reflected, initial value 0, over the page with its checksum field zeroed.
std::uint32_t ogg_crc(const unsigned char* data, std::size_t n, std::uint32_t crc = 0) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t r = i << 24;
      for (int b = 0; b < 8; ++b) r = (r & 0x80000000u) ? (r << 1) ^ 0x04c11db7u : r << 1;
      t[i] = r;
    }
    return t;
  }();
  for (std::size_t i = 0; i < n; ++i) crc = (crc << 8) ^ table[((crc >> 24) ^ data[i]) & 0xff];
  return crc;
}

// Every page of an Ogg file, in order, must be whole and pass its checksum:
// the decoders (libvorbis, libopus, through libsndfile or FFmpeg) drop a page
// that fails it, or bytes that are not a page, and go on without a word (one
// flipped bit lost 0.6 s of a 5 s clip). Bytes after the last end-of-stream
// page pass (an ID3v1 tag some taggers append); a cut page is left to
// ogg_truncation, which names it.
std::optional<std::string> ogg_damage(std::ifstream& in, std::uint64_t file_size) {
  std::uint64_t offset = 0;
  bool after_end_of_stream = false;
  std::vector<unsigned char> page;
  in.clear();
  for (std::uint64_t number = 0; offset < file_size; ++number) {
    unsigned char header[27 + 255];
    const std::uint64_t left = file_size - offset;
    in.seekg(static_cast<std::streamoff>(offset));
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(27, left));
    if (!in.read(reinterpret_cast<char*>(header), static_cast<std::streamsize>(want))) return std::nullopt;
    if (want < 27 || std::memcmp(header, "OggS", 4) != 0 || header[4] != 0) {
      if (after_end_of_stream) return std::nullopt;
      if (want < 27 && std::memcmp(header, "OggS", std::min<std::size_t>(want, 4)) == 0) return std::nullopt;
      return "damaged: the bytes at offset " + std::to_string(offset) + " are not an Ogg page (page " +
             std::to_string(number) + " is damaged or missing; a decoder would skip its audio)";
    }
    const std::size_t n_segments = header[26];
    if (27 + n_segments > left) return std::nullopt;  // cut: ogg_truncation's
    if (!in.read(reinterpret_cast<char*>(header + 27), static_cast<std::streamsize>(n_segments))) return std::nullopt;
    std::uint64_t page_size = 27 + n_segments;
    for (std::size_t i = 0; i < n_segments; ++i) page_size += header[27 + i];
    if (page_size > left) return std::nullopt;  // cut: ogg_truncation's
    page.assign(header, header + 27 + n_segments);
    page.resize(static_cast<std::size_t>(page_size));
    if (!in.read(reinterpret_cast<char*>(page.data() + 27 + n_segments),
                 static_cast<std::streamsize>(page_size - 27 - n_segments)))
      return std::nullopt;
    const std::uint32_t stored = read_u32(page.data() + 22, false);
    std::memset(page.data() + 22, 0, 4);
    if (ogg_crc(page.data(), page.size()) != stored)
      return "damaged: Ogg page " + std::to_string(number) + " at offset " + std::to_string(offset) +
             " fails its checksum (a decoder would skip its audio)";
    after_end_of_stream = (header[5] & 0x04) != 0;
    offset += page_size;
  }
  return std::nullopt;
}

// An Ogg stream must end with a complete page flagged end-of-stream.
std::optional<std::string> ogg_truncation(std::ifstream& in, std::uint64_t file_size) {
  const std::uint64_t max_page = 27 + 255 + 255 * 255;
  const std::uint64_t tail_size = std::min<std::uint64_t>(file_size, max_page);
  std::vector<unsigned char> tail(tail_size);
  in.seekg(static_cast<std::streamoff>(file_size - tail_size));
  if (!in.read(reinterpret_cast<char*>(tail.data()), static_cast<std::streamsize>(tail_size))) return std::nullopt;
  for (std::size_t p = tail_size >= 27 ? tail_size - 27 + 1 : 0; p-- > 0;) {
    if (std::memcmp(&tail[p], "OggS", 4) != 0 || tail[p + 4] != 0) continue;
    const std::size_t n_segments = tail[p + 26];
    if (p + 27 + n_segments > tail_size) continue;
    std::size_t page_size = 27 + n_segments;
    for (std::size_t s = 0; s < n_segments; ++s) page_size += tail[p + 27 + s];
    if (p + page_size != tail_size) continue;  // not the page that ends the file
    if (tail[p + 5] & 0x04) return std::nullopt;
    return std::string("truncated: the Ogg stream ends without its end-of-stream page");
  }
  // Bytes after a complete end-of-stream page (an ID3v1 tag some taggers
  // append, other trailing data) are not a truncation: the decoders stop at
  // that page.
  for (std::size_t p = tail_size >= 27 ? tail_size - 27 + 1 : 0; p-- > 0;) {
    if (std::memcmp(&tail[p], "OggS", 4) != 0 || tail[p + 4] != 0 || !(tail[p + 5] & 0x04)) continue;
    const std::size_t n_segments = tail[p + 26];
    if (p + 27 + n_segments > tail_size) continue;
    std::size_t page_size = 27 + n_segments;
    for (std::size_t s = 0; s < n_segments; ++s) page_size += tail[p + 27 + s];
    if (p + page_size <= tail_size) return std::nullopt;
  }
  return std::string("truncated: the file ends in the middle of an Ogg page");
}

}  // namespace

std::optional<std::string> container_truncation(const fs::path& path) {
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec || file_size < 12) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  char magic[12];
  if (!in.read(magic, 12)) return std::nullopt;
  if (std::memcmp(magic, "OggS", 4) == 0) {
    if (auto damage = ogg_damage(in, file_size)) return damage;
    in.clear();
    return ogg_truncation(in, file_size);
  }
  return iff_truncation(in, file_size, magic);
}

namespace {

// The first `n` bytes of the file (fewer when it is shorter).
std::vector<unsigned char> head(const fs::path& path, std::size_t n) {
  std::vector<unsigned char> bytes(n);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return bytes;
}

// Offset after an ID3v2 tag at the start (its size is "syncsafe": 7 bits a byte), else 0.
std::uint64_t id3v2_size(const fs::path& path) {
  const auto h = head(path, 10);
  if (h.size() < 10 || std::memcmp(h.data(), "ID3", 3) != 0) return 0;
  const std::uint64_t size = (std::uint64_t(h[6] & 0x7f) << 21) | (std::uint64_t(h[7] & 0x7f) << 14) |
                             (std::uint64_t(h[8] & 0x7f) << 7) | (h[9] & 0x7f);
  return 10 + size + ((h[5] & 0x10) ? 10 : 0);  // footer flag
}

std::vector<unsigned char> bytes_at(const fs::path& path, std::uint64_t offset, std::size_t n) {
  std::vector<unsigned char> bytes(n);
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return bytes;
}

std::uint32_t be32(const unsigned char* p) { return read_u32(p, true); }

}  // namespace

std::optional<DeclaredLength> flac_declared_length(const fs::path& path) {
  // "fLaC", block header (4), STREAMINFO: min/max block (2+2), min/max frame
  // (3+3), then 20 bits rate, 3 channels-1, 5 bits-1, 36 bits total samples.
  const auto b = bytes_at(path, id3v2_size(path), 4 + 4 + 18);
  if (b.size() < 26 || std::memcmp(b.data(), "fLaC", 4) != 0 || (b[4] & 0x7f) != 0) return std::nullopt;
  const unsigned char* info = b.data() + 8;
  const std::uint64_t max_block = std::uint64_t(info[2]) << 8 | info[3];
  const std::uint64_t total = (std::uint64_t(info[13] & 0x0f) << 32) | be32(info + 14);
  if (total == 0) return std::nullopt;
  return DeclaredLength{total, std::max<std::uint64_t>(max_block, 1)};
}

std::optional<DeclaredLength> mp3_declared_length(const fs::path& path) {
  const auto b = bytes_at(path, id3v2_size(path), 4 + 32 + 120 + 24);
  if (b.size() < 4 + 32 + 16 || b[0] != 0xff || (b[1] & 0xe0) != 0xe0) return std::nullopt;
  const int version = (b[1] >> 3) & 3;  // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
  const int layer = (b[1] >> 1) & 3;    // 1: III, 2: II, 3: I
  if (version == 1 || layer == 0) return std::nullopt;
  const bool mono = (b[3] >> 6) == 3;
  const std::uint64_t spf = layer == 3 ? 384 : (layer == 2 || version == 3) ? 1152 : 576;
  const std::size_t side_info = layer != 1 ? 0 : version == 3 ? (mono ? 17 : 32) : (mono ? 9 : 17);
  std::size_t x = 4 + side_info;
  if (x + 16 <= b.size() && (std::memcmp(&b[x], "Xing", 4) == 0 || std::memcmp(&b[x], "Info", 4) == 0)) {
    const std::uint32_t flags = be32(&b[x + 4]);
    if (!(flags & 1)) return std::nullopt;
    const std::uint64_t frames = be32(&b[x + 8]);
    // The LAME tag follows the Xing fields present: frames, bytes, TOC, quality.
    std::size_t lame = x + 8 + 4 + ((flags & 2) ? 4 : 0) + ((flags & 4) ? 100 : 0) + ((flags & 8) ? 4 : 0);
    std::uint64_t delay = 0, padding = 0;
    if (lame + 24 <= b.size() && (std::memcmp(&b[lame], "LAME", 4) == 0 || std::memcmp(&b[lame], "Lavc", 4) == 0 ||
                                  std::memcmp(&b[lame], "Lavf", 4) == 0 || std::memcmp(&b[lame], "L3.9", 4) == 0)) {
      delay = std::uint64_t(b[lame + 21]) << 4 | b[lame + 22] >> 4;
      padding = std::uint64_t(b[lame + 22] & 0x0f) << 8 | b[lame + 23];
    }
    const std::uint64_t total = frames * spf;
    if (frames == 0 || delay + padding >= total) return std::nullopt;
    return DeclaredLength{total - delay - padding, spf};
  }
  x = 4 + 32;  // Fraunhofer's VBRI header sits 32 bytes after the frame header
  if (x + 18 <= b.size() && std::memcmp(&b[x], "VBRI", 4) == 0) {
    const std::uint64_t frames = be32(&b[x + 14]);
    if (frames > 0) return DeclaredLength{frames * spf, spf};
  }
  return std::nullopt;
}

StreamHeaderLength iff_stream_declared_length(const std::vector<unsigned char>& head) {
  StreamHeaderLength result;
  if (head.size() < 12) return result;
  const unsigned char* b = head.data();
  const bool wave = std::memcmp(b + 8, "WAVE", 4) == 0;
  const bool riff = wave && std::memcmp(b, "RIFF", 4) == 0;
  const bool rifx = wave && std::memcmp(b, "RIFX", 4) == 0;
  const bool rf64 = wave && (std::memcmp(b, "RF64", 4) == 0 || std::memcmp(b, "BW64", 4) == 0);
  const bool aiff = std::memcmp(b, "FORM", 4) == 0 && (std::memcmp(b + 8, "AIFF", 4) == 0 || std::memcmp(b + 8, "AIFC", 4) == 0);
  if (!riff && !rifx && !rf64 && !aiff) return result;
  result.iff = true;
  const bool big_endian = rifx || aiff;
  auto u16 = [&](std::size_t at) {
    return big_endian ? std::uint32_t(b[at]) << 8 | b[at + 1] : std::uint32_t(b[at + 1]) << 8 | b[at];
  };
  auto u64le = [&](std::size_t at) { return std::uint64_t(read_u32(b + at + 4, false)) << 32 | read_u32(b + at, false); };
  std::optional<std::uint64_t> ds64_data_size, aiff_frames;
  std::uint32_t format_tag = 0, block_align = 0;
  std::uint64_t offset = 12;
  for (int count = 0; count < 256 && offset + 8 <= head.size(); ++count) {
    const std::string id(reinterpret_cast<const char*>(b + offset), 4);
    const std::uint32_t size = read_u32(b + offset + 4, big_endian);
    const std::uint64_t payload = offset + 8;
    const bool whole = payload + size <= head.size();
    if (rf64 && id == "ds64" && size >= 16 && whole) ds64_data_size = u64le(payload + 8);
    if (!aiff && id == "fmt " && size >= 14 && whole) format_tag = u16(payload), block_align = u16(payload + 12);
    if (aiff && id == "COMM" && size >= 6 && whole) aiff_frames = read_u32(b + payload + 2, true);
    if (id == (aiff ? "SSND" : "data")) {
      // 0 and 0xFFFFFFFF: written to a pipe, the length unknown; 0x7F000008: SoX's AIFF to a pipe.
      // (RF64's 0xFFFFFFFF points to ds64 instead.)
      if (size == 0 || (size == 0xFFFFFFFFu && !rf64) || (aiff && size == 0x7F000008u)) return result;
      if (aiff) {
        if (aiff_frames) result.declared = DeclaredLength{*aiff_frames, 1};
        return result;
      }
      // SoX's WAV to a pipe: 0x7FFFF000 rounded down to whole blocks.
      if (!rf64 && block_align > 0 && size == 0x7FFFF000u - 0x7FFFF000u % block_align) return result;
      std::uint64_t bytes = size;
      if (rf64 && size == 0xFFFFFFFFu) {
        if (!ds64_data_size || *ds64_data_size == 0 || *ds64_data_size == ~std::uint64_t(0)) return result;
        bytes = *ds64_data_size;
      }
      const bool pcm_like = format_tag == 1 || format_tag == 3 || format_tag == 6 || format_tag == 7 || format_tag == 0xFFFE;
      if (pcm_like && block_align > 0) result.declared = DeclaredLength{bytes / block_align, 1};
      return result;
    }
    offset = payload + std::uint64_t(size) + (size & 1u);  // chunks are padded to even sizes
  }
  return result;
}

std::optional<std::string> wav_format_tag(const fs::path& path) {
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  char magic[12];
  if (ec || !in.read(magic, 12) || std::memcmp(magic, "RIFF", 4) != 0 || std::memcmp(magic + 8, "WAVE", 4) != 0)
    return std::nullopt;
  std::optional<std::string> tag;
  walk_chunks(in, 12, file_size, false, [&](const std::string& id, std::uint32_t size, std::uint64_t payload) {
    if (id != "fmt " || size < 2) return false;
    unsigned char bytes[2];
    in.seekg(static_cast<std::streamoff>(payload));
    if (in.read(reinterpret_cast<char*>(bytes), 2)) {
      char text[32];
      std::snprintf(text, sizeof text, "WAV format tag 0x%04x", bytes[0] | bytes[1] << 8);
      tag = text;
    }
    return true;
  });
  return tag;
}

}  // namespace oneshot
