#include "audio/logmel.h"

#include <fftw3.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "audio/frames.h"
#include "audio/log_compress.h"
#include "audio/mel_filters.h"
#include "audio/real_fft.h"
#include "audio/simd.h"
#include "core/error.h"

namespace oneshot {

namespace {

// Frames per FFTW call: enough to amortise the per-call cost, few enough that
// a batch of frames and spectra (16 x 8 KiB each for n_fft 2048) stays in L2.
constexpr int kBatch = 16;
// ln of a power spectrogram of int16-scale samples: 32768^2 times ours.
constexpr float kInt16PowerScale = 32768.0f * 32768.0f;

// One thread's buffers, reused by every clip that thread computes.
class Workspace {
 public:
  ~Workspace() { release(); }
  float* frames = nullptr;
  fftwf_complex* spectra = nullptr;
  std::vector<float> power;

  void fit(const BatchedRealFft& fft) {
    const std::size_t need_frames = fft.in_stride() * fft.batch();
    const std::size_t need_spectra = fft.out_stride() * fft.batch();
    if (need_frames > frames_size_ || need_spectra > spectra_size_) {
      release();
      frames = fft.alloc_frames();
      spectra = fft.alloc_spectra();
      frames_size_ = need_frames;
      spectra_size_ = need_spectra;
    }
    if (power.size() < static_cast<std::size_t>(fft.n_bins())) power.resize(fft.n_bins());
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

// |X|^2 of one spectrum, then each mel filter's weighted sum over its own
// bins, written to column `t` of the n_mels x n_frames output.
ONESHOT_SIMD_CLONES
void spectrum_to_mel(const fftwf_complex* spectrum, float* power, const SparseMelBasis& mel, float* out,
                     std::size_t n_frames, std::size_t t) {
  const float* re_im = reinterpret_cast<const float*>(spectrum);
  for (int k = 0; k < mel.n_bins; ++k) power[k] = re_im[2 * k] * re_im[2 * k] + re_im[2 * k + 1] * re_im[2 * k + 1];
  for (int m = 0; m < mel.n_mels; ++m) {
    const float* w = &mel.weights[mel.offset[m]];
    const float* p = power + mel.first_bin[m];
    const int n = mel.n_nonzero[m];
    float lanes[8] = {};
    int k = 0;
    for (; k + 8 <= n; k += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += w[k + l] * p[k + l];
    float sum = 0.0f;
    for (; k < n; ++k) sum += w[k] * p[k];
    sum += ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
    out[m * n_frames + t] = sum;
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
        fft(config.n_fft, kBatch),
        nonzero_log(config.log == "nonzero"),
        log_floor(static_cast<float>(config.log_floor)) {}

  int sample_rate;
  CentredFrames frames;
  std::vector<float> window;
  SparseMelBasis mel;
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
  ws.fit(im.fft);

  // Frames go into the batch buffer as they are windowed; all-zero ones
  // (digital silence) skip the transform, their mel power is exactly 0.
  std::size_t batch_frame[kBatch];
  int filled = 0;
  auto flush = [&] {
    im.fft.forward(ws.frames, ws.spectra, filled);
    for (int j = 0; j < filled; ++j)
      spectrum_to_mel(ws.spectra + j * im.fft.out_stride(), ws.power.data(), im.mel, out, n_frames, batch_frame[j]);
    filled = 0;
  };
  for (std::size_t t = 0; t < n_frames; ++t) {
    if (im.frames.windowed(samples, n_samples, t, im.window.data(), ws.frames + filled * im.fft.in_stride())) {
      batch_frame[filled++] = t;
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
