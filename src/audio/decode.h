#pragma once
// Whole-file decoding on top of AudioReader (audio/audio_reader.h): any
// format it reads, to mono float in [-1, 1), resampled with libsoxr (very
// high quality) when asked, cropped or zero-padded to a fixed duration when
// asked.
#include <cstddef>
#include <filesystem>
#include <vector>

namespace oneshot {

struct DecodeOptions {
  int sample_rate = 0;    // 0 keeps the file's rate
  double duration = 0.0;  // seconds; 0 keeps the file's length
};

struct AudioClip {
  std::vector<float> samples;  // mono
  int sample_rate = 0;         // after resampling
  int file_sample_rate = 0;
  int file_channels = 0;
  std::size_t file_frames = 0;  // frames as decoded, before resampling/cropping
};

// Throws oneshot::Error "PATH: reason" for a missing, empty, truncated or
// non-audio file, zero channels, an unsupported format or non-finite samples
// (the reasons AudioReader gives). Memory grows with the decoded frames only;
// with a duration, only that many are kept (a long recording is still read
// to its end, for the end-of-stream checks).
AudioClip decode_audio(const std::filesystem::path& path, const DecodeOptions& options = {});

// Crops or zero-pads to exactly n samples (handles decoders that return a few
// frames more than the nominal length, e.g. Ogg Vorbis).
void fit_length(std::vector<float>& samples, std::size_t n);

// Samples in `duration` seconds at `sample_rate`, rounded to the nearest.
std::size_t duration_samples(double duration, int sample_rate);

// Resamples mono audio with libsoxr, very high quality; the result has
// ceil(n * to / from) samples, as librosa's resample.
std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate);

}  // namespace oneshot
