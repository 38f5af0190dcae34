#include "archive/hit_tables.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "core/number_text.h"
#include "events/event.h"
#include "events/table_text.h"

namespace oneshot::archive {

HitFormat parse_hit_format(const std::string& text) {
  if (text == "table") return HitFormat::table;
  if (text == "json") return HitFormat::json;
  if (text == "csv") return HitFormat::csv;
  if (text == "tsv") return HitFormat::tsv;
  if (text == "raven") return HitFormat::raven;
  throw Error("--format must be table, json, csv, tsv or raven, got \"" + text + "\"");
}

namespace {

// A cell of a tab-separated table: no tab or line break (Error naming it and the way out).
const std::string& tsv_cell(const std::string& s, const char* what) {
  for (char c : s)
    if (c == '\t' || c == '\n' || c == '\r')
      throw Error(std::string(what) + " \"" + s + "\" holds a tab or line break, which cannot be a cell of a "
                  "tab-separated table: use --format json or csv");
  return s;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string confidence_text(double c) { return std::isnan(c) ? std::string() : table_text::number(c); }

}  // namespace

std::string format_hits(const std::vector<SearchHit>& hits, HitFormat format, const HitContext& context) {
  std::string out;
  switch (format) {
    case HitFormat::table: {
      out = "rank   score  confidence    onset_s   offset_s  file\n";
      for (const auto& h : hits) {
        char line[128];
        std::snprintf(line, sizeof line, "%4d %7.3f  %10s %10.3f %10.3f  ", h.rank, h.score,
                      std::isnan(h.confidence) ? "-" : fixed_number(h.confidence, 3).c_str(), h.onset_s, h.offset_s);
        out += line + h.file + "\n";
      }
      return out;
    }
    case HitFormat::json: {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& h : hits) {
        nlohmann::json j = {{"rank", h.rank},
                            {"file", h.file},
                            {"file_id", h.file_id},
                            {"onset_s", h.onset_s},
                            {"offset_s", h.offset_s},
                            {"score", h.score},
                            {"confidence", nullptr},
                            {"best_window_id", h.best_window_id},
                            {"best_window_onset_s", h.best_window_onset_s},
                            {"window_ids", h.window_ids}};
        if (!std::isnan(h.confidence)) j["confidence"] = h.confidence;
        list.push_back(std::move(j));
      }
      return json_text(nlohmann::json{{"query", context.label}, {"hits", list}}, 2) + "\n";
    }
    case HitFormat::csv: {
      out = "rank,file,onset_s,offset_s,score,confidence,best_window_id\n";
      for (const auto& h : hits)
        out += std::to_string(h.rank) + "," + csv_cell(h.file) + "," + table_text::number(h.onset_s) + "," +
               table_text::number(h.offset_s) + "," + table_text::number(h.score) + "," +
               confidence_text(h.confidence) + "," + std::to_string(h.best_window_id) + "\n";
      return out;
    }
    case HitFormat::tsv: {
      std::vector<Event> events;
      for (const auto& h : hits) {
        tsv_cell(h.file, "file");
        events.push_back(Event{h.file, h.onset_s, h.offset_s, tsv_cell(context.label, "label"), h.score});
      }
      return format_event_list(events, true);  // the same columns with no hit
    }
    case HitFormat::raven: {
      out =
          "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin File\t"
          "Begin Path\tFile Offset (s)\tAnnotation\tScore\tConfidence\tRank\tWindow\n";
      std::size_t n = 0;
      for (const auto& h : hits) {
        const std::string base = std::filesystem::path(h.file).filename().string();
        out += std::to_string(++n) + "\tSpectrogram 1\t1\t" + table_text::number(h.onset_s) + '\t' +
               table_text::number(h.offset_s) + '\t' + table_text::number(context.low_freq_hz) + '\t' +
               table_text::number(context.high_freq_hz) + '\t' + tsv_cell(base, "file") + '\t' +
               tsv_cell(h.file, "file") + '\t' + table_text::number(h.onset_s) + '\t' +
               tsv_cell(context.label, "label") + '\t' + table_text::number(h.score) + '\t' +
               confidence_text(h.confidence) + '\t' + std::to_string(h.rank) + '\t' +
               std::to_string(h.best_window_id) + '\n';
      }
      return out;
    }
  }
  return out;
}

}  // namespace oneshot::archive
