// Search time of a sound archive (issue 19): archives of N windows of a run's
// embedding size are filled with random unit embeddings (the scan and the
// scoring do not depend on the values), then searched as `search --example`
// does: one query window, the run's head (src/inference/archive_scoring.h),
// exact_top_k over the whole archive on every core, top 10.
//
//   bench_archive_search --run RUN --dir DIR [--windows 10000,100000,1000000]
//                        [--half] [--threads T] [--repeats R]
//                        [--ann hnsw,ivf [--queries Q] [--clusters C]]
//
// Prints, per N: the archive's size on disk, the time to fill it (not part of
// the search), and the search's wall time (best of R) and windows/s.
//
// With --ann hnsw,ivf (issue 19 item 3) the archives are filled with clustered
// unit embeddings instead (--clusters centres, each window its centre plus
// noise, renormalised: random unit vectors have no neighbourhoods for an
// index to find, real embeddings do), kept as DIR/search-clustered-N.archive;
// per N and kind: the index's build time and size, its load time, and over
// --queries queries (fresh points of the clusters, one query window each, the
// run's head) the approximate search's median time (src/archive/ann_index.h:
// the id check, the index, fetching and scoring the candidates) beside exact
// search's, and recall@10 and recall@100 against exact search. The
// archives are kept in DIR (made once; a second run searches them again), so
// `oneshot-audio search --archive DIR/search-N.archive --example CLIP` times
// the whole command on the same archive (the run's load and the example's
// embedding included).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "archive/ann_index.h"
#include "archive/archive_store.h"
#include "archive/search.h"
#include "core/error.h"
#include "core/parallel.h"
#include "inference/archive_scoring.h"
#include "inference/run_model.h"

namespace {
namespace fs = std::filesystem;
using namespace oneshot;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int main_impl(int argc, char** argv) {
  std::string run_dir, dir, windows_list = "10000,100000", ann_list;
  int queries = 10, clusters = 2000;
  bool half = false;
  int threads = 0, repeats = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--run") run_dir = next();
    else if (a == "--dir") dir = next();
    else if (a == "--windows") windows_list = next();
    else if (a == "--half") half = true;
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--repeats") repeats = std::stoi(next());
    else if (a == "--ann") ann_list = next();
    else if (a == "--queries") queries = std::stoi(next());
    else if (a == "--clusters") clusters = std::stoi(next());
    else throw Error("unknown argument " + a);
  }
  if (run_dir.empty() || dir.empty()) throw Error("usage: bench_archive_search --run RUN --dir DIR [--windows N,...]");
  fs::create_directories(dir);
  auto run = RunModel::load(run_dir, threads);
  const auto dim = static_cast<std::size_t>(run->embedding_dim());
  archive::ArchiveModel model;
  model.run = fs::absolute(run_dir).lexically_normal().string();
  model.fingerprint = run->fingerprint();
  model.embedding_dim = run->embedding_dim();
  model.window_s = run->window_seconds();
  model.hop_s = run->window_seconds() / 2;
  model.sample_rate = run->sample_rate();
  const int workers = resolve_threads(threads);
  // Clustered unit embeddings: `clusters` random unit centres; a point is its centre plus
  // normal noise of 0.05 a value (about 0.57 in norm at 128 values), renormalised.
  std::vector<float> centres(static_cast<std::size_t>(clusters) * dim);
  {
    std::mt19937 crng(99);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (int c = 0; c < clusters; ++c) {
      double norm = 0;
      for (std::size_t d = 0; d < dim; ++d) norm += std::pow(centres[c * dim + d] = normal(crng), 2);
      for (std::size_t d = 0; d < dim; ++d) centres[c * dim + d] /= static_cast<float>(std::sqrt(norm));
    }
  }
  auto cluster_point = [&](std::mt19937& rng, float* out) {
    std::normal_distribution<float> noise(0.f, 0.05f);
    const auto c = static_cast<std::size_t>(std::uniform_int_distribution<int>(0, clusters - 1)(rng));
    for (std::size_t d = 0; d < dim; ++d) out[d] = centres[c * dim + d] + noise(rng);
  };
  std::printf("run %s: embedding %zu values, %s, %d threads\n", run_dir.c_str(), dim, half ? "float16" : "float32",
              workers);
  std::stringstream list(windows_list);
  for (std::string item; std::getline(list, item, ',');) {
    const std::size_t n = std::stoull(item);
    const bool clustered = !ann_list.empty();
    const fs::path path =
        fs::path(dir) / ("search-" + std::string(clustered ? "clustered-" : "") + item + (half ? "-half" : "") + ".archive");
    double fill_s = 0;
    if (!fs::exists(path)) {
      const auto t = std::chrono::steady_clock::now();
      auto store = archive::open_or_create_archive(path.string(), model, half ? std::optional<bool>(true) : std::nullopt);
      std::mt19937 rng(1);
      std::normal_distribution<float> normal(0.f, 1.f);
      constexpr std::size_t kPerFile = 10000;  // about 7 hours at a 2.5 s hop
      std::vector<float> e(kPerFile * dim);
      std::vector<double> starts(kPerFile);
      for (std::size_t done = 0, f = 0; done < n; ++f) {
        const std::size_t m = std::min(kPerFile, n - done);
        for (std::size_t w = 0; w < m; ++w) {
          double norm = 0;
          if (clustered) cluster_point(rng, &e[w * dim]);
          else
            for (std::size_t d = 0; d < dim; ++d) e[w * dim + d] = normal(rng);
          for (std::size_t d = 0; d < dim; ++d) norm += std::pow(e[w * dim + d], 2);
          for (std::size_t d = 0; d < dim; ++d) e[w * dim + d] /= static_cast<float>(std::sqrt(norm));
          starts[w] = static_cast<double>(w) * model.hop_s;
        }
        archive::FileRecord r;
        r.path = "/bench/recording-" + std::to_string(f) + ".wav";
        r.head_hash.assign(1, '0');  // (a literal here trips GCC 12's -Wstringop-overflow)
        auto writer = store->begin_file(r);
        writer->add(starts.data(), e.data(), m);
        writer->commit(static_cast<double>(m) * model.hop_s + model.window_s);
        done += m;
      }
      fill_s = seconds_since(t);
    }
    auto store = archive::open_archive(path.string());
    // One query window: a random unit vector.
    torch::Tensor query = torch::randn({1, static_cast<int64_t>(dim)});
    query = query / query.norm();
    torch::set_num_threads(1);  // as search: one LibTorch thread per worker
    const archive::BlockScorer scorer = example_scorer(*run, query);
    archive::SearchOptions options;
    options.top_k = 10;
    options.dim = dim;
    options.threads = threads;
    double best = 1e300;
    std::int64_t scored = 0;
    for (int r = 0; r < repeats; ++r) {
      archive::SearchStats stats;
      archive::exact_top_k([&](std::size_t block, const auto& f) { store->scan(block, f); }, scorer, options, &stats);
      best = std::min(best, stats.seconds);
      scored = stats.windows;
    }
    // The scan alone (SQLite read, blob checks, float16 conversion), without scoring.
    const auto t = std::chrono::steady_clock::now();
    std::size_t seen = 0;
    store->scan(options.block, [&](const archive::WindowBlock& b) { seen += b.count(); });
    const double scan_s = seconds_since(t);
    std::printf("%zu windows (%.1f MB on disk%s): search %.3f s (best of %d) = %.0f windows/s; scan alone %.3f s%s\n",
                static_cast<std::size_t>(scored), static_cast<double>(fs::file_size(path)) / 1e6,
                fill_s > 0 ? (", filled in " + std::to_string(fill_s).substr(0, 5) + " s").c_str() : "", best, repeats,
                static_cast<double>(scored) / best, scan_s, seen == static_cast<std::size_t>(scored) ? "" : " (!)");
    if (clustered) {
      // Exact search's top 100 of each query: the reference, and its time.
      std::mt19937 qrng(12345);
      std::vector<std::vector<float>> qs;
      std::vector<std::vector<archive::ScoredWindow>> truth;
      std::vector<double> exact_s;
      for (int q = 0; q < queries; ++q) {
        std::vector<float> v(dim);
        cluster_point(qrng, v.data());
        double norm = 0;
        for (float x : v) norm += static_cast<double>(x) * x;
        for (float& x : v) x /= static_cast<float>(std::sqrt(norm));
        qs.push_back(v);
      }
      for (const auto& v : qs) {
        const torch::Tensor qt = torch::from_blob(const_cast<float*>(v.data()), {1, static_cast<int64_t>(dim)}).clone();
        archive::SearchOptions o = options;
        o.top_k = 100;
        archive::SearchStats st;
        truth.push_back(archive::exact_top_k([&](std::size_t block, const auto& f) { store->scan(block, f); },
                                             example_scorer(*run, qt), o, &st));
        exact_s.push_back(st.seconds);
      }
      auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
      };
      std::printf("  exact: median %.3f s a query (%d queries)\n", median(exact_s), queries);
      std::stringstream kinds(ann_list);
      for (std::string kind; std::getline(kinds, kind, ',');) {
        const std::string ann_path = path.string() + "." + kind + ".ann";
        const auto t0 = std::chrono::steady_clock::now();
        const auto report = archive::build_ann_index(*store, ann_path, {.kind = archive::parse_ann_kind(kind), .threads = threads});
        const double build_total = seconds_since(t0);
        const auto t1 = std::chrono::steady_clock::now();
        const archive::AnnIndex index = archive::AnnIndex::load(ann_path, store->model(), path.string());
        const double load_s = seconds_since(t1);
        for (const std::size_t k : {std::size_t{10}, std::size_t{100}}) {
          double hits = 0;
          std::vector<double> approx_s;
          for (int q = 0; q < queries; ++q) {
            const torch::Tensor qt =
                torch::from_blob(const_cast<float*>(qs[q].data()), {1, static_cast<int64_t>(dim)}).clone();
            archive::SearchOptions o = options;
            o.top_k = k;
            archive::ApproxStats st;
            const auto got = archive::approx_top_k(*store, index, qs[q].data(), 1, example_scorer(*run, qt), o, {}, &st);
            approx_s.push_back(st.seconds);
            std::set<std::int64_t> want;
            for (std::size_t i = 0; i < k && i < truth[q].size(); ++i) want.insert(truth[q][i].id);
            for (const auto& w : got) hits += want.count(w.id);
          }
          std::printf("  %s%s: built in %.1f s (%.1f s reading, %.1f s faiss), %.1f MB, loaded in %.3f s; top %zu: "
                      "approximate median %.4f s a query, recall@%zu %.3f\n",
                      kind.c_str(), report.nlist ? (" (" + std::to_string(report.nlist) + " lists)").c_str() : "",
                      build_total, report.read_seconds, report.build_seconds, static_cast<double>(report.bytes) / 1e6,
                      load_s, k, median(approx_s), k, hits / (static_cast<double>(k) * queries));
        }
      }
    }
    torch::set_num_threads(workers);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
