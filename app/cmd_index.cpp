// oneshot-audio index: embeds every window of recordings once into a sound
// archive (src/archive/archive_store.h), so that `search` finds a sound by
// example without running the model over them again (issue 19).
//
// Windows of the model's input length every --hop seconds (default half a
// window), embedded as the samples stream in, each on its own as `embed`
// does (embed_recording) or, with --shared, a block of overlapping windows
// sharing the encoder's work (inference/shared_windows.h; the hop on its grid
// of 16 frames: faster, but the embeddings differ from the per-window ones and
// search finds less with them, measured in the README, so not the default);
// memory holds one block of audio and its activations whatever the
// recording's length. Every window is stored, sounding or not. Each
// recording is stored in one transaction with all its windows (spooled to a
// temporary file meanwhile): a killed or interrupted index leaves no part of a
// recording, and the next one continues with the recordings not yet stored
// (recordings are committed a few seconds' worth at a time, each whole).
// A recording already stored with the same size, modification time and hash
// of its first MiB is skipped; with --update, a changed one is embedded again
// and the stored recordings that no longer exist are dropped, but not those
// whose directory is gone (an unmounted drive: dropping them deleted their
// windows and every review verdict on them), nor more than half of the
// archive at once, unless --drop-missing.
//
// Bad recordings are named and skipped; the others are stored, and the exit
// status is 1 when any failed (as `embed`; `features --skip-bad` skips with a
// count too).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include <sys/stat.h>

#include "archive/ann_index.h"
#include "archive/archive_store.h"
#include "archive/postgres_store.h"
#include "commands.h"
#include "core/error.h"
#include "core/store_location.h"
#include "core/progress.h"
#include "inference/enrolment.h"
#include "inference/recording_windows.h"
#include "inference/run_model.h"
#include "inference/shared_windows.h"

namespace oneshot::cli {
namespace fs = std::filesystem;
namespace {

struct IndexArgs {
  std::string run, archive, ann, ann_file;
  std::vector<std::string> files;
  double hop = 0;
  int threads = 0;
  bool half = false, update = false, quiet = false, shared = false, drop_missing = false;
};

std::string hours_text(double seconds) {
  char buf[64];
  if (seconds >= 3600) std::snprintf(buf, sizeof buf, "%.2f h", seconds / 3600);
  else std::snprintf(buf, sizeof buf, "%.1f min", seconds / 60);
  return buf;
}

// `index --ann hnsw|ivf`: the approximate index of the archive's windows (src/archive/ann_index.h).
void build_ann(const IndexArgs& a, const archive::ArchiveStore& store) {
  const auto kind = archive::parse_ann_kind(a.ann);
  const std::string path = a.ann_file.empty() ? archive::default_ann_path(a.archive) : a.ann_file;
  const auto r = archive::build_ann_index(store, path, {.kind = kind, .threads = a.threads});
  std::printf("  approximate index (%s%s): %s, %lld windows, %.1f MB, built in %.1f s (+%.1f s reading)\n",
              archive::ann_kind_name(kind), kind == archive::AnnKind::ivf ? (", " + std::to_string(r.nlist) + " lists").c_str() : "",
              r.path.c_str(), static_cast<long long>(r.windows), static_cast<double>(r.bytes) / 1e6, r.build_seconds,
              r.read_seconds);
}

int run_index(IndexArgs a) {
  a.archive = archive::archive_location(a.archive);  // sqlite:///PATH: its file, for every path derived from it
  if (!a.ann.empty()) archive::parse_ann_kind(a.ann);  // checked before any work
  if (!a.ann_file.empty() && a.ann.empty()) throw Error("index: --ann-file belongs to --ann hnsw|ivf");
  if (a.drop_missing && !a.update) throw Error("index: --drop-missing belongs to --update");
  if (!a.ann.empty() && a.files.empty() && !a.update) {  // the index of an archive as it is: no model needed
    auto store = archive::open_archive(a.archive);
    build_ann(a, *store);
    return 0;
  }
  if (a.run.empty()) throw Error("index: --run RUN is required (except for --ann alone on an existing archive)");
  if (!std::isfinite(a.hop) || a.hop < 0) throw Error("--hop must be a finite number of seconds >= 0");
  if (a.files.empty() && !a.update)
    throw Error("index: give recordings or directories of them (or --update alone, which re-embeds the archive's "
                "changed recordings and drops its deleted ones)");
  // The archive: a database file (not written through a pipe); its directory must exist.
  // (Or a PostgreSQL URL: index runs on several hosts share its recordings, postgres_store.h.)
  if (!is_postgres_url(a.archive)) {
    std::error_code ec;
    if (fs::is_directory(a.archive, ec))
      throw file_error(a.archive, "is a directory: --archive names the archive's file (e.g. sounds.archive)");
    if (fs::exists(a.archive, ec) && !fs::is_regular_file(a.archive, ec))
      throw file_error(a.archive, "is not a regular file (a pipe or a device cannot hold an archive)");
    check_output_path(a.archive, OutputRules{.streaming = false, .create_parents = false, .database = true});
  }
  InputFiles inputs;
  if (!a.files.empty()) {
    inputs = expand_inputs(a.files);
    if (inputs.any_skipped() && !a.quiet) std::fprintf(stderr, "note: %s\n", inputs.skipped_note().c_str());
    for (const auto& f : inputs.files)
      if (f == "-") throw Error("index: give files, not standard input (the archive names each window's file)");
  }
  auto run = RunModel::load(a.run, a.threads);
  const double rate = run->sample_rate();

  archive::ArchiveModel model;
  model.run = fs::absolute(run->run_dir()).lexically_normal().string();
  model.fingerprint = run->fingerprint();
  model.former_fingerprint = run->former_fingerprint();
  model.embedding_dim = run->embedding_dim();
  model.window_s = run->window_seconds();
  model.sample_rate = run->sample_rate();
  model.windows = a.shared ? "shared" : "per-window";
  // --hop checked against the model (at least one frame hop); absent: the archive's, or half a window for a new one.
  // The shared path (inference/shared_windows.h) starts windows on a grid of 16 frames: a new hop is moved to it.
  if (a.shared) {
    if (const std::string why = shared_windows_unsupported(*run); !why.empty())
      throw Error("index --shared: the encoder's work cannot be shared between this run's windows: " + why);
  }
  const bool can_share = a.shared;
  auto new_hop = [&](std::size_t samples) {
    const std::size_t on_grid = can_share ? shared_hop(*run, samples) : samples;
    if (a.hop > 0 && on_grid != samples && !a.quiet)
      std::fprintf(stderr, "note: hop %.3f s (--shared starts windows on a grid of %.3f s; without it the hop "
                   "stays %.3f s)\n", static_cast<double>(on_grid) / rate,
                   static_cast<double>(shared_window_grid(*run)) / rate, static_cast<double>(samples) / rate);
    return static_cast<double>(on_grid) / rate;
  };
  if (a.hop > 0) model.hop_s = new_hop(hop_samples(*run, WindowingOptions{a.hop, {}}));
  else if (!archive::archive_exists(a.archive)) model.hop_s = new_hop(hop_samples(*run, WindowingOptions{}));
  const auto grid = can_share ? shared_window_grid(*run) : std::size_t{1};
  auto check_grid = [&](double hop_s) {
    if (can_share && std::llround(hop_s * rate) % static_cast<long long>(grid) != 0)
      throw Error("index --shared: the archive's hop " + std::to_string(hop_s) + " s is not on the grid of " +
                  std::to_string(static_cast<double>(grid) / rate) +
                  " s that --shared needs (index it without --shared, or make a new archive with it)");
  };
  // Checked before opening to write: opening records how an archive that did not say embeds its windows.
  if (can_share && !(model.hop_s > 0)) check_grid(archive::open_archive(a.archive, true)->model().hop_s);
  auto store = archive::open_or_create_archive(a.archive, model, a.half ? std::optional<bool>(true) : std::nullopt);
  const archive::ArchiveModel stored = store->model();
  const auto hop = static_cast<std::size_t>(std::llround(stored.hop_s * rate));
  check_grid(stored.hop_s);
  auto embed = [&](const RunModel::SampleSource& source, const std::function<void(const WindowBatch&)>& on_batch) {
    return can_share ? embed_recording_shared(*run, source, hop, on_batch) : embed_recording(*run, source, hop, on_batch);
  };

  // What to do with each recording.
  std::vector<std::string> todo, dropped, changed_kept;
  std::vector<std::string> problems;
  std::size_t unchanged = 0;
  std::set<std::string> seen;
  std::set<std::pair<dev_t, ino_t>> seen_files;  // one recording under two names (a hard link) is indexed once
  std::size_t linked = 0;
  std::vector<std::pair<std::string, archive::FileRecord>> work;  // path as given, identity now
  // --update: recordings whose stored windows are damaged (a flipped bit, another program's write)
  // are embedded again even when the file is unchanged; search stops at the first damaged window.
  const std::map<std::int64_t, std::string> damaged =
      a.update ? store->damaged_files() : std::map<std::int64_t, std::string>{};
  std::vector<std::string> repaired;  // "PATH (the damage)"
  auto consider = [&](const std::string& given, bool from_archive) {
    const std::string key = fs::absolute(given).lexically_normal().string();
    if (!seen.insert(key).second) return;
    if (struct stat st {}; !from_archive && ::stat(given.c_str(), &st) == 0 &&
                           !seen_files.insert({st.st_dev, st.st_ino}).second) {
      ++linked;
      return;
    }
    if (!from_archive && key.find_first_of("\t\n\r") != std::string::npos) {
      // Indexed, it made every later search that found it fail whole (its TSV and Raven tables cannot hold it).
      problems.push_back(key + ": its path holds a tab or a line break, which search's tables (TSV, Raven) cannot "
                               "carry: rename it");
      return;
    }
    try {
      const archive::FileRecord now = archive::file_identity(given);
      const auto old = store->file(now.path);
      if (old && archive::same_identity(*old, now)) {
        const auto hurt = damaged.find(old->id);
        if (hurt == damaged.end()) {
          ++unchanged;
          return;
        }
        repaired.push_back(now.path + " (" + hurt->second + ")");
      }
      if (old && !a.update) {
        changed_kept.push_back(given);
        return;
      }
      work.emplace_back(given, now);
    } catch (const Error& e) {
      if (from_archive) throw;
      problems.push_back(e.what());
    }
  };
  for (const auto& f : inputs.files) consider(f, false);
  std::vector<std::string> unreachable;  // stored recordings whose directory is gone, kept
  if (a.update) {
    const auto stored_files = store->files();
    for (const auto& f : stored_files) {
      std::error_code ec;
      if (!fs::exists(f.path, ec)) {
        if (seen.count(f.path)) continue;
        if (!a.drop_missing && !fs::is_directory(fs::path(f.path).parent_path(), ec)) unreachable.push_back(f.path);
        else dropped.push_back(f.path);
        continue;
      }
      try {
        consider(f.path, true);
      } catch (const Error& e) {
        problems.push_back(e.what());
      }
    }
    if (!a.drop_missing && dropped.size() * 2 > stored_files.size())
      throw file_error(a.archive, std::to_string(dropped.size()) + " of its " + std::to_string(stored_files.size()) +
                                      " recordings are no longer on disk (" + dropped.front() +
                                      ", ...); nothing was dropped or indexed: if they were deleted, give "
                                      "--drop-missing (their windows and review verdicts go with them); if they "
                                      "were moved or their drive is not mounted, mount or index them first");
    if (!dropped.empty()) store->remove_files(dropped);
  }

  Progress progress("indexing", work.size(), !a.quiet && !work.empty());
  std::int64_t windows = 0;
  double audio_s = 0;
  std::size_t stored_files = 0;
  auto extra = [&](double more_s, std::int64_t more_windows) {
    const double secs = std::max(progress.seconds(), 1e-9);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.1f windows/s, %s of audio (%.0fx real time)",
                  static_cast<double>(windows + more_windows) / secs, hours_text(audio_s + more_s).c_str(),
                  (audio_s + more_s) / secs);
    return std::string(buf);
  };
  // A few seconds (at most 16 recordings) a transaction (ArchiveStore::write_group):
  // each recording stays whole, and a kill loses at most that group's work.
  constexpr double kGroupSeconds = 2.0;
  constexpr std::size_t kGroupRecordings = 16;
  std::vector<std::pair<std::string, archive::FileRecord>> elsewhere;  // held by other index runs
  std::vector<std::string> stale;  // --update: changed recordings that could not be read again
  std::size_t by_others = 0;
  auto index_one = [&](const std::string& given, const archive::FileRecord& identity) {
    try {
      auto writer = store->try_begin_file(identity);
      if (!writer) {  // another index run's (a shared PostgreSQL archive): stored by it, or tried again below
        elsewhere.emplace_back(given, identity);
        return;
      }
      std::int64_t file_windows = 0;
      std::vector<double> starts;
      const std::size_t total = embed(run->open_audio(given), [&](const WindowBatch& b) {
        const torch::Tensor e = b.embeddings.contiguous();
        starts.clear();
        for (std::size_t s : b.starts) starts.push_back(static_cast<double>(s) / rate);
        writer->add(starts.data(), e.data_ptr<float>(), b.count());
        file_windows += static_cast<std::int64_t>(b.count());
        progress.advance(0, extra(static_cast<double>(b.starts.back()) / rate, file_windows));
      });
      // A recording changed while it was read is not stored under its old identity.
      if (!archive::same_identity(identity, archive::file_identity(given)))
        throw file_error(given, "changed while it was indexed (not stored; index it again)");
      writer->commit(static_cast<double>(total) / rate);
      if (writer->stored_by_another()) {  // taken over while this run was slow; the other's is kept
        ++by_others;
        progress.advance(1, extra(0, 0));
        return;
      }
      windows += file_windows;
      audio_s += static_cast<double>(total) / rate;
      ++stored_files;
    } catch (const archive::GroupLost&) {
      throw;  // the group's other recordings are undone too (a full disk): index ends, the archive as last committed
    } catch (const Error& e) {
      problems.push_back(e.what());
      // --update: a recording that changed and can no longer be read (truncated, overwritten) keeps
      // no windows of what it was: search returned them, from a file that no longer holds them.
      if (a.update)
        if (const auto old = store->file(identity.path); old && !archive::same_identity(*old, identity)) {
          stale.push_back(identity.path);
          problems.back() += " (its windows of the recording as it was indexed are dropped)";
        }
    }
    progress.advance(1, extra(0, 0));
  };
  for (std::size_t next = 0; next < work.size();) {
    const double group_start = progress.seconds();
    const std::size_t group_first = next;
    store->write_group([&] {
      while (next < work.size()) {
        index_one(work[next].first, work[next].second);
        ++next;
        if (progress.seconds() - group_start >= kGroupSeconds || next - group_first >= kGroupRecordings) break;
      }
    });
  }
  // Recordings other index runs held (a PostgreSQL archive indexed from several hosts): wait until
  // each is stored by its run, or that run's claim goes stale (a killed run) and this one takes it up.
  while (!elsewhere.empty()) {
    std::vector<std::pair<std::string, archive::FileRecord>> held;
    for (auto& [given, identity] : elsewhere) {
      const auto stored = store->file(identity.path);
      if (stored && archive::same_identity(*stored, identity)) {
        ++by_others;
        progress.advance(1, extra(0, 0));
      } else {
        held.emplace_back(given, identity);
      }
    }
    elsewhere.clear();
    if (held.empty()) break;
    progress.advance(0, extra(0, 0) + ", waiting for " + std::to_string(held.size()) +
                            " recordings other index runs hold");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (const auto& [given, identity] : held) store->write_group([&] { index_one(given, identity); });
  }
  progress.finish(extra(0, 0));
  if (!stale.empty()) store->remove_files(stale);

  const double secs = std::max(progress.seconds(), 1e-9);
  std::printf("%s: indexed %zu recordings (%lld windows, %s of audio) in %.1f s: %.1f windows/s, %.0fx real time\n",
              store->location().c_str(), stored_files, static_cast<long long>(windows), hours_text(audio_s).c_str(), secs,
              static_cast<double>(windows) / secs, audio_s / secs);
  if (unchanged) std::printf("  %zu already indexed and unchanged (skipped)\n", unchanged);
  if (linked) std::printf("  %zu another name of a recording given (a hard link: indexed once)\n", linked);
  if (by_others) std::printf("  %zu indexed by other index runs on the same archive\n", by_others);
  if (!dropped.empty()) std::printf("  %zu no longer on disk (dropped with their windows)\n", dropped.size());
  if (!unreachable.empty()) {
    std::set<std::string> dirs;
    for (const auto& f : unreachable) dirs.insert(fs::path(f).parent_path().string());
    std::printf("  %zu in %zu director%s that no longer exist%s (a drive not mounted?), kept with their windows and "
                "reviews (`index --update --drop-missing` drops them):",
                unreachable.size(), dirs.size(), dirs.size() == 1 ? "y" : "ies", dirs.size() == 1 ? "s" : "");
    std::size_t shown = 0;
    for (const auto& d : dirs)
      if (shown++ < 3) std::printf(" %s", d.c_str());
    std::printf(dirs.size() > 3 ? " ...\n" : "\n");
  }
  if (!repaired.empty()) {
    std::printf("  %zu unchanged but with damaged windows in the archive, embedded again:", repaired.size());
    for (std::size_t i = 0; i < repaired.size() && i < 5; ++i) std::printf("\n    %s", repaired[i].c_str());
    std::printf(repaired.size() > 5 ? "\n    ...\n" : "\n");
  }
  if (!changed_kept.empty()) {
    std::printf("  %zu changed since they were indexed, kept as indexed (`index --update` embeds them again):",
                changed_kept.size());
    for (std::size_t i = 0; i < changed_kept.size() && i < 5; ++i) std::printf(" %s", changed_kept[i].c_str());
    std::printf(changed_kept.size() > 5 ? " ...\n" : "\n");
  }
  std::printf("  archive: %zu recordings, %lld windows\n", store->files().size(),
              static_cast<long long>(store->window_count()));
  if (!a.ann.empty()) build_ann(a, *store);
  if (!problems.empty()) {
    std::string message = std::to_string(problems.size()) + " recording" + (problems.size() == 1 ? "" : "s") +
                          " could not be indexed (skipped; the others are stored):";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(message);
  }
  return 0;
}

}  // namespace

void add_index_command(CLI::App& app) {
  auto a = std::make_shared<IndexArgs>();
  auto* cmd = app.add_subcommand("index", "Embed every window of recordings once into a sound archive, for search");
  cmd->add_option("--run", a->run, "Trained run directory (not needed for --ann alone)");
  cmd->add_option("--archive", a->archive, "The archive's file (SQLite; made when missing), or postgresql://USER@HOST/DB[?archive=NAME] "
                  "shared by index runs on several hosts")->required();
  cmd->add_option("FILE", a->files, "Recordings or directories of them");
  cmd->add_option("--hop", a->hop,
                  "Seconds between windows, at least one frame hop (absent: the archive's; half the model's input "
                  "for a new archive)")
      ->check(FinitePositive);
  cmd->add_flag("--shared", a->shared,
                "Share the encoder's work between overlapping windows: about 1.7x faster at the default hop (more "
                "at shorter hops), the hop on a grid of 16 frames, but embeddings that differ from the per-window "
                "ones and a lower search precision (README, \"Search an archive by example\")");
  cmd->add_flag("--half", a->half, "Store embeddings as float16 (half the size; a new archive only)");
  cmd->add_flag("--drop-missing", a->drop_missing,
                "With --update: drop every stored recording no longer on disk, even in a directory that is gone or "
                "more than half of the archive");
  cmd->add_flag("--update", a->update,
                "Embed again the recordings changed since they were indexed or whose stored windows are damaged, "
                "and drop those no longer on disk");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  cmd->add_option("--ann", a->ann,
                  "Then build the approximate index (hnsw or ivf) of every stored window for `search --approx`; "
                  "alone (no recordings): of the archive as it is");
  cmd->add_option("--ann-file", a->ann_file, "The approximate index's file (default ARCH.ann; needed for a PostgreSQL archive)");
  cmd->footer(
      "Every window is stored, sounding or not. A recording is stored whole or not at all: run the same\n"
      "command again after an interruption and it continues with the recordings not yet stored.\n"
      "Then: oneshot-audio search --archive ARCH --example CLIP.wav");
  cmd->callback([a] {
    if (int code = run_index(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
