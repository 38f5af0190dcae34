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

// Throws oneshot::Error listing every problem (missing files, paths that
// escape the root, malformed CSV rows) unless options.skip_bad.
Dataset load_dataset(const std::filesystem::path& root, const DatasetOptions& options = {});

}  // namespace oneshot
