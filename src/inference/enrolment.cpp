#include "inference/enrolment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "data/dataset.h"
#include "inference/recording_windows.h"

namespace oneshot {
namespace fs = std::filesystem;

std::size_t hop_samples(const RunModel& run, const WindowingOptions& options) {
  if (options.hop_s < 0 || !std::isfinite(options.hop_s)) throw Error("--hop must be a positive number of seconds");
  const double hop = options.hop_s > 0 ? options.hop_s : run.window_seconds() / 2;
  // Below one frame hop, neighbouring windows differ by less than one frame of
  // the model's input: no new information, and work without bound (1e-5 s on
  // an 8 s file is 800,000 windows).
  const auto frame_hop = static_cast<std::size_t>(std::max(1, run.config().features.hop_length));
  const double hop_samples_exact = std::round(hop * run.sample_rate());
  if (hop > 86400) throw Error("--hop " + std::to_string(hop) + " s is longer than a day: at most 86400 s");
  if (hop_samples_exact < static_cast<double>(frame_hop)) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "--hop must be at least one frame hop of the model's input (%g s, %zu samples at %d Hz), not %g s",
                  static_cast<double>(frame_hop) / run.sample_rate(), frame_hop, run.sample_rate(), hop);
    throw Error(buf);
  }
  return static_cast<std::size_t>(hop_samples_exact);
}

std::vector<std::size_t> classify_window_starts(const RunModel& run, const std::vector<float>& samples,
                                                const WindowingOptions& options, const std::string& name) {
  const WindowPlan plan = plan_windows(samples.size(), run.window_samples(), hop_samples(run, options));
  std::vector<std::size_t> starts;
  for (std::size_t i : sounding_windows(samples, plan, options.rule, name)) starts.push_back(plan.starts[i]);
  return starts;
}

namespace {

// `count` copies of `base` (one window), copy k circularly shifted right by k / count of its length.
std::vector<float> shifted_views(const std::vector<float>& base, std::size_t count) {
  const std::size_t window = base.size();
  std::vector<float> packed(count * window);
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t shift = (k * window) / count;
    float* dst = packed.data() + k * window;
    std::copy(base.end() - static_cast<std::ptrdiff_t>(shift), base.end(), dst);
    std::copy(base.begin(), base.end() - static_cast<std::ptrdiff_t>(shift), dst + shift);
  }
  return packed;
}

}  // namespace

EnrolmentViews enrolment_views(const RunModel& run, const std::vector<float>& samples, const WindowingOptions& options,
                               int views, const std::string& name) {
  if (views < 1) throw Error("enrolment views must be at least 1, got " + std::to_string(views));
  const std::size_t window = run.window_samples();
  const std::size_t hop = std::max<std::size_t>(1, hop_samples(run, options) / static_cast<std::size_t>(views));
  const WindowPlan plan = plan_windows(samples.size(), window, hop);
  const std::vector<std::size_t> keep = sounding_windows(samples, plan, options.rule, name);
  EnrolmentViews out;
  const bool shifted = plan.starts.size() == 1 && views > 1;
  const std::size_t count = shifted ? static_cast<std::size_t>(views) : keep.size();
  if (shifted) {
    std::vector<float> base(window, 0.0f);
    copy_window(samples, plan.starts[0], window, base.data());
    out.packed = shifted_views(base, count);
    out.start_s.assign(count, static_cast<double>(plan.starts[0]) / run.sample_rate());
  } else {
    out.packed.assign(count * window, 0.0f);
    for (std::size_t i = 0; i < keep.size(); ++i) {
      copy_window(samples, plan.starts[keep[i]], window, out.packed.data() + i * window);
      out.start_s.push_back(static_cast<double>(plan.starts[keep[i]]) / run.sample_rate());
    }
  }
  return out;
}

std::vector<LibraryExample> embed_example(RunModel& run, const std::string& path, const WindowingOptions& options,
                                          const std::optional<Segment>& segment, int views) {
  if (views < 1) throw Error("enrolment views must be at least 1, got " + std::to_string(views));
  std::string name = path;
  if (segment) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (segment %.3f:%s)", segment->start,
                  segment->end < 0 ? "" : std::to_string(segment->end).c_str());
    name += buf;
  }
  // Streamed (inference/recording_windows.h): the sounding windows' embeddings
  // are kept as they come, the audio is not, so a long example is enrolled in
  // the memory of a short one. The windows and embeddings are enrolment_views'.
  const std::size_t window = run.window_samples();
  const std::size_t hop = std::max<std::size_t>(1, hop_samples(run, options) / static_cast<std::size_t>(views));
  struct View {
    double start_s;
    std::vector<float> embedding;
  };
  SoundingWindows<View> sounding(options.rule);
  std::vector<float> first_window;  // for the shifted views of an example of one window
  embed_recording(run, run.open_audio(path, segment.value_or(Segment{})), hop, [&](const WindowBatch& b) {
    const auto dim = static_cast<std::size_t>(b.embeddings.size(1));
    const torch::Tensor held = b.embeddings.contiguous();  // kept alive while its data is read
    const float* e = held.data_ptr<float>();
    if (sounding.seen() == 0) first_window.assign(b.packed, b.packed + window);
    for (std::size_t i = 0; i < b.count(); ++i)
      sounding.add(b.levels_dbfs[i], {static_cast<double>(b.starts[i]) / run.sample_rate(),
                                      std::vector<float>(e + i * dim, e + (i + 1) * dim)});
  });
  const bool shifted = sounding.seen() == 1 && views > 1;
  std::vector<View> kept = sounding.finish(name);
  if (shifted) {
    // One window: seen circularly shifted by k / V of its length (enrolment_views).
    const std::vector<float> packed = shifted_views(first_window, static_cast<std::size_t>(views));
    const torch::Tensor embeddings = run.embed_packed(packed.data(), static_cast<std::size_t>(views)).contiguous();
    const auto dim = static_cast<std::size_t>(embeddings.size(1));
    kept.clear();
    for (std::size_t i = 0; i < static_cast<std::size_t>(views); ++i)
      kept.push_back({0.0, std::vector<float>(embeddings.data_ptr<float>() + i * dim,
                                              embeddings.data_ptr<float>() + (i + 1) * dim)});
  }
  const std::string source = path == "-" ? path : fs::absolute(path).lexically_normal().string();
  std::vector<LibraryExample> out;
  for (View& view : kept) {
    LibraryExample e;
    e.source = source;
    if (segment) {
      e.segment_start = segment->start;
      if (segment->end >= 0) e.segment_end = segment->end;
    }
    e.window_start = view.start_s + (segment ? segment->start : 0.0);
    e.embedding = std::move(view.embedding);
    out.push_back(std::move(e));
  }
  return out;
}

namespace {
// "a, b, c and 2 more": the first few of NAMES.
std::string some_of(const std::vector<std::string>& names) {
  constexpr std::size_t kListed = 5;
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kListed; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kListed) out += " and " + std::to_string(names.size() - kListed) + " more";
  return out;
}
}  // namespace

std::string InputFiles::skipped_note() const {
  std::vector<std::string> by_name, hidden;
  std::size_t hidden_folders = 0;
  for (const std::string& p : not_audio) {
    const fs::path path = p;
    const bool folder = !p.empty() && p.back() == '/';
    const std::string name = (folder ? path.parent_path() : path).filename().string();
    const bool is_hidden = !name.empty() && name[0] == '.';
    (is_hidden ? hidden : by_name).push_back(p);
    if (folder && is_hidden) ++hidden_folders;
  }
  auto count = [](std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  std::string note;
  if (!by_name.empty())
    note = "skipped " + count(by_name.size(), "file") + " that " + (by_name.size() == 1 ? "is" : "are") +
           " not audio (no audio extension): " + some_of(by_name);
  if (!hidden.empty()) {
    const std::size_t files = hidden.size() - hidden_folders;
    note += (note.empty() ? "skipped " : "; and ") +
            (files ? count(files, "hidden file") + (hidden_folders ? " and " : "") : std::string()) +
            (hidden_folders ? count(hidden_folders, "hidden folder") : std::string()) +
            " (name starting with \".\"): " + some_of(hidden);
  }
  if (!same_file.empty())
    note += (note.empty() ? "skipped " : "; and ") + count(same_file.size(), "file") + " that " +
            (same_file.size() == 1 ? "is" : "are") + " a recording already listed (the same folder given twice, or another name of it, a link): " + some_of(same_file);
  return note;
}

InputFiles expand_inputs(const std::vector<std::string>& paths, EmptyFolders empty) {
  InputFiles out;
  std::set<fs::path> listed;  // canonical paths of the files found in directories so far
  for (const std::string& p : paths) {
    std::error_code ec;
    if (p != "-" && fs::is_directory(p, ec)) {
      std::vector<std::string> found, other;
      // Directories already entered, by canonical path: a symbolic link to a
      // parent (a loop) or a second way to one folder is listed once.
      std::set<fs::path> entered{fs::weakly_canonical(p, ec)};
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        std::error_code status_ec;
        const fs::file_status status = it->status(status_ec);  // follows links
        const bool directory = !status_ec && fs::is_directory(status);
        if (!name.empty() && name[0] == '.') {
          // Named in the note (a recording saved as .take2.wav is not lost without a word).
          if (directory) it.disable_recursion_pending();
          other.push_back(it->path().string() + (directory ? "/" : ""));
          continue;
        }
        if (directory) {
          std::error_code canonical_ec;
          const fs::path canonical = fs::canonical(it->path(), canonical_ec);
          if (canonical_ec || !entered.insert(canonical).second) it.disable_recursion_pending();
          continue;
        }
        // Sidecar files (notes, metadata, a spreadsheet) live beside
        // recordings: skipped by name, as a dataset's class folders skip them.
        if (!is_audio_file_name(it->path())) {
          other.push_back(it->path().string());
          continue;
        }
        // Regular files, and links that lead nowhere: the reader names those ("file not found").
        if (status_ec || fs::is_regular_file(status) || !fs::exists(status)) {
          found.push_back(it->path().string());
          continue;
        }
        throw file_error(it->path(), "is not a regular file (a FIFO, socket or device): move it out of " + p);
      }
      if (ec) throw file_error(p, "cannot list: " + ec.message());
      std::sort(other.begin(), other.end());
      if (found.empty()) {
        const Error why = file_error(p, other.empty() ? "directory holds no files"
                                                      : "directory holds no audio files (" +
                                                            std::to_string(other.size()) + " other file" +
                                                            (other.size() == 1 ? "" : "s") + ": " + some_of(other) +
                                                            ")");
        if (empty == EmptyFolders::error) throw why;
        out.empty_folders.emplace_back(p, why.what());
        continue;
      }
      std::sort(found.begin(), found.end());
      // A link to a recording that is also reached another way (in this folder or an earlier one) is read
      // once, under the first name in sorted order: an archive would otherwise hold it, and find it, twice.
      for (const std::string& f : found) {
        std::error_code canonical_ec;
        const fs::path canonical = fs::canonical(f, canonical_ec);
        if (!canonical_ec && !listed.insert(canonical).second)
          out.same_file.push_back(f);
        else
          out.files.push_back(f);
      }
      out.not_audio.insert(out.not_audio.end(), other.begin(), other.end());
    } else {
      out.files.push_back(p);
    }
  }
  if (out.files.empty() && !out.empty_folders.empty()) throw Error(out.empty_folders.front().second);
  return out;
}

}  // namespace oneshot
