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
  // "compact" (3x3 conv blocks + global pooling, the default) or "original"
  // (the thesis's 5x5 conv + dense encoder; n_filters, n_dense, n_conv_layers,
  // n_dense_layers and the dropouts describe it).
  std::string arch = "compact";
  int width = 32;              // compact: channels of the first block (blocks: w, 2w, 4w, 4w)
  // compact: conv blocks, 3 to 6. 4 is the default (w, 2w, 4w, 4w); a 5th and
  // 6th are further 4w blocks without pooling (the time grid stays 16 frames a
  // column), 3 leaves out the 4th.
  int depth = 4;
  int embedding_dim = 128;     // compact: size of the embedding
  // compact: encoders trained side by side, each on its own loss of its own
  // stream of episodes, their embeddings concatenated and their pair scores
  // averaged (model/encoder_ensemble.h); 1 = one encoder. 2 gains on the dev
  // protocol (rule 0.802 against 0.789 / 0.792) at twice the work of every
  // command (README, "Ensembles, more descriptors and in-domain whitening"),
  // so 1 stays the default and configs/ensemble.toml offers 2.
  int ensemble = 1;
  // compact: the summary over time after the frequency mean: "meanmax" (mean
  // and max over time) or "attention" (attentive statistics pooling: an
  // attention-weighted mean and standard deviation; Okabe et al. 2018).
  std::string pooling = "meanmax";
  // The pair score, higher = more similar: "linear" (the original's learned
  // Linear on the merged difference; can rise with distance), "monotone"
  // (non-negative learned weights: cannot rise with distance) or "distance"
  // (bias - scale * distance, two learned scalars).
  std::string head = "distance";
  std::string input_norm = "bands";    // "bands": per-mel-band mean/std of the training clips; "none"
  std::string clip_norm = "mean";      // "mean": subtract each clip's mean log-mel (a gain normalisation); "none"
  std::string embedding_norm = "centered_l2"; // "none", "l2" or "centered_l2" (SimpleShot)
  // Before every other step of the embedding (model/sound_span.h): "tile"
  // repeats each clip's sounding span (first to last frame within
  // sound_span_db of its loudest) end to end over the clip's frames, so that
  // silence around a short sound does not enter the normalisation and the
  // pooling over time; "whole" leaves the clip as it is (every run before
  // the key existed, and the original).
  std::string sound_span = "tile";
  double sound_span_db = 40.0;  // dB below the loudest frame's mel power that still count as sounding
  // A fixed spectral description appended to the learned embedding
  // (model/band_statistics.h): "band_stats" (each band's mean, deviation and
  // mean frame-to-frame change over the clip, standardised on the training
  // clips, L2-normalised, scaled so that it adds descriptor_weight times its
  // cosine to the embedding's; the default since it won issue 17's rule on
  // the dev protocol, README "Band statistics beside the learned embedding")
  // or "none" (every run before the key existed, and the original).
  std::string descriptor = "band_stats";
  double descriptor_weight = 0.2;
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
    v("dropout_dense", dropout_dense); v("arch", arch); v("width", width); v("depth", depth);
    v("embedding_dim", embedding_dim); v("head", head); v("input_norm", input_norm);
    v("clip_norm", clip_norm); v("embedding_norm", embedding_norm); v("pooling", pooling);
    v("sound_span", sound_span); v("sound_span_db", sound_span_db);
    v("descriptor", descriptor); v("descriptor_weight", descriptor_weight); v("ensemble", ensemble);
  }
  void validate() const;
};

struct TrainConfig {
  // "prototypical" (in-batch episodes, softmax over the head's scores against
  // class prototypes; Snell et al. 2017), "pairs" (the original's siamese
  // loss on pairs; train.loss applies), "aam" (additive angular margin
  // softmax over all training classes, ArcFace), "aam+prototypical" (both,
  // AAM weighted by aam_weight), "supcon" (supervised contrastive, Khosla et
  // al. 2020) or "meta-baseline" (cosine-softmax classification over all
  // training classes for pretrain_epochs intervals, then prototypical
  // episodes; Chen et al. 2021). See train/objectives.h.
  std::string objective = "prototypical";
  int support_shots = 1;      // prototypical: support clips per class of a step; the rest are queries
  std::string loss = "bce";  // "bce" or "mse"
  double learning_rate = 1e-3;
  double decay = 1e-6;       // Keras-style: lr / (1 + decay * iterations)
  int batch_size = 20;       // pairs per step in "anchors" mode
  std::string pairs = "batch";  // "batch" (in-batch pairs; faster, see bench_pairs) or "anchors" (the original)
  double amount_of_pairs = 1.0;
  double neg_pair_ratio = 1.0;
  int classes_per_batch = 8;  // P in "batch" mode
  int clips_per_class = 4;    // K in "batch" mode
  // A validation interval ("epoch") of this many steps; 0 = one pass over the
  // training clips (the original). Patience and the plateau schedule count intervals.
  int steps_per_epoch = 25;
  // The default recipe (README, "Accuracy on real sounds"): 32 intervals on a
  // cosine schedule, the last weights kept. On the dev classes (3 splits) it
  // beat the plateau schedule with the best-validation checkpoint on EER and
  // on 5-way accuracy without the selection bias of choosing on the same classes.
  int epochs = 32;            // at most this many intervals
  int patience = 10;
  std::int64_t seed = 1;
  int threads = 0;            // 0 = all cores
  std::string precision = "fp32";  // "fp32" or "bf16"
  std::string device = "cpu";      // "cpu" or "cuda"
  int val_episodes = 1000;         // one-shot validation episodes per epoch
  std::string batch_negatives = "sampled";  // "batch" mode: "sampled" at neg_pair_ratio, or "weighted" (all)
  int bn_recalibration = 512;      // training clips that re-estimate BatchNorm statistics before validation (0 = off)
  int val_queries = 5;             // queries per class of a validation episode (fewer where a class has fewer clips)
  double val_smoothing = 0.5;      // weight of the previous smoothed validation accuracy (EMA; 0 = raw, the original)
  // "keras" (lr / (1 + decay * step), the original), "plateau" (x lr_factor
  // after lr_patience intervals without a better smoothed validation accuracy)
  // or "cosine" (from learning_rate to 0 over epochs x steps_per_epoch steps).
  std::string lr_schedule = "cosine";
  int lr_patience = 3;
  double lr_factor = 0.5;
  double weight_decay = 0.0;       // Adam's L2 penalty on every weight
  double aam_margin = 0.2;         // AAM: additive angular margin m (radians), in [0, pi/2)
  double aam_scale = 30.0;         // AAM and meta-baseline's classification: logit scale s
  int aam_subcentres = 1;          // AAM: sub-centres per class (cosine = the max over them)
  double aam_weight = 1.0;         // "aam+prototypical": weight of the AAM term
  double supcon_temperature = 0.1; // "supcon": temperature of the cosine similarities
  // Episodic objectives: weight of a binary verification term on the
  // query-prototype scores beside the softmax (0 = off; train/objectives.h).
  double verification_weight = 0.0;
  int pretrain_epochs = 10;        // "meta-baseline": intervals of classification before the episodes
  // Intervals before patience and the plateau schedule count (0: from the first):
  // on a small validation set the smoothed accuracy wanders while the
  // embeddings still improve (issue 17), so patience starts at half the run.
  int min_epochs = 16;
  // What best.pt holds: "best" (the weights of the best smoothed validation)
  // or "last" (the weights after every interval: the run yields its final model).
  std::string checkpoint = "last";
  // > 0: at the end, best.pt holds the mean of the weights of the last K
  // intervals (BatchNorm statistics re-estimated); needs checkpoint = "last".
  int average_last = 0;

  template <class V> void visit(V&& v) {
    v("loss", loss); v("learning_rate", learning_rate); v("decay", decay);
    v("batch_size", batch_size); v("pairs", pairs); v("amount_of_pairs", amount_of_pairs);
    v("neg_pair_ratio", neg_pair_ratio); v("classes_per_batch", classes_per_batch);
    v("clips_per_class", clips_per_class); v("steps_per_epoch", steps_per_epoch);
    v("epochs", epochs); v("patience", patience); v("seed", seed); v("threads", threads);
    v("precision", precision); v("device", device); v("val_episodes", val_episodes);
    v("batch_negatives", batch_negatives); v("bn_recalibration", bn_recalibration);
    v("objective", objective); v("support_shots", support_shots); v("val_queries", val_queries);
    v("val_smoothing", val_smoothing); v("lr_schedule", lr_schedule); v("lr_patience", lr_patience);
    v("lr_factor", lr_factor); v("weight_decay", weight_decay); v("aam_margin", aam_margin);
    v("aam_scale", aam_scale); v("aam_subcentres", aam_subcentres); v("aam_weight", aam_weight);
    v("supcon_temperature", supcon_temperature); v("pretrain_epochs", pretrain_epochs);
    v("min_epochs", min_epochs); v("checkpoint", checkpoint); v("average_last", average_last);
    v("verification_weight", verification_weight);
  }
  // Whether the objective uses P classes x K clips episodes with support and queries.
  bool episodic() const {
    return objective == "prototypical" || objective == "aam+prototypical" || objective == "meta-baseline";
  }
  // Whether the objective keeps a class-weight matrix over the training classes.
  bool class_weights() const {
    return objective == "aam" || objective == "aam+prototypical" || objective == "meta-baseline";
  }
  void validate() const;
};

// On-the-fly augmentation of the cached log-mel spectrograms in training
// (seeded by train.seed and the step, so a resumed run draws the same). Each
// is off at 0.
struct AugmentConfig {
  double time_shift = 0.5;       // circular shift by up to this fraction of the frames, either way
  int time_masks = 2;            // SpecAugment time masks per clip
  double time_mask_width = 0.1;  // each up to this fraction of the frames
  int freq_masks = 2;            // SpecAugment frequency masks per clip
  double freq_mask_width = 0.1;  // each up to this fraction of the mel bands
  double gain_db = 0.0;          // a random gain in [-g, g] dB: a constant added in the log domain (a no-op under model.clip_norm = "mean")
  double mixup = 0.4;            // Beta(a, a) mixup of clips in a step (0 = off); targets mixed alike
  // Random crops of variable length (0 = off; else in (0, 1]): each step's
  // clips cropped to one length drawn between crop x the clip's frames (at
  // least 32) and all of them, each at its own random start (train/augment.h);
  // needs model.arch = "compact", whose time pooling takes any length.
  double crop = 0.0;
  // Pitch shift on the mel axis (0 = off): each clip moved up or down by a
  // uniform whole number of mel bands in [-freq_shift, freq_shift]; the bands
  // it leaves are set to the clip's minimum (silence).
  int freq_shift = 0;
  // Time stretch (0 = off; else in (0, 1]): each clip resampled along time by
  // a factor r with ln r uniform in [-ln(1 + s), ln(1 + s)], then cut back or
  // circularly extended to its frames (train/augment.h).
  double time_stretch = 0.0;
  // Background mixing (0 = off; else the probability a clip gets one): a clip
  // of another class of the step added in the power domain at an SNR uniform
  // in [background_snr_min, background_snr_max] dB (mean powers); the clip
  // keeps its label (train/augment.h).
  double background = 0.0;
  double background_snr_min = 0.0;
  double background_snr_max = 20.0;
  // Task augmentation (0 = off; else the probability a class of a step is
  // replaced): a transformed copy of another class of the step as a new class
  // (train/new_classes.h), transform "reverse" (time), "shift" (up or down by
  // new_class_shift mel bands) or "reverse+shift". Prototypical episodes only.
  double new_class = 0.0;
  std::string new_class_transform = "reverse";
  int new_class_shift = 12;

  template <class V> void visit(V&& v) {
    v("time_shift", time_shift); v("time_masks", time_masks); v("time_mask_width", time_mask_width);
    v("freq_masks", freq_masks); v("freq_mask_width", freq_mask_width); v("gain_db", gain_db);
    v("mixup", mixup); v("crop", crop); v("freq_shift", freq_shift); v("time_stretch", time_stretch);
    v("background", background); v("background_snr_min", background_snr_min); v("background_snr_max", background_snr_max);
    v("new_class", new_class); v("new_class_transform", new_class_transform); v("new_class_shift", new_class_shift);
  }
  void validate() const;
  bool any() const {
    return time_shift > 0 || (time_masks > 0 && time_mask_width > 0) || (freq_masks > 0 && freq_mask_width > 0) ||
           gain_db > 0 || mixup > 0 || freq_shift > 0 || time_stretch > 0;
  }
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

// The original's behaviour for the keys added after it (configs/original.toml
// pins the same values): the thesis's encoder with a learned linear head and
// no extra normalisation; the pairs objective with Keras decay, 15-query raw
// validation; no augmentation. Other fields keep their defaults.
ModelConfig original_model(ModelConfig base = {});
// What a model key absent from a stored configuration (a run's config.toml,
// a checkpoint's model_config) meant: the defaults, except that keys whose
// default changed after they were added hold the value runs had before them
// (model.sound_span = "whole").
ModelConfig stored_model_defaults();
TrainConfig original_train(TrainConfig base = {});
AugmentConfig no_augmentation();

struct Config {
  FeaturesConfig features;
  SplitConfig split;
  ModelConfig model;
  TrainConfig train;
  AugmentConfig augment;
  EvalConfig eval;
  TuneConfig tune;

  template <class V> void visit_sections(V&& v) {
    v("features", features); v("split", split); v("model", model);
    v("train", train); v("augment", augment); v("eval", eval); v("tune", tune);
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
