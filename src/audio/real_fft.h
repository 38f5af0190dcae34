#pragma once
// Forward real FFTs with FFTW in single precision, planned once and run many
// frames at a time. Plans are made under a global lock (FFTW's planner is not
// thread-safe); executing them on new arrays is, so one BatchedRealFft serves
// every thread, each with its own buffers.
#include <fftw3.h>

#include <cstddef>

namespace oneshot {

class BatchedRealFft {
 public:
  BatchedRealFft(int n_fft, int batch);
  ~BatchedRealFft();
  BatchedRealFft(const BatchedRealFft&) = delete;
  BatchedRealFft& operator=(const BatchedRealFft&) = delete;

  int n_fft() const { return n_fft_; }
  int n_bins() const { return n_fft_ / 2 + 1; }
  int batch() const { return batch_; }
  // Distance between frames in the input buffer (floats) and between spectra
  // in the output buffer (complex values): padded so every frame keeps the
  // alignment the plans were made for.
  std::size_t in_stride() const { return in_stride_; }
  std::size_t out_stride() const { return out_stride_; }

  // Buffers for `batch` frames / spectra, aligned as the plans need; free with fftwf_free.
  float* alloc_frames() const;
  fftwf_complex* alloc_spectra() const;

  // Transforms `count` <= batch frames from `frames` into `spectra` (buffers
  // from alloc_frames / alloc_spectra).
  void forward(float* frames, fftwf_complex* spectra, int count) const;

 private:
  int n_fft_, batch_;
  std::size_t in_stride_, out_stride_;
  fftwf_plan batch_plan_ = nullptr;
  fftwf_plan single_plan_ = nullptr;
};

}  // namespace oneshot
