#pragma once
// Datasets on disk: the ESC-50 layout (audio/ + meta/esc50.csv, labels joined
// to audio by file name) and folder-per-class (DIR/<class>/<audio files>).
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
  // Files in class folders that are not taken, each with why ("hidden file",
  // "not an audio file name", ...): reported, never an error.
  std::vector<BadFile> ignored;
  // Missing rows, broken links and class folders without an audio file, when
  // options.collect_problems: the feature step lists them together with the
  // files it cannot decode, so every problem shows in one run.
  std::vector<BadFile> problems;
};

struct DatasetOptions {
  std::string layout = "auto";  // "auto", "esc50" or "folders"
  bool esc10 = false;           // ESC-50 layout only: the ESC-10 subset
  bool skip_bad = false;        // report and skip missing rows instead of failing
  bool collect_problems = false;  // leave them in Dataset::problems instead of throwing
};

// ESC-50 layout: class ids follow the ESC-50 `target` column (ascending
// targets -> 0, 1, ...; class names from `category`); folders layout: class
// folders sorted by name ("." folders such as .oneshot-cache are ignored).
// "auto" picks esc50 when meta/esc50.csv exists.
//
// Throws oneshot::Error listing every problem. Rows whose audio file is missing
// are skipped and reported in Dataset::skipped instead when options.skip_bad
// (or kept in Dataset::problems when options.collect_problems); a malformed
// CSV (naming file and line) and a name in it that leaves the root (a ".."
// part or an absolute path) are errors even then, listed in the same error as
// the missing files (with collect_problems, left first in Dataset::problems,
// which the feature step always refuses). Symbolic links are
// followed wherever they point (data on another disk, DVC, git-annex).
Dataset load_dataset(const std::filesystem::path& root, const DatasetOptions& options = {});

// Whether `path` has an extension the folders layout takes, any case: the
// formats of the README's table (wav, flac, ogg, opus, mp3, m4a, mp4, aac,
// mov, webm, mka, 3gp, amr, aiff, caf, ...).
bool is_audio_file_name(const std::filesystem::path& path);

}  // namespace oneshot
