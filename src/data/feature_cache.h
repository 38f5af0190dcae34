#pragma once
// The feature set of a whole dataset: computed once, cached in one file per
// dataset and feature configuration, memory-mapped on later runs.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"

namespace oneshot {

// Log-mel spectrograms of every clip plus labels; training needs nothing else.
class FeatureSet {
 public:
  std::size_t n_clips() const { return labels_.size(); }
  std::size_t n_mels() const { return n_mels_; }
  std::size_t n_frames() const { return n_frames_; }
  std::size_t clip_size() const { return n_mels_ * n_frames_; }
  // Row-major n_mels x n_frames float32 of clip i.
  const float* clip(std::size_t i) const { return data_ + i * clip_size(); }
  const std::vector<int>& labels() const { return labels_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::vector<std::string>& file_names() const { return file_names_; }

  // In-memory construction (tests, synthetic data).
  static FeatureSet from_vectors(std::vector<float> data, std::size_t n_mels, std::size_t n_frames,
                                 std::vector<int> labels, std::vector<std::string> class_names,
                                 std::vector<std::string> file_names);
  // A view of n_clips x n_mels x n_frames floats at `data`, kept alive by
  // `storage` (a memory mapping or a buffer). Labels must index class_names.
  static FeatureSet from_storage(std::shared_ptr<void> storage, const float* data, std::size_t n_mels,
                                 std::size_t n_frames, std::vector<int> labels,
                                 std::vector<std::string> class_names, std::vector<std::string> file_names);

 private:
  friend class FeatureCache;
  std::size_t n_mels_ = 0, n_frames_ = 0;
  const float* data_ = nullptr;
  std::shared_ptr<void> storage_;  // owns data_: a vector or a memory mapping
  std::vector<int> labels_;
  std::vector<std::string> class_names_, file_names_;
};

struct CacheOptions {
  std::filesystem::path cache_dir;  // empty: DATASET/.oneshot-cache
  int jobs = 0;                     // 0 = all cores
  bool skip_bad = false;            // skip undecodable clips (reported) instead of failing
  bool progress = true;
};

struct CacheReport {
  std::filesystem::path cache_file;
  bool rebuilt = false;
  std::string rebuild_reason;  // why the cache was (re)built: "absent", "stale", "corrupt: ..."
  std::vector<BadFile> skipped;
  std::vector<std::string> empty_classes;  // classes left with no usable clip (skip_bad)
  double seconds = 0;
};

class FeatureCache {
 public:
  // Loads the valid cache for (dataset, config) or builds it atomically:
  // every clip decoded once, its log-mel written to the cache file while the
  // others are computed. Without skip_bad, throws one Error listing every
  // problem (dataset.problems, files that cannot be decoded, classes left
  // without a usable clip) and writes nothing.
  static FeatureSet load_or_build(const Dataset& dataset, const FeaturesConfig& config,
                                  const CacheOptions& options, CacheReport* report = nullptr);
  // The cache file path for (dataset, config).
  static std::filesystem::path path_for(const Dataset& dataset, const FeaturesConfig& config,
                                        const CacheOptions& options);
};

}  // namespace oneshot
