// FFmpeg behind AudioReader: formats libsndfile does not read.
#include "audio/audio_source.h"
#include "core/error.h"

namespace oneshot {

std::unique_ptr<AudioSource> open_ffmpeg_source(const std::filesystem::path& path) {
  throw file_error(path, kNotAudio);
}

}  // namespace oneshot
