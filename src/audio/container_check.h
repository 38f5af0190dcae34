#pragma once
// Truncation checks that libsndfile does not make: it silently shortens a
// WAV or AIFF whose data chunk runs past the end of the file, and reads a
// cut-off Ogg stream up to the cut without complaint. These look at the
// container itself.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace oneshot {

// A reason when the file's container says it is cut short, else nothing.
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

// For a RIFF/WAVE file whose codec libsndfile refused: "WAV format tag 0x....".
std::optional<std::string> wav_format_tag(const std::filesystem::path& path);

}  // namespace oneshot
