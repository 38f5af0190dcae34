// oneshot-audio features: build or validate a dataset's feature cache.
#include <cstdio>
#include <map>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/feature_cache.h"

namespace oneshot::cli {
namespace {

struct FeaturesOptions {
  std::string data;
  std::string layout = "auto";
  std::string cache;
  bool esc10 = false;
  bool skip_bad = false;
  int jobs = 0;
  ConfigOptions config;
};

void warn_skipped(const std::vector<BadFile>& skipped) {
  for (const auto& bad : skipped) std::fprintf(stderr, "warning: skipped %s: %s\n", bad.path.c_str(), bad.reason.c_str());
}

// Files in class folders that were not taken, counted by reason: every file
// is either used or reported.
void report_ignored(const std::vector<BadFile>& ignored) {
  if (ignored.empty()) return;
  std::map<std::string, std::size_t> counts;
  for (const auto& file : ignored) ++counts[file.reason];
  std::string summary;
  for (const auto& [reason, count] : counts) summary += (summary.empty() ? "" : ", ") + std::to_string(count) + " " + reason;
  std::fprintf(stderr, "note: %zu file(s) in class folders not used (%s), e.g. %s\n", ignored.size(), summary.c_str(),
               ignored.front().path.c_str());
}

void run_features(const FeaturesOptions& o) {
  check_cache_option(o.cache);
  const Config config = o.config.load();
  DatasetOptions dataset_options;
  dataset_options.layout = o.layout;
  dataset_options.esc10 = o.esc10;
  dataset_options.skip_bad = o.skip_bad;
  dataset_options.collect_problems = true;  // listed by the feature step with the files it cannot decode
  const Dataset dataset = load_dataset(o.data, dataset_options);
  warn_skipped(dataset.skipped);
  report_ignored(dataset.ignored);

  CacheOptions cache_options;
  cache_options.cache_dir = o.cache;
  cache_options.jobs = o.jobs;
  cache_options.skip_bad = o.skip_bad;
  CacheReport report;
  const FeatureSet set = FeatureCache::load_or_build(dataset, config.features, cache_options, &report);
  warn_skipped(report.skipped);
  for (const auto& name : report.empty_classes)
    std::fprintf(stderr, "warning: class \"%s\" has no usable clip left\n", name.c_str());

  // One "key: value" per line, so scripts can read the summary.
  std::printf("dataset: %s (%s)\n", dataset.root.c_str(), dataset.layout.c_str());
  std::printf("clips: %zu\n", set.n_clips());
  std::printf("classes: %zu\n", set.class_names().size());
  std::printf("feature shape: %zu x %zu (n_mels x frames, stored as %s)\n", set.n_mels(), set.n_frames(),
              config.features.storage.c_str());
  std::printf("skipped: %zu\n", dataset.skipped.size() + report.skipped.size());
  std::printf("not audio: %zu\n", dataset.ignored.size());
  std::printf("cache: %s\n", report.cache_file.c_str());
  if (report.rebuilt)
    std::printf("rebuilt: yes (%s)\n", report.rebuild_reason.c_str());
  else
    std::printf("rebuilt: no (valid cache reused)\n");
  std::printf("seconds: %.3f\n", report.seconds);
  std::printf("clips/s: %.1f\n", report.seconds > 0 ? static_cast<double>(set.n_clips()) / report.seconds : 0.0);
}

}  // namespace

void add_features_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("features", "Build or validate the feature cache of a dataset");
  auto o = std::make_shared<FeaturesOptions>();
  cmd->add_option("--data", o->data, "Dataset directory (ESC-50 layout or one folder per class)")->required();
  cmd->add_option("--layout", o->layout, "Dataset layout")
      ->check(CLI::IsMember({"auto", "esc50", "folders"}))
      ->capture_default_str();
  cmd->add_flag("--esc10", o->esc10, "ESC-50 layout: only the ESC-10 subset");
  cmd->add_option("--cache", o->cache, "Cache directory (default: DATA/.oneshot-cache)");
  cmd->add_option("--jobs", o->jobs, "Worker threads (0 = all cores)")
      ->check(ThreadCount)
      ->capture_default_str();
  cmd->add_flag("--skip-bad", o->skip_bad, "Skip (and report) missing or undecodable files instead of failing");
  o->config.add_to(*cmd);
  cmd->callback([o] { run_features(*o); });
}

}  // namespace oneshot::cli
