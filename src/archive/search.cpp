#include "archive/search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/parallel.h"

namespace oneshot::archive {

bool better(const ScoredWindow& a, const ScoredWindow& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.id < b.id;
}

void TopK::offer(const ScoredWindow& w) {
  if (k_ == 0 || std::isnan(w.score)) return;
  // The heap's top is the worst kept: `better` as the heap's "less" puts the worst on top.
  if (heap_.size() < k_) {
    heap_.push_back(w);
    std::push_heap(heap_.begin(), heap_.end(), better);
    return;
  }
  if (!better(w, heap_.front())) return;
  std::pop_heap(heap_.begin(), heap_.end(), better);
  heap_.back() = w;
  std::push_heap(heap_.begin(), heap_.end(), better);
}

void TopK::merge(const TopK& other) {
  for (const auto& w : other.heap_) offer(w);
}

std::vector<ScoredWindow> TopK::sorted() const {
  std::vector<ScoredWindow> out = heap_;
  std::sort(out.begin(), out.end(), better);
  return out;
}

std::vector<ScoredWindow> exact_top_k(const BlockSource& source, const BlockScorer& scorer,
                                      const SearchOptions& options, SearchStats* stats) {
  if (options.dim == 0) throw Error("internal: exact_top_k needs the embedding size");
  const auto started = std::chrono::steady_clock::now();
  const int threads = resolve_threads(options.threads);
  const std::size_t chunk = std::max<std::size_t>(options.chunk, 1);
  std::vector<TopK> kept(static_cast<std::size_t>(threads), TopK(options.top_k));
  std::vector<std::vector<double>> scores(static_cast<std::size_t>(threads));
  std::int64_t scored = 0;
  source(std::max<std::size_t>(options.block, 1), [&](const WindowBlock& b) {
    if (b.embeddings.size() != b.count() * options.dim)
      throw Error("internal: a block of " + std::to_string(b.count()) + " windows holds " +
                  std::to_string(b.embeddings.size()) + " values, not " + std::to_string(options.dim) + " each");
    const std::size_t chunks = (b.count() + chunk - 1) / chunk;
    parallel_for(chunks, threads, [&](std::size_t c, int worker) {
      const std::size_t from = c * chunk, n = std::min(chunk, b.count() - from);
      auto& s = scores[static_cast<std::size_t>(worker)];
      s.assign(n, std::numeric_limits<double>::quiet_NaN());
      scorer(b.embeddings.data() + from * options.dim, n, s.data());
      TopK& k = kept[static_cast<std::size_t>(worker)];
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t w = from + i;
        if (!options.exclude.empty() && options.exclude.count(b.ids[w])) continue;
        k.offer({s[i], b.ids[w], b.file_ids[w], b.starts_s[w]});
      }
    });
    scored += static_cast<std::int64_t>(b.count());
  });
  TopK all(options.top_k);
  for (const auto& k : kept) all.merge(k);
  if (stats) {
    stats->windows = scored;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  return all.sorted();
}

std::vector<SearchHit> merge_hits(const std::vector<ScoredWindow>& top, double window_s,
                                  const std::vector<FileRecord>& files,
                                  const std::function<double(double)>& confidence, bool merge) {
  std::map<std::int64_t, const FileRecord*> by_id;
  for (const auto& f : files) by_id[f.id] = &f;
  std::map<std::int64_t, std::vector<ScoredWindow>> per_file;
  for (const auto& w : top) per_file[w.file_id].push_back(w);
  std::vector<SearchHit> hits;
  // Touching within a microsecond counts (starts are sums of hops in floating point).
  constexpr double kTouch = 1e-6;
  for (auto& [file_id, windows] : per_file) {
    const auto it = by_id.find(file_id);
    if (it == by_id.end()) continue;  // dropped since the scan (a concurrent `index --update`)
    const FileRecord& file = *it->second;
    std::sort(windows.begin(), windows.end(), [](const ScoredWindow& a, const ScoredWindow& b) {
      return a.start_s != b.start_s ? a.start_s < b.start_s : a.id < b.id;
    });
    std::vector<ScoredWindow> span;
    double span_end = 0;
    auto close = [&] {
      if (span.empty()) return;
      SearchHit h;
      h.file_id = file_id;
      h.file = file.path;
      h.onset_s = span.front().start_s;
      h.offset_s = file.duration_s > 0 ? std::min(span_end, std::max(file.duration_s, h.onset_s)) : span_end;
      std::sort(span.begin(), span.end(), better);
      h.score = span.front().score;
      h.best_window_id = span.front().id;
      h.best_window_onset_s = span.front().start_s;
      for (const auto& w : span) h.window_ids.push_back(w.id);
      h.confidence = confidence ? confidence(h.score) : std::numeric_limits<double>::quiet_NaN();
      hits.push_back(std::move(h));
      span.clear();
    };
    for (const auto& w : windows) {
      if (!span.empty() && (!merge || w.start_s > span_end + kTouch)) close();
      if (span.empty()) span_end = w.start_s + window_s;
      span_end = std::max(span_end, w.start_s + window_s);
      span.push_back(w);
    }
    close();
  }
  std::sort(hits.begin(), hits.end(), [](const SearchHit& a, const SearchHit& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.file != b.file) return a.file < b.file;
    return a.onset_s < b.onset_s;
  });
  for (std::size_t i = 0; i < hits.size(); ++i) hits[i].rank = static_cast<int>(i + 1);
  return hits;
}

}  // namespace oneshot::archive
