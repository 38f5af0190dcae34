#pragma once
// One answer of `oneshot-audio search`: a span of one archived recording whose
// windows scored among the K best against the query (an example recording or a
// library class). Adjacent or overlapping hit windows of one file are merged
// into one span (issue 19). Shared by the search (src/archive/search*), its
// output tables (table, JSON, CSV, sed_eval TSV, Raven selection table) and the
// review page and `review` command.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace oneshot::archive {

struct SearchHit {
  int rank = 0;             // 1 = best
  std::int64_t file_id = 0; // the archive's id of the recording
  std::string file;         // the recording's path as indexed
  double onset_s = 0;       // start of the merged span, seconds from the file's start
  double offset_s = 0;      // end of the merged span (last window's end), seconds
  double score = 0;         // the best window score in the span (higher = more similar;
                            // the run's head, normalised when a library gives a cohort)
  double confidence = std::numeric_limits<double>::quiet_NaN();  // [0, 1] when a library's
                            // calibration applies, NaN when none does (an --example query)
  std::vector<std::int64_t> window_ids;  // the archive's ids of the merged windows, best first
  std::int64_t best_window_id = 0;       // the window that gave `score`
  double best_window_onset_s = 0;        // its start, seconds
};

}  // namespace oneshot::archive
