#include "train/objectives.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"

namespace oneshot {

EpisodeRoles episode_roles(const std::vector<int>& row_labels, int shots) {
  EpisodeRoles roles;
  std::map<int, std::size_t> index;  // label -> prototype
  std::vector<std::vector<int64_t>> rows_of;
  for (std::size_t r = 0; r < row_labels.size(); ++r) {
    auto [it, added] = index.emplace(row_labels[r], rows_of.size());
    if (added) {
      roles.classes.push_back(row_labels[r]);
      rows_of.emplace_back();
    }
    rows_of[it->second].push_back(static_cast<int64_t>(r));
  }
  roles.support.resize(rows_of.size());
  for (std::size_t c = 0; c < rows_of.size(); ++c) {
    const auto& rows = rows_of[c];
    // A class with <= shots rows gives a prototype only.
    const std::size_t n_support = std::min(rows.size(), static_cast<std::size_t>(shots));
    roles.support[c].assign(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n_support));
    for (std::size_t i = n_support; i < rows.size(); ++i) {
      roles.queries.push_back(rows[i]);
      roles.query_class.push_back(static_cast<int64_t>(c));
    }
  }
  return roles;
}

StepLoss prototypical_loss(Siamese& model, const torch::Tensor& embeddings, const std::vector<int>& labels,
                           int shots, const MixPlan& mix, double verification_weight) {
  if (static_cast<int64_t>(labels.size()) != embeddings.size(0))
    throw Error("prototypical loss: " + std::to_string(labels.size()) + " labels for " +
                std::to_string(embeddings.size(0)) + " embeddings");
  const EpisodeRoles roles = episode_roles(labels, shots);
  if (roles.classes.size() < 2 || roles.queries.empty())
    throw Error("prototypical loss: a step needs at least 2 classes and one query");
  const auto device = embeddings.device();
  std::vector<torch::Tensor> prototypes;
  for (const auto& rows : roles.support)
    prototypes.push_back(embeddings.index_select(0, torch::tensor(rows, torch::kLong).to(device)).mean(0));
  const torch::Tensor protos = torch::stack(prototypes);
  const torch::Tensor queries = embeddings.index_select(0, torch::tensor(roles.queries, torch::kLong).to(device));
  const torch::Tensor logits = model->score_matrix(queries, protos).to(torch::kFloat32);  // (Q, C)
  const int64_t q = logits.size(0), c = logits.size(1);

  // Targets: one-hot, or mixed with the partner's class where mixup mixed the query.
  std::vector<float> target(static_cast<std::size_t>(q * c), 0.0f);
  std::map<int, int64_t> proto_of;
  for (std::size_t k = 0; k < roles.classes.size(); ++k) proto_of[roles.classes[k]] = static_cast<int64_t>(k);
  for (int64_t i = 0; i < q; ++i) {
    const auto row = static_cast<std::size_t>(roles.queries[static_cast<std::size_t>(i)]);
    float own = 1.0f;
    if (!mix.empty() && mix.partner[row] != static_cast<int64_t>(row)) {
      own = mix.weight[row];
      const int partner_label = labels[static_cast<std::size_t>(mix.partner[row])];
      target[static_cast<std::size_t>(i * c + proto_of.at(partner_label))] += 1.0f - own;
    }
    target[static_cast<std::size_t>(i * c + roles.query_class[static_cast<std::size_t>(i)])] += own;
  }
  const auto target_t = torch::from_blob(target.data(), {q, c}, torch::kFloat32).clone().to(device);
  StepLoss out;
  out.loss = -(target_t * torch::log_softmax(logits, 1)).sum(1).mean();
  if (verification_weight > 0) {
    namespace F = torch::nn::functional;
    // Measured from the step's midpoint between own and other scores, held constant: the head's
    // bias, the natural threshold, starts at 0 against scores near -20 and Adam moves it about
    // 1e-3 a step, so a term on the raw logits mostly squeezed the scores (measured, README).
    const torch::Tensor own_mean = (target_t * logits).sum() / target_t.sum();
    const torch::Tensor other_mean = ((1 - target_t) * logits).sum() / (1 - target_t).sum();
    const torch::Tensor z = logits - (0.5 * (own_mean + other_mean)).detach();
    const torch::Tensor own = (target_t * F::softplus(-z)).sum(1);
    const torch::Tensor others = ((1 - target_t) * F::softplus(z)).sum(1) / static_cast<double>(c - 1);
    out.loss = out.loss + verification_weight * (0.5 * (own + others)).mean();
  }
  const auto predicted = logits.argmax(1).to(torch::kCPU);
  const auto truth = torch::tensor(roles.query_class, torch::kLong);
  out.correct = (predicted == truth).sum().item<double>();
  out.weight = static_cast<double>(q);
  return out;
}

std::vector<int64_t> mixup_rows(const std::string& objective, const std::vector<int>& labels, int shots) {
  if (objective == "pairs" || objective == "aam" || objective == "classification") {
    std::vector<int64_t> all(labels.size());
    for (std::size_t r = 0; r < labels.size(); ++r) all[r] = static_cast<int64_t>(r);
    return all;
  }
  if (objective == "prototypical" || objective == "aam+prototypical") return episode_roles(labels, shots).queries;
  return {};  // supcon
}

std::string step_objective(const std::string& objective, int pretrain_epochs, int epoch) {
  if (objective != "meta-baseline") return objective;
  return epoch <= pretrain_epochs ? "classification" : "prototypical";
}

ClassWeightsImpl::ClassWeightsImpl(int64_t classes, int64_t subcentres, int64_t dim)
    : classes_(classes), subcentres_(subcentres) {
  if (classes < 2 || subcentres < 1 || dim < 1)
    throw Error("class weights: need at least 2 classes, 1 sub-centre and 1 dimension (got " +
                std::to_string(classes) + ", " + std::to_string(subcentres) + ", " + std::to_string(dim) + ")");
  weight = register_parameter("weight", torch::empty({classes * subcentres, dim}));
  torch::nn::init::xavier_uniform_(weight);
}

torch::Tensor ClassWeightsImpl::cosine(const torch::Tensor& embeddings) const {
  namespace F = torch::nn::functional;
  const auto e = F::normalize(embeddings.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  const auto w = F::normalize(weight, F::NormalizeFuncOptions().dim(1));
  const auto all = torch::matmul(e, w.t());  // (B, C x K)
  if (subcentres_ == 1) return all;
  return std::get<0>(all.view({all.size(0), classes_, subcentres_}).max(2));
}

std::vector<int64_t> class_indices(const std::vector<int>& labels, const std::vector<int>& classes) {
  std::map<int, int64_t> index;
  for (std::size_t c = 0; c < classes.size(); ++c) index.emplace(classes[c], static_cast<int64_t>(c));
  std::vector<int64_t> out;
  out.reserve(labels.size());
  for (int label : labels) {
    const auto it = index.find(label);
    if (it == index.end())
      throw Error("class-weight objective: label " + std::to_string(label) + " is not one of the " +
                  std::to_string(classes.size()) + " training classes");
    out.push_back(it->second);
  }
  return out;
}

torch::Tensor aam_logits(const torch::Tensor& cosine, const std::vector<int64_t>& targets, double margin,
                         double scale) {
  if (cosine.dim() != 2 || cosine.size(0) != static_cast<int64_t>(targets.size()))
    throw Error("aam: " + std::to_string(targets.size()) + " targets for cosines of shape " +
                std::to_string(cosine.dim() == 2 ? cosine.size(0) : -1) + " rows");
  const auto device = cosine.device();
  const auto index = torch::tensor(targets, torch::kLong).to(device).unsqueeze(1);
  const auto cos_y = cosine.gather(1, index);  // (B, 1)
  // sin(theta) >= 1e-6: sqrt's gradient stays finite at cos = +-1.
  const auto sin_y = torch::sqrt((1.0 - cos_y * cos_y).clamp(1e-12, 1.0));
  const auto phi = cos_y * std::cos(margin) - sin_y * std::sin(margin);  // cos(theta + m)
  const double th = std::cos(M_PI - margin), mm = std::sin(M_PI - margin) * margin;
  const auto target = torch::where(cos_y > th, phi, cos_y - mm);
  return cosine.scatter(1, index, target) * scale;
}

StepLoss aam_loss(const ClassWeights& weights, const torch::Tensor& embeddings, const std::vector<int64_t>& targets,
                  double margin, double scale, const MixPlan& mix) {
  if (static_cast<int64_t>(targets.size()) != embeddings.size(0))
    throw Error("aam loss: " + std::to_string(targets.size()) + " targets for " +
                std::to_string(embeddings.size(0)) + " embeddings");
  const auto device = embeddings.device();
  const torch::Tensor cosine = weights->cosine(embeddings);
  const torch::Tensor logits = aam_logits(cosine, targets, margin, scale);
  const int64_t b = logits.size(0), c = logits.size(1);
  std::vector<float> target(static_cast<std::size_t>(b * c), 0.0f);
  for (int64_t i = 0; i < b; ++i) {
    const auto row = static_cast<std::size_t>(i);
    float own = 1.0f;
    if (!mix.empty() && mix.partner[row] != i) {
      own = mix.weight[row];
      target[static_cast<std::size_t>(i * c + targets[static_cast<std::size_t>(mix.partner[row])])] += 1.0f - own;
    }
    target[static_cast<std::size_t>(i * c + targets[row])] += own;
  }
  const auto target_t = torch::from_blob(target.data(), {b, c}, torch::kFloat32).clone().to(device);
  StepLoss out;
  out.loss = -(target_t * torch::log_softmax(logits, 1)).sum(1).mean();
  const auto predicted = cosine.argmax(1).to(torch::kCPU);
  out.correct = (predicted == torch::tensor(targets, torch::kLong)).sum().item<double>();
  out.weight = static_cast<double>(b);
  return out;
}

StepLoss supcon_loss(const torch::Tensor& embeddings, const std::vector<int>& labels, double temperature) {
  namespace F = torch::nn::functional;
  const int64_t b = embeddings.size(0);
  if (static_cast<int64_t>(labels.size()) != b)
    throw Error("supcon loss: " + std::to_string(labels.size()) + " labels for " + std::to_string(b) + " embeddings");
  const auto device = embeddings.device();
  const auto z = F::normalize(embeddings.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  const auto self = torch::eye(b, torch::TensorOptions().dtype(torch::kBool).device(device));
  const auto label_t = torch::tensor(std::vector<int64_t>(labels.begin(), labels.end()), torch::kLong).to(device);
  const auto positive = label_t.unsqueeze(0).eq(label_t.unsqueeze(1)).logical_and(self.logical_not());
  // Self-similarity out of the denominator: -inf before the log-sum-exp.
  const auto sim = (torch::matmul(z, z.t()) / temperature).masked_fill(self, -std::numeric_limits<float>::infinity());
  const auto log_prob = sim - torch::logsumexp(sim, 1, /*keepdim=*/true);
  const auto pos_f = positive.to(torch::kFloat32);
  const auto n_pos = pos_f.sum(1);
  const auto has_pos = n_pos > 0;
  if (!has_pos.any().item<bool>()) throw Error("supcon loss: no row of the step has another row of its class");
  // masked_fill: -inf x 0 on the diagonal must not give NaN.
  const auto per_row = -(log_prob.masked_fill(self, 0.0) * pos_f).sum(1) / n_pos.clamp_min(1.0);
  StepLoss out;
  out.loss = per_row.masked_select(has_pos).mean();
  const auto nearest = sim.argmax(1);
  const auto right = positive.gather(1, nearest.unsqueeze(1)).squeeze(1).logical_and(has_pos);
  out.correct = right.sum().item<double>();
  out.weight = has_pos.sum().item<double>();
  return out;
}

StepLoss pairs_loss(Siamese& model, const torch::Tensor& embeddings, const TrainStep& step,
                    const std::string& loss_kind, const std::vector<int>& labels, const MixPlan& mix) {
  const auto device = embeddings.device();
  const auto left = torch::tensor(step.left, torch::kLong).to(device);
  const auto right = torch::tensor(step.right, torch::kLong).to(device);
  const torch::Tensor logits =
      model->head(embeddings.index_select(0, left), embeddings.index_select(0, right)).to(torch::kFloat32);
  std::vector<float> target = step.target;
  if (!mix.empty()) {
    if (labels.size() != static_cast<std::size_t>(embeddings.size(0)))
      throw Error("pairs loss: mixup needs the label of every embedding row");
    // P(same) when each side is its own clip with weight w and its partner with 1 - w.
    auto components = [&](int64_t row) {
      const auto r = static_cast<std::size_t>(row);
      return std::array<std::pair<int, float>, 2>{
          std::pair{labels[r], mix.weight[r]},
          std::pair{labels[static_cast<std::size_t>(mix.partner[r])], 1.0f - mix.weight[r]}};
    };
    for (std::size_t p = 0; p < target.size(); ++p) {
      float same = 0;
      for (const auto& [la, wa] : components(step.left[p]))
        for (const auto& [lb, wb] : components(step.right[p])) same += la == lb ? wa * wb : 0.0f;
      target[p] = same;
    }
  }
  const auto target_t = torch::tensor(target).to(device);
  const auto weight = torch::tensor(step.weight).to(device);
  torch::Tensor per_pair = loss_kind == "bce"
                               ? torch::binary_cross_entropy_with_logits(logits, target_t, {}, {}, at::Reduction::None)
                               : (torch::sigmoid(logits) - target_t).pow(2);
  StepLoss out;
  out.loss = (per_pair * weight).sum() / weight.sum();
  const auto correct = ((logits > 0).to(torch::kFloat32) == (target_t > 0.5f).to(torch::kFloat32)).to(torch::kFloat32);
  out.correct = (correct * weight).sum().item<double>();
  out.weight = weight.sum().item<double>();
  return out;
}

}  // namespace oneshot
