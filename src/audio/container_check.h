#pragma once
// Truncation checks that libsndfile does not make: it silently shortens a
// WAV or AIFF whose data chunk runs past the end of the file, and reads a
// cut-off Ogg stream up to the cut without complaint. These look at the
// container itself.
#include <filesystem>
#include <optional>
#include <string>

namespace oneshot {

// A reason when the file's container says it is cut short, else nothing.
// Files that are not RIFF/WAVE, AIFF or Ogg, or whose headers it cannot
// follow, pass (libsndfile judges those).
std::optional<std::string> container_truncation(const std::filesystem::path& path);

// For a RIFF/WAVE file whose codec libsndfile refused: "WAV format tag 0x....".
std::optional<std::string> wav_format_tag(const std::filesystem::path& path);

}  // namespace oneshot
