#include "inference/archive_scoring.h"

#include <cstring>

#include "core/error.h"

namespace oneshot {

namespace {

// A block's windows as a (n, D) tensor over their memory (not copied).
torch::Tensor windows_tensor(const float* e, std::size_t n, int64_t dim) {
  return torch::from_blob(const_cast<float*>(e), {static_cast<int64_t>(n), dim}, torch::kFloat);
}

}  // namespace

archive::BlockScorer example_scorer(RunModel& run, const torch::Tensor& queries) {
  if (queries.dim() != 2 || queries.size(0) < 1 || queries.size(1) != run.embedding_dim())
    throw Error("internal: example_scorer needs (Q >= 1, " + std::to_string(run.embedding_dim()) + ") queries");
  RunModel* r = &run;
  const torch::Tensor q = queries.contiguous();
  const int64_t dim = run.embedding_dim();
  return [r, q, dim](const float* e, std::size_t n, double* out) {
    const torch::Tensor s = r->score(q, windows_tensor(e, n, dim)).mean(0).contiguous();  // (n) doubles
    std::memcpy(out, s.data_ptr<double>(), n * sizeof(double));
  };
}

archive::BlockScorer class_scorer(LibraryScorer& scorer, std::size_t class_index, int64_t dim) {
  if (class_index >= scorer.n_classes()) throw Error("internal: class_scorer of a class the library does not hold");
  LibraryScorer* ls = &scorer;
  return [ls, class_index, dim](const float* e, std::size_t n, double* out) {
    const std::size_t classes = ls->n_classes();
    const std::vector<double> s = ls->window_scores(windows_tensor(e, n, dim));  // (n, classes)
    for (std::size_t i = 0; i < n; ++i) out[i] = s[i * classes + class_index];
  };
}

}  // namespace oneshot
