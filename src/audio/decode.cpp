#include "audio/decode.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "audio/container_check.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

void check_file_exists(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw file_error(path, "file not found");
  if (fs::is_directory(status)) throw file_error(path, "is a directory, not an audio file");
  if (fs::is_regular_file(status) && fs::file_size(path, ec) == 0 && !ec) throw file_error(path, "empty file");
}

SndfilePtr open_sndfile(const fs::path& path, SF_INFO& info) {
  info = SF_INFO{};
  SndfilePtr file(sf_open(path.c_str(), SFM_READ, &info));
  if (file) return file;
  const std::string why = sf_strerror(nullptr);
  if (why.find("Channel count is zero") != std::string::npos) throw file_error(path, "zero channels");
  if (why.find("not recognised") != std::string::npos)
    throw file_error(path, "not an audio file, or a format libsndfile cannot read (libsndfile: " + why + ")");
  if (auto tag = wav_format_tag(path); tag && why.find("'fmt '") != std::string::npos)
    throw file_error(path, "unsupported audio format: " + *tag + " (libsndfile: " + why + ")");
  throw file_error(path, "cannot decode (libsndfile: " + why + ")");
}

// Declared length, or -1 when the format does not say (streams).
sf_count_t declared_frames(const SF_INFO& info) {
  return info.frames > 0 && info.frames < std::numeric_limits<sf_count_t>::max() / 2 ? info.frames : -1;
}

// Reads every frame, interleaved. Reads in blocks so that streams of unknown
// length and decoders that return a few extra frames (Vorbis) both work.
std::vector<float> read_interleaved(const fs::path& path, SNDFILE* file, const SF_INFO& info) {
  const sf_count_t declared = declared_frames(info);
  const std::size_t channels = static_cast<std::size_t>(info.channels);
  // Room for the declared length plus a block, so the usual file is one read.
  std::vector<float> data(static_cast<std::size_t>(std::max<sf_count_t>(declared, 0) + 4096) * channels);
  sf_count_t total = 0;
  for (;;) {
    const sf_count_t room = static_cast<sf_count_t>(data.size() / channels) - total;
    if (room < 4096) {
      data.resize(data.size() * 2);
      continue;
    }
    const sf_count_t got = sf_readf_float(file, data.data() + total * channels, room);
    if (got <= 0) break;
    total += got;
  }
  data.resize(static_cast<std::size_t>(total) * channels);
  if (sf_error(file) != SF_ERR_NO_ERROR)
    throw file_error(path, "corrupt or truncated after " + std::to_string(total) + " frames (libsndfile: " +
                               sf_strerror(file) + ")");
  if (declared > 0 && total < declared)
    throw file_error(path, "truncated: decoded " + std::to_string(total) + " of " + std::to_string(declared) +
                               " frames");
  if (total == 0) throw file_error(path, "contains no audio frames");
  return data;
}

std::vector<float> mix_to_mono(std::vector<float>&& interleaved, int channels) {
  if (channels == 1) return std::move(interleaved);
  const std::size_t frames = interleaved.size() / channels;
  std::vector<float> mono(frames);
  for (std::size_t i = 0; i < frames; ++i) {
    const float* frame = &interleaved[i * channels];
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) sum += frame[c];
    mono[i] = sum / static_cast<float>(channels);
  }
  return mono;
}

void check_finite(const fs::path& path, const std::vector<float>& interleaved, int channels) {
  for (std::size_t i = 0; i < interleaved.size(); ++i)
    if (!std::isfinite(interleaved[i]))
      throw file_error(path, std::string("non-finite sample (") + (std::isnan(interleaved[i]) ? "NaN" : "Inf") +
                                 ") at frame " + std::to_string(i / channels) + ", channel " +
                                 std::to_string(i % channels));
}

}  // namespace

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
  check_file_exists(path);
  SF_INFO info;
  SndfilePtr file = open_sndfile(path, info);
  if (info.channels <= 0) throw file_error(path, "zero channels");
  if (info.samplerate <= 0) throw file_error(path, "invalid sample rate " + std::to_string(info.samplerate));
  if (auto reason = container_truncation(path)) throw file_error(path, *reason);
  std::vector<float> interleaved = read_interleaved(path, file.get(), info);
  file.reset();
  check_finite(path, interleaved, info.channels);

  AudioClip clip;
  clip.file_sample_rate = info.samplerate;
  clip.file_channels = info.channels;
  clip.file_frames = interleaved.size() / info.channels;
  clip.samples = mix_to_mono(std::move(interleaved), info.channels);
  clip.sample_rate = info.samplerate;
  if (options.sample_rate > 0 && options.sample_rate != info.samplerate) {
    clip.samples = resample(clip.samples, info.samplerate, options.sample_rate);
    clip.sample_rate = options.sample_rate;
  }
  if (options.duration > 0) fit_length(clip.samples, duration_samples(options.duration, clip.sample_rate));
  return clip;
}

}  // namespace oneshot
