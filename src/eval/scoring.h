#pragma once
// Shared pieces of the protocols: the class table, the siamese head applied to
// index pairs of precomputed embeddings, and the result summary.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "eval/protocols.h"

namespace oneshot::detail {

// The subset's classes in table order (ascending FeatureSet id) and, per table
// class, its rows in the subset.
struct ClassTable {
  std::vector<int> classes;
  std::vector<std::vector<std::size_t>> rows;
};
ClassTable class_table(const EvalSubset& subset);

// "dog" when the subset names its classes, else "class 3".
std::string class_label(const EvalSubset& subset, int class_id);

// Logits of model->head(left[a[i]], right[b[i]]) for every i, as doubles, in
// chunks so that memory stays bounded for any number of pairs.
std::vector<double> head_logits(Siamese& model, const torch::Tensor& left, const std::vector<int64_t>& a,
                                const torch::Tensor& right, const std::vector<int64_t>& b);

// Index of the first maximum of scores[0, n) (numpy's argmax rule).
std::size_t argmax_first(const double* scores, std::size_t n);

// Fills class_accuracy (diagonal / row sum; NaN for an empty row) and decisions.
void summarise_confusion(EvalResult& result);

}  // namespace oneshot::detail
