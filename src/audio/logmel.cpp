#include "audio/logmel.h"

#include <fftw3.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "audio/frames.h"
#include "audio/log_compress.h"
#include "audio/mel_filters.h"
#include "audio/mel_projection.h"
#include "audio/real_fft.h"
#include "audio/simd.h"
#include "core/error.h"

namespace oneshot {

namespace {

// Frames per FFTW call: enough to amortise the per-call cost, few enough that
// a batch of frames and spectra (16 x 8 KiB each for n_fft 2048) stays in L2.
#ifndef ONESHOT_BATCH
#define ONESHOT_BATCH 8
#endif
constexpr int kBatch = ONESHOT_BATCH;
// Spectra turned into power and projected together: two, so the power of
// both stays in L1 while the projection reads it (and it projects in pairs).
constexpr int kPowerChunk = 2;
// ln of a power spectrogram of int16-scale samples: 32768^2 times ours.
constexpr float kInt16PowerScale = 32768.0f * 32768.0f;

// One thread's buffers, reused by every clip that thread computes.
class Workspace {
 public:
  ~Workspace() { release(); }
  float* frames = nullptr;
  fftwf_complex* spectra = nullptr;
  std::vector<float> power;  // kPowerChunk x power_stride

  void fit(const BatchedRealFft& fft, std::size_t power_stride) {
    const std::size_t need_frames = fft.in_stride() * fft.batch();
    const std::size_t need_spectra = fft.out_stride() * fft.batch();
    if (need_frames > frames_size_ || need_spectra > spectra_size_) {
      release();
      frames = fft.alloc_frames();
      spectra = fft.alloc_spectra();
      frames_size_ = need_frames;
      spectra_size_ = need_spectra;
    }
    if (power.size() < power_stride * kPowerChunk) power.resize(power_stride * kPowerChunk);
  }

 private:
  void release() {
    fftwf_free(frames);
    fftwf_free(spectra);
    frames = nullptr;
    spectra = nullptr;
    frames_size_ = spectra_size_ = 0;
  }
  std::size_t frames_size_ = 0, spectra_size_ = 0;
};

Workspace& thread_workspace() {
  thread_local Workspace workspace;
  return workspace;
}

// |X|^2 of `count` spectra (n_bins each, spectra_stride apart) into power.
ONESHOT_SIMD_CLONES
void power_spectra(const fftwf_complex* spectra, std::size_t spectra_stride, int count, int n_bins, float* power,
                   std::size_t power_stride) {
  for (int i = 0; i < count; ++i) {
    const float* re_im = reinterpret_cast<const float*>(spectra + i * spectra_stride);
    float* p = power + i * power_stride;
    for (int k = 0; k < n_bins; ++k) p[k] = re_im[2 * k] * re_im[2 * k] + re_im[2 * k + 1] * re_im[2 * k + 1];
  }
}

}  // namespace

struct LogMelExtractor::Impl {
  Impl(const FeaturesConfig& config, int rate)
      : sample_rate(rate),
        frames(config.n_fft, config.hop_length, parse_pad_mode(config.pad_mode)),
        window(periodic_hann(config.n_fft)),
        mel(SparseMelBasis::from_dense(mel_basis({rate, config.n_fft, config.n_mels, config.fmin, config.fmax,
                                                  config.mel_scale == "htk"}),
                                       config.n_mels, config.n_fft / 2 + 1)),
        projection(mel),
        fft(config.n_fft, kBatch),
        nonzero_log(config.log == "nonzero"),
        log_floor(static_cast<float>(config.log_floor)) {}

  int sample_rate;
  CentredFrames frames;
  std::vector<float> window;
  SparseMelBasis mel;
  MelProjection projection;
  BatchedRealFft fft;
  bool nonzero_log;
  float log_floor;
};

LogMelExtractor::LogMelExtractor(const FeaturesConfig& config, int sample_rate) {
  config.validate();
  if (sample_rate <= 0) throw Error("log-mel: sample rate must be positive");
  impl_ = std::make_unique<Impl>(config, sample_rate);
}

LogMelExtractor::~LogMelExtractor() = default;

int LogMelExtractor::n_mels() const { return impl_->mel.n_mels; }

std::size_t LogMelExtractor::n_frames(std::size_t n_samples) const { return impl_->frames.count(n_samples); }

void LogMelExtractor::power(const float* samples, std::size_t n_samples, float* out) const {
  if (n_samples == 0) throw Error("log-mel: no samples");
  const Impl& im = *impl_;
  const std::size_t n_frames = im.frames.count(n_samples);
  if (n_frames == 0) throw Error("log-mel: fewer samples than one frame");
  Workspace& ws = thread_workspace();
  const std::size_t power_stride = im.fft.out_stride();
  ws.fit(im.fft, power_stride);

  // Frames go into the batch buffer as they are windowed; all-zero ones
  // (digital silence) skip the transform, their mel power is exactly 0.
  // Each batch: one FFTW call, |X|^2, then the mel projection writes each
  // frame's column of the output directly.
  float* column[kBatch];
  int filled = 0;
  auto flush = [&] {
    im.fft.forward(ws.frames, ws.spectra, filled);
    for (int j = 0; j < filled; j += kPowerChunk) {
      const int count = std::min(kPowerChunk, filled - j);
      power_spectra(ws.spectra + j * im.fft.out_stride(), im.fft.out_stride(), count, im.fft.n_bins(), ws.power.data(),
                    power_stride);
      im.projection.project(ws.power.data(), power_stride, count, column + j, n_frames);
    }
    filled = 0;
  };
  for (std::size_t t = 0; t < n_frames; ++t) {
    if (im.frames.windowed(samples, n_samples, t, im.window.data(), ws.frames + filled * im.fft.in_stride())) {
      column[filled++] = out + t;
      if (filled == kBatch) flush();
    } else {
      for (int m = 0; m < im.mel.n_mels; ++m) out[m * n_frames + t] = 0.0f;
    }
  }
  if (filled) flush();
}

void LogMelExtractor::log_mel(const float* samples, std::size_t n_samples, float* out) const {
  power(samples, n_samples, out);
  const std::size_t n = static_cast<std::size_t>(n_mels()) * n_frames(n_samples);
  if (impl_->nonzero_log)
    log_nonzero(out, n, kInt16PowerScale);
  else
    log_with_floor(out, n, impl_->log_floor);
}

}  // namespace oneshot
