#pragma once
// Which archived windows a review table's rows mean (`oneshot-audio review`,
// issue 19 item 4). A row names a recording and a time span in it:
//
//  - the recording: a row's path (Begin Path, filename) is the archive's
//    record of that path (made absolute against the working directory and
//    lexically normal, as `index` stores it); a base name (Raven's Begin File)
//    is the archive's one recording of that base name (Error when two share
//    it, naming them: use a Begin Path column);
//  - the windows: those of that recording whose centre lies inside the span
//    (a span `search` wrote is its merged windows, and a window half in a
//    neighbouring span is not taken); a span too short to hold a centre (a
//    hand-drawn call between two centres, a point selection) takes the
//    windows that overlap it most (for a point, the windows that contain it).
//
// Errors name the table, the row's line and the reason ("no archived
// recording ...", "no archived window of FILE overlaps 60-65 s (its windows
// cover 0-40 s)"), all rows at once; a window given two different verdicts by
// two rows is an Error naming both lines.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "archive/archive_store.h"
#include "archive/verdicts.h"

namespace oneshot::archive {

struct ArchivedWindow {
  std::int64_t id = 0;
  double start_s = 0;
};

// The windows of each file id asked for (every window of each), in any order.
using WindowLister =
    std::function<std::map<std::int64_t, std::vector<ArchivedWindow>>(const std::set<std::int64_t>& file_ids)>;

struct ResolvedRow {
  const VerdictRow* row = nullptr;   // into the table given
  std::int64_t file_id = 0;
  std::string file;                  // the archive's path of the recording
  std::vector<std::int64_t> window_ids;  // ascending start
};

// One ResolvedRow per row of `table` (in its order); `window_s` is the
// archive's window length. See above for the rules and errors.
std::vector<ResolvedRow> resolve_verdicts(const VerdictTable& table, const std::vector<FileRecord>& files,
                                          const WindowLister& windows_of, double window_s);

// Windows a row's span covers that an earlier review of the class judged
// otherwise (`earlier`: window id -> verdict), when the span also holds
// windows not so judged: `search` left the reviewed ones out, but a hit of the
// next round can merge windows across one (0-5 s and 5-10 s touch around a
// reviewed 2.5-7.5 s), so the row does not mean them. They are taken out of
// their rows (their earlier verdict stands) and returned, ascending. A row all
// of whose windows were judged otherwise keeps them: a verdict changed on
// purpose (`review` then names the conflict with the library).
std::vector<std::int64_t> keep_earlier_reviews(std::vector<ResolvedRow>& rows,
                                               const std::map<std::int64_t, Verdict>& earlier);

// Each window's verdict, the rows merged (one window in two rows with the same
// verdict counts once).
std::map<std::int64_t, Verdict> window_verdicts(const std::vector<ResolvedRow>& rows);

}  // namespace oneshot::archive
