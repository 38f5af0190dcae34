#include "archive/review_resolve.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "events/table_text.h"

namespace oneshot::archive {
namespace {

std::string base_name(const std::string& path) {
  const std::size_t slash = path.find_last_of("/\\");  // Raven on Windows writes backslashes
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string seconds(double s) { return table_text::number(s); }

}  // namespace

std::vector<ResolvedRow> resolve_verdicts(const VerdictTable& table, const std::vector<FileRecord>& files,
                                          const WindowLister& windows_of, double window_s) {
  if (!(window_s > 0)) throw Error("review: the archive's window length is not positive (the archive is damaged)");
  table_text::LineProblems problems("review table", table.source);
  std::map<std::string, std::int64_t> by_path;
  std::map<std::string, std::vector<const FileRecord*>> by_base;
  for (const FileRecord& f : files) {
    by_path.emplace(f.path, f.id);
    by_base[base_name(f.path)].push_back(&f);
  }
  std::map<std::int64_t, std::string> path_of;
  for (const FileRecord& f : files) path_of.emplace(f.id, f.path);

  // 1. The recording of each row.
  std::vector<ResolvedRow> out;
  std::set<std::int64_t> wanted;
  for (const VerdictRow& row : table.rows) {
    ResolvedRow r;
    r.row = &row;
    if (row.base_name) {
      const auto it = by_base.find(base_name(row.file));
      if (it == by_base.end()) {
        problems.add(row.line, "no archived recording is named " + row.file + " (index it first)");
        continue;
      }
      if (it->second.size() > 1) {
        problems.add(row.line, std::to_string(it->second.size()) + " archived recordings are named " + row.file +
                                   " (" + it->second[0]->path + ", " + it->second[1]->path +
                                   (it->second.size() > 2 ? ", ..." : "") +
                                   "): give the table a Begin Path column with the recording's path");
        continue;
      }
      r.file_id = it->second[0]->id;
    } else {
      std::error_code ec;
      std::filesystem::path p = std::filesystem::absolute(row.file, ec);
      const std::string key = (ec ? std::filesystem::path(row.file) : p).lexically_normal().string();
      const auto it = by_path.find(key);
      if (it == by_path.end()) {
        problems.add(row.line, "no archived recording " + key +
                                   (key != row.file ? " (" + row.file + " as written)" : std::string()) +
                                   " (index it first, or check the path)");
        continue;
      }
      r.file_id = it->second;
    }
    r.file = path_of.at(r.file_id);
    wanted.insert(r.file_id);
    out.push_back(std::move(r));
  }
  problems.throw_if_any();

  // 2. Its windows.
  auto windows = windows_of(wanted);
  for (auto& [id, list] : windows)
    std::sort(list.begin(), list.end(),
              [](const ArchivedWindow& a, const ArchivedWindow& b) { return a.start_s < b.start_s; });
  for (ResolvedRow& r : out) {
    const VerdictRow& row = *r.row;
    const auto& list = windows[r.file_id];
    const double on = row.onset_s, off = row.offset_s;
    for (const ArchivedWindow& w : list) {
      const double centre = w.start_s + window_s / 2;
      if (centre > on && centre < off) r.window_ids.push_back(w.id);
    }
    if (r.window_ids.empty()) {
      // No centre inside: the windows overlapping the span most (for a point, those holding it).
      double best = -1;
      for (const ArchivedWindow& w : list) {
        const double lo = std::max(on, w.start_s), hi = std::min(off, w.start_s + window_s);
        if (hi < lo || (hi == lo && off > on)) continue;  // no overlap (touching is none, unless a point)
        best = std::max(best, hi - lo);
      }
      if (best >= 0)
        for (const ArchivedWindow& w : list) {
          const double lo = std::max(on, w.start_s), hi = std::min(off, w.start_s + window_s);
          if (!(hi < lo || (hi == lo && off > on)) && hi - lo >= best - 1e-9) r.window_ids.push_back(w.id);
        }
    }
    if (r.window_ids.empty()) {
      std::string cover = list.empty() ? std::string("it has no windows")
                                       : "its windows cover " + seconds(list.front().start_s) + "-" +
                                             seconds(list.back().start_s + window_s) + " s";
      problems.add(row.line, "no archived window of " + r.file + " overlaps " + seconds(on) + "-" + seconds(off) +
                                 " s (" + cover + ")");
    }
  }
  problems.throw_if_any();

  // 3. One verdict a window.
  std::map<std::int64_t, const VerdictRow*> first;
  for (const ResolvedRow& r : out)
    for (std::int64_t id : r.window_ids) {
      auto [it, added] = first.emplace(id, r.row);
      if (!added && it->second->verdict != r.row->verdict)
        problems.add(r.row->line, "marks " + std::string(verdict_name(r.row->verdict)) + " window " +
                                      std::to_string(id) + " of " + r.file + ", which line " +
                                      std::to_string(it->second->line) + " marks " +
                                      verdict_name(it->second->verdict) + ": the spans overlap; make them agree");
    }
  problems.throw_if_any();
  return out;
}

std::vector<std::int64_t> keep_earlier_reviews(std::vector<ResolvedRow>& rows,
                                               const std::map<std::int64_t, Verdict>& earlier) {
  std::set<std::int64_t> kept;
  for (ResolvedRow& r : rows) {
    const auto judged_otherwise = [&](std::int64_t id) {
      const auto it = earlier.find(id);
      return it != earlier.end() && it->second != r.row->verdict;
    };
    std::vector<std::int64_t> rest;
    for (std::int64_t id : r.window_ids)
      if (!judged_otherwise(id)) rest.push_back(id);
    if (rest.empty() || rest.size() == r.window_ids.size()) continue;  // all changed on purpose, or none
    for (std::int64_t id : r.window_ids)
      if (judged_otherwise(id)) kept.insert(id);
    r.window_ids = std::move(rest);
  }
  return {kept.begin(), kept.end()};
}

std::map<std::int64_t, Verdict> window_verdicts(const std::vector<ResolvedRow>& rows) {
  std::map<std::int64_t, Verdict> out;
  for (const ResolvedRow& r : rows)
    for (std::int64_t id : r.window_ids) out.emplace(id, r.row->verdict);
  return out;
}

}  // namespace oneshot::archive
