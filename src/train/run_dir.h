#pragma once
// The run directory: everything a later `evaluate --run RUN` or a resumed
// `train` needs, with no other argument.
//   config.toml   the configuration (snapshot, rewritten on resume)
//   run.json      where the features came from (data dir, layout, cache)
//   split.json    the class split, by name
//   metrics.csv   one row per epoch
//   best.pt       the best weights (+ meta); last.pt: the full training state
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"
#include "data/feature_cache.h"

namespace oneshot {

struct RunPaths {
  std::filesystem::path dir;
  std::filesystem::path config() const { return dir / "config.toml"; }
  std::filesystem::path info() const { return dir / "run.json"; }
  std::filesystem::path split() const { return dir / "split.json"; }
  std::filesystem::path metrics() const { return dir / "metrics.csv"; }
  std::filesystem::path best() const { return dir / "best.pt"; }
  std::filesystem::path last() const { return dir / "last.pt"; }
};

// Where the run's features came from.
struct RunInfo {
  std::string data_dir;    // absolute
  std::string layout;      // "esc50" or "folders"
  bool esc10 = false;
  std::string cache_dir;   // as given (empty: the dataset's default)
  std::string cache_file;  // the cache file used
  std::int64_t n_clips = 0, n_mels = 0, n_frames = 0;
  std::int64_t n_classes = 0;

  nlohmann::json to_json() const;
  static RunInfo from_json(const nlohmann::json& j, const std::string& origin);
  static RunInfo load(const std::filesystem::path& run_json);
  void save(const std::filesystem::path& run_json) const;
};

// The text of a file that training writes into the run directory when it
// starts (run.json, split.json): a missing one is "no such file" naming the
// run directory and what writes it, never a bare "cannot open".
std::string read_run_file(const std::filesystem::path& file);

// The run's features from the dataset and cache it records: every dataset
// problem listed at once with the files the feature step cannot decode.
FeatureSet load_run_features(const RunInfo& info, const FeaturesConfig& features, int jobs, bool progress);

// Config keys that may change when a run continues: how long and where it
// runs. Every other key of [features], [split], [model] and [train] shapes
// the checkpoint or the random streams, so changing it is an error.
bool key_may_change_on_resume(const std::string& dotted_key);

// Throws oneshot::Error naming the first key whose value differs, e.g.
// "RUN/config.toml: model.n_filters is 4 in the run, 8 now; ...".
void check_resume_compatible(const Config& saved, const Config& now, const std::filesystem::path& saved_file);

// The run's config.toml with `config_file` (may be empty) and `overrides` on top.
Config load_resumed_config(const std::filesystem::path& run_config, const std::filesystem::path& config_file,
                           const std::vector<std::string>& overrides);

}  // namespace oneshot
