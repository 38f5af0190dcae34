#include "inference/domain.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "core/progress.h"
#include "eval/protocols.h"
#include "inference/recording_windows.h"

namespace oneshot {
namespace fs = std::filesystem;

void add_recording(MeanOfRecordings& mean, const torch::Tensor& windows) {
  const torch::Tensor w = windows.to(torch::kFloat).contiguous();
  if (w.dim() != 2) throw Error("domain centring: a recording's windows must be (W, D)");
  mean.add(w.data_ptr<float>(), static_cast<std::size_t>(w.size(0)), static_cast<std::size_t>(w.size(1)));
}

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

std::string recording_identity(const std::string& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec).lexically_normal();
  const fs::path canonical = fs::weakly_canonical(absolute, ec);
  return (ec ? absolute : canonical).string();
}

DomainEstimate estimate_domain(RunModel& run, const std::vector<std::string>& files, const WindowingOptions& windowing,
                               bool progress) {
  DomainEstimate out;
  MeanOfRecordings mean;  // its recordings() are the recordings kept (holding sound, each once)
  std::int64_t windows = 0;
  nlohmann::json sources = nlohmann::json::array();
  std::set<std::string> seen;  // a recording given twice (two paths, a link) counts once
  const std::size_t hop = hop_samples(run, windowing);
  const std::size_t quota = domain_cohort_quota(files.size());
  // A redrawn line on a terminal, plain lines in a log (an error then starts a line of its own).
  Progress bar("domain recordings", files.size(), progress);
  for (std::size_t f = 0; f < files.size(); ++f, bar.advance()) {
    if (!seen.insert(recording_identity(files[f])).second) continue;
    std::error_code ec;
    const fs::path absolute = fs::absolute(files[f], ec).lexically_normal();
    // Streamed as enroll streams an example: the sounding windows' embeddings
    // are kept as they come, the audio is not, so an hour-long recording
    // costs the memory of a short one. Errors of the source name the file.
    std::vector<std::vector<float>> rows = embed_sounding_rows(run, run.open_audio(files[f]), hop, windowing.rule).rows;
    if (rows.empty()) {  // silence: the sounding rule's one refusal
      out.silent.push_back(files[f]);
      continue;
    }
    mean.add(rows);
    windows += static_cast<std::int64_t>(rows.size());
    for (auto& w : evenly_strided(std::move(rows), quota)) out.centre.cohort.push_back(std::move(w));
    sources.push_back(absolute.string());  // re-read by library --reembed from any directory
  }
  bar.finish();
  const std::size_t kept = mean.recordings();
  if (kept == 0)
    throw Error("domain: none of the " + std::to_string(files.size()) + " recordings holds sound (every window is " +
                "below -60 dBFS); give recordings of the place and equipment the library will be used on");
  if (windows < static_cast<std::int64_t>(kMinDomainWindows))
    throw Error("domain: " + std::to_string(windows) + " sounding window" + (windows == 1 ? "" : "s") + " in " +
                std::to_string(kept) + " recording" + (kept == 1 ? "" : "s") + " are too few for a domain's "
                "mean (at least " + std::to_string(kMinDomainWindows) + "; on real sounds a domain of one clip let "
                "three quarters of never-enrolled files through): give at least 20 recordings of several kinds of "
                "sound from the place and equipment the library will be used on");
  out.centre.mean = mean.mean();
  out.centre.cohort = evenly_strided(std::move(out.centre.cohort), kMaxDomainCohort);
  out.centre.files = static_cast<std::int64_t>(kept);
  out.centre.windows = windows;
  out.centre.sources = json_text(sources);
  return out;
}

RecordingCentre recording_centre(RunModel& run, const RunModel::SampleSource& source, std::size_t window,
                                 std::size_t hop, bool keep) {
  RecordingCentre out;
  std::vector<double> sum;
  std::vector<torch::Tensor> kept;
  const double silence = SoundingRule{}.silence_dbfs;
  std::size_t last_start = 0;  // the last window's start: only the last can be zero-padded
  const std::size_t total = embed_recording(
      run, source, hop,
      [&](const WindowBatch& b) {
        if (keep) {
          kept.push_back(b.embeddings.to(torch::kFloat).clone());
          out.starts.insert(out.starts.end(), b.starts.begin(), b.starts.end());
        }
        if (b.count() > 0) last_start = b.starts.back();
        const torch::Tensor held = b.embeddings.to(torch::kDouble).contiguous();
        const auto dim = static_cast<std::size_t>(held.size(1));
        sum.resize(dim, 0.0);
        const double* e = held.data_ptr<double>();
        for (std::size_t w = 0; w < b.count(); ++w) {
          if (!(b.levels_dbfs[w] >= silence)) continue;
          for (std::size_t d = 0; d < dim; ++d) sum[d] += e[w * dim + d];
          ++out.windows;
        }
      },
      16, window);
  if (keep && !out.starts.empty()) {
    out.embeddings = torch::cat(kept, 0);
    if (last_start + window > total) {  // the last window was zero-padded: not one the scoring pass embeds alike
      out.starts.pop_back();
      out.embeddings = out.embeddings.narrow(0, 0, static_cast<int64_t>(out.starts.size()));
    }
  }
  if (out.windows == 0) return out;
  for (double v : sum) out.mean.push_back(static_cast<float>(v / static_cast<double>(out.windows)));
  return out;
}

std::size_t min_recording_centre_windows(const RunModel& run, std::size_t window) {
  if (window == 0) throw Error("recording centre: a window of 0 samples");
  return std::max<std::size_t>(kMinRecordingCentreWindows,
                               (kMinRecordingCentreWindows * run.window_samples() + window - 1) / window);
}

torch::Tensor evenly_strided_rows(const torch::Tensor& rows, std::size_t n) {
  std::vector<int64_t> index(static_cast<std::size_t>(rows.size(0)));
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = static_cast<int64_t>(i);
  index = evenly_strided(std::move(index), n);
  return rows.index_select(0, torch::tensor(index, torch::kLong));
}

torch::Tensor recentred(const RunModel& run, const torch::Tensor& embeddings, const std::vector<float>& centre) {
  return recentred(embeddings, run.embedding_parts(), centre);
}

}  // namespace oneshot
