#pragma once
// Review tables (issue 19 item 4): a user's verdicts on search hits, read by
// `oneshot-audio review`. The table the review page exports, a search answer
// edited by hand, or a Raven Pro selection table annotated in Raven: one row a
// hit, tab-separated, with a header row naming the columns (any letter case;
// the first listed name found is used):
//
//   file       "Begin Path" (the recording as indexed), "filename", "file",
//              "path", else "Begin File" (a base name: matched with the base
//              names of the archive's recordings, which must then be unique)
//   onset      "Begin Time (s)", "onset", "event_onset", "start"
//   offset     "End Time (s)", "offset", "event_offset", "end"
//   verdict    "verdict", "review", "validation", "correct"; when none of
//              these is there, Raven's label columns ("annotation", "label",
//              "class", "species", "common name", "sound type", "call type",
//              as events/annotation_tables.h reads them) hold the verdict
//   label      optional: "annotation", "event_label", "label", "class" (the
//              query the hit was found for; kept, not checked)
//   "File Offset (s)" (optional, with a Raven file column): where the
//              selection starts in its file; Begin Time then counts from the
//              start of a file sequence, as Raven writes it
//   "Selection" (optional): Raven writes a selection once per view
//              (Waveform 1, Spectrogram 1); its rows (the same number,
//              recording and span) are one verdict, and differing verdicts of
//              one selection are an error. The same number with another
//              recording or span is another selection (two tables
//              concatenated, each numbered from 1): its own row.
// A table without a header (a sed_eval event list with a verdict appended)
// has 4 to 6 columns: filename, onset, offset, [event_label, [score,]] verdict.
// Other columns are ignored; blank lines and '#' lines are skipped.
//
// Verdicts, any letter case: "yes" (also y, true, 1, positive, correct),
// "no" (n, false, 0, negative, incorrect, wrong) and "skip" (s, unsure,
// unknown, ?, or an empty cell: not judged).
//
// The text is UTF-8 (or UTF-16 with a mark, as spreadsheets save it; the
// events' table_text rules): other text is an Error naming the file, line and
// byte. Every bad row is reported as "SOURCE line N: reason", all of them in
// one oneshot::Error.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oneshot::archive {

enum class Verdict { yes, no, skip };

// "yes", "no", "skip".
const char* verdict_name(Verdict v);
// The verdict TEXT spells (see above), nullopt when it is none.
std::optional<Verdict> parse_verdict(std::string_view text);

struct VerdictRow {
  std::size_t line = 0;     // 1-based line of the table
  std::string file;         // as written: a path, or a base name when base_name
  bool base_name = false;   // the table named the file by its base name (Begin File)
  double onset_s = 0;       // seconds from the file's start, >= 0
  double offset_s = 0;      // > onset_s
  Verdict verdict = Verdict::skip;
  std::string label;        // the row's label column, when the table has one
};

struct VerdictTable {
  std::string source;                 // the table's name, for messages
  std::vector<VerdictRow> rows;       // in the table's order, one a selection
  std::string file_column, verdict_column;  // the header's names used (empty: no header)
};

// Reads TEXT (the contents of SOURCE). Error "SOURCE: ..." for a header
// without the needed columns (naming what is missing and the names accepted),
// one Error listing every bad row ("SOURCE line N: ...": a missing or empty
// file, a time that is not a number, onset < 0, offset < onset, a verdict
// that is none of the above), and an Error for a table with no rows.
VerdictTable parse_verdict_table(const std::string& text, const std::string& source);
// The same for a file (table_text::read_text_file: UTF-8 checked, UTF-16 converted).
VerdictTable read_verdict_table(const std::filesystem::path& path);

}  // namespace oneshot::archive
