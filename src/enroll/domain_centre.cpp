#include "enroll/domain_centre.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "enroll/score_norm.h"

namespace oneshot {

void MeanOfRecordings::add(const float* rows, std::size_t n_rows, std::size_t dim) {
  if (n_rows == 0) throw Error("domain centring: a recording without windows");
  if (dim == 0) throw Error("domain centring: embeddings of 0 values");
  if (!sum_.empty() && dim != sum_.size())
    throw Error("domain centring: an embedding of " + std::to_string(dim) + " values after " +
                std::to_string(sum_.size()));
  std::vector<double> own(dim, 0.0);
  for (std::size_t r = 0; r < n_rows; ++r)
    for (std::size_t d = 0; d < dim; ++d) own[d] += rows[r * dim + d];
  std::vector<float> mean(dim);
  for (std::size_t d = 0; d < dim; ++d) {
    mean[d] = static_cast<float>(own[d] / static_cast<double>(n_rows));
    if (!std::isfinite(mean[d])) throw Error("domain centring: a recording's mean embedding is not finite");
  }
  if (sum_.empty()) sum_.assign(dim, 0.0);
  for (std::size_t d = 0; d < dim; ++d) sum_[d] += mean[d];
  ++recordings_;
}

void MeanOfRecordings::add(const std::vector<std::vector<float>>& rows) {
  if (rows.empty()) throw Error("domain centring: a recording without windows");
  const std::size_t dim = rows.front().size();
  std::vector<float> table;
  table.reserve(rows.size() * dim);
  for (const auto& r : rows) {
    if (r.size() != dim) throw Error("domain centring: windows of " + std::to_string(r.size()) + " and " +
                                     std::to_string(dim) + " values in one recording");
    table.insert(table.end(), r.begin(), r.end());
  }
  add(table.data(), rows.size(), dim);
}

std::vector<float> MeanOfRecordings::mean() const {
  if (recordings_ == 0) throw Error("domain centring: no recordings to estimate the domain's mean from");
  std::vector<float> out(sum_.size());
  for (std::size_t d = 0; d < sum_.size(); ++d) out[d] = static_cast<float>(sum_[d] / static_cast<double>(recordings_));
  return out;
}

std::vector<float> mean_of_files(const std::vector<float>& file_means, std::size_t n, std::size_t dim) {
  if (n == 0) throw Error("domain centring: no recordings to estimate the domain's mean from");
  if (dim == 0) throw Error("domain centring: embeddings of 0 values");
  if (file_means.size() != n * dim)
    throw Error("domain centring: " + std::to_string(file_means.size()) + " values for " + std::to_string(n) +
                " files of " + std::to_string(dim));
  MeanOfRecordings mean;
  for (std::size_t r = 0; r < n; ++r) mean.add(file_means.data() + r * dim, 1, dim);
  return mean.mean();
}

std::size_t domain_cohort_quota(std::size_t n_files) {
  if (n_files == 0) return kMaxDomainCohort;
  return std::max<std::size_t>(1, (kMaxDomainCohort + n_files - 1) / n_files);
}

std::size_t domain_top_k(std::size_t library_top_k, std::size_t cohort_size) {
  const std::size_t half = std::max(cohort_size / 2, std::min(kMinCohortTopK, cohort_size));
  return std::max<std::size_t>(1, std::min(library_top_k, half));
}

std::vector<std::string> domain_sources(const DomainCentre& domain) {
  try {
    return nlohmann::json::parse(domain.sources).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
    throw Error("the domain's list of recordings is not a JSON list of paths (the library is damaged); "
                "`enroll --domain` sets it again");
  }
}

void recentre_rows(float* rows, std::size_t n, std::size_t dim, const std::vector<std::size_t>& parts,
                   const std::vector<float>& centre) {
  if (std::accumulate(parts.begin(), parts.end(), std::size_t{0}) != dim)
    throw Error("domain centring: the embedding's parts do not add up to its " + std::to_string(dim) + " values");
  if (centre.size() != dim)
    throw Error("domain centring: the domain's mean has " + std::to_string(centre.size()) +
                " values, the embeddings " + std::to_string(dim));
  for (std::size_t r = 0; r < n; ++r) {
    float* row = rows + r * dim;
    std::size_t offset = 0;
    for (const std::size_t len : parts) {
      double before = 0, after = 0;
      for (std::size_t d = offset; d < offset + len; ++d) {
        before += static_cast<double>(row[d]) * row[d];
        row[d] -= centre[d];
        after += static_cast<double>(row[d]) * row[d];
      }
      const double scale = after > 0 ? std::sqrt(before / after) : 0.0;
      for (std::size_t d = offset; d < offset + len; ++d) row[d] = static_cast<float>(row[d] * scale);
      offset += len;
    }
  }
}

}  // namespace oneshot
