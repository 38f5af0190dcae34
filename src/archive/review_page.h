#pragma once
// The review page of a search (`search --page DIR`, issue 19 item 4): a
// self-contained HTML page (inline CSS and JavaScript, nothing fetched from a
// network) that a user opens in a browser to judge the hits:
//
//   DIR/index.html              one card a hit: rank, recording, span, score,
//                               confidence; its spectrogram; an <audio>
//                               player; a yes / no / skip choice. A button
//                               exports the verdicts as DIR's "verdicts.tsv"
//                               download (a Blob, no server), in the review
//                               table format archive/verdicts.h reads: the
//                               search's Raven selection table columns
//                               (archive/hit_tables.h) plus Verdict. Choices
//                               are kept in the browser's localStorage, so a
//                               reload keeps them.
//   DIR/clips/hit-NNNN.wav      the hit with `context_s` seconds either side
//                               (clamped at the recording's start and end),
//                               mono 16-bit PCM at the run's sample rate
//                               (libsndfile)
//   DIR/spectrograms/hit-NNNN.png  its log-mel spectrogram with the run's
//                               feature settings (audio/logmel.h), the hit's
//                               start and end marked (archive/spectrogram_png.h)
//
// Every file is written atomically (core/atomic_file.h); index.html last, so a
// page never names a clip not written. Clips and images of an earlier page in
// DIR that this one does not use (hit-NNNN names only) are removed.
//
// Each recording is decoded once, from its start to its last excerpt (the
// readers stream; there is no seeking), all of its hits cut in that pass:
// memory holds the excerpts, not the recording. A recording that cannot be
// read (moved, deleted, damaged since it was indexed) does not stop the page:
// its hits are shown with the reason instead of a player, and counted.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "archive/search_hit.h"
#include "core/config.h"

namespace oneshot::archive {

struct ReviewPageOptions {
  std::string label;            // the query: a class name, or the example's name
  std::string title;            // the page's heading (default: "Review: LABEL")
  std::string description;      // one line under it (the archive, the sampling)
  FeaturesConfig features;      // the run's: sample rate (0 = each file's), STFT and mel settings
  double context_s = 1.0;       // seconds of audio either side of a hit
  double low_freq_hz = 0;       // Raven's frequency box in the export
  double high_freq_hz = 0;
};

struct ReviewPageResult {
  std::filesystem::path page;   // DIR/index.html
  std::size_t clips = 0;        // excerpts written
  std::vector<std::string> unreadable;  // "FILE: reason", one a recording whose hits have no clip
};

// Writes the page for `hits` (ranked as given) into `dir`, creating it.
// Error naming the file for a write that fails (a full disk, a read-only
// directory): nothing of the page is then named in an index.html.
ReviewPageResult write_review_page(const std::vector<SearchHit>& hits, const std::filesystem::path& dir,
                                   const ReviewPageOptions& options);

// The excerpt of a hit: [max(0, onset - context), offset + context] seconds
// (the end clamped to the recording when it is read). A merged span longer
// than kLongestPlayedSpan_s (one hit can cover hours when a recording's
// windows all rank high) is played from its best window on instead:
// [max(0, best - context), min(offset, best + kLongestPlayedSpan_s) + context],
// so the page's memory and clips stay bounded whatever --top is; `shortened`
// says so (the verdict still covers the whole span).
inline constexpr double kLongestPlayedSpan_s = 30.0;
struct Excerpt {
  double start_s = 0, end_s = 0;
  bool shortened = false;
};
Excerpt excerpt_of(const SearchHit& hit, double context_s);

}  // namespace oneshot::archive
