// oneshot-audio detect: find enrolled sounds in long recordings (or a live
// WAV stream on standard input) window by window, as events with onset and
// offset (sed_eval's event list + score), each printed as soon as it ends.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "audio/audio_reader.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/number_text.h"
#include "events/annotation_tables.h"
#include "events/event.h"
#include "events/score_plot.h"
#include "inference/detector.h"
#include "inference/domain.h"
#include "inference/enrolment.h"
#include "inference/run_model.h"

namespace oneshot::cli {
namespace fs = std::filesystem;
namespace {

struct DetectArgs {
  std::string library, out = "detections", aggregate = "mean";
  // "" (the default): own for a --window shorter than the model's input, pad otherwise (a recording's last
  // partial window and a recording shorter than the input, as classify and enroll embed them).
  std::string short_windows, boundaries = "sound", centre = "recording";
  std::vector<std::string> files;
  std::string format_list = "tsv";
  double hop = 0, window = 0, threshold = std::nan(""), min_duration = std::nan(""), merge_gap = 0, off_drop = std::nan(""), far = std::nan("");
  bool no_plots = false, quiet = false;
  int threads = 0;
};

// One table per recording beside events.tsv, named as Raven and Audacity
// look for them next to the recording (events/annotation_tables.h).
void write_annotation_tables(const DetectArgs& a, const std::string& name, const std::vector<Event>& events,
                             int sample_rate) {
  const std::string stem = fs::path(name).stem().string();
  std::stringstream list(a.format_list);
  for (std::string f; std::getline(list, f, ',');) {
    if (f == "raven")
      write_file_atomic(fs::path(a.out) / (stem + ".Table.1.selections.txt"),
                        format_raven_table(events, sample_rate / 2.0));
    else if (f == "audacity")
      write_file_atomic(fs::path(a.out) / (stem + ".labels.txt"), format_audacity_labels(events));
  }
}

int run_detect(const DetectArgs& a) {
  // "-" is not taken as a directory of that name: the events already stream to standard output.
  if (a.out == "-")
    throw Error("detect: --out - : --out is the directory detect writes events.tsv, score plots and tables into, not "
                "a stream; the events already go to standard output as each one ends (with --quiet, nothing else "
                "does): give a directory (./- for one named \"-\")");
  check_output_directory(a.out);  // before the library and the model are loaded
  check_output_path(fs::path(a.out) / "events.tsv");
  check_output_path(fs::path(a.out) / "events.partial.tsv");
  const InputFiles inputs = expand_inputs(a.files, EmptyFolders::in_place);
  if (inputs.any_skipped()) std::cerr << "note: " << inputs.skipped_note() << "\n";
  // A folder with no audio among the inputs: an error in its place; the other recordings are detected.
  for (const auto& [folder, why] : inputs.empty_folders) std::cerr << "error: " << why << "\n";
  const std::vector<std::string>& files = inputs.files;
  // Events and tables name a recording by its base name (as DCASE's lists
  // do): two recordings that share one could not be told apart.
  std::map<std::string, std::string> names;
  std::vector<std::string> nameable;  // the files whose names events.tsv can hold
  std::size_t failed = 0, unwritten = 0;  // recordings not detected; recordings detected whose tables or plot failed
  for (const std::string& file : files) {
    const std::string name = file == "-" ? "stdin" : fs::path(file).filename().string();
    if (name.find_first_of("\t\r\n") != std::string::npos) {
      // It would break every line of the list: this file alone is left out, named now.
      ++failed;
      std::cerr << "error: " << file << ": its name holds a tab or line break, which events.tsv cannot hold "
                << "(rename the file); skipped\n";
      continue;
    }
    if (const auto [it, fresh] = names.emplace(name, file); !fresh)
      throw Error("detect: " + it->second + " and " + file + " have the same file name, which events.tsv and the "
                  "tables name each recording by; detect them into separate --out directories");
    nameable.push_back(file);
  }
  // The tables and plots of a recording are named by its stem: x.wav and
  // x.flac (the same name, another extension) would write one x_scores.png,
  // the second over the first.
  const bool per_recording = !a.no_plots || a.format_list.find("raven") != std::string::npos ||
                             a.format_list.find("audacity") != std::string::npos;
  std::map<std::string, std::string> stems;
  for (const std::string& file : nameable)
    if (const auto [it, fresh] = stems.emplace(fs::path(file == "-" ? "stdin" : file).stem().string(), file);
        !fresh && per_recording)
      throw Error("detect: " + it->second + " and " + file + " have the same name before the extension (\"" +
                  it->first + "\"), which names each recording's score plot and tables in --out (" + it->first +
                  "_scores.png, ...): the second would overwrite the first; detect them into separate --out "
                  "directories (or give --no-plots without raven or audacity tables)");
  // Every file this run writes, before the model loads or any recording is read: a directory or a
  // socket in its place is named now, not after the work.
  for (const auto& [name, file] : names) {
    const std::string stem = fs::path(name).stem().string();
    if (!a.no_plots)
      for (const char* ext : {".png", ".svg"}) check_output_path(fs::path(a.out) / (stem + "_scores" + ext));
    if (a.format_list.find("raven") != std::string::npos)
      check_output_path(fs::path(a.out) / (stem + ".Table.1.selections.txt"));
    if (a.format_list.find("audacity") != std::string::npos) check_output_path(fs::path(a.out) / (stem + ".labels.txt"));
  }
  const ClassLibrary library = ClassLibrary::open_read_only(a.library);
  auto run = RunModel::load(library.run_directory(), a.threads);
  const bool own = a.short_windows.empty() ? a.window > 0 && a.window < run->window_seconds() : a.short_windows == "own";
  run->set_short_windows(own ? RunModel::ShortWindows::own : RunModel::ShortWindows::pad);
  ScoringOptions scoring;
  scoring.aggregate = a.aggregate;
  if (!std::isnan(a.threshold)) scoring.threshold = a.threshold;
  if (!std::isnan(a.far)) scoring.far = a.far;
  LibraryScorer scorer(library, *run, scoring);
  if (!scorer.note().empty() && !a.quiet) std::cerr << "note: " << scorer.note() << "\n";
  // Each recording centred on its own windows (its own domain) where it can be.
  const CentringChoice choice =
      choose_centring(a.centre == "recording", !std::isnan(a.threshold), library, scorer, a.library, "a recording");
  const bool centre_recordings = choice.centre;
  // Why a recording is not centred on itself, for its line on standard error.
  const std::string not_centred = choice.centre ? "" : "; " + choice.why_not;
  if (!choice.note.empty() && !a.quiet) std::cerr << "note: " << choice.note << "\n";
  DetectOptions options;
  options.window_s = a.window;
  options.hop_s = a.hop;
  options.min_duration = a.min_duration;
  options.merge_gap = a.merge_gap;
  options.off_threshold_drop = a.off_drop;
  options.sound_boundaries = a.boundaries == "sound";

  // The options once, before any recording: a bad one is named as such, not
  // reported per recording as one that "could not be read".
  std::size_t window_samples = 0, hop_samples = 0;  // the detector's, the same for every recording
  {
    const Detector check(*run, scorer, options, "options");
    window_samples = check.window_samples();
    hop_samples = check.samples_per_hop();
    // A hop longer than the window leaves audio no window covers: a sound
    // there cannot be detected. Allowed (a quick sparse scan), but said.
    if (check.hop_seconds() > check.window_seconds() + 1e-9)
      std::cerr << "note: --hop " << check.hop_seconds() << " s is longer than the window ("
                << check.window_seconds() << " s): " << check.hop_seconds() - check.window_seconds()
                << " s of every " << check.hop_seconds() << " s is never scored, and a sound there is missed\n";
  }

  create_output_directory(a.out);
  // While detect runs, the recordings done so far are in events.partial.tsv
  // (rewritten after each: a kill keeps them); events.tsv is written when it
  // ends, so an events.tsv is always a finished run's, and an earlier run's
  // is removed first. Each recording's tables and plots are removed before it
  // is read (one that fails this time has none).
  const fs::path tsv = fs::path(a.out) / "events.tsv", partial = fs::path(a.out) / "events.partial.tsv";
  std::error_code tsv_ec;
  // A pipe or a device (or a link to one) is written once, at the end: a stream cannot be rewritten.
  const bool tsv_is_stream = !fs::is_regular_file(fs::status(tsv, tsv_ec)) && fs::exists(fs::status(tsv, tsv_ec));
  std::vector<Event> all;
  if (!tsv_is_stream) {
    if (fs::is_regular_file(fs::symlink_status(tsv, tsv_ec))) fs::remove(tsv, tsv_ec);
    write_event_list(partial, all, true);
  }
  for (const std::string& file : nameable) {
    const bool live = file == "-";
    // The event list names a file by its base name, as DCASE's lists do
    // (Audiofilename), so a reference written elsewhere matches.
    const std::string name = live ? "stdin" : fs::path(file).filename().string();
    options.batch = live ? 1 : 16;  // a pipe: each window scored as soon as it is complete
    for (const char* output : {"_scores.png", "_scores.svg", ".Table.1.selections.txt", ".labels.txt"}) {
      // Regular files only: a link, a pipe or a device in its place is the user's, written through later.
      std::error_code ec;
      const fs::path old = fs::path(a.out) / (fs::path(name).stem().string() + output);
      if (fs::is_regular_file(fs::symlink_status(old, ec))) fs::remove(old, ec);
    }
    try {
      const auto start = std::chrono::steady_clock::now();
      ReaderOptions reader_options;
      reader_options.sample_rate = run->sample_rate();
      // A first pass: the recording's own centre, from non-overlapping windows
      // of the detector's length. When the hop divides the window they are
      // every (window / hop)-th window of the scoring pass, kept and reused
      // there, so the pass costs a second decoding. A pipe cannot be read
      // twice: scored as the library is.
      std::unique_ptr<LibraryScorer> own;
      std::string centring = not_centred;
      RecordingCentre centre;
      bool reuse = false;
      if (centre_recordings && !live) {
        AudioReader first(file, reader_options);
        reuse = window_samples % hop_samples == 0;
        centre = recording_centre(
            *run, [&](float* out, std::size_t n) { return first.read(out, n); }, window_samples, window_samples,
            reuse);
        const std::size_t needed = min_recording_centre_windows(*run, window_samples);
        if (centre.windows >= needed) {
          ScoringOptions centred = scoring;
          centred.recording_centre = centre.mean;
          own = std::make_unique<LibraryScorer>(library, *run, centred);
          centring = "; scores centred on the recording (" + std::to_string(centre.windows) +
                     " windows; false-accept rate " + short_number(own->far()) + ")";
        } else {
          centring = "; scored as the library stores: too little sound to centre on itself (" +
                     std::to_string(centre.windows) + " of its non-overlapping windows hold" +
                     (centre.windows == 1 ? "s" : "") + " sound, at least " + std::to_string(needed) + " needed)";
        }
      }
      LibraryScorer& use = own ? *own : scorer;
      AudioReader reader(file, reader_options);
      Detector detector(*run, use, options, name);
      if (own && reuse) detector.reuse_embeddings(centre.starts, std::move(centre.embeddings));
      if (!a.quiet && !live)
        std::fprintf(stderr, "%s: window %.3f s, hop %.3f s%s\n", name.c_str(), detector.window_seconds(),
                     detector.hop_seconds(), centring.c_str());
      if (!a.quiet && live && centre_recordings)
        std::fprintf(stderr, "note: standard input is read once, so it is scored as the library stores, not centred "
                             "on itself (a file is)\n");
      // Small blocks from a pipe, so that an event is printed within a hop of becoming certain.
      std::vector<float> block(live ? static_cast<std::size_t>(run->sample_rate() / 20) : 1u << 16);
      auto emit = [&](const std::vector<Event>& events) {
        for (const Event& e : events) {
          std::printf("%s\n", format_event_line(e).c_str());
          all.push_back(e);
        }
        if (!events.empty()) std::fflush(stdout);
      };
      while (std::size_t n = reader.read(block.data(), block.size())) emit(detector.push(block.data(), n));
      emit(detector.finish());
      std::vector<Event> mine;
      for (const Event& e : all)
        if (e.filename == name) mine.push_back(e);
      // The recording was detected: its events go into events.tsv whatever
      // happens to its tables and plot. One of those that cannot be written (a
      // full disk) is named as what it is, and the exit status says so, but
      // the recording is not called failed. Where its events are is said only
      // once a file holds them (the summary, or the partial list's error): on a
      // full disk events.tsv may never be written.
      try {
        write_annotation_tables(a, name, mine, run->sample_rate());
        if (!a.no_plots) {
          std::vector<ClassScoreCurve> curves;
          const std::size_t n_classes = use.n_classes();
          for (std::size_t c = 0; c < n_classes; ++c) {
            if (use.negative()[c]) continue;
            ClassScoreCurve curve;
            curve.label = use.names()[c];
            curve.on_threshold = detector.rules(c).on_threshold;
            curve.off_threshold = detector.rules(c).resolved_off_threshold();
            for (std::size_t w = 0; w < detector.windows().size(); ++w)
              curve.windows.push_back(
                  {detector.windows()[w].first, detector.windows()[w].second, detector.scores()[w * n_classes + c]});
            curves.push_back(std::move(curve));
          }
          const fs::path stem = fs::path(a.out) / (fs::path(name).stem().string() + "_scores");
          plot_event_scores(stem, name, curves, mine, {}, detector.duration());
        }
      } catch (const Error& e) {
        ++unwritten;
        std::cerr << "error: " << name << ": detected, but a table or score plot of its events could not be written: "
                  << e.what() << "\n";
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!a.quiet)
        std::fprintf(stderr, "%s: %.1f s of audio in %.2f s (%.0fx real time)\n", name.c_str(), detector.duration(),
                     seconds, detector.duration() / std::max(seconds, 1e-9));
    } catch (const Error& e) {
      ++failed;
      std::cerr << "error: " << e.what() << "\n";
    }
    if (!tsv_is_stream) write_event_list(partial, all, true);
  }
  try {
    write_event_list(tsv, all, true);
  } catch (const Error& e) {
    if (tsv_is_stream) throw;
    throw Error(std::string(e.what()) + "; every recording's events are in " + partial.string());
  }
  if (!tsv_is_stream) fs::remove(partial, tsv_ec);
  if (!a.quiet) std::fprintf(stderr, "events: %s (%zu)\n", tsv.c_str(), all.size());
  std::string summary;
  if (failed)
    summary = std::to_string(failed) + " of " + std::to_string(files.size()) + " recordings failed (each named above)";
  if (const std::size_t empty = inputs.empty_folders.size())
    summary += (summary.empty() ? "" : "; ") + std::to_string(empty) + (empty == 1 ? " folder" : " folders") +
               " given held no audio (named above)";
  if (unwritten)
    summary += (summary.empty() ? "" : "; ") + std::to_string(unwritten) + " of " + std::to_string(files.size()) +
               " recordings were detected (their events are in " + tsv.string() +
               ") but a table or score plot of theirs could not be written (named above)";
  if (!summary.empty()) throw Error(summary);
  return 0;
}

}  // namespace

CentringChoice choose_centring(bool asked, bool threshold_given, const ClassLibrary& library,
                               const LibraryScorer& scorer, const std::string& library_path,
                               const std::string& scored) {
  CentringChoice c;
  if (!asked) {
    c.why_not = "scored as the library stores (--centre library)";
  } else if (scorer.domain_centred()) {
    c.why_not = "centred on the library's domain";
  } else if (threshold_given) {
    c.why_not = "scored as the library stores: --threshold is a number on those scores";
  } else if (!library.recording_calibration()) {
    c.why_not = "scored as the library stores: no calibration for centred scores (note above)";
    // The library's own rate (not a --far of this run, which enroll would store).
    if (const auto stored = library.calibration(); stored && scorer.calibrated())
      c.note = library_path + " was calibrated by an older version, without the calibration for scores centred on " +
               scored + ": they are scored as the library stores them; `oneshot-audio enroll --run " +
               shell_word(library.run_directory().string()) + " --library " + shell_word(library_path) + " --far " +
               short_number(stored->far) + "` adds it";
  } else {
    c.centre = true;
  }
  return c;
}

void add_detect_command(CLI::App& app) {
  auto a = std::make_shared<DetectArgs>();
  auto* cmd = app.add_subcommand("detect", "Detect enrolled sounds in long recordings (events with onset and offset)");
  cmd->add_option("--library", a->library, "Class library written by enroll")->required();
  cmd->add_option("FILE", a->files, "Recordings, directories of them, or - for a WAV stream on standard input")
      ->required();
  cmd->add_option("--out", a->out, "Output directory: events.tsv and per-file score plots (default: detections)");
  cmd->add_option("--hop", a->hop, "Seconds between windows (default: min(0.5, window / 4))")
      ->check(FinitePositive);
  cmd->add_option("--window", a->window, "Window length in seconds, <= the model's input (see --short-windows)")
      ->check(FinitePositive);
  cmd->add_option("--short-windows", a->short_windows,
                  "Windows shorter than the model's input: own (embedded at their own length, the compact encoder pools "
                  "over time) or pad (zero-padded to the input, as training pads short clips). Default: own for a "
                  "shorter --window, pad for a recording's last partial window and a recording shorter than the input")
      ->check(CLI::IsMember({"pad", "own"}));
  cmd->add_option("--far", a->far,
                  "False-accept rate of the library that sets the on threshold: a window of a never-enrolled sound "
                  "scores above it against some class at about this rate (default: the library's, enroll --far; "
                  "scores centred on the recording take " + short_number(kDefaultDomainFar) + " where the library "
                  "keeps the default " + short_number(kDefaultLibraryFar) + ")")
      ->check(FalseAcceptRate);
  cmd->add_option("--threshold", a->threshold, "On threshold for every class, instead of the stored ones")
      ->check(FiniteNumber);
  cmd->add_option("--off-drop", a->off_drop,
                  "Off threshold = on - this (default: half way from the on threshold to the calibration's median "
                  "different-class score)")
      ->check(FiniteNonNegative);
  cmd->add_option("--min-duration", a->min_duration,
                  "Drop events shorter than this (seconds, at most a day; default 0.35 x the window: 1.75 s with a 5 "
                  "s window)")
      ->check(SecondsUpToADay);  // 1e300 was accepted without a word (as --hop, at most a day)
  cmd->add_option("--merge-gap", a->merge_gap, "Merge events of a class closer than this (seconds, at most a day)")
      ->check(SecondsUpToADay);
  cmd->add_option("--boundaries", a->boundaries,
                  "sound (default): each event's onsets and offsets are where its sound is (its frames within 20 dB "
                  "of its loudest, gaps under 0.5 s bridged; one event a part); windows: the span of the windows "
                  "that scored above the threshold (the sound plus about a window)")
      ->check(CLI::IsMember({"sound", "windows"}));
  cmd->add_option("--centre", a->centre,
                  "recording (default): a recording read from a file and scored against a library without a domain "
                  "is first centred on its own windows' mean (its own domain, as enroll --domain centres on given "
                  "recordings), with the library's calibration for such scores, when at least 24 of its "
                  "non-overlapping windows hold sound (2 minutes at the 5 s input); library: scores as the library "
                  "stores them (AS-norm against the training clips, or centred on its domain)")
      ->check(CLI::IsMember({"recording", "library"}));
  cmd->add_option("--aggregate", a->aggregate, "A class's examples: mean, max or prototype (default mean)")
      ->check(CLI::IsMember({"mean", "max", "prototype"}));
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  // One string, split here: a vector option would also take the recordings that follow it.
  cmd->add_option("--format", a->format_list,
                  "Event tables in --out: tsv (events.tsv, always), raven (NAME.Table.1.selections.txt a "
                  "recording), audacity (NAME.labels.txt a recording); comma-separated")
      ->check([](const std::string& list) {
        std::stringstream in(list);
        for (std::string f; std::getline(in, f, ',');)
          if (f != "tsv" && f != "raven" && f != "audacity")
            return "'" + f + "' is not a table format (tsv, raven, audacity)";
        return std::string();
      });
  cmd->add_flag("--no-plots", a->no_plots, "No score plots");
  cmd->add_flag("--quiet", a->quiet, "Events only");
  cmd->footer(
      "Events go to standard output as TSV lines (filename onset offset event_label score) as soon as they end,\n"
      "about window/2 + hop/2 after the offset (plus --merge-gap), to OUT/events.partial.tsv as each recording\n"
      "ends, and to OUT/events.tsv at the end. score is the calibrated confidence in [0, 1] of the event's best\n"
      "window (its raw score for a library made by an older version). With --boundaries sound an event is one\n"
      "part of the sound inside windows that lasted --min-duration, so a part may be shorter.\n"
      "The filename column holds each file's base name (DCASE's convention); standard input is \"stdin\".");
  cmd->callback([a] {
    if (int code = run_detect(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
