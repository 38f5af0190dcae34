#include "events/event_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "core/error.h"

namespace oneshot {

double interval_iou(double on1, double off1, double on2, double off2) {
  const double inter = std::min(off1, off2) - std::max(on1, on2);
  const double uni = std::max(off1, off2) - std::min(on1, on2);
  if (inter <= 0 || uni <= 0) return 0;
  return inter / uni;
}

std::vector<int> maximum_bipartite_matching(const std::vector<std::vector<int>>& adjacency, int n_right) {
  constexpr int kInf = std::numeric_limits<int>::max();
  const int n_left = static_cast<int>(adjacency.size());
  std::vector<int> match_left(n_left, -1), match_right(n_right, -1), dist(n_left), next(n_left);
  std::vector<int> queue, stack;
  queue.reserve(n_left);
  for (;;) {
    // BFS from the free left vertices: layers of alternating paths.
    queue.clear();
    for (int u = 0; u < n_left; ++u) {
      dist[u] = match_left[u] == -1 ? 0 : kInf;
      if (match_left[u] == -1) queue.push_back(u);
    }
    bool found = false;
    for (std::size_t q = 0; q < queue.size(); ++q) {
      const int u = queue[q];
      for (int v : adjacency[u]) {
        const int w = match_right[v];
        if (w == -1) {
          found = true;
        } else if (dist[w] == kInf) {
          dist[w] = dist[u] + 1;
          queue.push_back(w);
        }
      }
    }
    if (!found) break;
    // DFS along the layers, iteratively (a chain of overlapping events would
    // make the recursion as deep as the chain is long).
    std::fill(next.begin(), next.end(), 0);
    for (int root = 0; root < n_left; ++root) {
      if (match_left[root] != -1) continue;
      stack.assign(1, root);
      while (!stack.empty()) {
        const int x = stack.back();
        if (next[x] == static_cast<int>(adjacency[x].size())) {
          dist[x] = kInf;  // a dead end for the rest of this phase
          stack.pop_back();
          if (!stack.empty()) ++next[stack.back()];
          continue;
        }
        const int v = adjacency[x][next[x]];
        const int w = match_right[v];
        if (w == -1) {  // a free right vertex: flip the path on the stack
          for (int y : stack) {
            const int vy = adjacency[y][next[y]];
            match_left[y] = vy;
            match_right[vy] = y;
          }
          break;
        }
        if (dist[w] != kInf && dist[w] == dist[x] + 1)
          stack.push_back(w);
        else
          ++next[x];
      }
    }
  }
  return match_left;
}

double EventCounts::precision() const { return estimate == 0 ? 0.0 : static_cast<double>(tp) / estimate; }
double EventCounts::recall() const { return reference == 0 ? 0.0 : static_cast<double>(tp) / reference; }
double EventCounts::f_measure() const {
  const std::size_t denominator = 2 * tp + fp() + fn();
  return denominator == 0 ? 0.0 : 2.0 * tp / denominator;
}

namespace {

// Matches within one (filename, label) group.
std::size_t match_group(std::vector<const Event*> refs, std::vector<const Event*> ests, double threshold) {
  if (refs.empty() || ests.empty()) return 0;
  auto by_onset = [](const Event* a, const Event* b) { return a->onset < b->onset; };
  std::sort(ests.begin(), ests.end(), by_onset);
  double longest = 0;
  for (const Event* e : ests) longest = std::max(longest, e->duration());

  std::vector<std::vector<int>> adjacency(refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const Event& r = *refs[i];
    // An estimate overlapping r starts after r.onset - its length; one with
    // IoU > t > 0 is also shorter than r's length / t.
    double reach = longest;
    if (threshold > 0) reach = std::min(reach, r.duration() / threshold);
    const double lo = r.onset - reach;
    auto it = std::lower_bound(ests.begin(), ests.end(), lo, [](const Event* e, double t) { return e->onset < t; });
    for (; it != ests.end() && (*it)->onset <= r.offset; ++it)
      if (interval_iou(r.onset, r.offset, (*it)->onset, (*it)->offset) > threshold)
        adjacency[i].push_back(static_cast<int>(it - ests.begin()));
  }
  const std::vector<int> match = maximum_bipartite_matching(adjacency, static_cast<int>(ests.size()));
  return static_cast<std::size_t>(std::count_if(match.begin(), match.end(), [](int m) { return m >= 0; }));
}

void check_events(const std::vector<Event>& events, const char* which) {
  for (std::size_t i = 0; i < events.size(); ++i)
    if (std::string p = event_problem(events[i]); !p.empty())
      throw Error(std::string(which) + " event " + std::to_string(i + 1) + " (" + events[i].filename + ", " +
                  events[i].label + "): " + p);
}

}  // namespace

EventScores score_events(const std::vector<Event>& reference, const std::vector<Event>& estimate,
                         double iou_threshold) {
  if (!std::isfinite(iou_threshold) || iou_threshold < 0 || iou_threshold >= 1) {
    std::ostringstream s;
    s << "IoU threshold " << iou_threshold << " must be in [0, 1)";
    throw Error(s.str());
  }
  check_events(reference, "reference");
  check_events(estimate, "estimated");

  using Key = std::pair<std::string, std::string>;  // label, filename
  std::map<Key, std::pair<std::vector<const Event*>, std::vector<const Event*>>> groups;
  std::set<std::string> files, reference_labels;
  for (const Event& e : reference) {
    groups[{e.label, e.filename}].first.push_back(&e);
    files.insert(e.filename);
    reference_labels.insert(e.label);
  }
  for (const Event& e : estimate) {
    groups[{e.label, e.filename}].second.push_back(&e);
    files.insert(e.filename);
  }

  EventScores scores;
  scores.iou_threshold = iou_threshold;
  scores.n_files = files.size();
  for (const auto& [key, group] : groups) {  // sorted by label, then filename
    if (scores.labels.empty() || scores.labels.back().label != key.first) {
      scores.labels.push_back({key.first, {}, reference_labels.count(key.first) > 0});
    }
    EventCounts& c = scores.labels.back().counts;
    c.reference += group.first.size();
    c.estimate += group.second.size();
    c.tp += match_group(group.first, group.second, iou_threshold);
  }
  for (const LabelScore& l : scores.labels) {
    scores.micro.reference += l.counts.reference;
    scores.micro.estimate += l.counts.estimate;
    scores.micro.tp += l.counts.tp;
    scores.macro_precision += l.counts.precision();
    scores.macro_recall += l.counts.recall();
    scores.macro_f += l.counts.f_measure();
  }
  if (!scores.labels.empty()) {
    const double n = static_cast<double>(scores.labels.size());
    scores.macro_precision /= n;
    scores.macro_recall /= n;
    scores.macro_f /= n;
  }
  return scores;
}

}  // namespace oneshot
