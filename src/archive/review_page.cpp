#include "archive/review_page.h"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "archive/spectrogram_png.h"
#include "audio/audio_reader.h"
#include "audio/logmel.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/number_cast.h"
#include "core/number_text.h"
#include "events/table_text.h"

namespace oneshot::archive {
namespace fs = std::filesystem;
namespace {

// --- WAV in memory (libsndfile's virtual I/O), then written atomically.
struct MemoryFile {
  std::string bytes;
  sf_count_t pos = 0;
};
sf_count_t mem_length(void* u) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(u)->bytes.size()); }
sf_count_t mem_seek(sf_count_t offset, int whence, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  const sf_count_t base =
      whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : static_cast<sf_count_t>(m->bytes.size());
  m->pos = std::max<sf_count_t>(0, base + offset);
  return m->pos;
}
sf_count_t mem_read(void* ptr, sf_count_t count, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  const sf_count_t n = std::clamp<sf_count_t>(static_cast<sf_count_t>(m->bytes.size()) - m->pos, 0, count);
  std::copy_n(m->bytes.data() + m->pos, n, static_cast<char*>(ptr));
  m->pos += n;
  return n;
}
sf_count_t mem_write(const void* ptr, sf_count_t count, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  if (m->pos + count > static_cast<sf_count_t>(m->bytes.size())) m->bytes.resize(static_cast<std::size_t>(m->pos + count));
  std::copy_n(static_cast<const char*>(ptr), count, m->bytes.data() + m->pos);
  m->pos += count;
  return count;
}
sf_count_t mem_tell(void* u) { return static_cast<MemoryFile*>(u)->pos; }

std::string wav16(const std::vector<float>& samples, int sample_rate, const fs::path& name) {
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  MemoryFile memory;
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* sf = sf_open_virtual(&io, SFM_WRITE, &info, &memory);
  if (!sf) throw file_error(name, std::string("cannot encode WAV: ") + sf_strerror(nullptr));
  sf_command(sf, SFC_SET_CLIPPING, nullptr, SF_TRUE);  // clip, never wrap, full-scale samples
  const sf_count_t written = sf_writef_float(sf, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(sf);
  if (written != static_cast<sf_count_t>(samples.size())) throw file_error(name, "cannot encode WAV samples");
  return memory.bytes;
}

std::string html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string hit_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "hit-%04zu", i + 1);
  return buf;
}

struct Cut {
  std::size_t hit = 0;              // index into hits
  std::uint64_t first = 0, last = 0;  // frames [first, last) wanted
  std::vector<float> samples;
};

// Decodes `file` once up to its last excerpt, filling each cut; returns the sample rate. `decoded`: the frames
// read (the recording's length when it ended before the last excerpt).
int cut_file(const std::string& file, int sample_rate, std::vector<Cut*>& cuts, const std::vector<SearchHit>& hits,
             double context_s, std::uint64_t& decoded) {
  AudioReader reader(file, ReaderOptions{sample_rate});
  const int sr = reader.info().sample_rate;
  std::uint64_t end = 0;
  for (Cut* c : cuts) {
    const Excerpt e = excerpt_of(hits[c->hit], context_s);
    // The window times come from the archive's file: sample_index saturates.
    c->first = sample_index(e.start_s, sr);
    c->last = std::max(c->first, sample_index(e.end_s, sr));
    end = std::max(end, c->last);
  }
  std::vector<float> block(1 << 16);
  std::uint64_t pos = 0;
  while (pos < end) {
    const std::size_t n = reader.read(block.data(), block.size());
    if (n == 0) break;
    for (Cut* c : cuts) {
      const std::uint64_t lo = std::max(pos, c->first), hi = std::min<std::uint64_t>(pos + n, c->last);
      if (lo < hi) c->samples.insert(c->samples.end(), block.begin() + static_cast<std::ptrdiff_t>(lo - pos),
                                     block.begin() + static_cast<std::ptrdiff_t>(hi - pos));
    }
    pos += n;
  }
  decoded = pos;
  return sr;
}

constexpr const char* kStyle = R"CSS(
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:8px 16px;z-index:1}
header h1{font-size:18px;margin:0 0 4px}
header .bar{display:flex;gap:12px;align-items:center;flex-wrap:wrap}
button{font:inherit;padding:4px 12px;cursor:pointer}
main{padding:12px 16px}
.hit{background:#fff;border:1px solid #ddd;border-left:6px solid #ddd;border-radius:4px;margin:0 0 12px;padding:8px 12px}
.hit:focus{outline:2px solid #4a7bd0}
.hit.yes{border-left-color:#2ca02c}.hit.no{border-left-color:#d62728}.hit.skip{border-left-color:#999}
.meta{display:flex;gap:16px;flex-wrap:wrap;font-size:13px}
.meta .file{font-family:monospace;word-break:break-all}
.spec{display:block;max-width:100%;image-rendering:pixelated;margin:6px 0;background:#000}
.controls{display:flex;gap:14px;align-items:center;flex-wrap:wrap}
.controls label{cursor:pointer}
.missing{color:#b00}
pre#export-text{white-space:pre-wrap;font-size:11px}
)CSS";

constexpr const char* kScript = R"JS(
(function () {
  const data = JSON.parse(document.getElementById('hits-data').textContent);
  const key = 'oneshot-review:' + data.key;
  let verdicts = {};
  try { verdicts = JSON.parse(localStorage.getItem(key) || '{}') || {}; } catch (e) { verdicts = {}; }
  function save() { try { localStorage.setItem(key, JSON.stringify(verdicts)); } catch (e) {} }
  function show(rank) {
    const v = verdicts[rank] || '';
    const card = document.getElementById('hit-' + rank);
    card.classList.remove('yes', 'no', 'skip');
    if (v) card.classList.add(v);
    for (const input of card.querySelectorAll('input[type=radio]')) input.checked = input.value === v;
  }
  function count() {
    let y = 0, n = 0, s = 0;
    for (const h of data.hits) { const v = verdicts[h.rank]; if (v === 'yes') y++; else if (v === 'no') n++; else if (v === 'skip') s++; }
    document.getElementById('counts').textContent =
      y + ' yes, ' + n + ' no, ' + s + ' skip, ' + (data.hits.length - y - n - s) + ' not marked (exported as skip)';
  }
  function set(rank, v) { verdicts[rank] = v; save(); show(rank); count(); }
  for (const h of data.hits) {
    show(h.rank);
    const card = document.getElementById('hit-' + h.rank);
    for (const input of card.querySelectorAll('input[type=radio]'))
      input.addEventListener('change', function () { if (this.checked) set(h.rank, this.value); });
    card.addEventListener('keydown', function (e) {
      const k = e.key.toLowerCase();
      const v = k === 'y' ? 'yes' : k === 'n' ? 'no' : k === 's' ? 'skip' : '';
      if (v) { set(h.rank, v); const next = card.nextElementSibling; if (next) next.focus(); e.preventDefault(); }
      if (k === 'p') { const a = card.querySelector('audio'); if (a) { a.paused ? a.play() : a.pause(); } e.preventDefault(); }
    });
  }
  count();
  const columns = ['Selection', 'View', 'Channel', 'Begin Time (s)', 'End Time (s)', 'Low Freq (Hz)', 'High Freq (Hz)',
                   'Begin File', 'Begin Path', 'File Offset (s)', 'Annotation', 'Score', 'Confidence', 'Rank', 'Window',
                   'Verdict'];
  function tsv() {
    const rows = [columns.join('\t')];
    data.hits.forEach(function (h, i) {
      rows.push([String(i + 1), 'Spectrogram 1', '1', h.begin, h.end, data.low, data.high, h.base, h.path, h.begin,
                 data.label, h.score, h.confidence, String(h.rank), String(h.window), verdicts[h.rank] || 'skip'].join('\t'));
    });
    return rows.join('\n') + '\n';
  }
  window.oneshotReviewTsv = tsv;
  document.getElementById('export').addEventListener('click', function () {
    const text = tsv();
    const out = document.getElementById('export-text');
    out.textContent = text;
    const url = URL.createObjectURL(new Blob([text], {type: 'text/tab-separated-values'}));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'verdicts.tsv';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  });
  document.getElementById('clear').addEventListener('click', function () {
    if (!confirm('Clear every verdict on this page?')) return;
    verdicts = {}; save(); for (const h of data.hits) show(h.rank); count();
  });
  // Self-test for headless browsers (tests/archive): #selftest=yes,no,skip,... clicks those verdicts
  // (one a hit, in rank order), clicks Export, and writes the export and each player's decoded
  // duration (or its error) into #selftest-result once every player has answered.
  const m = /^#selftest=(.*)$/.exec(location.hash);
  if (m) {
    const wanted = m[1].split(',');
    data.hits.forEach(function (h, i) {
      const v = wanted[i];
      if (!v) return;
      const input = document.querySelector('#hit-' + h.rank + ' input[value="' + v + '"]');
      if (input) input.click();
    });
    document.getElementById('export').click();
    const players = Array.from(document.querySelectorAll('audio'));
    const answers = players.map(function () { return null; });
    function report() {
      if (answers.some(function (a) { return a === null; })) return;
      const r = document.getElementById('selftest-result');
      r.textContent = JSON.stringify({tsv: document.getElementById('export-text').textContent, players: answers});
    }
    players.forEach(function (a, i) {
      a.addEventListener('loadedmetadata', function () { answers[i] = {src: a.getAttribute('src'), duration: a.duration}; report(); });
      a.addEventListener('error', function () { answers[i] = {src: a.getAttribute('src'), error: String(a.error && a.error.code)}; report(); });
      a.preload = 'auto';
      a.load();
    });
    report();
  }
})();
)JS";

}  // namespace

Excerpt excerpt_of(const SearchHit& hit, double context_s) {
  if (hit.offset_s - hit.onset_s <= kLongestPlayedSpan_s)
    return {std::max(0.0, hit.onset_s - context_s), hit.offset_s + context_s, false};
  const double from = std::clamp(hit.best_window_onset_s, hit.onset_s, hit.offset_s);
  return {std::max(0.0, from - context_s), std::min(hit.offset_s, from + kLongestPlayedSpan_s) + context_s, true};
}

ReviewPageResult write_review_page(const std::vector<SearchHit>& hits, const fs::path& dir,
                                   const ReviewPageOptions& o) {
  if (!(o.context_s >= 0) || !std::isfinite(o.context_s))
    throw Error("review page: the context must be a finite number of seconds >= 0");
  // The export is tab-separated (archive/verdicts.h): a cell cannot hold a tab or a line break, so a hit
  // whose recording's name holds one is refused before any work, as search --format tsv refuses it.
  const auto tsv_cell = [](const std::string& s, const std::string& what) {
    if (s.find_first_of("\t\n\r") != std::string::npos)
      throw Error("review page: " + what + " \"" + s + "\" holds a tab or line break, which cannot be a cell of the "
                  "page's export (verdicts.tsv, tab-separated): rename it (and index it again), or search without --page");
  };
  tsv_cell(o.label, "the label");
  for (const SearchHit& h : hits) tsv_cell(h.file, "recording");
  check_output_directory(dir);
  ReviewPageResult result;
  result.page = dir / "index.html";
  const fs::path clips = dir / "clips", images = dir / "spectrograms";

  // Cut every hit's excerpt, one decoding pass a recording.
  std::vector<Cut> cuts(hits.size());
  std::map<std::string, std::vector<Cut*>> by_file;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    cuts[i].hit = i;
    by_file[hits[i].file].push_back(&cuts[i]);
  }
  std::vector<std::string> problem(hits.size());
  std::vector<int> rate(hits.size(), 0);
  std::map<int, std::unique_ptr<LogMelExtractor>> extractors;
  for (auto& [file, list] : by_file) {
    int sr = 0;
    std::uint64_t decoded = 0;
    try {
      sr = cut_file(file, o.features.sample_rate, list, hits, o.context_s, decoded);
    } catch (const Error& e) {
      result.unreadable.push_back(e.what());
      for (Cut* c : list) problem[c->hit] = e.what();
      continue;
    }
    for (Cut* c : list) {
      rate[c->hit] = sr;
      if (c->samples.empty())
        problem[c->hit] = file + ": the recording ends at " +
                          fixed_number(static_cast<double>(decoded) / sr, 2) + " s, before this hit (" +
                          fixed_number(hits[c->hit].onset_s, 2) + " - " + fixed_number(hits[c->hit].offset_s, 2) +
                          " s): it changed since it was indexed (index --update)";
    }
  }

  // Write each clip and spectrogram.
  std::set<std::string> written;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (!problem[i].empty()) continue;
    const Cut& c = cuts[i];
    const int sr = rate[i];
    const fs::path wav = clips / (hit_name(i) + ".wav");
    write_file_atomic(wav, wav16(c.samples, sr, wav));
    auto& ex = extractors[sr];
    if (!ex) ex = std::make_unique<LogMelExtractor>(o.features, sr);
    const std::size_t frames = ex->n_frames(c.samples.size());
    std::vector<float> mel(static_cast<std::size_t>(ex->n_mels()) * frames);
    ex->log_mel(c.samples.data(), c.samples.size(), mel.data());
    SpectrogramImage style;
    style.row_height = ex->n_mels() <= 64 ? 3 : ex->n_mels() <= 128 ? 2 : 1;
    const double length = static_cast<double>(c.samples.size()) / sr, start = static_cast<double>(c.first) / sr;
    if (length > 0)  // the hit's edges that fall inside a shortened excerpt
      for (double at : {hits[i].onset_s, hits[i].offset_s})
        if (const double f = (at - start) / length; f >= 0 && f <= 1) style.marks.push_back(f);
    write_file_atomic(images / (hit_name(i) + ".png"),
                      spectrogram_png(mel.data(), static_cast<std::size_t>(ex->n_mels()), frames, style));
    written.insert(hit_name(i));
    ++result.clips;
  }

  // The page: data for the script (the export's cells as text), then one card a hit.
  nlohmann::json data;
  data["label"] = o.label;
  data["low"] = table_text::number(o.low_freq_hz);
  data["high"] = table_text::number(o.high_freq_hz);
  std::string key = o.label;
  nlohmann::json list = nlohmann::json::array();
  for (const SearchHit& h : hits) {
    list.push_back({{"rank", h.rank},
                    {"path", h.file},
                    {"base", fs::path(h.file).filename().string()},
                    {"begin", table_text::number(h.onset_s)},
                    {"end", table_text::number(h.offset_s)},
                    {"score", table_text::number(h.score)},
                    {"confidence", std::isnan(h.confidence) ? std::string() : table_text::number(h.confidence)},
                    {"window", h.best_window_id}});
    key += "|" + std::to_string(h.best_window_id);
  }
  data["hits"] = list;
  data["key"] = key;
  // The data sits in a <script> element: no '<' may reach the HTML tokenizer, or a recording named
  // "<!--x" and another "<script>y" put it in its "double escaped" state, the element's end tag is
  // not seen and the page's script is swallowed. JSON's \u escapes are the same strings to JSON.parse.
  std::string json;
  for (char c : json_text(data)) {
    if (c == '<') json += "\\u003c";
    else if (c == '>') json += "\\u003e";
    else if (c == '&') json += "\\u0026";
    else json += c;
  }

  const std::string title = o.title.empty() ? "Review: " + o.label : o.title;
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + html(title) +
                     "</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>" +
                     kStyle + "</style></head>\n<body>\n<header><h1>" + html(title) + "</h1>\n";
  if (!o.description.empty()) page += "<div>" + html(o.description) + "</div>\n";
  page += "<div class=\"bar\"><button id=\"export\" type=\"button\">Export verdicts (verdicts.tsv)</button>"
          "<button id=\"clear\" type=\"button\">Clear</button><span id=\"counts\"></span></div>\n"
          "<div>Mark each hit: yes (the sound is there), no (it is not), skip (cannot tell). Keys on a focused card: "
          "y / n / s, p plays. Then export and run <code>oneshot-audio review --archive ARCH --library LIB --class " +
          html(o.label) + " verdicts.tsv</code>.</div></header>\n<main>\n";
  for (std::size_t i = 0; i < hits.size(); ++i) {
    const SearchHit& h = hits[i];
    const std::string r = std::to_string(h.rank), name = hit_name(i);
    page += "<section class=\"hit\" id=\"hit-" + r + "\" tabindex=\"0\">\n<div class=\"meta\"><b>#" + r +
            "</b><span class=\"file\">" + html(h.file) + "</span><span>" + fixed_number(h.onset_s, 2) + " – " +
            fixed_number(h.offset_s, 2) + " s</span><span>score " + fixed_number(h.score, 3) + "</span>" +
            (std::isnan(h.confidence) ? std::string()
                                      : "<span>confidence " + fixed_number(h.confidence, 3) + "</span>") +
            "</div>\n";
    if (problem[i].empty()) {
      const Excerpt e = excerpt_of(h, o.context_s);
      if (e.shortened)
        page += "<div class=\"note\">a span of " + fixed_number(h.offset_s - h.onset_s, 0) + " s: playing " +
                fixed_number(kLongestPlayedSpan_s, 0) + " s of it from its best window (" +
                fixed_number(h.best_window_onset_s, 2) + " s); the verdict covers the whole span</div>\n";
      page += "<img class=\"spec\" src=\"spectrograms/" + name + ".png\" alt=\"log-mel spectrogram of " +
              html(fs::path(h.file).filename().string()) + " " + fixed_number(e.start_s, 2) + "-" +
              fixed_number(e.end_s, 2) + " s\" title=\"" + fixed_number(e.start_s, 2) +
              " s to the recording's end or " + fixed_number(e.end_s, 2) +
              " s; dashed lines: the hit\">\n<div class=\"controls\"><audio controls preload=\"none\" src=\"clips/" +
              name + ".wav\"></audio>";
    } else {
      page += "<div class=\"missing\">no audio: " + html(problem[i]) + "</div>\n<div class=\"controls\">";
    }
    for (const char* v : {"yes", "no", "skip"})
      page += std::string("<label><input type=\"radio\" name=\"v-") + r + "\" value=\"" + v + "\"> " + v + "</label>";
    page += "</div>\n</section>\n";
  }
  if (hits.empty()) page += "<p>No hits.</p>\n";
  page += "</main>\n<pre id=\"export-text\" hidden></pre><pre id=\"selftest-result\" hidden></pre>\n"
          "<script type=\"application/json\" id=\"hits-data\">" + json + "</script>\n<script>" + kScript +
          "</script>\n</body></html>\n";
  write_file_atomic(result.page, page);

  // Clips and images of an earlier page here that this one does not name.
  static const std::regex ours(R"(hit-\d{4,}\.(wav|png))");
  for (const fs::path& d : {clips, images}) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string n = it->path().filename().string();
      if (std::regex_match(n, ours) && !written.count(it->path().stem().string())) fs::remove(it->path(), ec);
    }
  }
  return result;
}

}  // namespace oneshot::archive
