#include "eval/scoring.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace oneshot::detail {

ClassTable class_table(const EvalSubset& subset) {
  std::map<int, std::vector<std::size_t>> by_class;
  for (std::size_t row = 0; row < subset.labels.size(); ++row) by_class[subset.labels[row]].push_back(row);
  ClassTable table;
  for (auto& [id, rows] : by_class) {
    table.classes.push_back(id);
    table.rows.push_back(std::move(rows));
  }
  return table;
}

std::string class_label(const EvalSubset& subset, int class_id) {
  if (class_id >= 0 && static_cast<std::size_t>(class_id) < subset.class_names.size())
    return "'" + subset.class_names[class_id] + "'";
  return "class " + std::to_string(class_id);
}

std::vector<double> head_logits(Siamese& model, const torch::Tensor& left, const std::vector<int64_t>& a,
                                const torch::Tensor& right, const std::vector<int64_t>& b) {
  TORCH_CHECK(a.size() == b.size(), "head_logits: index lists differ in length");
  constexpr std::size_t kChunk = 1 << 15;  // pairs per head call: 64 MB of float at D = 500
  torch::NoGradGuard no_grad;
  std::vector<double> out(a.size());
  const auto index_options = torch::TensorOptions().dtype(torch::kLong);
  for (std::size_t start = 0; start < a.size(); start += kChunk) {
    const int64_t n = static_cast<int64_t>(std::min(kChunk, a.size() - start));
    auto ia = torch::from_blob(const_cast<int64_t*>(a.data() + start), {n}, index_options).to(left.device());
    auto ib = torch::from_blob(const_cast<int64_t*>(b.data() + start), {n}, index_options).to(right.device());
    auto logits = model->head(left.index_select(0, ia), right.index_select(0, ib))
                      .reshape({n})
                      .to(torch::kCPU, torch::kDouble)
                      .contiguous();
    std::copy_n(logits.data_ptr<double>(), n, out.begin() + static_cast<std::ptrdiff_t>(start));
  }
  return out;
}

std::size_t argmax_first(const double* scores, std::size_t n) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < n; ++i)
    if (scores[i] > scores[best]) best = i;
  return best;
}

void summarise_confusion(EvalResult& result) {
  result.class_accuracy.clear();
  result.decisions = 0;
  for (std::size_t i = 0; i < result.confusion.size(); ++i) {
    int64_t row = 0;
    for (int64_t c : result.confusion[i]) row += c;
    result.decisions += row;
    result.class_accuracy.push_back(row > 0 ? static_cast<double>(result.confusion[i][i]) / row
                                            : std::numeric_limits<double>::quiet_NaN());
  }
}

}  // namespace oneshot::detail
