#pragma once
// The run configuration: one struct per TOML section. Every field is listed
// once in its section's visit() so that loading, --set overrides, dumping and
// unknown-key errors all come from the same table.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace oneshot {

struct FeaturesConfig {
  int sample_rate = 44100;   // 0 keeps each file's rate
  double duration = 5.0;     // seconds; 0 keeps each file's length
  int n_fft = 2048;
  int hop_length = 512;
  int n_mels = 128;
  double fmin = 0.0;
  double fmax = 0.0;         // 0 = sample_rate / 2
  std::string pad_mode = "reflect";   // "reflect" (librosa <= 0.8) or "constant" (>= 0.9)
  std::string mel_scale = "slaney";   // "slaney" or "htk"
  std::string log = "floor";          // "floor": ln(max(S, log_floor)); "nonzero": the original's quirk
  double log_floor = 1e-10;
  std::string storage = "float32";    // cache storage: "float32" or "float16"

  template <class V> void visit(V&& v) {
    v("sample_rate", sample_rate); v("duration", duration); v("n_fft", n_fft);
    v("hop_length", hop_length); v("n_mels", n_mels); v("fmin", fmin); v("fmax", fmax);
    v("pad_mode", pad_mode); v("mel_scale", mel_scale); v("log", log);
    v("log_floor", log_floor); v("storage", storage);
  }
  void validate() const;
};

struct SplitConfig {
  double n_val = 5;   // a count, or a fraction of the classes when below 1
  double n_test = 5;
  std::vector<std::string> val_classes;   // override n_val when not empty
  std::vector<std::string> test_classes;  // override n_test when not empty
  std::int64_t seed = 1;

  template <class V> void visit(V&& v) {
    v("n_val", n_val); v("n_test", n_test); v("val_classes", val_classes);
    v("test_classes", test_classes); v("seed", seed);
  }
  void validate() const;
};

struct ModelConfig {
  int n_filters = 64;
  int n_dense = 500;
  int n_conv_layers = 3;
  int n_dense_layers = 1;
  std::string dist = "l2";  // "l1" or "l2"
  double dropout_conv = 0.25;
  double dropout_dense = 0.25;

  template <class V> void visit(V&& v) {
    v("n_filters", n_filters); v("n_dense", n_dense); v("n_conv_layers", n_conv_layers);
    v("n_dense_layers", n_dense_layers); v("dist", dist); v("dropout_conv", dropout_conv);
    v("dropout_dense", dropout_dense);
  }
  void validate() const;
};

struct TrainConfig {
  std::string loss = "bce";  // "bce" or "mse"
  double learning_rate = 1e-3;
  double decay = 1e-6;       // Keras-style: lr / (1 + decay * iterations)
  int batch_size = 20;       // pairs per step in "anchors" mode
  std::string pairs = "batch";  // "batch" (in-batch pairs; faster, see bench_pairs) or "anchors" (the original)
  double amount_of_pairs = 1.0;
  double neg_pair_ratio = 1.0;
  int classes_per_batch = 8;  // P in "batch" mode
  int clips_per_class = 4;    // K in "batch" mode
  int steps_per_epoch = 0;    // 0 = one pass over the training clips
  int epochs = 20;
  int patience = 10;
  std::int64_t seed = 1;
  int threads = 0;            // 0 = all cores
  std::string precision = "fp32";  // "fp32" or "bf16"
  std::string device = "cpu";      // "cpu" or "cuda"
  int val_episodes = 1000;         // one-shot validation episodes per epoch
  std::string batch_negatives = "sampled";  // "batch" mode: "sampled" at neg_pair_ratio, or "weighted" (all)
  int bn_recalibration = 512;      // training clips that re-estimate BatchNorm statistics before validation (0 = off)

  template <class V> void visit(V&& v) {
    v("loss", loss); v("learning_rate", learning_rate); v("decay", decay);
    v("batch_size", batch_size); v("pairs", pairs); v("amount_of_pairs", amount_of_pairs);
    v("neg_pair_ratio", neg_pair_ratio); v("classes_per_batch", classes_per_batch);
    v("clips_per_class", clips_per_class); v("steps_per_epoch", steps_per_epoch);
    v("epochs", epochs); v("patience", patience); v("seed", seed); v("threads", threads);
    v("precision", precision); v("device", device); v("val_episodes", val_episodes);
    v("batch_negatives", batch_negatives); v("bn_recalibration", bn_recalibration);
  }
  void validate() const;
};

struct EvalConfig {
  std::string protocol = "grid";  // "grid" (the original) or "episodes"
  int ways = 5;
  int shots = 1;
  int queries = 15;
  int episodes = 10000;
  std::string aggregate = "mean";  // "mean", "max" or "prototype"
  std::int64_t seed = 1;

  template <class V> void visit(V&& v) {
    v("protocol", protocol); v("ways", ways); v("shots", shots); v("queries", queries);
    v("episodes", episodes); v("aggregate", aggregate); v("seed", seed);
  }
  void validate() const;
};

struct TuneConfig {
  std::string sampler = "tpe";  // "tpe" or "random"
  int n_startup_jobs = 20;
  int n_ei_candidates = 24;
  double gamma = 0.25;
  double prior_weight = 1.0;
  int max_epochs = 12;
  int patience = 6;
  std::string pruner = "none";  // "none" or "median"
  int pruner_warmup_epochs = 3;
  int pruner_startup_trials = 5;  // complete trials needed before the median pruner acts
  double heartbeat_seconds = 60;
  int max_attempts = 2;         // runs of a trial whose worker died before it is marked failed
  double n_val = 5;             // validation classes carved from the training classes
  std::int64_t seed = 1;

  template <class V> void visit(V&& v) {
    v("sampler", sampler); v("n_startup_jobs", n_startup_jobs); v("n_ei_candidates", n_ei_candidates);
    v("gamma", gamma); v("prior_weight", prior_weight); v("max_epochs", max_epochs);
    v("patience", patience); v("pruner", pruner); v("pruner_warmup_epochs", pruner_warmup_epochs);
    v("pruner_startup_trials", pruner_startup_trials); v("heartbeat_seconds", heartbeat_seconds);
    v("max_attempts", max_attempts); v("n_val", n_val); v("seed", seed);
  }
  void validate() const;
};

struct Config {
  FeaturesConfig features;
  SplitConfig split;
  ModelConfig model;
  TrainConfig train;
  EvalConfig eval;
  TuneConfig tune;

  template <class V> void visit_sections(V&& v) {
    v("features", features); v("split", split); v("model", model);
    v("train", train); v("eval", eval); v("tune", tune);
  }

  // Reads a TOML file over the current values; an unknown section or key,
  // or a value of the wrong type, is an Error naming the file and the key.
  void merge_file(const std::filesystem::path& path);
  void merge_toml(const std::string& text, const std::string& origin);
  // "section.key=value"; value is read as TOML, else as a bare string.
  void set(const std::string& assignment);
  void validate() const;  // every section
  std::string to_toml() const;
  // Whether section.key was given explicitly by a file or --set.
  bool was_set(const std::string& dotted_key) const;

  static Config load(const std::filesystem::path& file, const std::vector<std::string>& overrides);

 private:
  std::vector<std::string> explicit_keys_;
};

}  // namespace oneshot
