#include "train/checkpoint.h"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_read.h"
#include "core/json_text.h"
#include "model/state_io.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "oneshot-audio train checkpoint v1";

// JSON has no NaN: store non-finite numbers as null.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double number_of(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}

nlohmann::json metrics_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"train_loss", number(m.train_loss)},
          {"train_accuracy", number(m.train_accuracy)},
          {"val_accuracy", number(m.val_accuracy)},
          {"val_ci95", number(m.val_ci95)},
          {"val_std", number(m.val_std)},
          {"seconds", m.seconds},
          {"elapsed_seconds", m.elapsed_seconds},
          {"learning_rate", m.learning_rate},
          {"steps", m.steps},
          {"pairs_seen", m.pairs_seen},
          {"clips_encoded", m.clips_encoded},
          {"val_smoothed", number(m.val_smoothed)}};
}

EpochMetrics metrics_of(const nlohmann::json& j) {
  EpochMetrics m;
  m.epoch = json_integer_at<int>(j, "epoch");
  m.train_loss = number_of(j, "train_loss");
  m.train_accuracy = number_of(j, "train_accuracy");
  m.val_accuracy = number_of(j, "val_accuracy");
  m.val_ci95 = number_of(j, "val_ci95");
  m.val_std = number_of(j, "val_std");
  m.seconds = j.at("seconds").get<double>();
  m.elapsed_seconds = j.at("elapsed_seconds").get<double>();
  m.learning_rate = j.at("learning_rate").get<double>();
  m.steps = json_integer_at<std::int64_t>(j, "steps");
  m.pairs_seen = json_integer_at<std::int64_t>(j, "pairs_seen");
  m.clips_encoded = json_integer_at<std::int64_t>(j, "clips_encoded");
  m.val_smoothed = j.contains("val_smoothed") ? number_of(j, "val_smoothed") : m.val_accuracy;
  return m;
}

void write_archive(const fs::path& path, torch::serialize::OutputArchive& archive, const BeforeCommit& before_commit) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string data = bytes.str();
  AtomicWriter writer(path);
  writer.write(data.data(), data.size());
  if (before_commit) before_commit(path);
  writer.commit();
}

void read_archive(const fs::path& path, torch::serialize::InputArchive& archive) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw file_error(path, "no such checkpoint");
  // A directory read as no bytes: "too short to be a checkpoint archive" hid what it is.
  if (fs::is_directory(status)) throw file_error(path, "is a directory, not a checkpoint file");
  const std::string bytes = read_file(path);
  verify_archive_checksums(bytes, path);
  try {
    std::istringstream stream(bytes);
    archive.load_from(stream);
  } catch (const c10::Error&) {
    throw file_error(path, "not a readable checkpoint (truncated or not written by oneshot-audio): " +
                               damaged_checkpoint_way_out(path));
  } catch (const std::exception& e) {  // TorchScript's own parser errors are not c10::Errors
    throw file_error(path, std::string("damaged checkpoint: ") + e.what() + ": " + damaged_checkpoint_way_out(path));
  }
}

// The model configuration a checkpoint was made with (SiameseImpl::configuration),
// stored as "model_config" beside the weights.
void write_model_config(torch::serialize::OutputArchive& archive, const Siamese& model) {
  archive.write("model_config", c10::IValue(json_text(model->configuration())));
}

// Compares the stored configuration with the model about to receive the
// weights and names every key that differs. Checkpoints written before the
// configuration was stored are checked by their tensor shapes only.
void check_model_config(torch::serialize::InputArchive& archive, const Siamese& model, const fs::path& path) {
  c10::IValue stored_value;
  if (!archive.try_read("model_config", stored_value)) return;
  nlohmann::json stored;
  if (!stored_value.isString() || !(stored = nlohmann::json::parse(stored_value.toStringRef(), nullptr, false)).is_object())
    throw file_error(path, "damaged checkpoint: its model configuration is unreadable");
  const nlohmann::json& expected = model->configuration();
  // A key added after the checkpoint was written (model.depth) held its default then,
  // or the value runs had before it (model.sound_span).
  nlohmann::json defaults;
  stored_model_defaults().visit([&](const char* key, const auto& value) { defaults[std::string("model.") + key] = value; });
  std::string differences;
  for (const auto& [key, value] : expected.items()) {
    const auto it = stored.find(key);
    const std::string held = it == stored.end() ? "(absent)" : it->dump();
    if (it != stored.end() && *it == value) continue;
    if (it == stored.end() && defaults.contains(key) && defaults[key] == value) continue;
    differences += (differences.empty() ? "" : ", ") + key + " = " + held + " (the run's config.toml: " +
                   json_text(value) + ")";
  }
  if (!differences.empty())
    throw file_error(path, "these weights were made with another model configuration: " + differences +
                               "; use the config.toml the checkpoint was trained with, or train again");
}

// LibTorch's Module::load replaces each tensor with the stored one, shape
// and all: weights of another width loaded silently into a model configured
// otherwise. The shapes the configuration gives are taken before loading and
// compared after, naming the first tensor that differs.
class ShapeGuard {
 public:
  explicit ShapeGuard(const torch::nn::Module& module) {
    for (const auto& p : module.named_parameters(true)) shapes_.emplace_back(p.key(), p.value().sizes().vec());
    for (const auto& b : module.named_buffers(true)) shapes_.emplace_back(b.key(), b.value().sizes().vec());
  }
  void check(const torch::nn::Module& module, const fs::path& path) const {
    std::map<std::string, std::vector<int64_t>> now;
    for (const auto& p : module.named_parameters(true)) now[p.key()] = p.value().sizes().vec();
    for (const auto& b : module.named_buffers(true)) now[b.key()] = b.value().sizes().vec();
    for (const auto& [name, expected] : shapes_) {
      const auto it = now.find(name);
      if (it == now.end() || it->second != expected)
        throw file_error(path, "these weights were made with another model configuration: \"" + name + "\" has shape " +
                                   (it == now.end() ? std::string("(absent)") : shape_text(it->second)) +
                                   ", the run's config.toml gives " + shape_text(expected) +
                                   " (model.width, model.embedding_dim, features.n_mels, ...); use the config.toml "
                                   "the checkpoint was trained with, or train again");
    }
  }

 private:
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes_;
};

}  // namespace

nlohmann::json TrainState::to_json() const {
  nlohmann::json j = {{"epoch", epoch},
                      {"iterations", iterations},
                      {"pairs_seen", pairs_seen},
                      {"clips_encoded", clips_encoded},
                      {"elapsed_seconds", elapsed_seconds},
                      {"best_accuracy", best_accuracy},
                      {"best_epoch", best_epoch},
                      {"epochs_since_best", epochs_since_best},
                      {"smoothed_accuracy", smoothed_accuracy},
                      {"lr_scale", lr_scale},
                      {"intervals_since_lr_drop", intervals_since_lr_drop},
                      {"finished", finished},
                      {"pairs", pairs},
                      {"partial", nullptr}};
  if (partial)
    j["partial"] = {{"steps_done", partial->steps_done}, {"total_steps", partial->total_steps},
                    {"loss_sum", partial->loss_sum},     {"correct_sum", partial->correct_sum},
                    {"weight_sum", partial->weight_sum}, {"seconds", partial->seconds}};
  j["history"] = nlohmann::json::array();
  for (const auto& m : history) j["history"].push_back(metrics_json(m));
  return j;
}

TrainState TrainState::from_json(const nlohmann::json& j) {
  TrainState s;
  s.epoch = json_integer_at<int>(j, "epoch");
  s.iterations = json_integer_at<std::int64_t>(j, "iterations");
  s.pairs_seen = json_integer_at<std::int64_t>(j, "pairs_seen");
  s.clips_encoded = json_integer_at<std::int64_t>(j, "clips_encoded");
  s.elapsed_seconds = j.at("elapsed_seconds").get<double>();
  s.best_accuracy = j.at("best_accuracy").get<double>();
  s.best_epoch = json_integer_at<int>(j, "best_epoch");
  s.epochs_since_best = json_integer_at<int>(j, "epochs_since_best");
  // Checkpoints from before smoothing and the plateau schedule lack these.
  s.smoothed_accuracy = j.value("smoothed_accuracy", s.best_accuracy);
  s.lr_scale = j.value("lr_scale", 1.0);
  s.intervals_since_lr_drop =
      j.contains("intervals_since_lr_drop") ? json_integer_at<int>(j, "intervals_since_lr_drop") : 0;
  s.finished = j.at("finished").get<std::string>();
  s.pairs = j.at("pairs");
  if (const auto& p = j.at("partial"); !p.is_null()) {
    PartialEpoch pe;
    pe.steps_done = json_integer_at<std::int64_t>(p, "steps_done");
    pe.total_steps = json_integer_at<std::int64_t>(p, "total_steps");
    pe.loss_sum = p.at("loss_sum").get<double>();
    pe.correct_sum = p.at("correct_sum").get<double>();
    pe.weight_sum = p.at("weight_sum").get<double>();
    pe.seconds = p.at("seconds").get<double>();
    s.partial = pe;
  }
  for (const auto& m : j.at("history")) s.history.push_back(metrics_of(m));
  return s;
}

void save_last_checkpoint(const fs::path& path, Siamese& model, torch::optim::Optimizer& optimizer,
                          const TrainState& state, const BeforeCommit& before_commit, torch::nn::Module* objective,
                          const WeightSnapshots* snapshots) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  write_model_config(archive, model);
  archive.write("state", c10::IValue(json_text(state.to_json())));
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  if (objective) {
    torch::serialize::OutputArchive objective_archive;
    objective->save(objective_archive);
    archive.write("objective", objective_archive);
  }
  if (snapshots) {
    torch::serialize::OutputArchive average;
    average.write("epochs", torch::tensor(std::vector<int64_t>(snapshots->epochs.begin(), snapshots->epochs.end()),
                                          torch::kLong));
    for (std::size_t i = 0; i < snapshots->parameters.size(); ++i)
      for (std::size_t j = 0; j < snapshots->parameters[i].size(); ++j)
        average.write("w" + std::to_string(i) + "_" + std::to_string(j), snapshots->parameters[i][j]);
    archive.write("average", average);
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("torch_rng", gen.get_state());
  }
  write_archive(path, archive, before_commit);
}

TrainState load_last_checkpoint(const fs::path& path, Siamese& model, torch::optim::Optimizer& optimizer,
                                torch::nn::Module* objective, WeightSnapshots* snapshots) {
  torch::serialize::InputArchive archive;
  read_archive(path, archive);
  try {
    c10::IValue format, state;
    if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kFormat)
      throw file_error(path, "not a training checkpoint of this version (expected \"" + std::string(kFormat) + "\")");
    check_model_config(archive, model, path);
    archive.read("state", state);
    TrainState s = [&] {
      try {
        return TrainState::from_json(nlohmann::json::parse(state.toStringRef()));
      } catch (const Error& e) {  // json_integer_at's "KEY: expected an integer"
        throw file_error(path, std::string("checkpoint state is corrupt: ") + e.what());
      }
    }();
    torch::serialize::InputArchive model_archive, optimizer_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    const ShapeGuard shapes(*model);
    model->load(model_archive);
    shapes.check(*model, path);
    if (objective) {
      torch::serialize::InputArchive objective_archive;
      if (!archive.try_read("objective", objective_archive))
        throw file_error(path, "checkpoint holds no class weights for this objective (train.objective)");
      objective->load(objective_archive);
    }
    if (snapshots) {
      torch::serialize::InputArchive average;
      if (!archive.try_read("average", average))
        throw file_error(path, "checkpoint holds no weight snapshots for train.average_last");
      torch::Tensor epochs;
      average.read("epochs", epochs);
      *snapshots = {};
      const std::size_t n_params = model->parameters().size();
      for (int64_t i = 0; i < epochs.numel(); ++i) {
        snapshots->epochs.push_back(static_cast<int>(epochs[i].item<int64_t>()));
        std::vector<torch::Tensor> params;
        for (std::size_t j = 0; j < n_params; ++j) {
          torch::Tensor t;
          average.read("w" + std::to_string(i) + "_" + std::to_string(j), t);
          params.push_back(t);
        }
        snapshots->parameters.push_back(std::move(params));
      }
    }
    optimizer.load(optimizer_archive);
    torch::Tensor rng;
    archive.read("torch_rng", rng);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
    return s;
  } catch (const c10::Error& e) {
    throw file_error(path, std::string("checkpoint does not fit this model and configuration: ") +
                               e.what_without_backtrace());
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path, std::string("checkpoint state is corrupt: ") + e.what());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw file_error(path, std::string("damaged checkpoint: ") + e.what());
  }
}

void save_best_weights(const fs::path& path, Siamese& model, const nlohmann::json& meta,
                       const BeforeCommit& before_commit) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  write_model_config(archive, model);
  archive.write("meta", c10::IValue(json_text(meta)));
  write_archive(path, archive, before_commit);
}

nlohmann::json load_best_weights(const fs::path& path, Siamese& model) {
  torch::serialize::InputArchive archive;
  read_archive(path, archive);
  try {
    check_model_config(archive, model, path);
    torch::serialize::InputArchive nested;
    const ShapeGuard shapes(*model);
    if (archive.try_read("model", nested)) {  // last.pt
      model->load(nested);
      shapes.check(*model, path);
      c10::IValue state;
      archive.read("state", state);
      auto s = nlohmann::json::parse(state.toStringRef());
      return {{"epoch", s.at("epoch")}, {"from", "last"}};
    }
    model->load(archive);
    shapes.check(*model, path);
    c10::IValue meta;
    if (archive.try_read("meta", meta) && meta.isString()) return nlohmann::json::parse(meta.toStringRef());
    return nlohmann::json::object();
  } catch (const c10::Error& e) {
    throw file_error(path, std::string("weights do not fit this model: ") + e.what_without_backtrace());
  } catch (const nlohmann::json::exception&) {
    throw file_error(path, "damaged checkpoint: its \"meta\" entry is not JSON");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw file_error(path, std::string("damaged checkpoint: ") + e.what());
  }
}

void write_metrics_csv(const fs::path& path, const std::vector<EpochMetrics>& history) {
  std::ostringstream out;
  out << "epoch,train_loss,train_accuracy,val_accuracy,val_ci95,val_std,seconds,elapsed_seconds,"
         "learning_rate,steps,pairs_seen,clips_encoded,val_smoothed\n";
  out << std::setprecision(9);
  for (const auto& m : history)
    out << m.epoch << ',' << m.train_loss << ',' << m.train_accuracy << ',' << m.val_accuracy << ','
        << m.val_ci95 << ',' << m.val_std << ',' << std::setprecision(4) << std::fixed << m.seconds << ','
        << m.elapsed_seconds << std::defaultfloat << std::setprecision(9) << ',' << m.learning_rate << ','
        << m.steps << ',' << m.pairs_seen << ',' << m.clips_encoded << ',' << m.val_smoothed << '\n';
  write_file_atomic(path, out.str());
}

std::vector<EpochMetrics> read_metrics_csv(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);  // header
  std::vector<EpochMetrics> rows;
  for (int lineno = 2; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    // 12 columns: written before val_smoothed existed.
    if (f.size() != 12 && f.size() != 13)
      throw file_error(path, "line " + std::to_string(lineno) + ": expected 13 columns");
    EpochMetrics m;
    try {
      m.epoch = std::stoi(f[0]);
      m.train_loss = std::stod(f[1]);
      m.train_accuracy = std::stod(f[2]);
      m.val_accuracy = std::stod(f[3]);
      m.val_ci95 = std::stod(f[4]);
      m.val_std = std::stod(f[5]);
      m.seconds = std::stod(f[6]);
      m.elapsed_seconds = std::stod(f[7]);
      m.learning_rate = std::stod(f[8]);
      m.steps = std::stoll(f[9]);
      m.pairs_seen = std::stoll(f[10]);
      m.clips_encoded = std::stoll(f[11]);
      m.val_smoothed = f.size() > 12 ? std::stod(f[12]) : m.val_accuracy;
    } catch (const std::exception&) {
      throw file_error(path, "line " + std::to_string(lineno) + ": not a number");
    }
    rows.push_back(m);
  }
  return rows;
}

}  // namespace oneshot
