#pragma once
// The decoders behind AudioReader (internal to src/audio): each delivers
// interleaved float frames at the file's own rate; the reader mixes,
// resamples, and makes the checks common to all of them.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace oneshot {

// What a source learned from the container when it opened the file.
struct SourceInfo {
  int sample_rate = 0;
  int channels = 0;
  std::optional<std::uint64_t> declared_frames;  // only where the container states the length
  std::uint64_t codec_frame = 1;  // frames per codec frame: how far short of declared_frames is still whole
  std::string format;
  std::string decoder;
};

class AudioSource {
 public:
  virtual ~AudioSource() = default;
  const SourceInfo& info() const { return info_; }
  // Up to max_frames interleaved frames into out (room for max_frames * channels);
  // 0 at the end. Throws Error "PATH: reason" on a decoding error.
  virtual std::size_t read(float* out, std::size_t max_frames) = 0;

 protected:
  SourceInfo info_;
};

// Error texts both decoders use, so a user sees one wording whichever read the file.
inline constexpr const char* kNotAudio = "not an audio file, or a format no decoder here reads";

// libsndfile; nullptr when libsndfile does not recognise the format, or for
// an MP3 without a stated length (libsndfile would stop at its estimate; the
// caller then tries FFmpeg). Throws for files it recognises but cannot read.
std::unique_ptr<AudioSource> open_sndfile_source(const std::filesystem::path& path);

// FFmpeg (libavformat/libavcodec/libswresample); "-" reads standard input,
// where a WAV/AIFF header's stated length (iff_stream_declared_length on the
// first bytes that pass through) becomes declared_frames.
// Throws Error "PATH: reason" for anything it cannot read.
std::unique_ptr<AudioSource> open_ffmpeg_source(const std::filesystem::path& path);

}  // namespace oneshot
