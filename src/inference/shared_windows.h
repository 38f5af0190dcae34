#pragma once
// A long recording's overlapping windows embedded with the encoder's work
// shared between them (issue 19, item 2): the log-mel and the convolution
// trunk of a block of windows are computed once over the block's frames, and
// each window's embedding pools its own span of the trunk's columns. With a
// 2.5 s hop on a 5 s input, every frame is in two windows, so the per-window
// path (recording_windows.h) computes everything twice; at a 0.5 s hop ten
// times.
//
// Only for the compact encoder (model.arch = "compact"), whose time pooling
// takes any number of columns; its 4 x 2 x 2 max poolings make a trunk column
// 16 frames, so window starts must lie on a grid of 16 frames (16 x
// hop_length samples: 0.186 s at 44.1 kHz and hop 512): the hop is a multiple
// of that grid (shared_hop()).
//
// Not the per-window embeddings, by design; three differences:
//  - the clip mean (model.clip_norm = "mean") of each frame is the mean of the
//    window-long span centred on that frame (InputNorm::forward_sliding), so a
//    window's centre frame gets the window's own mean and the others their
//    neighbourhood's; the per-window path subtracts one mean from the whole
//    window. BatchNorm and ReLU follow the first convolution, so this offset
//    cannot be undone exactly afterwards;
//  - at a window's edges the convolutions see the neighbouring audio instead
//    of zero padding (a trunk column or two at each edge), and the first and
//    last two frames see real samples instead of librosa's reflect padding;
//  - the block's first and last windows keep the zero padding of the block's
//    edges, as the per-window path has.
// The recording's last, zero-padded window (and a recording shorter than one
// window) goes through the per-window path unchanged, and so does, with
// model.sound_span = "tile", every window that does not sound at both ends
// (judged on the block's frames): its sounding span is tiled on its own
// (model/sound_span.h), so it shares nothing with its neighbours.
// Measured with a trained run on real audio (README): the first two together
// leave a mean cosine of about 0.6 to the per-window embeddings and a lower
// search precision on unseen classes, so `index` uses this only with --shared.
// Exactness is checked where nothing is shared: with one window a block the
// embeddings are the per-window ones (tests/inference/test_shared_windows.cpp).
#include <cstddef>
#include <functional>
#include <string>

#include "inference/recording_windows.h"
#include "inference/run_model.h"

namespace oneshot {

// Why the run cannot share its encoder's work (empty when it can).
std::string shared_windows_unsupported(const RunModel& run);

// The grid of window starts the shared path needs, in samples (16 x the
// features' hop_length).
std::size_t shared_window_grid(const RunModel& run);

// `hop` (samples) moved to the nearest multiple of the grid, at least one grid step.
std::size_t shared_hop(const RunModel& run, std::size_t hop);

// embed_recording()'s windows (starts 0, hop, 2 hop, ... while a window fits,
// then the zero-padded last one) and batches, computed the shared way: pulls
// `source` to its end, hands every batch to `on_batch` (WindowBatch::packed
// is null: no packed copies of the windows are made), returns the number of
// samples read. Memory holds one block of at most `block_frames` frames
// (0: 8 windows' frames; at least one window's) and its activations, whatever
// the recording's length. Errors: oneshot::Error when the run is unsupported
// (shared_windows_unsupported) or `hop` is not a multiple of the grid; the
// source's errors pass through.
std::size_t embed_recording_shared(RunModel& run, const RunModel::SampleSource& source, std::size_t hop,
                                   const std::function<void(const WindowBatch&)>& on_batch,
                                   std::size_t block_frames = 0);

}  // namespace oneshot
