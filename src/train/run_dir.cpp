#include "train/run_dir.h"

#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_read.h"
#include "core/json_text.h"
#include "data/dataset.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

std::string text_of(int v) { return std::to_string(v); }
std::string text_of(std::int64_t v) { return std::to_string(v); }
std::string text_of(double v) {
  std::ostringstream ss;
  ss.precision(17);
  ss << v;
  return ss.str();
}
std::string text_of(const std::string& v) { return "\"" + v + "\""; }
std::string text_of(const std::vector<std::string>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
  return s + "]";
}

// section.key -> value as text, for the sections a checkpoint depends on.
std::map<std::string, std::string> checkpoint_keys(Config config) {
  std::map<std::string, std::string> out;
  config.visit_sections([&](const char* section, auto& fields) {
    const std::string s = section;
    if (s != "features" && s != "split" && s != "model" && s != "train") return;
    fields.visit([&](const char* key, auto& value) { out[s + "." + key] = text_of(value); });
  });
  return out;
}

}  // namespace

nlohmann::json RunInfo::to_json() const {
  return {{"data_dir", data_dir},     {"layout", layout}, {"esc10", esc10},     {"cache_dir", cache_dir},
          {"cache_file", cache_file}, {"n_clips", n_clips}, {"n_mels", n_mels}, {"n_frames", n_frames},
          {"n_classes", n_classes}};
}

RunInfo RunInfo::from_json(const nlohmann::json& j, const std::string& origin) {
  try {
    RunInfo r;
    r.data_dir = j.at("data_dir").get<std::string>();
    r.layout = j.at("layout").get<std::string>();
    r.esc10 = j.at("esc10").get<bool>();
    r.cache_dir = j.at("cache_dir").get<std::string>();
    r.cache_file = j.at("cache_file").get<std::string>();
    r.n_clips = json_integer_at<std::int64_t>(j, "n_clips");
    r.n_mels = json_integer_at<std::int64_t>(j, "n_mels");
    r.n_frames = json_integer_at<std::int64_t>(j, "n_frames");
    r.n_classes = json_integer_at<std::int64_t>(j, "n_classes");
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": " + e.what());
  } catch (const Error& e) {  // json_integer_at's "KEY: expected an integer"
    throw Error(origin + ": " + e.what());
  }
}

std::string read_run_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    const fs::path run = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    throw file_error(file, "no such file: the run directory " + run.string() + " has no " +
                               file.filename().string() + " (`train --run " + run.string() +
                               "` writes it when training starts; is this a run directory whose training started?)");
  }
  if (fs::is_directory(file, ec)) throw file_error(file, "is a directory, not the run's " + file.filename().string());
  return read_file(file);
}

RunInfo RunInfo::load(const fs::path& run_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_run_file(run_json));
  } catch (const nlohmann::json::exception& e) {
    throw file_error(run_json, std::string("not valid JSON: ") + e.what());
  }
  return from_json(j, run_json.string());
}

void RunInfo::save(const fs::path& run_json) const { write_file_atomic(run_json, json_text(to_json(), 2) + "\n"); }

bool key_may_change_on_resume(const std::string& key) {
  return key == "train.epochs" || key == "train.patience" || key == "train.min_epochs" || key == "train.threads" ||
         key == "train.device";
}

void check_resume_compatible(const Config& saved, const Config& now, const fs::path& saved_file) {
  // The cosine schedule's length is epochs x steps_per_epoch: a longer run
  // would restart the decay part-way, matching neither length.
  if (saved.train.lr_schedule == "cosine" && saved.train.epochs != now.train.epochs)
    throw file_error(saved_file, "train.epochs is " + std::to_string(saved.train.epochs) + " in this run, " +
                                     std::to_string(now.train.epochs) +
                                     " now: with train.lr_schedule = \"cosine\" the schedule's length cannot change "
                                     "on resume (use a new --run directory)");
  const auto a = checkpoint_keys(saved), b = checkpoint_keys(now);
  for (const auto& [key, value] : a) {
    if (key_may_change_on_resume(key)) continue;
    const auto it = b.find(key);
    if (it != b.end() && it->second != value)
      throw file_error(saved_file, key + " is " + value + " in this run, " + it->second +
                                       " now: the checkpoint cannot continue with it (only train.epochs, "
                                       "train.patience, train.min_epochs, train.threads and train.device may change; use a new "
                                       "--run directory for another configuration)");
  }
}

Config load_resumed_config(const fs::path& run_config, const fs::path& config_file,
                           const std::vector<std::string>& overrides) {
  const std::string text = read_file(run_config);
  Config c;
  c.merge_toml(text, run_config.string());
  // A run written before model.arch existed trained the original recipe:
  // read its config with the original's values for the keys added since.
  if (!c.was_set("model.arch")) {
    c = Config();
    c.model = original_model();
    c.train = original_train();
    c.augment = no_augmentation();
    c.merge_toml(text, run_config.string());
  }
  // Keys whose default changed since (model.sound_span, model.descriptor) hold what such runs had.
  const ModelConfig stored = stored_model_defaults();
  if (!c.was_set("model.sound_span")) c.model.sound_span = stored.sound_span;
  if (!c.was_set("model.descriptor")) c.model.descriptor = stored.descriptor;
  if (!config_file.empty()) c.merge_file(config_file);
  for (const auto& o : overrides) c.set(o);
  c.validate();
  return c;
}

FeatureSet load_run_features(const RunInfo& info, const FeaturesConfig& features, int jobs, bool progress) {
  DatasetOptions dataset_options;
  dataset_options.layout = info.layout.empty() ? "auto" : info.layout;
  dataset_options.esc10 = info.esc10;
  dataset_options.collect_problems = true;
  const Dataset dataset = load_dataset(info.data_dir, dataset_options);
  CacheOptions cache_options;
  cache_options.cache_dir = info.cache_dir;
  cache_options.jobs = jobs;
  cache_options.progress = progress;
  return FeatureCache::load_or_build(dataset, features, cache_options);
}

}  // namespace oneshot
