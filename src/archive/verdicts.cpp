#include "archive/verdicts.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/table_text.h"

namespace oneshot::archive {
namespace {

using table_text::lower;
using table_text::parse_number;
using table_text::split_tabs;

constexpr std::initializer_list<const char*> kPathColumns = {"begin path", "filename", "file", "path"};
constexpr std::initializer_list<const char*> kBaseNameColumns = {"begin file"};
constexpr std::initializer_list<const char*> kOnsetColumns = {"begin time (s)", "onset", "event_onset", "start"};
constexpr std::initializer_list<const char*> kOffsetColumns = {"end time (s)", "offset", "event_offset", "end"};
constexpr std::initializer_list<const char*> kVerdictColumns = {"verdict", "review", "validation", "correct"};
// Raven's label columns (events/annotation_tables.cpp): a table annotated in Raven holds the verdict there.
constexpr std::initializer_list<const char*> kRavenLabelColumns = {
    "annotation", "label", "class", "species", "common name", "sound type", "call type"};
constexpr std::initializer_list<const char*> kLabelColumns = {"annotation", "event_label", "label", "class"};

std::string names_of(std::initializer_list<const char*> names) {
  std::string out;
  for (const char* n : names) out += std::string(out.empty() ? "" : ", ") + "\"" + n + "\"";
  return out;
}

std::string shown(std::string_view s) {
  std::string out(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return "\"" + out + "\"";
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::yes: return "yes";
    case Verdict::no: return "no";
    case Verdict::skip: break;
  }
  return "skip";
}

std::optional<Verdict> parse_verdict(std::string_view text) {
  const std::string t = lower(table_text::trim(text));
  for (const char* s : {"yes", "y", "true", "1", "positive", "correct"})
    if (t == s) return Verdict::yes;
  for (const char* s : {"no", "n", "false", "0", "negative", "incorrect", "wrong"})
    if (t == s) return Verdict::no;
  for (const char* s : {"skip", "s", "unsure", "unknown", "?", ""})
    if (t == s) return Verdict::skip;
  return std::nullopt;
}

VerdictTable parse_verdict_table(const std::string& raw, const std::string& source) {
  const std::string text = table_text::decode_text(raw, source);  // UTF-8 checked, UTF-16 converted
  VerdictTable table;
  table.source = source;
  table_text::LineProblems problems("review table", source);

  // Column indices; a headerless table's are set from each row's width.
  std::optional<std::size_t> file, onset, offset, verdict, label, selection, file_offset;
  std::size_t header_width = 0;
  bool base_name = false, first = true, headerless = false;
  std::map<std::string, std::pair<std::size_t, Verdict>> selections;  // Selection, file, span -> (row, verdict)

  for (const auto& [line_no, line] : table_text::lines(text)) {
    if (line.empty() || line.front() == '#') continue;
    const auto f = split_tabs(line);
    if (first) {
      first = false;
      std::map<std::string, std::size_t> column;
      for (std::size_t i = 0; i < f.size(); ++i) column.emplace(lower(f[i]), i);
      auto find = [&](std::initializer_list<const char*> names, std::string* name = nullptr) {
        std::optional<std::size_t> found;
        for (const char* n : names)
          if (auto it = column.find(n); it != column.end()) {
            if (name) *name = std::string(f[it->second]);
            return std::optional<std::size_t>(it->second);
          }
        return found;
      };
      onset = find(kOnsetColumns);
      if (onset) {  // a header row
        header_width = f.size();
        offset = find(kOffsetColumns);
        file = find(kPathColumns, &table.file_column);
        if (!file) {
          file = find(kBaseNameColumns, &table.file_column);
          base_name = file.has_value();
        }
        verdict = find(kVerdictColumns, &table.verdict_column);
        if (!verdict) verdict = find(kRavenLabelColumns, &table.verdict_column);
        for (const char* n : kLabelColumns)
          if (auto it = column.find(n); it != column.end() && it->second != verdict) {
            label = it->second;
            break;
          }
        selection = find({"selection"});
        if (base_name || lower(table.file_column) == "begin path")
          file_offset = find({"file offset (s)"});
        std::string missing;
        if (!file) missing += "a file column (" + names_of(kPathColumns) + " or " + names_of(kBaseNameColumns) + ")";
        if (!offset) missing += std::string(missing.empty() ? "" : "; ") + "an end column (" + names_of(kOffsetColumns) + ")";
        if (!verdict)
          missing += std::string(missing.empty() ? "" : "; ") + "a verdict column (" + names_of(kVerdictColumns) +
                     ", or Raven's " + names_of(kRavenLabelColumns) + ")";
        if (!missing.empty())
          throw file_error(source, "review table without " + missing + " in its header (line " +
                                       std::to_string(line_no) + ")");
        continue;
      }
      headerless = true;
    }

    if (headerless) {
      // filename onset offset [event_label [score]] verdict
      if (f.size() < 4 || f.size() > 6) {
        problems.add(line_no, "expected a header row naming the columns, or 4 to 6 tab-separated columns (filename "
                              "onset offset [event_label [score]] verdict), found " + std::to_string(f.size()));
        continue;
      }
      file = 0, onset = 1, offset = 2, verdict = f.size() - 1;
      label = f.size() >= 5 ? std::optional<std::size_t>(3) : std::nullopt;
    } else {
      const std::size_t need = std::max({*file, *onset, *offset, *verdict}) + 1;
      if (f.size() < need) {
        problems.add(line_no, "expected " + std::to_string(header_width) +
                                  " tab-separated columns as in the header, found " + std::to_string(f.size()));
        continue;
      }
    }
    auto field = [&](std::optional<std::size_t> i) { return i && *i < f.size() ? f[*i] : std::string_view(); };

    VerdictRow row;
    row.line = line_no;
    row.base_name = base_name;
    row.file = std::string(field(file));
    if (row.file.empty()) {
      problems.add(line_no, "empty file" + (table.file_column.empty() ? std::string() : " (" + table.file_column + ")"));
      continue;
    }
    std::string why;
    if (!parse_number(field(onset), row.onset_s, why, "onset") ||
        !parse_number(field(offset), row.offset_s, why, "offset")) {
      problems.add(line_no, why);
      continue;
    }
    if (file_offset && !field(file_offset).empty()) {
      double o = 0;
      if (!parse_number(field(file_offset), o, why, "File Offset (s)")) {
        problems.add(line_no, why);
        continue;
      }
      row.offset_s = o + (row.offset_s - row.onset_s);
      row.onset_s = o;
    }
    if (!std::isfinite(row.onset_s) || !std::isfinite(row.offset_s)) {
      problems.add(line_no, "onset and offset must be finite");
      continue;
    }
    if (row.onset_s < 0) {
      problems.add(line_no, "onset " + table_text::number(row.onset_s) + " is negative");
      continue;
    }
    if (row.offset_s < row.onset_s) {
      problems.add(line_no, "offset " + table_text::number(row.offset_s) + " is before onset " +
                                table_text::number(row.onset_s));
      continue;
    }
    const auto v = parse_verdict(field(verdict));
    if (!v) {
      problems.add(line_no, "verdict " + shown(field(verdict)) +
                                (table.verdict_column.empty() ? std::string() : " (column " + table.verdict_column + ")") +
                                " is not yes, no or skip");
      continue;
    }
    row.verdict = *v;
    row.label = std::string(field(label));
    if (selection && !field(selection).empty()) {
      // One selection in several views: the same number, recording and span. The same number with
      // another recording or span is another selection (tables concatenated, each numbered from 1).
      const std::string id(field(selection));
      const std::string key = id + '\t' + row.file + '\t' + table_text::number(row.onset_s) + '\t' +
                              table_text::number(row.offset_s);
      if (auto it = selections.find(key); it != selections.end()) {
        if (it->second.second != row.verdict)
          problems.add(line_no, "selection " + id + " is marked " + verdict_name(row.verdict) + " here but " +
                                    verdict_name(it->second.second) + " on line " +
                                    std::to_string(table.rows[it->second.first].line));
        continue;  // the same selection in another view
      }
      selections.emplace(key, std::make_pair(table.rows.size(), row.verdict));
    }
    table.rows.push_back(std::move(row));
  }
  if (first) throw file_error(source, "empty review table (no header and no rows)");
  problems.throw_if_any();
  if (table.rows.empty()) throw file_error(source, "review table without rows (only a header)");
  return table;
}

VerdictTable read_verdict_table(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw file_error(path, "review table not found (or not a file)");
  return parse_verdict_table(read_file(path), path.string());
}

}  // namespace oneshot::archive
