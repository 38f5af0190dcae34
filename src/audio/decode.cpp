#include "audio/decode.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "audio/audio_reader.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

std::size_t duration_samples(double duration, int sample_rate) {
  return static_cast<std::size_t>(std::llround(duration * sample_rate));
}

void fit_length(std::vector<float>& samples, std::size_t n) { samples.resize(n, 0.0f); }

std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate) {
  if (from_rate <= 0 || to_rate <= 0) throw Error("resample: sample rates must be positive");
  if (from_rate == to_rate) return samples;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  const auto n_out = static_cast<std::size_t>(std::ceil(samples.size() * ratio));
  std::vector<float> out(n_out + 64);
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_VHQ, 0);
  const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);  // clips are already spread over threads
  std::size_t done = 0;
  if (soxr_error_t err = soxr_oneshot(from_rate, to_rate, 1, samples.data(), samples.size(), nullptr, out.data(),
                                      out.size(), &done, &io, &quality, &runtime))
    throw Error(std::string("libsoxr: ") + err);
  out.resize(done);
  fit_length(out, n_out);
  return out;
}

AudioClip decode_audio(const fs::path& path, const DecodeOptions& options) {
  AudioReader reader(path, {options.sample_rate});
  const AudioInfo& info = reader.info();
  AudioClip clip;
  clip.sample_rate = info.sample_rate;
  clip.file_sample_rate = info.file_sample_rate;
  clip.file_channels = info.channels;
  // The room reserved comes from what was asked for, never from the header:
  // the vector grows only as decoded frames arrive.
  const std::size_t wanted = options.duration > 0 ? duration_samples(options.duration, clip.sample_rate) : 0;
  std::size_t size = 0;
  clip.samples.resize(std::max<std::size_t>(wanted, 1 << 16));
  if (wanted > 0) {
    // Only the first `wanted` samples are kept: the rest of a long recording
    // is still decoded (its truncation and non-finite checks still apply)
    // into a small scratch block, so memory stays that of the clip.
    std::vector<float> rest(1 << 16);
    for (;;) {
      const bool filling = size < wanted;
      float* dst = filling ? clip.samples.data() + size : rest.data();
      const std::size_t room = filling ? wanted - size : rest.size();
      const std::size_t got = reader.read(dst, room);
      if (got == 0) break;
      if (filling) size += got;
    }
    clip.samples.resize(size);
    clip.file_frames = static_cast<std::size_t>(reader.file_frames_read());
    fit_length(clip.samples, wanted);
    return clip;
  }
  for (;;) {
    if (clip.samples.size() - size < 4096) clip.samples.resize(clip.samples.size() * 2);
    const std::size_t got = reader.read(clip.samples.data() + size, clip.samples.size() - size);
    if (got == 0) break;
    size += got;
  }
  clip.samples.resize(size);
  clip.file_frames = static_cast<std::size_t>(reader.file_frames_read());
  return clip;
}

}  // namespace oneshot
