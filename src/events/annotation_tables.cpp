#include "events/annotation_tables.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "events/table_text.h"

namespace oneshot {
namespace {

using table_text::lower;
using table_text::number;
using table_text::parse_number;
using table_text::split_tabs;

// Raven's label column has no fixed name: users name it after what they mark.
constexpr const char* kRavenLabelColumns[] = {"annotation", "label",       "class",    "species",
                                              "common name", "sound type", "call type"};

bool is_number(std::string_view s) {
  double v;
  std::string why;
  return parse_number(s, v, why, "");
}

std::string base_name(const std::string& path) {
  // Raven on Windows writes backslashes; a base name is what follows the last separator of either kind.
  const std::size_t slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string fixed6(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

std::string annotation_format_name(AnnotationFormat format) {
  switch (format) {
    case AnnotationFormat::Raven: return "raven";
    case AnnotationFormat::Audacity: return "audacity";
    case AnnotationFormat::SedEval: break;
  }
  return "sed_eval";
}

AnnotationFormat annotation_format(const std::string& text) {
  for (const auto& [n, line] : table_text::lines(text)) {
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '\\') return AnnotationFormat::Audacity;
    const auto f = split_tabs(line);
    for (const auto& field : f)
      if (lower(field) == "begin time (s)") return AnnotationFormat::Raven;
    if (f.size() == 3 && is_number(f[0]) && is_number(f[1])) return AnnotationFormat::Audacity;
    return AnnotationFormat::SedEval;
  }
  return AnnotationFormat::SedEval;
}

std::string recording_of_table(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  static const std::regex raven_suffix(R"(\.Table\.\d+\.selections\.txt$)", std::regex::icase);
  std::smatch m;
  if (std::regex_search(name, m, raven_suffix)) return name.substr(0, static_cast<std::size_t>(m.position(0)));
  for (const char* suffix : {".selections.txt", ".labels.txt", ".txt"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && lower(name.substr(name.size() - s.size())) == s)
      return name.substr(0, name.size() - s.size());
  }
  return name;
}

std::vector<Event> parse_raven_table(const std::string& text, const std::string& source,
                                     const std::string& recording, bool* file_column) {
  std::vector<Event> events;
  table_text::LineProblems problems("Raven selection table", source);
  auto problem = [&](std::size_t line_no, const std::string& why) { problems.add(line_no, why); };
  std::map<std::string, std::size_t> column;  // lower-case name -> index
  std::optional<std::size_t> begin, end, selection, label, file, file_offset, score;
  std::string file_name;  // the file column's name, for messages
  std::map<std::string, bool> seen_selection;
  bool header = false;
  for (const auto& [line_no, line] : table_text::lines(text)) {
    if (line.empty() || line.front() == '#') continue;
    const auto f = split_tabs(line);
    if (!header) {
      header = true;
      for (std::size_t i = 0; i < f.size(); ++i) column.emplace(lower(f[i]), i);
      auto find = [&](std::initializer_list<const char*> names) -> std::optional<std::size_t> {
        for (const char* n : names)
          if (auto it = column.find(n); it != column.end()) return it->second;
        return std::nullopt;
      };
      begin = find({"begin time (s)"});
      end = find({"end time (s)"});
      selection = find({"selection"});
      file = find({"begin file"});
      file_name = "Begin File";
      if (!file) {
        file = find({"begin path"});
        file_name = "Begin Path";
      }
      file_offset = find({"file offset (s)"});
      score = find({"score", "confidence"});
      if (file_column) *file_column = file.has_value();
      for (const char* n : kRavenLabelColumns)
        if (!label) label = find({n});
      if (!begin || !end || !label) {
        std::string missing;
        if (!begin) missing += " \"Begin Time (s)\"";
        if (!end) missing += " \"End Time (s)\"";
        if (!label) missing += " a label column (Annotation, Label, Class, Species, Common Name, Sound Type or Call Type)";
        throw file_error(source, "Raven selection table without" + missing + " in its header (line " +
                                     std::to_string(line_no) + ")");
      }
      continue;
    }
    if (f.size() < column.size() && f.size() <= std::max({*begin, *end, *label})) {
      problem(line_no, "expected " + std::to_string(column.size()) + " tab-separated columns as in the header, found " +
                           std::to_string(f.size()));
      continue;
    }
    auto field = [&](std::optional<std::size_t> i) { return i && *i < f.size() ? f[*i] : std::string_view(); };
    if (selection) {
      // Raven writes a selection once per view (Waveform 1, Spectrogram 1): one event.
      const std::string id(field(selection));
      if (seen_selection[id]) continue;
      seen_selection[id] = true;
    }
    Event e;
    e.label = std::string(field(label));
    if (file && field(file).empty()) {
      problem(line_no, "empty " + file_name);
      continue;
    }
    e.filename = file ? base_name(std::string(field(file))) : recording;
    std::string why;
    double b = 0, en = 0;
    if (!parse_number(field(begin), b, why, "Begin Time (s)") || !parse_number(field(end), en, why, "End Time (s)")) {
      problem(line_no, why);
      continue;
    }
    e.onset = b;
    e.offset = en;
    if (file && file_offset && !field(file_offset).empty()) {
      // Begin Time counts from the start of the file sequence; the file's own time is File Offset.
      double o = 0;
      if (!parse_number(field(file_offset), o, why, "File Offset (s)")) {
        problem(line_no, why);
        continue;
      }
      e.onset = o;
      e.offset = o + (en - b);
    }
    if (score && !field(score).empty()) {
      if (!parse_number(field(score), e.score, why, "score") || !std::isfinite(e.score)) {
        problem(line_no, why.empty() ? "score " + std::string(field(score)) + " is not finite" : why);
        continue;
      }
    }
    if (std::string p = event_problem(e); !p.empty()) {
      problem(line_no, p);
      continue;
    }
    events.push_back(std::move(e));
  }
  if (!header) throw file_error(source, "empty Raven selection table (no header row)");
  problems.throw_if_any();
  return events;
}

std::vector<Event> parse_audacity_labels(const std::string& text, const std::string& source,
                                         const std::string& recording) {
  std::vector<Event> events;
  table_text::LineProblems problems("Audacity label track", source);
  for (const auto& [line_no, line] : table_text::lines(text)) {
    if (line.empty() || line.front() == '\\') continue;  // '\' rows: the previous label's frequency range
    auto problem = [&, n = line_no](const std::string& why) { problems.add(n, why); };
    const auto f = split_tabs(line);
    if (f.size() != 3) {
      problem("expected 3 tab-separated columns (start end label), found " + std::to_string(f.size()));
      continue;
    }
    Event e;
    e.filename = recording;
    e.label = std::string(f[2]);
    std::string why;
    if (!parse_number(f[0], e.onset, why, "start") || !parse_number(f[1], e.offset, why, "end")) {
      problem(why);
      continue;
    }
    if (std::string p = event_problem(e); !p.empty()) {
      problem(p);
      continue;
    }
    events.push_back(std::move(e));
  }
  problems.throw_if_any();
  return events;
}

Annotations read_annotations(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw file_error(path, "event list not found (or not a file)");
  const std::string text = table_text::read_text_file(path);
  Annotations a;
  a.format = annotation_format(text);
  switch (a.format) {
    case AnnotationFormat::Raven: {
      // A table with a file column names every row's file (an empty cell is an error).
      bool file_column = false;
      a.events = parse_raven_table(text, path.string(), recording_of_table(path), &file_column);
      a.names = file_column ? Annotations::Names::BaseName : Annotations::Names::Recording;
      break;
    }
    case AnnotationFormat::Audacity:
      a.events = parse_audacity_labels(text, path.string(), recording_of_table(path));
      a.names = Annotations::Names::Recording;
      break;
    case AnnotationFormat::SedEval:
      a.events = parse_event_list(text, path.string());
      break;
  }
  return a;
}

std::string filename_stem(const std::string& filename) {
  const std::string base = base_name(filename);
  const std::size_t dot = base.rfind('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

std::string format_raven_table(const std::vector<Event>& events, double high_freq_hz) {
  const bool scores = std::any_of(events.begin(), events.end(), [](const Event& e) { return e.has_score(); });
  std::string out =
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin File\tAnnotation";
  out += scores ? "\tScore\n" : "\n";
  std::size_t n = 0;
  for (const Event& e : events) {
    require_writable(e);
    out += std::to_string(++n) + "\tSpectrogram 1\t1\t" + number(e.onset) + '\t' + number(e.offset) + "\t0\t" +
           number(high_freq_hz) + '\t' + base_name(e.filename) + '\t' + e.label;
    if (scores) out += '\t' + (e.has_score() ? number(e.score) : std::string());
    out += '\n';
  }
  return out;
}

std::string format_audacity_labels(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) {
    require_writable(e);
    out += fixed6(e.onset) + '\t' + fixed6(e.offset) + '\t' + e.label + '\n';
  }
  return out;
}

}  // namespace oneshot
