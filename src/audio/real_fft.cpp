#include "audio/real_fft.h"

#include <mutex>
#include <string>

#include "core/error.h"

namespace oneshot {

namespace {

std::mutex& planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Round up to a multiple of 16 values: 64 bytes for floats, so each frame
// starts on a cache line and every frame has the same SIMD alignment.
std::size_t padded(std::size_t n) { return (n + 15) / 16 * 16; }

}  // namespace

BatchedRealFft::BatchedRealFft(int n_fft, int batch)
    : n_fft_(n_fft), batch_(batch), in_stride_(padded(n_fft)), out_stride_(padded(n_fft / 2 + 1)) {
  if (n_fft < 2 || batch < 1) throw Error("FFT: n_fft must be >= 2 and batch >= 1");
  float* frames = alloc_frames();
  fftwf_complex* spectra = alloc_spectra();
  {
    // FFTW_ESTIMATE: planning is instant and picks the same algorithm on
    // every run, so results are reproducible (FFTW_MEASURE times candidate
    // algorithms and may choose differently from run to run, for ~4% speed).
    std::lock_guard lock(planner_mutex());
    const int n[] = {n_fft};
    batch_plan_ = fftwf_plan_many_dft_r2c(1, n, batch, frames, nullptr, 1, static_cast<int>(in_stride_), spectra,
                                          nullptr, 1, static_cast<int>(out_stride_), FFTW_ESTIMATE);
    single_plan_ = fftwf_plan_dft_r2c_1d(n_fft, frames, spectra, FFTW_ESTIMATE);
  }
  fftwf_free(frames);
  fftwf_free(spectra);
  if (!batch_plan_ || !single_plan_) throw Error("FFT: FFTW could not plan a transform of size " + std::to_string(n_fft));
}

BatchedRealFft::~BatchedRealFft() {
  std::lock_guard lock(planner_mutex());
  if (batch_plan_) fftwf_destroy_plan(batch_plan_);
  if (single_plan_) fftwf_destroy_plan(single_plan_);
}

float* BatchedRealFft::alloc_frames() const {
  auto* p = fftwf_alloc_real(in_stride_ * batch_);
  if (!p) throw Error("FFT: out of memory");
  return p;
}

fftwf_complex* BatchedRealFft::alloc_spectra() const {
  auto* p = fftwf_alloc_complex(out_stride_ * batch_);
  if (!p) throw Error("FFT: out of memory");
  return p;
}

void BatchedRealFft::forward(float* frames, fftwf_complex* spectra, int count) const {
  if (count == batch_) {
    fftwf_execute_dft_r2c(batch_plan_, frames, spectra);
    return;
  }
  for (int i = 0; i < count; ++i) fftwf_execute_dft_r2c(single_plan_, frames + i * in_stride_, spectra + i * out_stride_);
}

}  // namespace oneshot
