#pragma once
// One streaming reader for every audio file a user brings: blocks of mono
// float frames, any length, from a file or from standard input ("-").
//
// Two decoders behind it, chosen by probing the file's first bytes:
// libsndfile (WAV/AIFF/FLAC/Ogg Vorbis/Opus/MP3 and the other formats it
// knows) and FFmpeg's libavformat/libavcodec/libswresample (M4A/AAC, MP4/MOV
// audio tracks, WebM/Matroska, 3GP/AMR, and anything libsndfile refuses).
// Both give the same error texts. Resampling (libsoxr, very high quality)
// streams too, so a long recording never has to fit in memory.
//
// Nothing a file declares sizes memory: lengths, channel counts and chunk
// sizes from headers are checked against the data as it arrives.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace oneshot {

struct AudioInfo {
  int sample_rate = 0;       // Hz, of the frames read() returns (the target rate when resampling)
  int file_sample_rate = 0;  // Hz, as stored
  int channels = 0;          // as stored; read() returns their mean (mono)
  // Frames at file_sample_rate, only where the container states the length
  // (WAV/AIFF data size, FLAC STREAMINFO total, MP3 Xing/Info frame count,
  // MP4/Matroska duration); empty for streams and estimates. A claim, not a
  // fact: use it for progress, never to size memory.
  std::optional<std::uint64_t> declared_frames;
  std::string format;   // the container/codec in words, e.g. "FLAC", "MP3", "M4A (AAC)"
  std::string decoder;  // "libsndfile" or "FFmpeg"
};

struct ReaderOptions {
  int sample_rate = 0;  // 0 keeps the file's rate; otherwise libsoxr VHQ, streaming
};

class AudioReader {
 public:
  // Opens and probes `path` ("-" reads standard input). Throws oneshot::Error
  // "PATH: reason" (reason: "file not found", "broken link", "symbolic link
  // loop" (missing_path_reason, core/error.h), "is a directory, not an audio
  // file", "empty file", "not an audio file, or a format no decoder here
  // reads", "zero channels", "unsupported audio format: ...", "truncated: ...").
  explicit AudioReader(const std::filesystem::path& path, const ReaderOptions& options = {});
  ~AudioReader();
  AudioReader(AudioReader&&) noexcept;
  AudioReader& operator=(AudioReader&&) noexcept;

  const AudioInfo& info() const;
  const std::filesystem::path& path() const;  // as given ("-" for standard input)

  // Reads up to `max_frames` mono frames into `out` and returns how many; a
  // block may be shorter than asked. Returns 0 only at the end of the stream,
  // after the end-of-stream checks passed. Throws oneshot::Error "PATH: reason"
  // for a corrupt or truncated stream ("truncated: decoded N of M frames the
  // header declares" where the container states a length and the stream ends
  // more than one codec frame short of it), "contains no audio frames", and
  // "non-finite sample (NaN|Inf) at frame F, channel C". With resampling the
  // total is ceil(file frames * rate / file rate), as librosa's resample.
  std::size_t read(float* out, std::size_t max_frames);

  // Frames returned so far (at info().sample_rate).
  std::uint64_t frames_read() const;
  // Frames decoded so far at the file's own rate, before resampling.
  std::uint64_t file_frames_read() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oneshot
