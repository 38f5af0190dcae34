#include "inference/run_model.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "audio/audio_reader.h"
#include "audio/decode.h"
#include "core/error.h"
#include "core/atomic_file.h"
#include "core/number_cast.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "enroll/decision.h"
#include "eval/protocols.h"
#include "model/reusing_allocator.h"
#include "model/runtime.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/split.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kEmbedBatch = 32;

std::string features_text(const FeaturesConfig& features) {
  std::ostringstream out;
  FeaturesConfig copy = features;
  copy.visit([&](const char* key, const auto& value) { out << key << '=' << value << ';'; });
  return out.str();
}

}  // namespace

RunModel::Fingerprints RunModel::fingerprints_of(const fs::path& weights, const FeaturesConfig& features) {
  std::ifstream in(weights, std::ios::binary);
  if (!in) throw file_error(weights, "cannot read");
  XXH3_state_t* state = XXH3_createState();
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> owner(state, XXH3_freeState);
  XXH3_128bits_reset(state);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) XXH3_128bits_update(state, buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  // The weights are read once; each fingerprint finishes a copy of their hash.
  auto finish = [&](const FeaturesConfig& settings) {
    XXH3_state_t* copy = XXH3_createState();
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> copy_owner(copy, XXH3_freeState);
    XXH3_copyState(copy, state);
    const std::string text = features_text(settings);
    XXH3_128bits_update(copy, text.data(), text.size());
    const XXH128_hash_t h = XXH3_128bits_digest(copy);
    char hex[33];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return std::string(hex);
  };
  // Until issues 17/18's ninth session the fingerprint was computed from a
  // moved-from copy of the configuration, whose strings were empty.
  FeaturesConfig former = features;
  for (std::string* text : {&former.pad_mode, &former.mel_scale, &former.log, &former.storage}) text->clear();
  return {finish(features), finish(former)};
}

RunModel::RunModel(const fs::path& run_dir, Config config, int64_t n_mels, int64_t n_frames)
    : run_dir_(run_dir), config_(std::move(config)), n_mels_(n_mels), n_frames_(n_frames) {
  // Batch after batch allocates the same activation buffers: reusing them
  // keeps peak memory independent of the recording's length.
  use_reusing_cpu_allocator();
}

std::unique_ptr<RunModel> RunModel::load(const fs::path& run_dir_in, int threads, const std::string& weights) {
  const fs::path run_dir = fs::absolute(run_dir_in).lexically_normal();
  const RunPaths paths{run_dir};
  if (!fs::is_directory(run_dir)) throw file_error(run_dir, "not a directory: give a run directory (train --run)");
  if (!fs::exists(paths.config())) throw file_error(paths.config(), "missing: is this a run directory (train --run)?");
  const fs::path weights_file = weights == "last" ? paths.last() : paths.best();
  if (!fs::exists(weights_file)) throw file_error(weights_file, "missing: train the run first");
  Config config = load_resumed_config(paths.config(), {}, {});

  const FeaturesConfig& f = config.features;
  if (f.sample_rate <= 0 || f.duration <= 0)
    throw file_error(paths.config(), "the run keeps each file's rate or length (features.sample_rate or "
                                     "features.duration is 0): it has no fixed input window to apply to recordings");
  const std::size_t window = duration_samples(f.duration, f.sample_rate);
  auto extractor = std::make_unique<LogMelExtractor>(f, f.sample_rate);
  const auto n_mels = static_cast<int64_t>(extractor->n_mels());
  const auto n_frames = static_cast<int64_t>(extractor->n_frames(window));

  // A copy, not a move: `f` refers into `config`, and the fingerprint below
  // must see its strings (pad_mode, mel_scale, log), which a move empties.
  std::unique_ptr<RunModel> run(new RunModel(run_dir, config, n_mels, n_frames));
  run->extractor_ = std::move(extractor);
  run->sample_rate_ = f.sample_rate;
  run->window_samples_ = window;
  configure_runtime(threads);
  run->model_ = Siamese(run->config_.model, n_mels, n_frames);
  load_best_weights(weights_file, run->model_);
  run->model_->eval();
  convert_to_channels_last(*run->model_);
  const Fingerprints fingerprints = fingerprints_of(weights_file, f);
  run->fingerprint_ = fingerprints.current;
  run->former_fingerprint_ = fingerprints.former;
  run->weights_file_ = weights_file;
  // The fewest samples the compact encoder takes: 32 frames (compact_stages).
  std::size_t lo = 1, hi = window;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (run->extractor_->n_frames(mid) >= 32) hi = mid;
    else lo = mid + 1;
  }
  run->min_window_samples_ = lo;
  return run;
}

bool RunModel::pools_time() const { return config_.model.arch == "compact"; }

LibraryModel RunModel::library_model() const {
  LibraryModel m;
  m.run = run_dir_.string();
  m.fingerprint = fingerprint_;
  m.embedding_dim = model_->embedding_dim();
  m.window_s = window_seconds();
  m.sample_rate = sample_rate_;
  m.former_fingerprint = former_fingerprint_;
  return m;
}

namespace {
std::string frame_note(double seconds, int n_fft, int sample_rate) {
  char text[256];
  std::snprintf(text, sizeof text,
                "is %.1f ms long, shorter than one analysis frame of the run (%.1f ms: n_fft %d at %d Hz), which holds "
                "no sound of its own",
                1000.0 * seconds, 1000.0 * n_fft / sample_rate, n_fft, sample_rate);
  return text;
}
}  // namespace

RunModel::SampleSource RunModel::open_audio(const std::string& path, const Segment& segment) const {
  ReaderOptions options;
  options.sample_rate = sample_rate_;
  auto reader = std::make_shared<AudioReader>(path, options);
  // A segment given in seconds may lie past any file (1e300 s): sample_index
  // saturates (UINT64_MAX, SIZE_MAX on a 64-bit machine, is past every file).
  const std::size_t first = sample_index(segment.start, sample_rate_);
  const std::size_t last = segment.end < 0 ? SIZE_MAX : sample_index(segment.end, sample_rate_);
  const double rate = sample_rate_;
  const bool whole = segment.start == 0 && segment.end < 0;
  const int n_fft = config_.features.n_fft, sample_rate = sample_rate_;
  // position: samples decoded so far; the segment is [first, last) of them.
  return [reader, first, last, rate, segment, whole, path, n_fft, sample_rate,
          position = std::size_t{0}](float* out, std::size_t n) mutable {
    while (position < last) {
      const std::size_t got = reader->read(out, n);
      if (got == 0) break;
      const std::size_t begin = std::max(position, first), end = std::min(position + got, last);
      const std::size_t from = position;
      position += got;
      if (begin >= end) continue;  // before the segment
      if (begin > from) std::copy(out + (begin - from), out + (end - from), out);
      return end - begin;
    }
    // The end of the recording: a segment reaching past it is refused, not
    // cut short (the user asked for sound that is not there).
    if (!whole) check_segment_within(segment, static_cast<double>(position) / rate, path);
    // A recording of a few milliseconds has no analysis frame of its own sound: a 1 ms
    // file was enrolled as four views of padding, and classified with confidence 0.98.
    // (An empty one is named by the reader; a segment is checked against its own length.)
    if (whole && position > 0 && position < static_cast<std::size_t>(n_fft))
      throw file_error(path, frame_note(static_cast<double>(position) / rate, n_fft, sample_rate));
    return std::size_t{0};
  };
}

std::string RunModel::shorter_than_a_frame_note(double seconds) const {
  return frame_note(seconds, config_.features.n_fft, sample_rate_);
}

std::vector<float> RunModel::read_audio(const std::string& path, const Segment& segment) const {
  SampleSource source = open_audio(path, segment);
  std::vector<float> samples, block(1 << 16);
  while (const std::size_t n = source(block.data(), block.size())) samples.insert(samples.end(), block.data(), block.data() + n);
  return samples;
}

torch::Tensor RunModel::embed_packed(const float* windows, std::size_t count, std::size_t window) {
  if (window == 0 || window >= window_samples_) window = window_samples_;
  if (window < window_samples_) {
    if (short_windows_ == ShortWindows::own && pools_time()) return embed_own_length(windows, count, window);
    std::vector<float> padded(count * window_samples_, 0.0f);  // zero-padded as training pads short clips
    for (std::size_t i = 0; i < count; ++i)
      std::copy_n(windows + i * window, window, padded.data() + i * window_samples_);
    return embed_packed(padded.data(), count);
  }
  torch::NoGradGuard no_grad;
  const std::size_t clip = static_cast<std::size_t>(n_mels_ * n_frames_);
  std::vector<torch::Tensor> parts;
  for (std::size_t first = 0; first < count; first += kEmbedBatch) {
    const std::size_t n = std::min(kEmbedBatch, count - first);
    auto batch = torch::empty({static_cast<int64_t>(n), 1, n_mels_, n_frames_}, torch::kFloat);
    float* dst = batch.data_ptr<float>();
    for (std::size_t i = 0; i < n; ++i)
      extractor_->log_mel(windows + (first + i) * window_samples_, window_samples_, dst + i * clip);
    parts.push_back(model_->embed(as_channels_last(batch)).to(torch::kFloat).contiguous());
  }
  if (parts.empty()) return torch::empty({0, model_->embedding_dim()});
  return torch::cat(parts, 0);
}

torch::Tensor RunModel::embed_own_length(const float* windows, std::size_t count, std::size_t length) {
  torch::NoGradGuard no_grad;
  const std::size_t padded = std::max(length, min_window_samples_);  // at least the encoder's 32 frames
  const auto frames = static_cast<int64_t>(extractor_->n_frames(padded));
  const std::size_t clip = static_cast<std::size_t>(n_mels_ * frames);
  std::vector<float> one(padded, 0.0f);
  std::vector<torch::Tensor> parts;
  for (std::size_t first = 0; first < count; first += kEmbedBatch) {
    const std::size_t n = std::min(kEmbedBatch, count - first);
    auto batch = torch::empty({static_cast<int64_t>(n), 1, n_mels_, frames}, torch::kFloat);
    float* dst = batch.data_ptr<float>();
    for (std::size_t i = 0; i < n; ++i) {
      std::copy_n(windows + (first + i) * length, length, one.data());
      extractor_->log_mel(one.data(), padded, dst + i * clip);
    }
    parts.push_back(model_->embed(as_channels_last(batch)).to(torch::kFloat).contiguous());
  }
  if (parts.empty()) return torch::empty({0, model_->embedding_dim()});
  return torch::cat(parts, 0);
}

torch::Tensor RunModel::embed_windows(const std::vector<float>& samples, const std::vector<std::size_t>& starts,
                                      std::size_t window) {
  if (window == 0 || window > window_samples_) window = window_samples_;
  if (short_windows_ == ShortWindows::own && pools_time()) {
    // Each window at the length of what it holds: windows of equal length embedded together.
    std::map<std::size_t, std::vector<int64_t>> by_length;
    for (std::size_t i = 0; i < starts.size(); ++i) {
      const std::size_t held = starts[i] < samples.size() ? std::min(window, samples.size() - starts[i]) : 0;
      by_length[std::max<std::size_t>(held, 1)].push_back(static_cast<int64_t>(i));
    }
    torch::Tensor out = torch::empty({static_cast<int64_t>(starts.size()), model_->embedding_dim()}, torch::kFloat);
    for (const auto& [length, rows] : by_length) {
      std::vector<float> packed(rows.size() * length, 0.0f);
      for (std::size_t r = 0; r < rows.size(); ++r)
        copy_window(samples, starts[static_cast<std::size_t>(rows[r])], length, packed.data() + r * length);
      out.index_copy_(0, torch::tensor(rows, torch::kLong), embed_packed(packed.data(), rows.size(), length));
    }
    return out;
  }
  std::vector<float> packed(starts.size() * window_samples_, 0.0f);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    float* dst = packed.data() + i * window_samples_;
    copy_window(samples, starts[i], window, dst);  // the rest of the input stays zero: padded as in training
  }
  return embed_packed(packed.data(), starts.size());
}

torch::Tensor RunModel::score(const torch::Tensor& queries, const torch::Tensor& references) {
  torch::NoGradGuard no_grad;
  return model_->score_matrix(queries, references).to(torch::kDouble).contiguous();
}

Calibration calibrate_on_validation(RunModel& run, double far, bool progress) {
  const RunPaths paths{run.run_dir()};
  const std::string ask = "; give a threshold with --threshold";
  if (!fs::exists(paths.info()) || !fs::exists(paths.split()))
    throw file_error(run.run_dir(), "the run records no dataset or split to calibrate a threshold on" + ask);
  const RunInfo info = RunInfo::load(paths.info());
  FeatureSet features = [&] {
    try {
      return load_run_features(info, run.config().features, 0, progress);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + "\n(the run's validation classes calibrate the threshold)" + ask);
    }
  }();
  const ClassSplit split =
      ClassSplit::from_json(read_file(paths.split()), features.class_names(), paths.split().string());
  if (split.val.size() < 2)
    throw file_error(paths.split(), "the run has " + std::to_string(split.val.size()) +
                                        " validation classes; calibration needs at least 2" + ask);
  const EvalSubset subset = subset_of_classes(features, split.val);
  const torch::Tensor embeddings = embed_subset(run.model(), features, subset, torch::kCPU, 64, {});
  const torch::Tensor scores = run.score(embeddings, embeddings);
  const auto n = static_cast<std::size_t>(scores.size(0));
  const double* s = scores.data_ptr<double>();
  std::vector<double> same, different;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      (subset.labels[i] == subset.labels[j] ? same : different).push_back(s[i * n + j]);
  if (same.empty()) throw file_error(paths.split(), "the validation classes have one clip each" + ask);
  Calibration c = calibrate_threshold(same, different, far);
  c.classes = static_cast<std::int64_t>(split.val.size());
  return c;
}

std::vector<std::size_t> RunModel::embedding_parts() const { return model_->embedding_parts(); }

}  // namespace oneshot
