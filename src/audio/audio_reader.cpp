#include "audio/audio_reader.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>
#include <vector>

#include "audio/audio_source.h"
#include "audio/container_check.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

// Samples (frames x channels) pulled from a decoder at a time: bounds the
// scratch memory whatever channel count a header states.
constexpr std::size_t kBlockSamples = 1 << 16;

void check_file_exists(const fs::path& path) {
  if (path.empty()) throw Error("an empty path was given for an audio file");
  if (const auto why = missing_path_reason(path)) throw file_error(path, *why);
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::is_directory(status)) throw file_error(path, "is a directory, not an audio file");
  if (fs::is_regular_file(status) && fs::file_size(path, ec) == 0 && !ec) throw file_error(path, "empty file");
}

// libsndfile first (it reads what it recognises exactly as before), FFmpeg
// for the rest. A WAV codec libsndfile refuses may still be one FFmpeg knows.
// Standard input, a named pipe or a shell's <(...) cannot be probed twice
// (each probe consumed bytes, and opening a pipe whose writer has gone
// waits forever): FFmpeg alone reads them, once.
std::unique_ptr<AudioSource> open_source(const fs::path& path, bool regular_file) {
  if (!regular_file) return open_ffmpeg_source(path);
  try {
    if (auto source = open_sndfile_source(path)) return source;
  } catch (const Error& sndfile_error) {
    const std::string what = sndfile_error.what();
    if (what.find("unsupported audio format") == std::string::npos) throw;
    try {
      return open_ffmpeg_source(path);
    } catch (const Error&) {
      throw sndfile_error;
    }
  }
  return open_ffmpeg_source(path);
}

struct SoxrDeleter {
  void operator()(soxr_t s) const { soxr_delete(s); }
};

}  // namespace

struct AudioReader::Impl {
  fs::path path;
  AudioInfo info;
  std::unique_ptr<AudioSource> source;
  std::vector<float> interleaved;   // one block from the decoder
  std::vector<float> mono;          // that block mixed down (resampling only)
  std::unique_ptr<struct soxr, SoxrDeleter> resampler;
  std::vector<float> pending;       // resampled frames not yet returned
  std::size_t pending_pos = 0;
  std::uint64_t file_frames = 0, out_frames = 0;
  bool source_done = false, finished = false;

  // Mono frames at the file rate into `out`; 0 at the end (after the checks).
  std::size_t pull(float* out, std::size_t max_frames) {
    const std::size_t channels = static_cast<std::size_t>(info.channels);
    const std::size_t frames = std::max<std::size_t>(1, std::min(max_frames, kBlockSamples / channels));
    float* dst = channels == 1 ? out : nullptr;
    if (!dst) {
      interleaved.resize(frames * channels);
      dst = interleaved.data();
    }
    const std::size_t got = source->read(dst, frames);
    if (got == 0) {
      end_checks();
      return 0;
    }
    for (std::size_t i = 0; i < got * channels; ++i)
      if (!std::isfinite(dst[i]))
        throw file_error(path, std::string("non-finite sample (") + (std::isnan(dst[i]) ? "NaN" : "Inf") +
                                   ") at frame " + std::to_string(file_frames + i / channels) + ", channel " +
                                   std::to_string(i % channels));
    if (channels > 1) {
      const float scale = 1.0f / static_cast<float>(channels);
      for (std::size_t i = 0; i < got; ++i) {
        const float* frame = dst + i * channels;
        float sum = 0.0f;
        for (std::size_t c = 0; c < channels; ++c) sum += frame[c];
        out[i] = sum * scale;
        if (!std::isfinite(out[i])) {  // finite samples near the float range sum past it: their mean does not
          double wide = 0.0;
          for (std::size_t c = 0; c < channels; ++c) wide += frame[c];
          out[i] = static_cast<float>(wide / static_cast<double>(channels));
        }
      }
    }
    file_frames += got;
    return got;
  }

  void end_checks() {
    if (file_frames == 0) throw file_error(path, "contains no audio frames");
    const SourceInfo& s = source->info();
    if (s.declared_frames && file_frames + s.codec_frame < *s.declared_frames)
      throw file_error(path, "truncated: decoded " + std::to_string(file_frames) + " of " +
                                 std::to_string(*s.declared_frames) + " frames the header declares");
  }

  // Frames the resampled stream has in all: ceil(n * to / from), as librosa.
  std::uint64_t resampled_total() const {
    return static_cast<std::uint64_t>(
        std::ceil(static_cast<double>(file_frames) * info.sample_rate / info.file_sample_rate));
  }

  // Runs `n` input frames (0 and null: flush) through libsoxr into `pending`.
  void resample(const float* in, std::size_t n) {
    const double ratio = static_cast<double>(info.sample_rate) / info.file_sample_rate;
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(pending_pos));
    pending_pos = 0;
    std::size_t consumed = 0;
    for (;;) {
      const std::size_t room = static_cast<std::size_t>(std::ceil((n - consumed) * ratio)) + 1024;
      const std::size_t old = pending.size();
      pending.resize(old + room);
      std::size_t idone = 0, odone = 0;
      if (soxr_error_t err = soxr_process(resampler.get(), in ? in + consumed : nullptr, n - consumed, &idone,
                                          pending.data() + old, room, &odone))
        throw file_error(path, std::string("resampling failed (libsoxr: ") + err + ")");
      pending.resize(old + odone);
      // Finite samples near the float range can filter past it.
      for (std::size_t i = old; i < pending.size(); ++i)
        if (!std::isfinite(pending[i]))
          throw file_error(path, "sample values too large to resample (a non-finite value at output frame " +
                                     std::to_string(out_frames + (i - pending_pos)) +
                                     "; the file's samples reach the limits of floating point)");
      consumed += idone;
      if (in ? consumed >= n : odone == 0) break;
      if (in && idone == 0 && odone == 0) break;
    }
  }

  std::size_t read_resampled(float* out, std::size_t max_frames) {
    for (;;) {
      if (pending_pos < pending.size()) {
        const std::size_t n = std::min(max_frames, pending.size() - pending_pos);
        std::copy_n(pending.data() + pending_pos, n, out);
        pending_pos += n;
        out_frames += n;
        return n;
      }
      if (finished) return 0;
      if (!source_done) {
        mono.resize(std::max<std::size_t>(4096, std::min<std::size_t>(max_frames, kBlockSamples)));
        const std::size_t got = pull(mono.data(), mono.size());
        if (got > 0) {
          resample(mono.data(), got);
          continue;
        }
        source_done = true;
      }
      resample(nullptr, 0);  // flush the filter's tail
      const std::uint64_t total = resampled_total();
      const std::uint64_t have = out_frames + (pending.size() - pending_pos);
      if (have > total) pending.resize(pending.size() - std::min<std::uint64_t>(have - total, pending.size() - pending_pos));
      else pending.resize(pending.size() + (total - have), 0.0f);
      finished = true;
    }
  }
};

AudioReader::AudioReader(const fs::path& path, const ReaderOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  try {
    bool regular_file = false;
    if (path != "-") {
      check_file_exists(path);
      std::error_code ec;
      regular_file = fs::is_regular_file(path, ec);
      if (regular_file)
        if (auto reason = container_truncation(path)) throw file_error(path, *reason);
    }
    m.source = open_source(path, regular_file);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw file_error(path, "out of memory while opening (a size in the file's header is implausible?)");
  } catch (const std::exception& e) {
    throw file_error(path, std::string("cannot decode (") + e.what() + ")");
  }
  const SourceInfo& s = m.source->info();
  if (options.sample_rate < 0) throw Error("AudioReader: negative target sample rate");
  m.info.file_sample_rate = s.sample_rate;
  m.info.sample_rate = options.sample_rate > 0 ? options.sample_rate : s.sample_rate;
  m.info.channels = s.channels;
  m.info.declared_frames = s.declared_frames;
  m.info.format = s.format;
  m.info.decoder = s.decoder;
  // A rate in the header decides how much the resampler makes of each
  // decoded frame: a 6 KB WAV claiming 1 Hz, read at 22,050 Hz, took 1.5 GB.
  // No real recording needs more than 256x upsampling (8 kHz -> 192 kHz is 24x).
  if (m.info.sample_rate > 256.0 * m.info.file_sample_rate)
    throw file_error(path, "implausible sample rate " + std::to_string(m.info.file_sample_rate) +
                               " Hz in the header: resampling it to " + std::to_string(m.info.sample_rate) +
                               " Hz would multiply the audio by more than 256");
  if (m.info.sample_rate != m.info.file_sample_rate) {
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_VHQ, 0);
    const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);  // clips are already spread over threads
    soxr_error_t err = nullptr;
    m.resampler.reset(soxr_create(m.info.file_sample_rate, m.info.sample_rate, 1, &err, &io, &quality, &runtime));
    if (err || !m.resampler) throw file_error(path, std::string("cannot resample (libsoxr: ") + (err ? err : "?") + ")");
  }
}

AudioReader::~AudioReader() = default;
AudioReader::AudioReader(AudioReader&&) noexcept = default;
AudioReader& AudioReader::operator=(AudioReader&&) noexcept = default;

const AudioInfo& AudioReader::info() const { return impl_->info; }
const fs::path& AudioReader::path() const { return impl_->path; }
std::uint64_t AudioReader::frames_read() const { return impl_->out_frames; }
std::uint64_t AudioReader::file_frames_read() const { return impl_->file_frames; }

std::size_t AudioReader::read(float* out, std::size_t max_frames) {
  Impl& m = *impl_;
  if (max_frames == 0) return 0;
  try {
    if (m.resampler) return m.read_resampled(out, max_frames);
    if (m.finished) return 0;
    const std::size_t got = m.pull(out, max_frames);
    if (got == 0) m.finished = true;
    m.out_frames += got;
    return got;
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw file_error(m.path, "out of memory after " + std::to_string(m.file_frames) + " frames");
  } catch (const std::exception& e) {
    throw file_error(m.path, std::string("cannot decode (") + e.what() + ")");
  }
}

}  // namespace oneshot
