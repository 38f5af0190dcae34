#include "train/objectives.h"

#include <algorithm>
#include <array>
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
                           int shots, const MixPlan& mix) {
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
  const auto predicted = logits.argmax(1).to(torch::kCPU);
  const auto truth = torch::tensor(roles.query_class, torch::kLong);
  out.correct = (predicted == truth).sum().item<double>();
  out.weight = static_cast<double>(q);
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
