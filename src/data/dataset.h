#pragma once
// Datasets on disk: the ESC-50 layout (audio/ + meta/esc50.csv, labels joined
// to audio by file name) and folder-per-class (DIR/<class>/*.{wav,flac,ogg}).
#include <filesystem>
#include <string>
#include <vector>

namespace oneshot {

struct ClipEntry {
  std::filesystem::path path;  // absolute or root-relative resolved path
  std::string name;            // relative to the dataset root, e.g. "audio/1-100032-A-0.wav"
  int class_id = 0;            // index into Dataset::class_names
  int fold = 0;                // ESC-50 fold, 0 when unknown
};

struct BadFile {
  std::filesystem::path path;
  std::string reason;
};

struct Dataset {
  std::filesystem::path root;
  std::string layout;  // "esc50" or "folders"
  std::vector<std::string> class_names;  // class_id -> name
  std::vector<ClipEntry> clips;          // sorted by name: deterministic order
  std::vector<BadFile> skipped;          // filled only when skip_bad
};

struct DatasetOptions {
  std::string layout = "auto";  // "auto", "esc50" or "folders"
  bool esc10 = false;           // ESC-50 layout only: the ESC-10 subset
  bool skip_bad = false;        // report and skip missing rows instead of failing
};

// ESC-50 layout: class ids follow the ESC-50 `target` column (ascending
// targets -> 0, 1, ...; class names from `category`); folders layout: class
// folders sorted by name ("." folders such as .oneshot-cache are ignored).
// "auto" picks esc50 when meta/esc50.csv exists.
//
// Throws oneshot::Error listing every problem. Rows whose audio file is missing
// are skipped and reported in Dataset::skipped instead when options.skip_bad;
// a malformed CSV (naming file and line) and a path that escapes the root
// ("..", absolute, or a link resolving outside it) are errors even then.
Dataset load_dataset(const std::filesystem::path& root, const DatasetOptions& options = {});

// Whether `path` has an extension the folders layout takes (wav, flac, ogg; any case).
bool is_audio_file_name(const std::filesystem::path& path);

}  // namespace oneshot
