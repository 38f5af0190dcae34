#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.h"
#include "core/toml_read.h"

namespace oneshot {
namespace {

// The most classes a count of classes may name (split.n_val, tune.n_val).
constexpr double kMaxClassCount = 1e6;

std::string describe(const toml::node& node) {
  std::ostringstream ss;
  if (auto s = node.as_string()) ss << '"' << s->get() << '"';
  else if (auto a = node.as_array()) ss << *a;
  else node.visit([&](auto&& n) { ss << n; });
  return ss.str();
}

// Assigns one TOML value to a typed field; returns an empty string or the reason it failed.
std::string assign(int& field, const toml::node& node) {
  // The type is checked before value<>(): toml++ converts a float such as
  // 4.4e101 to an integer unchecked, which is undefined behaviour.
  if (!node.is_integer()) return "expected an integer";
  auto v = node.value<int64_t>();
  if (!v) return "expected an integer";
  if (*v < INT32_MIN || *v > INT32_MAX) return "integer out of range";
  field = static_cast<int>(*v);
  return {};
}
std::string assign(std::int64_t& field, const toml::node& node) {
  if (!node.is_integer()) return "expected an integer";
  field = *node.value<int64_t>();
  return {};
}
std::string assign(double& field, const toml::node& node) {
  const std::optional<double> number = toml_number(node);
  if (!number) return "expected a number";
  const double value = *number;
  // TOML's inf and nan: no setting means them (an infinite learning rate
  // trained to NaN; an infinite log floor made every log-mel one constant).
  if (!std::isfinite(value)) return "expected a finite number";
  field = value;
  return {};
}
std::string assign(std::string& field, const toml::node& node) {
  if (!node.is_string()) return "expected a string";
  field = *node.value<std::string>();
  return {};
}
std::string assign(std::vector<std::string>& field, const toml::node& node) {
  std::vector<std::string> out;
  if (auto arr = node.as_array()) {
    for (const auto& item : *arr) {
      if (!item.is_string()) return "expected a list of strings";
      out.push_back(*item.value<std::string>());
    }
  } else if (auto s = node.as_string()) {  // "a,b,c" from the command line
    std::stringstream ss(s->get());
    for (std::string part; std::getline(ss, part, ',');)
      if (!part.empty()) out.push_back(part);
  } else {
    return "expected a list of strings";
  }
  field = std::move(out);
  return {};
}

void emit(toml::table& t, const char* key, int v) { t.insert_or_assign(key, static_cast<int64_t>(v)); }
void emit(toml::table& t, const char* key, std::int64_t v) { t.insert_or_assign(key, v); }
void emit(toml::table& t, const char* key, double v) { t.insert_or_assign(key, v); }
void emit(toml::table& t, const char* key, const std::string& v) { t.insert_or_assign(key, v); }
void emit(toml::table& t, const char* key, const std::vector<std::string>& v) {
  toml::array arr;
  for (const auto& s : v) arr.push_back(s);
  t.insert_or_assign(key, std::move(arr));
}

// Sets the field named `key` of a section, or reports that it does not exist.
template <class Section>
void set_key(Section& section, const std::string& section_name, const std::string& key,
             const toml::node& node, const std::string& origin) {
  bool found = false;
  auto visitor = [&](const char* name, auto& field) {
    if (key != name) return;
    found = true;
    if (std::string why = assign(field, node); !why.empty())
      throw Error(origin + ": bad value " + describe(node) + " for " + section_name + "." + key + ": " + why);
  };
  section.visit(visitor);
  if (!found) throw Error(origin + ": unknown key " + section_name + "." + key);
}

void require(bool ok, const std::string& key, const std::string& what) {
  if (!ok) throw Error("config: " + key + " " + what);
}
void require_one_of(const std::string& value, std::initializer_list<const char*> allowed, const std::string& key) {
  for (const char* a : allowed)
    if (value == a) return;
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + "\"" + a + "\"";
  throw Error("config: " + key + " = \"" + value + "\" is not one of " + list);
}

}  // namespace

// The most CPU threads a setting may ask for: more threads than cores only
// spin-wait (20,000 turned a 0.6 s classify into minutes). configure_runtime
// (model/runtime.cpp) also refuses more than 4 x this machine's cores.
constexpr int kMaxThreads = 1024;

// Seeds are offset and multiplied in 64-bit arithmetic (an ensemble
// member's stream, a rank's, a trial's): bounded so that nothing overflows.
namespace {
void require_seed(std::int64_t seed, const char* key) {
  require(seed >= 0 && seed <= 2147483647, key, "must be a whole number in [0, 2147483647], got " + std::to_string(seed));
}
}  // namespace

void FeaturesConfig::validate() const {
  require(sample_rate >= 0 && sample_rate <= 768000, "features.sample_rate", "must be 0 (keep) or a rate up to 768000");
  // The model's input: longer recordings are cut into windows of it, so no
  // input needs more than minutes (1e9 s asked for gigabytes per clip).
  require(duration == 0 || (duration >= 0.001 && duration <= 600), "features.duration",
          "must be 0 (each file's length) or in [0.001, 600] seconds");
  require(n_fft >= 16 && n_fft <= 65536, "features.n_fft", "must be in [16, 65536]");
  require(hop_length >= 1, "features.hop_length", "must be >= 1");
  require(n_mels >= 1 && n_mels <= 1024, "features.n_mels", "must be in [1, 1024]");
  require(fmin >= 0, "features.fmin", "must be >= 0");
  require(fmax >= 0, "features.fmax", "must be >= 0 (0 = sample_rate / 2)");
  require(fmax == 0 || fmax > fmin, "features.fmax", "must exceed features.fmin");
  // Above the Nyquist frequency every mel filter is empty and the log-mel one constant.
  require(sample_rate == 0 || fmin < sample_rate / 2.0, "features.fmin",
          "must be below half of features.sample_rate (every mel filter above it is empty)");
  require_one_of(pad_mode, {"reflect", "constant"}, "features.pad_mode");
  require_one_of(mel_scale, {"slaney", "htk"}, "features.mel_scale");
  require_one_of(log, {"floor", "nonzero"}, "features.log");
  require(log_floor > 0, "features.log_floor", "must be > 0");
  require_one_of(storage, {"float32", "float16"}, "features.storage");
}

void SplitConfig::validate() const {
  require_seed(seed, "split.seed");
  require(n_val >= 0, "split.n_val", "must be >= 0");
  require(n_test >= 0, "split.n_test", "must be >= 0");
  // Bounded: the split casts a count to an integer (1e300 would be undefined behaviour).
  require(n_val < 1 || (n_val == std::floor(n_val) && n_val <= kMaxClassCount), "split.n_val",
          "must be a whole count (at most 1000000) or a fraction below 1");
  require(n_test < 1 || (n_test == std::floor(n_test) && n_test <= kMaxClassCount), "split.n_test",
          "must be a whole count (at most 1000000) or a fraction below 1");
}

void ModelConfig::validate() const {
  require(n_filters >= 1 && n_filters <= 4096, "model.n_filters", "must be in [1, 4096]");
  require(n_dense >= 1 && n_dense <= 65536, "model.n_dense", "must be in [1, 65536]");
  require(n_conv_layers >= 0 && n_conv_layers <= 16, "model.n_conv_layers", "must be in [0, 16]");
  require(n_dense_layers >= 0 && n_dense_layers <= 16, "model.n_dense_layers", "must be in [0, 16]");
  require_one_of(dist, {"l1", "l2"}, "model.dist");
  require(dropout_conv >= 0 && dropout_conv < 1, "model.dropout_conv", "must be in [0, 1)");
  require(dropout_dense >= 0 && dropout_dense < 1, "model.dropout_dense", "must be in [0, 1)");
  require_one_of(arch, {"compact", "original"}, "model.arch");
  require(width >= 1 && width <= 1024, "model.width", "must be in [1, 1024]");
  require(depth >= 3 && depth <= 6, "model.depth", "must be in [3, 6]");
  require(embedding_dim >= 1 && embedding_dim <= 65536, "model.embedding_dim", "must be in [1, 65536]");
  require_one_of(head, {"distance", "monotone", "linear"}, "model.head");
  require_one_of(input_norm, {"bands", "none"}, "model.input_norm");
  require_one_of(clip_norm, {"mean", "none"}, "model.clip_norm");
  require_one_of(embedding_norm, {"none", "l2", "centered_l2"}, "model.embedding_norm");
  require_one_of(pooling, {"meanmax", "attention"}, "model.pooling");
  require_one_of(sound_span, {"tile", "whole"}, "model.sound_span");
  require(sound_span_db > 0 && sound_span_db <= 200, "model.sound_span_db", "must be in (0, 200] dB");
  require_one_of(descriptor, {"none", "band_stats"}, "model.descriptor");
  require(descriptor_weight > 0 && descriptor_weight <= 100, "model.descriptor_weight",
          "must be in (0, 100]; model.descriptor = \"none\" leaves the band statistics out");
  require(ensemble >= 1 && ensemble <= 8, "model.ensemble", "must be in [1, 8] (1 = one encoder)");
  if (ensemble > 1) {
    // The members' scores average only as squared distances of unit-length parts.
    const std::string why = " with model.ensemble > 1 (the members' pair scores are averaged as distances of their "
                            "unit-length parts)";
    require(arch == "compact", "model.arch", "must be \"compact\"" + why);
    require(head == "distance" && dist == "l2", "model.head", "must be \"distance\" with model.dist = \"l2\"" + why);
    require(embedding_norm != "none", "model.embedding_norm", "must be \"l2\" or \"centered_l2\"" + why);
  }
}

void AugmentConfig::validate() const {
  require(time_shift >= 0 && time_shift <= 1, "augment.time_shift", "must be in [0, 1]");
  require(time_masks >= 0, "augment.time_masks", "must be >= 0");
  require(time_mask_width >= 0 && time_mask_width < 1, "augment.time_mask_width", "must be in [0, 1)");
  require(freq_masks >= 0, "augment.freq_masks", "must be >= 0");
  require(freq_mask_width >= 0 && freq_mask_width < 1, "augment.freq_mask_width", "must be in [0, 1)");
  require(gain_db >= 0 && std::isfinite(gain_db), "augment.gain_db", "must be >= 0");
  require(mixup >= 0 && std::isfinite(mixup), "augment.mixup", "must be >= 0 (0 = off)");
  require(crop == 0 || (crop > 0 && crop <= 1), "augment.crop", "must be 0 (off) or in (0, 1]");
  require(freq_shift >= 0, "augment.freq_shift", "must be >= 0 mel bands (0 = off)");
  require(time_stretch >= 0 && time_stretch <= 1, "augment.time_stretch", "must be in [0, 1] (0 = off)");
  require(background >= 0 && background <= 1, "augment.background", "must be a probability in [0, 1] (0 = off)");
  require(std::isfinite(background_snr_min) && std::isfinite(background_snr_max) &&
              background_snr_min <= background_snr_max,
          "augment.background_snr_min", "must be finite and at most augment.background_snr_max");
  require(new_class >= 0 && new_class <= 1, "augment.new_class", "must be a probability in [0, 1] (0 = off)");
  require(new_class_transform == "reverse" || new_class_transform == "shift" || new_class_transform == "reverse+shift",
          "augment.new_class_transform", "must be \"reverse\", \"shift\" or \"reverse+shift\"");
  require(new_class_shift >= 1, "augment.new_class_shift", "must be >= 1 mel band");
}

void TrainConfig::validate() const {
  require_seed(seed, "train.seed");
  require_one_of(loss, {"bce", "mse"}, "train.loss");
  require(learning_rate > 0, "train.learning_rate", "must be > 0");
  require(decay >= 0, "train.decay", "must be >= 0");
  require(batch_size >= 1 && batch_size <= 65536, "train.batch_size", "must be in [1, 65536]");
  require_one_of(pairs, {"anchors", "batch"}, "train.pairs");
  require(amount_of_pairs > 0 && amount_of_pairs <= 1, "train.amount_of_pairs", "must be in (0, 1]");
  require(neg_pair_ratio >= 0, "train.neg_pair_ratio", "must be >= 0");
  require(classes_per_batch >= 2 && classes_per_batch <= 4096, "train.classes_per_batch", "must be in [2, 4096]");
  require(clips_per_class >= 2 && clips_per_class <= 4096, "train.clips_per_class", "must be in [2, 4096]");
  require(static_cast<long long>(classes_per_batch) * clips_per_class <= 65536, "train.classes_per_batch",
          "x train.clips_per_class (clips a step) must be at most 65536");
  require(steps_per_epoch >= 0 && steps_per_epoch <= 10000000, "train.steps_per_epoch", "must be in [0, 10^7]");
  require(epochs >= 1 && epochs <= 1000000, "train.epochs", "must be in [1, 10^6]");
  require(patience >= 0, "train.patience", "must be >= 0");
  require(threads >= 0 && threads <= kMaxThreads, "train.threads",
          "must be in [0, " + std::to_string(kMaxThreads) + "] (0 = all cores)");
  require_one_of(precision, {"fp32", "bf16"}, "train.precision");
  require_one_of(device, {"cpu", "cuda"}, "train.device");
  require(val_episodes >= 1 && val_episodes <= 10000000, "train.val_episodes", "must be in [1, 10^7]");
  require_one_of(batch_negatives, {"sampled", "weighted"}, "train.batch_negatives");
  require(bn_recalibration >= 0 && bn_recalibration <= 1000000, "train.bn_recalibration", "must be in [0, 10^6] (0 = off)");
  require_one_of(objective, {"prototypical", "pairs", "aam", "aam+prototypical", "supcon", "meta-baseline"},
                 "train.objective");
  require(support_shots >= 1 && support_shots <= 4095, "train.support_shots", "must be in [1, 4095]");
  require(!episodic() || clips_per_class > support_shots, "train.clips_per_class",
          "must exceed train.support_shots with the " + objective + " objective (a class needs a query)");
  require(objective == "pairs" || pairs == "batch", "train.pairs",
          "must be \"batch\" with the " + objective + " objective (its steps are P classes x K clips)");
  require(aam_margin >= 0 && aam_margin < M_PI / 2, "train.aam_margin", "must be in [0, pi/2) radians");
  require(aam_scale > 0 && std::isfinite(aam_scale), "train.aam_scale", "must be > 0");
  require(aam_subcentres >= 1 && aam_subcentres <= 64, "train.aam_subcentres", "must be in [1, 64]");
  require(aam_weight >= 0 && std::isfinite(aam_weight), "train.aam_weight", "must be >= 0");
  require(verification_weight >= 0 && std::isfinite(verification_weight), "train.verification_weight",
          "must be >= 0 (0 = off)");
  require(verification_weight == 0 || episodic(), "train.verification_weight",
          "needs an episodic objective (\"prototypical\", \"aam+prototypical\" or \"meta-baseline\")");
  require(supcon_temperature > 0 && std::isfinite(supcon_temperature), "train.supcon_temperature", "must be > 0");
  require(pretrain_epochs >= 0, "train.pretrain_epochs", "must be >= 0");
  require(min_epochs >= 0, "train.min_epochs", "must be >= 0 (0 = patience counts from the first interval)");
  require_one_of(checkpoint, {"best", "last"}, "train.checkpoint");
  require(average_last >= 0 && average_last <= 1000, "train.average_last", "must be in [0, 1000] (0 = off)");
  require(average_last == 0 || checkpoint == "last", "train.average_last",
          "needs train.checkpoint = \"last\" (the average is of the last intervals, not of the best)");
  require(val_queries >= 1 && val_queries <= 100000, "train.val_queries", "must be in [1, 10^5]");
  require(val_smoothing >= 0 && val_smoothing < 1, "train.val_smoothing", "must be in [0, 1)");
  require_one_of(lr_schedule, {"keras", "plateau", "cosine"}, "train.lr_schedule");
  require(lr_schedule != "cosine" || steps_per_epoch > 0, "train.steps_per_epoch",
          "must be > 0 with lr_schedule = \"cosine\" (the schedule's length is epochs x steps_per_epoch)");
  require(lr_patience >= 1, "train.lr_patience", "must be >= 1");
  require(lr_factor > 0 && lr_factor < 1, "train.lr_factor", "must be in (0, 1)");
  require(weight_decay >= 0, "train.weight_decay", "must be >= 0");
}

void EvalConfig::validate() const {
  require_seed(seed, "eval.seed");
  require_one_of(protocol, {"grid", "episodes"}, "eval.protocol");
  require(ways >= 2 && ways <= 100000, "eval.ways", "must be in [2, 10^5]");
  require(shots >= 1 && shots <= 100000, "eval.shots", "must be in [1, 10^5]");
  require(queries >= 1 && queries <= 100000, "eval.queries", "must be in [1, 10^5]");
  require(episodes >= 1 && episodes <= 100000000, "eval.episodes", "must be in [1, 10^8]");
  require_one_of(aggregate, {"mean", "max", "prototype"}, "eval.aggregate");
}

void TuneConfig::validate() const {
  require_seed(seed, "tune.seed");
  require_one_of(sampler, {"tpe", "random"}, "tune.sampler");
  require(n_startup_jobs >= 0, "tune.n_startup_jobs", "must be >= 0");
  require(n_ei_candidates >= 1 && n_ei_candidates <= 1000000, "tune.n_ei_candidates", "must be in [1, 10^6]");
  require(gamma > 0 && gamma < 1, "tune.gamma", "must be in (0, 1)");
  require(prior_weight > 0, "tune.prior_weight", "must be > 0");
  require(max_epochs >= 1 && max_epochs <= 1000000, "tune.max_epochs", "must be in [1, 10^6]");
  require(patience >= 0, "tune.patience", "must be >= 0");
  require_one_of(pruner, {"none", "median"}, "tune.pruner");
  require(pruner_warmup_epochs >= 1, "tune.pruner_warmup_epochs", "must be >= 1");
  require(pruner_startup_trials >= 1, "tune.pruner_startup_trials", "must be >= 1");
  require(heartbeat_seconds > 0, "tune.heartbeat_seconds", "must be > 0");
  require(max_attempts >= 1, "tune.max_attempts", "must be >= 1");
  require(n_val >= 2, "tune.n_val", "must be >= 2 (one-shot validation needs two classes)");
  require(n_val <= kMaxClassCount, "tune.n_val", "must be at most 1000000");
}

ModelConfig original_model(ModelConfig base) {
  base.arch = "original";
  base.head = "linear";
  base.input_norm = "none";
  base.clip_norm = "none";
  base.embedding_norm = "none";
  base.sound_span = "whole";
  base.descriptor = "none";
  return base;
}

ModelConfig stored_model_defaults() {
  ModelConfig m;
  m.sound_span = "whole";
  m.descriptor = "none";
  return m;
}

TrainConfig original_train(TrainConfig base) {
  base.objective = "pairs";
  base.lr_schedule = "keras";
  base.steps_per_epoch = 0;
  base.epochs = 20;
  base.val_queries = 15;
  base.val_smoothing = 0;
  base.weight_decay = 0;
  base.min_epochs = 0;
  base.checkpoint = "best";
  base.average_last = 0;
  return base;
}

AugmentConfig no_augmentation() {
  AugmentConfig a;
  a.time_shift = 0;
  a.time_masks = 0;
  a.freq_masks = 0;
  a.gain_db = 0;
  a.mixup = 0;
  return a;
}

void Config::validate() const {
  features.validate();
  split.validate();
  model.validate();
  train.validate();
  augment.validate();
  eval.validate();
  tune.validate();
  require(augment.crop == 0 || model.arch == "compact", "augment.crop",
          "needs model.arch = \"compact\" (its time pooling takes clips of any length; \"" + model.arch +
              "\" takes only the full clip)");
  require(model.ensemble == 1 || train.objective == "prototypical", "train.objective",
          "must be \"prototypical\" with model.ensemble > 1 (each member is trained on its own episodes' loss; "
          "the other objectives are not written for members)");
  require(augment.new_class == 0 || train.objective == "prototypical", "augment.new_class",
          "needs train.objective = \"prototypical\" (new classes are episodes' classes; the other objectives "
          "score pairs or the training classes' weights)");
  require(augment.new_class_shift < features.n_mels, "augment.new_class_shift",
          "must be below features.n_mels (" + std::to_string(features.n_mels) + ")");
  require(augment.freq_shift < features.n_mels, "augment.freq_shift",
          "must be below features.n_mels (" + std::to_string(features.n_mels) + "): a shift by every band leaves nothing");
}

void Config::merge_toml(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream ss;
    ss << origin << ":" << e.source().begin.line << ": " << e.description();
    throw Error(ss.str());
  }
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    bool known = false;
    visit_sections([&](const char* name, auto& sec) {
      if (section != name) return;
      known = true;
      if (!table) throw Error(origin + ": [" + section + "] must be a table");
      for (const auto& [key, node] : *table) {
        set_key(sec, section, std::string(key.str()), node, origin);
        explicit_keys_.push_back(section + "." + std::string(key.str()));
      }
    });
    if (!known) throw Error(origin + ": unknown section [" + section + "]");
  }
}

void Config::merge_file(const std::filesystem::path& path) {
  std::ifstream probe(path);
  if (!probe) throw file_error(path, "cannot read config file");
  std::stringstream ss;
  ss << probe.rdbuf();
  merge_toml(ss.str(), path.string());
}

void Config::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    throw Error("--set " + assignment + ": expected section.key=value");
  const std::string section = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed.insert("v", value);  // a bare word such as constant or l1
  }
  bool known = false;
  visit_sections([&](const char* name, auto& sec) {
    if (section != name) return;
    known = true;
    set_key(sec, section, key, *parsed.get("v"), "--set " + assignment);
  });
  if (!known) throw Error("--set " + assignment + ": unknown section [" + section + "]");
  explicit_keys_.push_back(section + "." + key);
}

bool Config::was_set(const std::string& dotted_key) const {
  return std::find(explicit_keys_.begin(), explicit_keys_.end(), dotted_key) != explicit_keys_.end();
}

std::string Config::to_toml() const {
  toml::table root;
  const_cast<Config*>(this)->visit_sections([&](const char* name, auto& sec) {
    toml::table t;
    sec.visit([&](const char* key, auto& field) { emit(t, key, field); });
    root.insert_or_assign(name, std::move(t));
  });
  std::ostringstream ss;
  ss << root << "\n";
  return ss.str();
}

Config Config::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  Config config;
  if (!file.empty()) config.merge_file(file);
  for (const auto& o : overrides) config.set(o);
  try {
    config.validate();
  } catch (const Error& e) {
    if (file.empty()) throw;
    throw Error(file.string() + (overrides.empty() ? "" : " (with --set)") + ": " + e.what());
  }
  return config;
}

}  // namespace oneshot
