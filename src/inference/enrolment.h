#pragma once
// An example recording -> the library rows to enrol: cut into the model's
// input windows (hop configurable), the windows that hold the sound chosen by
// enroll/windows.h's rule (within 6 dB of the loudest; silence refused), each
// embedded. A recording shorter than the window is one zero-padded window.
#include <optional>
#include <string>
#include <vector>

#include "enroll/library.h"
#include "enroll/windows.h"
#include "inference/run_model.h"

namespace oneshot {

struct WindowingOptions {
  double hop_s = 0;  // 0: half the model's input length
  SoundingRule rule;
};

// Samples between window starts for `options` (at least 1).
std::size_t hop_samples(const RunModel& run, const WindowingOptions& options);

// The rows for `path` (its `segment`, when given): source = the absolute path.
// Throws oneshot::Error "PATH: reason" for unreadable audio or silence.
std::vector<LibraryExample> embed_example(RunModel& run, const std::string& path, const WindowingOptions& options,
                                          const std::optional<Segment>& segment = std::nullopt);

// Audio files under `path` (itself when a file; a directory's regular files,
// recursively, sorted, hidden ones skipped). Symbolic links are followed; a
// directory reached twice (a link loop) is listed once, and a link that leads
// nowhere is kept, so that reading it names it. Error naming a FIFO, socket or
// device in a directory (reading one could block for ever).
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths);

}  // namespace oneshot
