#pragma once
// `search`'s answers as text: a table for the terminal, JSON, CSV, a sed_eval
// event list (events/event.h: filename onset offset label score, as detect
// writes and score-events reads) and a Raven Pro selection table.
//
// Raven selection table (tab-separated, one "Spectrogram 1" row per hit, the
// table over all files): Selection, View, Channel (1), Begin Time (s) and End
// Time (s) (seconds in the hit's file), Low Freq (Hz) and High Freq (Hz) (the
// run's mel range: features.fmin, features.fmax or half the sample rate),
// Begin File (the file's base name, as Raven and BirdNET write it), then
// extra columns Raven shows as they are: Begin Path (the file as indexed),
// File Offset (s) (= Begin Time: each row's times are its own file's),
// Annotation (the query's label), Score, Confidence (empty when none), Rank
// and Window (the archive's id of the best window of the hit). It reads back
// with events/annotation_tables.h parse_raven_table.
#include <string>
#include <vector>

#include "archive/search_hit.h"

namespace oneshot::archive {

enum class HitFormat { table, json, csv, tsv, raven };

// "table", "json", "csv", "tsv", "raven"; Error naming the text otherwise.
HitFormat parse_hit_format(const std::string& text);

struct HitContext {
  std::string label;        // the query: the class name, or the example's file name without extension
  double low_freq_hz = 0;   // Raven's frequency box
  double high_freq_hz = 0;
};

// The text of `hits` in `format` (every format ends with a newline; table,
// CSV, TSV and Raven have a header row even without hits).
std::string format_hits(const std::vector<SearchHit>& hits, HitFormat format, const HitContext& context);

}  // namespace oneshot::archive
