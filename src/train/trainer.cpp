#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>

#include "core/clock.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "model/runtime.h"
#include "train/augment.h"
#include "train/new_classes.h"
#include "train/interrupt.h"
#include "train/objectives.h"
#include "train/pairs.h"
#include "train/validation.h"


namespace oneshot {
namespace fs = std::filesystem;

double decayed_learning_rate(double learning_rate, double decay, std::int64_t iteration) {
  return learning_rate / (1.0 + decay * static_cast<double>(iteration));
}

double scheduled_learning_rate(const TrainConfig& config, std::int64_t iteration, double lr_scale) {
  if (config.lr_schedule == "keras") return decayed_learning_rate(config.learning_rate, config.decay, iteration);
  if (config.lr_schedule == "cosine") {
    const double total = static_cast<double>(config.epochs) * std::max(config.steps_per_epoch, 1);
    const double t = std::min(static_cast<double>(iteration) / total, 1.0);
    return config.learning_rate * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return config.learning_rate * lr_scale;  // "plateau"
}

namespace {

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// The seed of ensemble member k's stream of steps, augmentation and mixup
// (model.ensemble): member 0 keeps train.seed, so a model of one encoder
// trains as before.
std::int64_t member_seed(std::int64_t seed, std::int64_t k) { return seed + k * 1000003; }

// Sums over the steps of one epoch.
struct EpochSums {
  std::int64_t steps_done = 0, total_steps = 0;
  double loss_sum = 0, correct_sum = 0, weight_sum = 0, seconds = 0;
};

// The pair generator's state is part of last.pt: a damaged one is an error
// naming that file, not a bare JSON exception.
void restore_pairs(PairSource& pairs, const nlohmann::json& state, const fs::path& checkpoint) {
  try {
    pairs.restore(state);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(checkpoint, std::string("checkpoint's pair generator state is corrupt: ") + e.what());
  } catch (const Error& e) {
    throw file_error(checkpoint, std::string("checkpoint's pair generator state: ") + e.what());
  }
}

class Trainer {
 public:
  Trainer(const Config& config, const FeatureSet& features, const TrainOptions& options)
      : config_(config), features_(features), options_(options), paths_{options.run_dir},
        device_(parse_device(config.train.device)), dist_(options.distributed),
        rank_(dist_ ? dist_->rank() : 0), world_(dist_ ? dist_->world_size() : 1) {}

  TrainResult run();

 private:
  bool main() const { return rank_ == 0; }
  bool writes_files() const { return !options_.run_dir.empty() && main(); }
  void note(const std::string& line) const {
    if (options_.log && main()) *options_.log << line << std::endl;
  }
  bool distributed() const { return world_ > 1; }
  void share_split();
  void share_start();
  void share_epoch_state();
  void prepare_run_dir();
  void build();
  // One epoch's steps; false when it stopped early (result_ then says why).
  bool train_steps(EpochSums& sums, int epoch);
  void finish_epoch(const EpochSums& sums, int epoch);
  void save_last(const EpochSums* partial);
  // train.average_last: keep this interval's weights; at the end, best.pt = their mean.
  void take_snapshot(int epoch);
  void write_average();
  WeightSnapshots* snapshots() { return config_.train.average_last > 0 ? &snapshots_ : nullptr; }
  std::int64_t steps_in_epoch();
  void fit_input_norm();
  // `seed`: the stream's (train.seed; an ensemble member's member_seed).
  // `transforms`: each row's new-class transform (draw_new_classes), or empty.
  std::vector<torch::Tensor> step_inputs(const TrainStep& step, const std::vector<int>& labels,
                                         const std::vector<int>& transforms, MixPlan& mix, std::int64_t seed);
  // augment.new_class on a drawn step (its own stream, so that recipes without it draw as before).
  std::vector<int> new_classes(TrainStep& step, std::vector<int>& labels, std::int64_t seed) const;
  // The class of every embedding row of a step, in order.
  std::vector<int> step_labels(const TrainStep& step) const;
  // A step's embeddings, each input encoded as its own batch (BatchNorm
  // statistics per input, as the original's branches): the whole model, or
  // with member >= 0 that member of an ensemble alone.
  torch::Tensor embed_inputs(const std::vector<torch::Tensor>& inputs, int64_t member = -1);
  // An ensemble's step: member k on steps[k] alone, the mean of the members' losses and right decisions.
  StepLoss members_step_loss(const std::vector<TrainStep>& steps);
  // Every stream's position (pairs_, then member_pairs_), and back; a
  // checkpoint of one stream for an ensemble restarts members 1.. afresh.
  nlohmann::json pairs_state() const;
  void restore_pairs_state(const nlohmann::json& state);
  StepLoss step_loss(const torch::Tensor& embeddings, const TrainStep& step, const std::vector<int>& labels,
                     const MixPlan& mix);
  // The objective of this step (meta-baseline: its phase).
  std::string step_objective() const {
    return oneshot::step_objective(config_.train.objective, config_.train.pretrain_epochs, state_.epoch + 1);
  }
  torch::nn::Module* objective_module() { return class_weights_ ? class_weights_.get() : nullptr; }
  // The model's parameters and the class weights: what the optimizer steps.
  std::vector<torch::Tensor> trained_parameters() const {
    std::vector<torch::Tensor> p = model_->parameters();
    if (class_weights_)
      for (const auto& w : class_weights_->parameters()) p.push_back(w);
    return p;
  }
  double learning_rate() const {
    return scheduled_learning_rate(config_.train, state_.iterations, state_.lr_scale);
  }

  const Config& config_;
  const FeatureSet& features_;
  const TrainOptions& options_;
  RunPaths paths_;
  torch::Device device_;
  ClassSplit split_;
  Siamese model_{nullptr};
  // The objectives over all training classes (train.objective "aam", ...):
  // training state, in the optimizer and last.pt, never in best.pt.
  ClassWeights class_weights_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::unique_ptr<PairSource> pairs_;  // an ensemble's member 0's
  // Ensemble members 1..K-1's own streams of steps (model.ensemble): members
  // trained on the same episodes learn alike (README, "Ensembles").
  std::vector<std::unique_ptr<PairSource>> member_pairs_;
  ValidationPlan validation_;
  WeightSnapshots snapshots_;  // rank 0's, with train.average_last
  TrainState state_;
  TrainResult result_;
  bool stop_requested_ = false;
  Distributed* dist_;
  int rank_, world_;
};

void Trainer::prepare_run_dir() {
  const bool has_config = fs::exists(paths_.config());
  if (!has_config && fs::exists(paths_.dir) && !fs::is_empty(paths_.dir))
    throw file_error(paths_.dir, "exists and is not a run directory (no config.toml); choose a new --run directory");
  // A first start that failed before any checkpoint (a bad setting, too small
  // an input, a non-finite loss) leaves nothing to continue: start afresh
  // with the new settings rather than holding the directory to the old ones.
  if (has_config && !fs::exists(paths_.last())) {
    // Said aloud: a user re-running with fewer flags would otherwise train
    // another recipe than the one the directory's config.toml names.
    if (load_resumed_config(paths_.config(), {}, {}).to_toml() != config_.to_toml())
      std::cerr << "note: " << paths_.dir.string()
                << " has no last.pt (its first start ended before a checkpoint): starting afresh with the "
                   "settings given now, not those in its config.toml\n";
    fs::remove(paths_.split());
  } else if (has_config) {
    const Config saved = load_resumed_config(paths_.config(), {}, {});
    check_resume_compatible(saved, config_, paths_.config());
  }
  if (fs::exists(paths_.split())) {
    split_ = ClassSplit::from_json(read_file(paths_.split()), features_.class_names(), paths_.split().string());
  } else {
    split_ = options_.split ? *options_.split
                            : split_classes(features_.class_names(), features_.labels(), config_.split);
  }
  fs::create_directories(paths_.dir);
  write_file_atomic(paths_.config(), config_.to_toml());
  if (!fs::exists(paths_.split())) write_file_atomic(paths_.split(), split_.to_json(features_.class_names()));
  options_.info.save(paths_.info());
}

void Trainer::build() {
  configure_runtime(config_.train.threads);
  torch::manual_seed(static_cast<std::uint64_t>(config_.train.seed));
  model_ = Siamese(config_.model, static_cast<std::int64_t>(features_.n_mels()),
                   static_cast<std::int64_t>(features_.n_frames()));
  fit_input_norm();
  model_->to(device_);
  if (device_.is_cpu()) convert_to_channels_last(*model_);  // before the optimizer: it keeps the same tensors
  model_->train();
  if (config_.train.class_weights()) {
    class_weights_ = ClassWeights(static_cast<std::int64_t>(split_.train.size()), config_.train.aam_subcentres,
                                  model_->embedding_dim());
    class_weights_->to(device_);
  }
  optimizer_ = std::make_unique<torch::optim::Adam>(
      trained_parameters(), torch::optim::AdamOptions(config_.train.learning_rate)
                                .eps(1e-7)  // Keras epsilon
                                .weight_decay(config_.train.weight_decay));
  pairs_ = make_pair_source(config_.train, features_.labels(), split_.train);
  for (int64_t k = 1; k < model_->ensemble_members(); ++k) {
    TrainConfig member = config_.train;
    member.seed = member_seed(config_.train.seed, k);
    member_pairs_.push_back(make_pair_source(member, features_.labels(), split_.train));
  }
  // BatchNorm statistics for validation come from batches shaped like training's encoder calls.
  const std::int64_t bn_batch = config_.train.pairs == "anchors"
                                    ? config_.train.batch_size
                                    : static_cast<std::int64_t>(config_.train.classes_per_batch) *
                                          config_.train.clips_per_class;
  validation_ = plan_validation(config_, features_, split_.train, split_.val, bn_batch);
}

// The per-band statistics and the band-statistics descriptor's standardisation
// come from every training clip as embed() sees it (its sounding span tiled,
// model.sound_span; a resumed run loads the same values from last.pt).
void Trainer::fit_input_norm() {
  const bool bands = model_->input_norm && model_->input_norm->uses_bands();
  if (!bands && !model_->descriptor) return;
  const auto clips = clips_of_classes(features_.labels(), split_.train);
  constexpr std::size_t kBatch = 64;
  for (std::size_t begin = 0; begin < clips.size(); begin += kBatch) {
    const std::vector<std::size_t> batch(clips.begin() + static_cast<std::ptrdiff_t>(begin),
                                         clips.begin() + static_cast<std::ptrdiff_t>(std::min(begin + kBatch, clips.size())));
    const auto sound = model_->select_sound(clips_tensor(features_, batch));
    if (bands) model_->input_norm->accumulate(sound);
    if (model_->descriptor) model_->descriptor->accumulate(sound);
  }
  if (bands) model_->input_norm->finish_fit();
  if (model_->descriptor) model_->descriptor->finish_fit();
}

// The clips of a step as the encoder calls see them: augmented and, with
// mixup, mixed (the plan says how, for the targets). One seed per step.
std::vector<int> Trainer::new_classes(TrainStep& step, std::vector<int>& labels, std::int64_t seed) const {
  if (config_.augment.new_class <= 0) return {};
  Rng rng(augment_seed(seed ^ 0x5eed7a5cLL, state_.iterations * world_ + rank_));
  return draw_new_classes(step, labels, static_cast<int>(features_.class_names().size()), config_.augment, rng);
}

std::vector<torch::Tensor> Trainer::step_inputs(const TrainStep& step, const std::vector<int>& labels,
                                                const std::vector<int>& transforms, MixPlan& mix, std::int64_t seed) {
  // Rank r of N draws the stream's (iterations x N + r)-th seed: one process is rank 0 of 1.
  Rng rng(augment_seed(seed, state_.iterations * world_ + rank_));
  const AugmentConfig& aug = config_.augment;
  std::vector<torch::Tensor> inputs;
  std::int64_t offset = 0;
  std::vector<std::int64_t> mix_rows;  // global rows that may be mixed
  if (aug.mixup > 0) mix_rows = mixup_rows(step_objective(), labels, config_.train.support_shots);
  // One crop length for the whole step (augment.crop), so that the batch stays rectangular.
  const std::int64_t crop =
      aug.crop > 0 ? crop_length(static_cast<std::int64_t>(features_.n_frames()), aug.crop, 32, rng) : 0;
  for (const auto& clips : step.inputs) {
    torch::Tensor x = clips_tensor(features_, clips);
    if (!transforms.empty()) {
      for (std::int64_t r = 0; r < x.size(0); ++r) {
        const int t = transforms[static_cast<std::size_t>(offset + r)];
        if (t == kAsDrawn) continue;
        torch::Tensor clip = x[r].view({x.size(-2), x.size(-1)});
        clip.copy_(transform_clip(clip, t, config_.augment.new_class_shift));
      }
    }
    if (crop > 0) x = crop_clips(x, crop, rng);
    if (aug.any()) x = augment_clips(x, aug, rng);
    if (aug.background > 0) {
      // this input's rows of `labels` (one label a row of every input, in order)
      const auto first = labels.begin() + offset;
      mix_backgrounds(x, std::vector<int>(first, first + static_cast<std::ptrdiff_t>(clips.size())), aug, rng);
    }
    if (aug.mixup > 0) {
      const auto n = static_cast<std::int64_t>(clips.size());
      std::vector<std::int64_t> rows, partners;
      for (std::int64_t r = 0; r < n; ++r) {
        partners.push_back(r);
        const bool mixable = std::find(mix_rows.begin(), mix_rows.end(), r + offset) != mix_rows.end();
        if (mixable) rows.push_back(r);
      }
      const MixPlan part = mixup_clips(x, rows, partners, aug, rng);
      for (std::int64_t r = 0; r < n; ++r) {
        mix.partner.push_back(part.empty() ? r + offset : part.partner[static_cast<std::size_t>(r)] + offset);
        mix.weight.push_back(part.empty() ? 1.0f : part.weight[static_cast<std::size_t>(r)]);
      }
    }
    offset += static_cast<std::int64_t>(clips.size());
    inputs.push_back(device_.is_cpu() ? x : x.to(device_));
  }
  return inputs;
}

std::int64_t Trainer::steps_in_epoch() {
  if (config_.train.steps_per_epoch > 0) return config_.train.steps_per_epoch;
  // A pass over N ranks: N stream steps a global step (the last may reach into the next pass).
  return static_cast<std::int64_t>((pairs_->steps_left_in_pass() + static_cast<std::size_t>(world_) - 1) /
                                   static_cast<std::size_t>(world_));
}

void Trainer::save_last(const EpochSums* partial) {
  if (!writes_files()) return;
  state_.pairs = pairs_state();
  state_.partial.reset();
  if (partial) state_.partial = PartialEpoch{partial->steps_done, partial->total_steps, partial->loss_sum,
                                             partial->correct_sum, partial->weight_sum, partial->seconds};
  const Distributed::CheckpointGuard writing(dist_);
  save_last_checkpoint(paths_.last(), model_, *optimizer_, state_, options_.before_commit, objective_module(),
                       snapshots());
}

nlohmann::json Trainer::pairs_state() const {
  if (member_pairs_.empty()) return pairs_->state();
  nlohmann::json members = nlohmann::json::array({pairs_->state()});
  for (const auto& source : member_pairs_) members.push_back(source->state());
  return {{"members", members}};
}

void Trainer::restore_pairs_state(const nlohmann::json& state) {
  const bool per_member = state.is_object() && state.contains("members");
  if (member_pairs_.empty() || !per_member) {
    if (per_member)
      throw file_error(paths_.last(), "checkpoint's pair generator state holds an ensemble's streams, and "
                                      "model.ensemble is 1");
    restore_pairs(*pairs_, state, paths_.last());
    if (!member_pairs_.empty())
      note("note: " + paths_.last().string() + " holds one stream of steps (an ensemble trained on shared "
           "episodes): the other members start their own streams now");
    return;
  }
  const auto& members = state["members"];
  if (!members.is_array() || members.size() != member_pairs_.size() + 1)
    throw file_error(paths_.last(), "checkpoint's pair generator state holds " +
                                        std::to_string(members.is_array() ? members.size() : 0) +
                                        " member streams, the model " + std::to_string(member_pairs_.size() + 1));
  restore_pairs(*pairs_, members[0], paths_.last());
  for (std::size_t k = 0; k < member_pairs_.size(); ++k) restore_pairs(*member_pairs_[k], members[k + 1], paths_.last());
}

std::vector<int> Trainer::step_labels(const TrainStep& step) const {
  std::vector<int> labels;
  for (const auto& clips : step.inputs)
    for (std::size_t clip : clips) labels.push_back(features_.labels()[clip]);
  return labels;
}

torch::Tensor Trainer::embed_inputs(const std::vector<torch::Tensor>& inputs, int64_t member) {
  std::vector<torch::Tensor> parts;
  for (const auto& x : inputs) parts.push_back(member < 0 ? model_->embed(x) : model_->embed_member(x, member));
  return (parts.size() == 1 ? parts[0] : torch::cat(parts)).to(torch::kFloat32);
}

StepLoss Trainer::members_step_loss(const std::vector<TrainStep>& steps) {
  const auto members = static_cast<int64_t>(steps.size());
  StepLoss out;
  for (int64_t k = 0; k < members; ++k) {
    TrainStep step = steps[static_cast<std::size_t>(k)];
    std::vector<int> labels = step_labels(step);
    const std::int64_t seed = member_seed(config_.train.seed, k);
    const std::vector<int> transforms = new_classes(step, labels, seed);
    MixPlan mix;
    const auto embeddings = embed_inputs(step_inputs(step, labels, transforms, mix, seed), k);
    const StepLoss member = prototypical_loss(model_, embeddings, labels, config_.train.support_shots, mix,
                                                  config_.train.verification_weight);
    out.loss = k == 0 ? member.loss : out.loss + member.loss;
    out.correct += member.correct / static_cast<double>(members);
    out.weight = member.weight;
  }
  out.loss = out.loss / static_cast<double>(members);
  return out;
}

StepLoss Trainer::step_loss(const torch::Tensor& embeddings, const TrainStep& step, const std::vector<int>& labels,
                            const MixPlan& mix) {
  const TrainConfig& t = config_.train;
  const std::string objective = step_objective();
  auto targets = [&] { return class_indices(labels, split_.train); };
  if (objective == "prototypical")
    return prototypical_loss(model_, embeddings, labels, t.support_shots, mix, t.verification_weight);
  if (objective == "pairs") return pairs_loss(model_, embeddings, step, t.loss, labels, mix);
  if (objective == "supcon") return supcon_loss(embeddings, labels, t.supcon_temperature);
  if (objective == "classification")  // meta-baseline's first phase: cosine softmax, no margin
    return aam_loss(class_weights_, embeddings, targets(), 0.0, t.aam_scale, mix);
  if (objective == "aam") return aam_loss(class_weights_, embeddings, targets(), t.aam_margin, t.aam_scale, mix);
  // "aam+prototypical": the episodes' accuracy is the one reported.
  StepLoss out = prototypical_loss(model_, embeddings, labels, t.support_shots, mix, t.verification_weight);
  const StepLoss aam = aam_loss(class_weights_, embeddings, targets(), t.aam_margin, t.aam_scale, mix);
  out.loss = out.loss + t.aam_weight * aam.loss;
  return out;
}

bool Trainer::train_steps(EpochSums& sums, int epoch) {
  const auto start = SteadyClock::now();
  const double seconds_before = sums.seconds;
  Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(config_.train.epochs),
               static_cast<std::size_t>(sums.total_steps), options_.progress && main());
  if (sums.steps_done > 0) bar.advance(static_cast<std::size_t>(sums.steps_done));
  std::int64_t pairs_now = 0;
  const bool bf16 = precision_uses_autocast(config_.train.precision);
  while (sums.steps_done < sums.total_steps) {
    // Every rank walks each whole stream and keeps its own of each N steps.
    const auto draw = [&](PairSource& source) {
      TrainStep step;
      for (int r = 0; r < world_; ++r) {
        TrainStep next = source.next();
        if (r == rank_) step = std::move(next);
      }
      return step;
    };
    std::vector<TrainStep> steps{draw(*pairs_)};
    for (auto& source : member_pairs_) steps.push_back(draw(*source));
    double step_pairs = 0, step_clips = 0;
    for (const auto& step : steps) {
      step_pairs += static_cast<double>(step.n_pairs());
      step_clips += static_cast<double>(step.n_clips());
    }
    const double lr = learning_rate();
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    StepLoss result;
    {
      CpuAutocast autocast(bf16 && device_.is_cpu());
      if (!member_pairs_.empty()) {
        result = members_step_loss(steps);
      } else {
        TrainStep& step = steps[0];
        std::vector<int> labels = step_labels(step);
        const std::vector<int> transforms = new_classes(step, labels, config_.train.seed);
        MixPlan mix;
        const auto embeddings = embed_inputs(step_inputs(step, labels, transforms, mix, config_.train.seed));
        result = step_loss(embeddings, step, labels, mix);
      }
    }
    const auto& loss = result.loss;
    double loss_value = loss.item<double>();
    // This step over all ranks: weighted loss, right decisions, weight, non-finite losses, pairs, clips.
    std::vector<double> totals{std::isfinite(loss_value) ? loss_value * result.weight : 0.0, result.correct,
                               result.weight, std::isfinite(loss_value) ? 0.0 : 1.0, step_pairs, step_clips};
    if (distributed()) {
      totals = dist_->sum_values(totals);
      if (totals[3] > 0 && std::isfinite(loss_value)) loss_value = std::nan("");
    }
    if (totals[3] > 0) {
      result_.status = TrainStatus::NonFiniteLoss;
      std::ostringstream msg;
      msg << "training loss is " << loss_value << " at epoch " << epoch << ", step " << sums.steps_done + 1
          << (distributed() ? " on " + std::to_string(static_cast<int>(totals[3])) + " of " +
                                  std::to_string(world_) + " ranks" : std::string())
          << ": stopped (the learning rate may be too high, or the features hold non-finite values)";
      if (writes_files())
        msg << "; " << (state_.epoch > 0 ? paths_.last().string() + " keeps epoch " + std::to_string(state_.epoch)
                                         : std::string("no epoch finished, so no checkpoint was written"));
      result_.message = msg.str();
      return false;
    }
    optimizer_->zero_grad();
    loss.backward();
    if (distributed()) dist_->average_gradients(trained_parameters());
    optimizer_->step();
    ++state_.iterations;

    sums.loss_sum += totals[0];
    sums.correct_sum += totals[1];
    sums.weight_sum += totals[2];
    ++sums.steps_done;
    state_.pairs_seen += static_cast<std::int64_t>(totals[4]);
    state_.clips_encoded += static_cast<std::int64_t>(totals[5]);
    pairs_now += static_cast<std::int64_t>(totals[4]);
    sums.seconds = seconds_before + seconds_since(start);
    bar.advance(1, "loss " + format("%.4f", sums.loss_sum / sums.weight_sum) + "  " +
                       format("%.1f", static_cast<double>(pairs_now) / std::max(seconds_since(start), 1e-9)) +
                       " pairs/s");

    bool stop = (options_.after_step && !options_.after_step(epoch, sums.steps_done)) ||
                (options_.handle_sigint && InterruptGuard::requested());
    if (distributed()) stop = dist_->sum_values({stop ? 1.0 : 0.0})[0] > 0;  // one rank's Ctrl-C stops all
    if (stop && sums.steps_done < sums.total_steps) {
      save_last(&sums);
      result_.status = TrainStatus::Interrupted;
      result_.message = "interrupted at epoch " + std::to_string(epoch) + ", step " +
                        std::to_string(sums.steps_done) + " of " + std::to_string(sums.total_steps);
      if (writes_files()) result_.message += ": " + paths_.last().string() + " written; run the same command to continue";
      return false;
    }
    if (stop) stop_requested_ = true;
  }
  bar.finish("loss " + format("%.4f", sums.loss_sum / std::max(sums.weight_sum, 1e-12)));
  return true;
}

void Trainer::finish_epoch(const EpochSums& sums, int epoch) {
  if (!main()) {
    // Rank 0 validates; the others take its decisions (early stopping, the plateau schedule).
    share_epoch_state();
    state_.epoch = epoch;
    return;
  }
  const ValidationResult v = validate(model_, features_, validation_, device_);
  EpochMetrics m;
  m.epoch = epoch;
  m.train_loss = sums.loss_sum / std::max(sums.weight_sum, 1e-12);
  m.train_accuracy = sums.correct_sum / std::max(sums.weight_sum, 1e-12);
  m.val_accuracy = v.accuracy;
  m.val_ci95 = v.ci95;
  m.val_std = v.std;
  m.seconds = sums.seconds + v.seconds;
  m.learning_rate = learning_rate();
  m.steps = state_.iterations;
  m.pairs_seen = state_.pairs_seen;
  m.clips_encoded = state_.clips_encoded;
  state_.elapsed_seconds += m.seconds;
  m.elapsed_seconds = state_.elapsed_seconds;

  // One validation is noisy (a few hundred queries of a few classes): best
  // weights, early stopping and the plateau schedule go by an exponential
  // moving average. With val_smoothing = 0 this is the original's rule.
  const double a = config_.train.val_smoothing;
  state_.smoothed_accuracy = state_.smoothed_accuracy < 0 ? v.accuracy : a * state_.smoothed_accuracy + (1 - a) * v.accuracy;
  m.val_smoothed = state_.smoothed_accuracy;
  // The original's early stopping: a strictly better score resets the count.
  const bool improved = state_.smoothed_accuracy > state_.best_accuracy;
  // Before train.min_epochs intervals, patience and the plateau schedule do not count.
  const bool counting = epoch > config_.train.min_epochs;
  // train.checkpoint = "last": best.pt takes every interval's weights (validation still picks best_epoch).
  const bool keep_last = config_.train.checkpoint == "last";
  if (improved) {
    state_.best_accuracy = state_.smoothed_accuracy;
    state_.best_epoch = epoch;
    state_.epochs_since_best = 0;
    state_.intervals_since_lr_drop = 0;
  } else if (counting) {
    ++state_.epochs_since_best;
    if (config_.train.lr_schedule == "plateau" && ++state_.intervals_since_lr_drop >= config_.train.lr_patience) {
      state_.lr_scale *= config_.train.lr_factor;
      state_.intervals_since_lr_drop = 0;
    }
  }
  state_.epoch = epoch;
  state_.history.push_back(m);
  take_snapshot(epoch);
  share_epoch_state();
  {
    // best.pt and last.pt together, after the epoch's last collective: a rank
    // lost in between cannot leave a best.pt newer than last.pt's record of it.
    const Distributed::CheckpointGuard writing(dist_);
    if ((improved || keep_last) && writes_files()) {
      nlohmann::json meta = {{"epoch", epoch}, {"val_accuracy", v.accuracy}, {"val_ci95", v.ci95},
                             {"val_smoothed", state_.smoothed_accuracy}};
      if (keep_last) meta["checkpoint"] = "last";
      save_best_weights(paths_.best(), model_, meta, options_.before_commit);
    }
    // last.pt holds the history, so metrics.csv can always be rebuilt from it.
    save_last(nullptr);
  }
  if (writes_files()) write_metrics_csv(paths_.metrics(), state_.history);

  note("epoch " + std::to_string(epoch) + "/" + std::to_string(config_.train.epochs) + "  loss " +
       format("%.4f", m.train_loss) + "  acc " + format("%.3f", m.train_accuracy) + "  val " +
       format("%.3f", v.accuracy) + " ± " + format("%.3f", v.ci95) + " smoothed " +
       format("%.3f", state_.smoothed_accuracy) + " (" + std::to_string(v.ways) + "-way 1-shot, " +
       std::to_string(v.episodes) + " episodes, std " + format("%.3f", v.std) + ")  lr " +
       format("%.3g", m.learning_rate) +
       (config_.train.objective == "pairs" ? "  pairs " + std::to_string(m.pairs_seen)
                                           : "  clips " + std::to_string(m.clips_encoded)) + "  " +
       format("%.1f", m.seconds) + " s" + (improved ? "  best" : "") + (keep_last ? "  (best.pt: this interval)" : ""));
}

void Trainer::take_snapshot(int epoch) {
  const auto k = static_cast<std::size_t>(config_.train.average_last);
  if (k == 0) return;
  std::vector<torch::Tensor> params;
  for (const auto& p : model_->parameters()) params.push_back(p.detach().to(torch::kCPU).contiguous().clone());
  snapshots_.epochs.push_back(epoch);
  snapshots_.parameters.push_back(std::move(params));
  while (snapshots_.epochs.size() > k) {
    snapshots_.epochs.erase(snapshots_.epochs.begin());
    snapshots_.parameters.erase(snapshots_.parameters.begin());
  }
}

// best.pt = the mean of the snapshots' parameters (SWA-style; Izmailov et al.
// 2018), BatchNorm statistics re-estimated for the mean weights by the
// validation's recalibration (kept from the last interval when
// train.bn_recalibration = 0). last.pt keeps the last weights.
void Trainer::write_average() {
  if (config_.train.average_last <= 0 || !writes_files() || snapshots_.epochs.empty()) return;
  {
    torch::NoGradGuard no_grad;
    auto params = model_->parameters();
    for (std::size_t j = 0; j < params.size(); ++j) {
      std::vector<torch::Tensor> values;
      for (const auto& snapshot : snapshots_.parameters) values.push_back(snapshot[j]);
      params[j].copy_(torch::stack(values).mean(0));
    }
  }
  const ValidationResult v = validate(model_, features_, validation_, device_);
  const Distributed::CheckpointGuard writing(dist_);
  save_best_weights(paths_.best(), model_,
                    {{"epoch", state_.epoch}, {"val_accuracy", v.accuracy}, {"val_ci95", v.ci95},
                     {"checkpoint", "last"}, {"averaged_epochs", snapshots_.epochs}},
                    options_.before_commit);
  note("best.pt: the mean of the weights of intervals " + std::to_string(snapshots_.epochs.front()) + " to " +
       std::to_string(snapshots_.epochs.back()) + " (train.average_last), val " + format("%.3f", v.accuracy) +
       " ± " + format("%.3f", v.ci95) + " (last interval's weights: " +
       format("%.3f", state_.history.empty() ? 0.0 : state_.history.back().val_accuracy) + ")");
}

// Rank 0's split (from the run directory or drawn) in every rank.
void Trainer::share_split() {
  std::string text = main() ? split_.to_json(features_.class_names()) : std::string();
  dist_->broadcast_string(text);
  if (!main()) split_ = ClassSplit::from_json(text, features_.class_names(), "the split of rank 0");
}

// Rank 0's starting point in every rank: its last.pt when it continues a run
// (sent as bytes: other hosts need not see the run directory), its initial
// parameters and buffers otherwise. Dropout then draws a stream per rank.
void Trainer::share_start() {
  std::string checkpoint;
  if (main() && result_.resumed) checkpoint = read_file(paths_.last());
  dist_->broadcast_string(checkpoint);
  if (!main() && !checkpoint.empty()) {
    const fs::path temp = fs::temp_directory_path() /
                          ("oneshot-rank" + std::to_string(rank_) + "-" + std::to_string(::getpid()) + ".pt");
    write_file_atomic(temp, checkpoint);
    try {
      state_ = load_last_checkpoint(temp, model_, *optimizer_, objective_module());
    } catch (...) {
      fs::remove(temp);
      throw;
    }
    fs::remove(temp);
    if (device_.is_cpu()) convert_to_channels_last(*model_);
    restore_pairs_state(state_.pairs);
    result_.resumed = true;
  }
  checkpoint.clear();
  checkpoint.shrink_to_fit();
  std::vector<torch::Tensor> tensors = trained_parameters();
  for (const auto& b : model_->buffers()) tensors.push_back(b);
  dist_->broadcast_tensors(tensors);
  if (!main()) torch::manual_seed(static_cast<std::uint64_t>(config_.train.seed) * 1000003u +
                                  static_cast<std::uint64_t>(rank_) * 7919u +
                                  static_cast<std::uint64_t>(state_.iterations));
}

// After rank 0's validation: its early-stopping and schedule state in every rank.
void Trainer::share_epoch_state() {
  if (!distributed()) return;
  std::vector<double> v{state_.best_accuracy, state_.smoothed_accuracy, state_.lr_scale,
                        static_cast<double>(state_.intervals_since_lr_drop), static_cast<double>(state_.best_epoch),
                        static_cast<double>(state_.epochs_since_best), state_.elapsed_seconds};
  dist_->broadcast_values(v);
  state_.best_accuracy = v[0];
  state_.smoothed_accuracy = v[1];
  state_.lr_scale = v[2];
  state_.intervals_since_lr_drop = static_cast<int>(v[3]);
  state_.best_epoch = static_cast<int>(v[4]);
  state_.epochs_since_best = static_cast<int>(v[5]);
  state_.elapsed_seconds = v[6];
}

TrainResult Trainer::run() {
  if (writes_files()) {
    prepare_run_dir();
  } else if (main()) {
    split_ = options_.split ? *options_.split
                            : split_classes(features_.class_names(), features_.labels(), config_.split);
  }
  if (distributed()) share_split();
  build();
  if (writes_files() && fs::exists(paths_.last())) {
    state_ = load_last_checkpoint(paths_.last(), model_, *optimizer_, objective_module(), snapshots());
    if (device_.is_cpu()) convert_to_channels_last(*model_);  // loading takes the saved tensors' layout
    restore_pairs_state(state_.pairs);
    result_.resumed = true;
  }
  if (distributed()) share_start();
  if (result_.resumed) {
    note("continuing " + paths_.dir.string() + " after epoch " + std::to_string(state_.epoch) +
         (state_.partial ? " (step " + std::to_string(state_.partial->steps_done) + " of the next)" : ""));
  }
  // Rows of an epoch that last.pt does not hold (killed in between) are dropped.
  if (writes_files()) write_metrics_csv(paths_.metrics(), state_.history);
  const TrainConfig& t = config_.train;
  if (t.objective == "prototypical")
    note("prototypical episodes: " + std::to_string(t.classes_per_batch) + " classes x " +
         std::to_string(t.clips_per_class) + " clips a step (" +
         std::to_string(t.support_shots) + " support, the rest queries; fewer where the data has fewer)" +
         (model_->ensemble_members() > 1 ? "; " + std::to_string(model_->ensemble_members()) +
                                               " encoders, each on its own episodes (its own stream of steps, "
                                               "augmentation and mixup) and loss"
                                         : std::string()) +
         (config_.augment.new_class > 0
              ? "; each class of a step is, with probability " + format("%g", config_.augment.new_class) +
                    ", a " + config_.augment.new_class_transform +
                    (config_.augment.new_class_transform == "reverse"
                         ? std::string()
                         : " (" + std::to_string(config_.augment.new_class_shift) + " bands)") +
                    " copy of another as a new class (augment.new_class)"
              : std::string()));
  else if (t.objective == "pairs")
    note(pairs_->describe());
  else
    note(t.objective + ": " + std::to_string(t.classes_per_batch) + " classes x " + std::to_string(t.clips_per_class) +
         " clips a step" +
         (t.class_weights() ? "; class weights over the " + std::to_string(split_.train.size()) +
                                  " training classes (x" + std::to_string(t.aam_subcentres) + " sub-centres), scale " +
                                  format("%g", t.aam_scale) +
                                  (t.objective == "meta-baseline" ? std::string(", no margin")
                                                                  : ", margin " + format("%g", t.aam_margin))
                            : std::string()) +
         (t.objective == "aam+prototypical" ? ", AAM weight " + format("%g", t.aam_weight) : std::string()) +
         (t.objective == "supcon" ? ", temperature " + format("%g", t.supcon_temperature) : std::string()) +
         (t.objective == "meta-baseline"
              ? "; classification for " + std::to_string(t.pretrain_epochs) + " intervals, then prototypical episodes (" +
                    std::to_string(t.support_shots) + " support)"
              : std::string()));
  if (t.min_epochs > 0)
    note("patience and the plateau schedule count after " + std::to_string(t.min_epochs) + " intervals (train.min_epochs)");
  if (t.checkpoint == "last")
    note("best.pt holds the weights after every interval (train.checkpoint = \"last\"): the run yields its final model");
  if (distributed())
    note("data-parallel over " + std::to_string(world_) + " processes: a step takes " + std::to_string(world_) +
         " of the steps above, one a rank, and averages their gradients (rank 0 validates and writes)");

  std::optional<InterruptGuard> guard;
  if (options_.handle_sigint) guard.emplace();
  result_.status = TrainStatus::Finished;
  while (true) {
    if (state_.epochs_since_best > config_.train.patience) {
      result_.status = TrainStatus::EarlyStopped;
      result_.message = "early stopping: no validation improvement for " + std::to_string(state_.epochs_since_best) +
                        " epochs (train.patience = " + std::to_string(config_.train.patience) + ")";
      break;
    }
    if (state_.epoch >= config_.train.epochs) {
      result_.message = "trained " + std::to_string(state_.epoch) + " epochs (train.epochs)";
      break;
    }
    if (stop_requested_) {
      result_.status = TrainStatus::Interrupted;
      result_.message = "interrupted after epoch " + std::to_string(state_.epoch);
      if (writes_files()) result_.message += ": " + paths_.last().string() + " written; run the same command to continue";
      break;
    }
    const int epoch = state_.epoch + 1;
    EpochSums sums;
    if (state_.partial) {
      sums = {state_.partial->steps_done, state_.partial->total_steps, state_.partial->loss_sum,
              state_.partial->correct_sum, state_.partial->weight_sum, state_.partial->seconds};
      state_.partial.reset();
    } else {
      sums.total_steps = steps_in_epoch();
    }
    if (!train_steps(sums, epoch)) break;
    finish_epoch(sums, epoch);
    bool caller_stops = main() && options_.on_epoch && !options_.on_epoch(state_.history.back());
    if (distributed()) {
      std::vector<double> v{caller_stops ? 1.0 : 0.0};
      dist_->broadcast_values(v);
      caller_stops = v[0] > 0;
    }
    if (caller_stops) {
      result_.status = TrainStatus::Stopped;
      result_.message = "stopped by the caller after epoch " + std::to_string(epoch);
      break;
    }
  }
  if (writes_files() && result_.status != TrainStatus::NonFiniteLoss && result_.status != TrainStatus::Interrupted) {
    state_.finished = result_.message;
    save_last(nullptr);
    write_average();
  }
  result_.epochs_done = state_.epoch;
  // best_epoch: the interval best.pt holds.
  const bool keep_last = config_.train.checkpoint == "last";
  result_.best_epoch = keep_last ? state_.epoch : state_.best_epoch;
  result_.best_accuracy = keep_last ? state_.smoothed_accuracy : state_.best_accuracy;
  result_.split = split_;
  result_.history = state_.history;
  return result_;
}

}  // namespace

TrainResult train(const Config& config, const FeatureSet& features, const TrainOptions& options) {
  config.validate();
  Trainer trainer(config, features, options);
  return trainer.run();
}

}  // namespace oneshot
