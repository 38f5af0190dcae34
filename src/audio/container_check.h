#pragma once
// Truncation checks that libsndfile does not make: it silently shortens a
// WAV or AIFF whose data chunk runs past the end of the file, and reads a
// cut-off Ogg stream up to the cut without complaint. These look at the
// container itself.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace oneshot {

// A reason when the file's container says it is cut short (or, for Ogg, that
// a page is damaged: a page failing its CRC-32 or bytes that are not a page,
// which the decoders skip silently), else nothing.
// Files that are not RIFF/WAVE, AIFF or Ogg, or whose headers it cannot
// follow, pass (libsndfile judges those).
std::optional<std::string> container_truncation(const std::filesystem::path& path);

// A length the container states, in frames at the file's rate, and the
// frames of one codec frame (how far short of it a whole stream may end).
struct DeclaredLength {
  std::uint64_t frames = 0;
  std::uint64_t codec_frame = 1;
};

// FLAC: STREAMINFO's total samples (absent when 0, "unknown"), codec frame =
// its maximum block size. An ID3v2 tag before "fLaC" is skipped.
std::optional<DeclaredLength> flac_declared_length(const std::filesystem::path& path);

// MP3 (MPEG audio layer I-III): the Xing/Info or VBRI frame count times the
// samples per frame, less the encoder delay and padding of a LAME tag (the
// LAME/Xing specification: decoded = frames * spf - delay - padding). Absent
// for a stream without such a header: plain CBR files state no length.
std::optional<DeclaredLength> mp3_declared_length(const std::filesystem::path& path);

// The first bytes of a stream (standard input) read as a WAV or AIFF header,
// for the length check a pipe cannot have up front. `iff` says the bytes
// begin a RIFF/RIFX/RF64/BW64 WAVE or FORM AIFF/AIFC header; `declared` is
// the length it states, in frames (codec frame 1), where it states one:
//   WAV: the data chunk's size (RF64/BW64: ds64's 64-bit data size) over the
//        fmt chunk's block align, for PCM, float, A-law and mu-law (tags 1,
//        3, 6, 7, 0xFFFE extensible); other codecs' blocks hold a varying
//        number of frames, so none.
//   AIFF: COMM's numSampleFrames.
// None where the size marks a stream written without knowing its length:
// 0 or 0xFFFFFFFF (arecord, `ffmpeg -f wav -` to a pipe), and for AIFF also
// SoX's placeholder SSND size 0x7F000008; none where the data chunk does not
// start within `head` (e.g. a long LIST chunk before it).
struct StreamHeaderLength {
  bool iff = false;
  std::optional<DeclaredLength> declared;
};
StreamHeaderLength iff_stream_declared_length(const std::vector<unsigned char>& head);

// For a RIFF/WAVE file whose codec libsndfile refused: "WAV format tag 0x....".
std::optional<std::string> wav_format_tag(const std::filesystem::path& path);

}  // namespace oneshot
