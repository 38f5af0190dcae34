#pragma once
// The sounding span of a clip, tiled over the clip (model.sound_span = "tile").
//
// Why: ESC-50 and users' clips often hold a short sound padded with silence
// (a quarter of esc50-dev's clips sound for less than half their length).
// The clip mean (model.clip_norm) and the mean over time of the pooling then
// depend on how long the silence is, not only on the sound, and two clips of
// one class differ by it. Repeating the sounding part over the clip removes
// that: measured on esc50-dev's dev classes with models trained on whole
// clips, one-clip-against-one-clip EER 0.219 -> 0.181 and 5-way 0.68 -> 0.73
// (README, "Accuracy on real sounds").
//
// Definition: the energy of frame t is ln(sum over mel bands of the mel
// power) = logsumexp_m x[m, t] for a natural-log mel spectrogram x (the
// default log-mel). Frame t sounds when its energy is at least
// max_t energy - db * ln(10) / 10. The span runs from the first sounding
// frame f to the last l (L = l - f + 1 frames, silence inside it kept); the
// tiled clip's frame t is frame f + (t mod L). A clip that sounds at its
// first and last frames is returned as it is.
#include <torch/torch.h>

#include <cstdint>

namespace oneshot {

struct SoundSpan {
  int64_t first = 0;
  int64_t length = 0;  // frames; the clip's length when it sounds at both ends
};

// The span of a clip from its frames' energies (natural log of power), n >= 1.
// Non-finite energies count as silent; a clip without a finite energy is
// returned whole.
SoundSpan sounding_span(const float* frame_energy, int64_t n, double db);

// The threshold below the loudest frame in the energy's unit (natural log
// of power): db * ln(10) / 10.
double sound_span_nats(double db);

// x: (B, C, M, T) log-mel batches (C = 1), any float dtype and device ->
// the same shape with each clip's span tiled. The energy sums over C and M.
// Returns x itself when every clip sounds at both ends.
torch::Tensor tile_sound_span(const torch::Tensor& x, double db);

}  // namespace oneshot
