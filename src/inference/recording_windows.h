#pragma once
// A recording streamed through the model for classify and enroll: cut into
// the model's input windows as the samples arrive (WindowStream, as detect
// does) and embedded a batch at a time, so memory holds one block of audio
// and one batch of windows whatever the recording's length, never the whole
// file or a packed copy of every window. The windows are enroll/windows.h's
// plan, zero-padded at the end as training pads short clips.
#include <torch/torch.h>

#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "enroll/windows.h"
#include "inference/run_model.h"

namespace oneshot {

struct WindowBatch {
  const float* packed = nullptr;   // count() windows (embed_recording's window) back to back
  std::vector<std::size_t> starts;  // in samples from the start of the stream
  std::vector<double> levels_dbfs;  // RMS of the samples each window holds (padding excluded)
  torch::Tensor embeddings;         // (count(), D)
  std::size_t count() const { return starts.size(); }
};

// Pulls `source` to its end, hands every batch (at most `batch` windows) to
// `on_batch`; returns the number of samples read. Errors of the source pass
// through. The batch sets the peak memory (the encoder's activations: about
// 7 MB a window for the default model's 5 s input), so it is small enough
// that a one-minute recording already fills one: peak memory is then the
// same for a minute and for twelve hours.
// `window`: samples a window (0: the model's input; a shorter one is embedded
// as RunModel::short_windows() says, as detect embeds its --window).
std::size_t embed_recording(RunModel& run, const RunModel::SampleSource& source, std::size_t hop,
                            const std::function<void(const WindowBatch&)>& on_batch, std::size_t batch = 16,
                            std::size_t window = 0);

// The sounding rule (enroll/windows.h) applied as windows arrive: a window
// more than keep_db below the loudest so far can never be kept, so it is
// dropped at once and memory holds only the windows that may be kept. Gives
// the windows sounding_windows gives for the whole recording, in order.
template <class Item>
class SoundingWindows {
 public:
  explicit SoundingWindows(SoundingRule rule) : rule_(rule) {}

  void add(double level_dbfs, Item item) {
    if (level_dbfs > loudest_) {
      loudest_ = level_dbfs;
      std::erase_if(kept_, [&](const auto& k) { return !(k.first >= loudest_ - rule_.keep_db); });
    }
    if (level_dbfs >= loudest_ - rule_.keep_db) kept_.emplace_back(level_dbfs, std::move(item));
    ++seen_;
  }
  std::size_t seen() const { return seen_; }
  double loudest_dbfs() const { return loudest_; }

  // The kept items; Error "NAME: is silence (...)" as sounding_windows.
  std::vector<Item> finish(const std::string& name) {
    require_sound(loudest_, rule_, name);
    return take();
  }
  // The kept items, whatever the loudest level (the caller checks it).
  std::vector<Item> take() {
    std::vector<Item> out;
    out.reserve(kept_.size());
    for (auto& k : kept_) out.push_back(std::move(k.second));
    kept_.clear();
    return out;
  }

 private:
  SoundingRule rule_;
  double loudest_ = -std::numeric_limits<double>::infinity();
  std::vector<std::pair<double, Item>> kept_;
  std::size_t seen_ = 0;
};

// A recording's sounding windows embedded (classify's and a domain's): the
// rows of D floats of the windows the sounding rule keeps, in order (plain
// rows: a tensor each cost four times its 2 KB), the loudest window's level
// and the samples read. `rows` is empty when the recording is silence
// (require_sound(loudest_dbfs, rule, name) says so). Errors of the source
// pass through.
struct SoundingRows {
  std::vector<std::vector<float>> rows;
  double loudest_dbfs = -std::numeric_limits<double>::infinity();
  std::size_t samples = 0;
};
SoundingRows embed_sounding_rows(RunModel& run, const RunModel::SampleSource& source, std::size_t hop,
                                 const SoundingRule& rule);

}  // namespace oneshot
