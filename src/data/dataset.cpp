#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/utf8.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxListed = 50;  // problems listed in one error message

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "first\n  a\n  b ... and N more": every problem on its own line.
std::string bullet_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kMaxListed; ++i) out += "\n  " + items[i];
  if (items.size() > kMaxListed) out += "\n  ... and " + std::to_string(items.size() - kMaxListed) + " more";
  return out;
}

// ---- Names from metadata --------------------------------------------------------

// Empty when `relative` (a name from the metadata) is a plain relative path
// with no ".." part, otherwise why it is refused. Symbolic links are followed
// wherever they point: datasets on another disk, DVC's symlink cache and
// git-annex lay out every file that way. Only the names are checked.
std::string escape_reason(const std::string& relative) {
  fs::path rel(relative);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    return "absolute path \"" + relative + "\" is not allowed (paths are relative to the dataset)";
  for (const auto& part : rel)
    if (part == "..") return "path \"" + relative + "\" escapes the dataset root (\"..\")";
  return {};
}

// ---- CSV ---------------------------------------------------------------------

// One CSV record: comma-separated, fields optionally double-quoted with ""
// escaping. Returns nullopt for an unterminated quote.
std::optional<std::vector<std::string>> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  return fields;
}

std::optional<int> parse_int(const std::string& s) {
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(const std::string& s) {
  std::string v = lower(s);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return std::nullopt;
}

struct CsvRow {
  int line = 0;
  std::string filename, category;
  int target = 0, fold = 0;
  bool esc10 = false;
};

// Parses meta/esc50.csv by column name. Every malformed line goes to
// `problems` (the caller lists them with the other problems of the dataset);
// a file without a usable header line throws.
std::vector<CsvRow> read_esc50_csv(const fs::path& csv, std::vector<std::string>& problems) {
  std::ifstream file(csv, std::ios::binary);
  if (!file) throw file_error(csv, "cannot open");
  // The whole file is checked to be UTF-8 first, as event lists and tables
  // are (core/utf8.h): a Latin-1 class name would name a class no other file spells.
  std::stringstream whole;
  whole << file.rdbuf();
  require_utf8(whole.str(), csv.string());
  std::istringstream in(whole.str());
  std::string line;
  if (!std::getline(in, line)) throw file_error(csv, "empty file (expected a header line)");
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
  if (!line.empty() && line.back() == '\r') line.pop_back();

  auto header = split_csv_line(line);
  std::map<std::string, std::size_t> column;
  if (header)
    for (std::size_t i = 0; i < header->size(); ++i) column[lower((*header)[i])] = i;
  std::vector<std::string> missing_columns;
  for (const char* name : {"filename", "fold", "target", "category", "esc10"})
    if (!column.count(name)) missing_columns.push_back(name);
  if (!missing_columns.empty()) {
    std::string list;
    for (const auto& c : missing_columns) list += (list.empty() ? "" : ", ") + c;
    throw file_error(csv.string() + ":1", "header lacks column(s) " + list +
                                              " (expected filename,fold,target,category,esc10,src_file,take)");
  }
  const std::size_t n_columns = header->size();

  std::vector<CsvRow> rows;
  std::map<std::string, int> first_line_of;  // filename -> line
  std::map<int, std::pair<std::string, int>> category_of;  // target -> (category, line)
  for (int number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank line
    const std::string where = csv.string() + ":" + std::to_string(number) + ": ";
    auto fields = split_csv_line(line);
    if (!fields) {
      problems.push_back(where + "unterminated quoted field");
      continue;
    }
    if (fields->size() != n_columns) {
      problems.push_back(where + "expected " + std::to_string(n_columns) + " fields, found " +
                         std::to_string(fields->size()));
      continue;
    }
    auto field = [&](const char* name) -> const std::string& { return (*fields)[column.at(name)]; };
    CsvRow row;
    row.line = number;
    row.filename = field("filename");
    row.category = field("category");
    auto target = parse_int(field("target"));
    auto fold = parse_int(field("fold"));
    auto esc10 = parse_bool(field("esc10"));
    std::string why;
    if (row.filename.empty()) why = "empty filename";
    else if (!target || *target < 0) why = "target \"" + field("target") + "\" is not a non-negative integer";
    else if (!fold) why = "fold \"" + field("fold") + "\" is not an integer";
    else if (!esc10) why = "esc10 \"" + field("esc10") + "\" is not True or False";
    else if (row.category.empty()) why = "empty category";
    if (!why.empty()) {
      problems.push_back(where + why);
      continue;
    }
    row.target = *target;
    row.fold = *fold;
    row.esc10 = *esc10;
    if (auto [it, fresh] = first_line_of.emplace(row.filename, number); !fresh) {
      problems.push_back(where + "duplicate filename \"" + row.filename + "\" (first on line " +
                         std::to_string(it->second) + ")");
      continue;
    }
    if (auto [it, fresh] = category_of.emplace(row.target, std::pair{row.category, number});
        !fresh && it->second.first != row.category) {
      problems.push_back(where + "target " + std::to_string(row.target) + " is \"" + row.category +
                         "\" here but \"" + it->second.first + "\" on line " + std::to_string(it->second.second));
      continue;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// ---- Layouts -----------------------------------------------------------------

// Why `path`, which is not a regular file, cannot be used.
std::string not_regular_reason(const fs::path& path) {
  return missing_path_reason(path).value_or("not a regular file");
}

void sort_clips(Dataset& ds) {
  std::sort(ds.clips.begin(), ds.clips.end(), [](const ClipEntry& a, const ClipEntry& b) { return a.name < b.name; });
}

// A file that cannot be used: skipped (skip_bad), kept for the feature step
// to list with the files it cannot decode (collect_problems), or listed here.
void note_problem(Dataset& ds, const DatasetOptions& options, std::vector<std::string>& listed, BadFile bad) {
  listed.push_back(bad.path.string() + ": " + bad.reason);
  if (options.skip_bad)
    ds.skipped.push_back(std::move(bad));
  else if (options.collect_problems)
    ds.problems.push_back(std::move(bad));
}

Dataset load_esc50(const fs::path& root, const DatasetOptions& options) {
  const fs::path csv = root / "meta" / "esc50.csv";
  if (!fs::exists(csv)) throw file_error(csv, "not found (the ESC-50 layout needs meta/esc50.csv)");
  std::vector<std::string> malformed;
  std::vector<CsvRow> rows = read_esc50_csv(csv, malformed);
  if (options.esc10)
    std::erase_if(rows, [](const CsvRow& r) { return !r.esc10; });
  if (rows.empty() && malformed.empty())
    throw file_error(csv, options.esc10 ? "no rows with esc10 = True" : "no rows after the header");

  Dataset ds;
  ds.root = root;
  ds.layout = "esc50";
  // Class ids follow ascending ESC-50 targets, so ids are stable for any subset.
  std::map<int, std::string> categories;
  for (const auto& r : rows) categories.emplace(r.target, r.category);
  std::map<int, int> id_of_target;
  for (const auto& [target, category] : categories) {
    id_of_target[target] = static_cast<int>(ds.class_names.size());
    ds.class_names.push_back(category);
  }

  const fs::path audio_dir = root / "audio";
  std::vector<std::string> escapes, missing;
  for (const auto& r : rows) {
    const std::string where = csv.string() + ":" + std::to_string(r.line) + ": ";
    if (std::string why = escape_reason(r.filename); !why.empty()) {
      escapes.push_back(where + why);
      continue;
    }
    ClipEntry clip;
    clip.path = audio_dir / r.filename;
    clip.name = (fs::path("audio") / r.filename).lexically_normal().generic_string();
    clip.class_id = id_of_target.at(r.target);
    clip.fold = r.fold;
    std::error_code ec;
    if (!fs::is_regular_file(clip.path, ec)) {
      std::string reason = not_regular_reason(clip.path);
      reason += " (listed on line " + std::to_string(r.line) + " of meta/esc50.csv)";
      note_problem(ds, options, missing, {clip.path, reason});
      continue;
    }
    ds.clips.push_back(std::move(clip));
  }
  // Malformed lines and names leaving the root are errors even with
  // skip_bad; all of them are listed at once, with the missing files, and
  // (collect_problems) with the files the feature step cannot decode.
  std::string what;
  if (!malformed.empty())
    what += "malformed " + csv.string() + " (" + std::to_string(malformed.size()) + " bad line(s)):" +
            bullet_list(malformed);
  if (!escapes.empty())
    what += std::string(what.empty() ? "" : "\n") + "rejected " + std::to_string(escapes.size()) +
            " path(s) outside " + root.string() + ":" + bullet_list(escapes);
  const bool fatal = !what.empty();
  if (!missing.empty() && !options.skip_bad && !options.collect_problems)
    what += std::string(what.empty() ? "" : "\n") + csv.string() + ": " + std::to_string(missing.size()) +
            " listed audio file(s) missing (--skip-bad skips them):" + bullet_list(missing);
  if (fatal && options.collect_problems && !options.skip_bad && !ds.clips.empty()) {
    // The feature step lists these first and then refuses, whatever else it finds.
    std::vector<BadFile> first;
    for (const auto& line : malformed) first.push_back({line.substr(0, line.find(": ")), line.substr(line.find(": ") + 2)});
    for (const auto& line : escapes) first.push_back({line.substr(0, line.find(": ")), line.substr(line.find(": ") + 2)});
    ds.problems.insert(ds.problems.begin(), first.begin(), first.end());
  } else if (!what.empty()) {
    throw Error(what);
  }
  if (ds.clips.empty()) throw file_error(csv, "none of the listed audio files exist");
  sort_clips(ds);
  return ds;
}

std::vector<fs::directory_entry> sorted_entries(const fs::path& dir) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
  if (ec) throw file_error(dir, "cannot list directory: " + ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return entries;
}

bool hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

Dataset load_folders(const fs::path& root, const DatasetOptions& options) {
  Dataset ds;
  ds.root = root;
  ds.layout = "folders";
  std::vector<std::string> problems;
  for (const auto& class_entry : sorted_entries(root)) {
    std::error_code ec;
    if (hidden(class_entry.path()) || !fs::is_directory(class_entry.path(), ec)) continue;
    const std::string class_name = class_entry.path().filename().string();
    const int class_id = static_cast<int>(ds.class_names.size());
    std::size_t n_files = 0, n_audio = 0;
    std::map<std::string, std::size_t> other_extensions;
    for (const auto& file : sorted_entries(class_entry.path())) {
      ++n_files;
      const fs::path& path = file.path();
      std::string ignored_why;
      if (hidden(path)) ignored_why = "hidden file";
      else if (fs::is_directory(path, ec)) ignored_why = "a folder inside a class folder (not searched)";
      else if (!is_audio_file_name(path)) {
        ignored_why = "not an audio file name";
        ++other_extensions[path.extension().empty() ? "no extension" : lower(path.extension().string())];
      }
      if (!ignored_why.empty()) {
        ds.ignored.push_back({path, ignored_why});
        continue;
      }
      ++n_audio;
      if (!fs::is_regular_file(path, ec)) {  // a dangling link or a device
        note_problem(ds, options, problems,
                     {path, not_regular_reason(path)});
        continue;
      }
      ds.clips.push_back({path, class_name + "/" + path.filename().string(), class_id, 0});
    }
    if (n_audio > 0) {
      ds.class_names.push_back(class_name);
    } else if (n_files > 0) {
      std::string kinds;
      for (const auto& [ext, count] : other_extensions) kinds += (kinds.empty() ? "" : ", ") + ext + " " + std::to_string(count);
      note_problem(ds, options, problems,
                   {class_entry.path(), "class folder with no audio file (" + std::to_string(n_files) +
                                            " other file(s)" + (kinds.empty() ? "" : ": " + kinds) + ")"});
    }
  }
  if (!problems.empty() && !options.skip_bad && !options.collect_problems)
    throw Error(root.string() + ": " + std::to_string(problems.size()) +
                " unusable audio file(s) or class folder(s) (--skip-bad skips them):" + bullet_list(problems));
  if (ds.class_names.empty())
    throw file_error(root, "no class folders with audio files (expected DIR/<class>/*.wav|flac|mp3|m4a|..., "
                           "or DIR/audio + DIR/meta/esc50.csv for the ESC-50 layout)");
  sort_clips(ds);
  return ds;
}

}  // namespace

bool is_audio_file_name(const fs::path& path) {
  static const std::set<std::string> extensions = {
      ".wav", ".wave", ".bwf", ".rf64", ".w64", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf",  // PCM containers
      ".flac", ".ogg", ".oga", ".opus", ".mp3", ".mp2",                                          // libsndfile
      ".m4a", ".m4b", ".mp4", ".aac", ".mov", ".webm", ".weba", ".mka", ".mkv", ".3gp", ".3g2",   // FFmpeg
      ".amr", ".wma", ".wv"};
  return extensions.count(lower(path.extension().string())) > 0;
}

Dataset load_dataset(const fs::path& root_in, const DatasetOptions& options) {
  if (root_in.empty()) throw Error("no dataset directory given");
  std::error_code ec;
  const fs::path root = fs::absolute(root_in, ec).lexically_normal();
  if (!fs::exists(root, ec)) throw file_error(root_in, "dataset directory not found");
  if (!fs::is_directory(root, ec)) throw file_error(root_in, "not a directory");

  std::string layout = options.layout;
  if (layout == "auto") layout = fs::exists(root / "meta" / "esc50.csv", ec) ? "esc50" : "folders";
  if (layout == "esc50") return load_esc50(root, options);
  if (options.esc10) throw Error("--esc10 needs the ESC-50 layout (meta/esc50.csv), not \"" + layout + "\"");
  if (layout == "folders") return load_folders(root, options);
  throw Error("unknown dataset layout \"" + options.layout + "\" (expected auto, esc50 or folders)");
}

}  // namespace oneshot
