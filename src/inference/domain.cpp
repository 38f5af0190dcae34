#include "inference/domain.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"

namespace oneshot {
namespace fs = std::filesystem;

std::vector<float> clip_means(const torch::Tensor& rows, const std::vector<std::size_t>& row_clip, std::size_t n_clips) {
  const torch::Tensor r = rows.to(torch::kFloat).contiguous();
  const auto dim = static_cast<std::size_t>(r.size(1));
  if (static_cast<std::size_t>(r.size(0)) != row_clip.size())
    throw Error("domain centring: " + std::to_string(r.size(0)) + " rows for " + std::to_string(row_clip.size()) +
                " clip indices");
  std::vector<double> sum(n_clips * dim, 0.0);
  std::vector<std::size_t> count(n_clips, 0);
  const float* p = r.data_ptr<float>();
  for (std::size_t i = 0; i < row_clip.size(); ++i) {
    const std::size_t c = row_clip[i];
    if (c >= n_clips) throw Error("domain centring: a row of clip " + std::to_string(c) + " of " + std::to_string(n_clips));
    ++count[c];
    for (std::size_t d = 0; d < dim; ++d) sum[c * dim + d] += p[i * dim + d];
  }
  std::vector<float> out(n_clips * dim);
  for (std::size_t c = 0; c < n_clips; ++c) {
    if (count[c] == 0) throw Error("domain centring: clip " + std::to_string(c) + " has no rows");
    for (std::size_t d = 0; d < dim; ++d)
      out[c * dim + d] = static_cast<float>(sum[c * dim + d] / static_cast<double>(count[c]));
  }
  return out;
}

DomainEstimate estimate_domain(RunModel& run, const std::vector<std::string>& files, const WindowingOptions& windowing,
                               bool progress) {
  DomainEstimate out;
  std::vector<torch::Tensor> parts;
  std::vector<std::size_t> row_file;
  nlohmann::json sources = nlohmann::json::array();
  std::size_t kept = 0;
  std::set<std::string> seen;  // a recording given twice (two paths, a link) counts once
  for (std::size_t f = 0; f < files.size(); ++f) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(files[f], ec).lexically_normal();
    const fs::path canonical = fs::weakly_canonical(absolute, ec);
    if (!seen.insert((ec ? absolute : canonical).string()).second) continue;
    const std::vector<float> samples = run.read_audio(files[f]);  // Errors name the file
    std::vector<std::size_t> starts;
    try {
      starts = classify_window_starts(run, samples, windowing, files[f]);
    } catch (const Error&) {  // silence: classify_window_starts's one refusal once the hop is valid
      out.silent.push_back(files[f]);
      continue;
    }
    parts.push_back(run.embed_windows(samples, starts));
    row_file.insert(row_file.end(), starts.size(), kept++);
    sources.push_back(absolute.string());  // re-read by library --reembed from any directory
    if (progress) std::fprintf(stderr, "\rdomain: %zu of %zu recordings", f + 1, files.size());
  }
  if (progress && !files.empty()) std::fprintf(stderr, "\n");
  if (kept == 0)
    throw Error("domain: none of the " + std::to_string(files.size()) + " recordings holds sound (every window is " +
                "below -60 dBFS); give recordings of the place and equipment the library will be used on");
  const torch::Tensor rows = torch::cat(parts, 0);
  if (rows.size(0) < static_cast<int64_t>(kMinDomainWindows))
    throw Error("domain: " + std::to_string(rows.size(0)) + " sounding window" + (rows.size(0) == 1 ? "" : "s") +
                " in " + std::to_string(kept) + " recording" + (kept == 1 ? "" : "s") + " are too few for a domain's "
                "mean (at least " + std::to_string(kMinDomainWindows) + "; on real sounds a domain of one clip let "
                "three quarters of never-enrolled files through): give at least 20 recordings of several kinds of "
                "sound from the place and equipment the library will be used on");
  const auto dim = static_cast<std::size_t>(rows.size(1));
  out.centre.mean = mean_of_files(clip_means(rows, row_file, kept), kept, dim);
  out.centre.files = static_cast<std::int64_t>(kept);
  out.centre.sources = json_text(sources);
  out.centre.windows = rows.size(0);
  return out;
}

torch::Tensor recentred(const RunModel& run, const torch::Tensor& embeddings, const std::vector<float>& centre) {
  torch::Tensor out = embeddings.to(torch::kFloat).contiguous().clone();
  if (out.numel() == 0) return out;
  recentre_rows(out.data_ptr<float>(), static_cast<std::size_t>(out.size(0)), static_cast<std::size_t>(out.size(1)),
                run.embedding_parts(), centre);
  return out;
}

}  // namespace oneshot
