#pragma once
// An example recording -> the library rows to enrol: cut into the model's
// input windows (hop configurable), the windows that hold the sound chosen by
// enroll/windows.h's rule (within 6 dB of the loudest; silence refused), each
// embedded. A recording shorter than the window is one zero-padded window.
//
// Views (enrolment that uses the whole example): with V views, the windows
// are cut at a hop V times finer than classify's (hop / V), so a long example
// is seen at V offsets for each of classify's; an example that gives a single
// window (no longer than the model's input plus that hop) is seen as that
// window circularly shifted by k / V of its length, k = 0 .. V-1 (training's
// time-shift augmentation, in the audio domain). Each view is one library row
// (a shifted view keeps its window's start); V = 1 is the enrolment of
// classify's windows.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "enroll/library.h"
#include "enroll/windows.h"
#include "inference/run_model.h"

namespace oneshot {

struct WindowingOptions {
  double hop_s = 0;  // 0: half the model's input length
  SoundingRule rule;
};

// Samples between window starts for `options`: at least one frame hop of the
// model's input and at most a day (Error naming --hop otherwise).
std::size_t hop_samples(const RunModel& run, const WindowingOptions& options);

// The windows classify scores in `samples`: the sounding windows at
// options' hop. Throws "NAME: is silence ..." (enroll/windows.h).
std::vector<std::size_t> classify_window_starts(const RunModel& run, const std::vector<float>& samples,
                                                const WindowingOptions& options, const std::string& name);

// The enrolment views of `samples` (see above), packed back to back, each
// run.window_samples() long, ready for RunModel::embed_packed; start_s[i] is
// view i's window start in seconds. Error for silence (naming `name`) or views < 1.
struct EnrolmentViews {
  std::vector<float> packed;
  std::vector<double> start_s;
  std::size_t count() const { return start_s.size(); }
};
EnrolmentViews enrolment_views(const RunModel& run, const std::vector<float>& samples, const WindowingOptions& options,
                               int views, const std::string& name);

// The rows for `path` (its `segment`, when given): source = the absolute path,
// one row per view. Throws oneshot::Error "PATH: reason" for unreadable audio or silence.
std::vector<LibraryExample> embed_example(RunModel& run, const std::string& path, const WindowingOptions& options,
                                          const std::optional<Segment>& segment = std::nullopt, int views = 1);

// The recordings named on a command line: each file as given (whatever its
// name: a file named explicitly that is not audio is the reader's error), and
// each directory's audio files, recursively, sorted. In a directory, hidden
// files and folders (name starting with ".") are skipped, and so are files
// whose extension is no audio format's (data/dataset.h is_audio_file_name:
// notes, metadata, a spreadsheet beside the recordings), all listed in
// not_audio (a hidden folder with a trailing "/", not entered). Symbolic links are followed; a
// directory reached twice (a link loop) is listed once, a recording that
// directories reach under two names (a link to a file) is listed under the
// first in sorted order (the others in same_file), and a link that leads
// nowhere is kept, so that reading it names it. Files named on the command
// line are listed as given. Error naming a FIFO, socket or
// device in a directory (reading one could block for ever), or a directory
// with no audio file.
struct InputFiles {
  std::vector<std::string> files;      // to read, in order
  std::vector<std::string> not_audio;  // skipped in the directories: hidden, or not audio by name
  std::vector<std::string> same_file;  // skipped in the directories: another name of a listed recording
  // With EmptyFolders::in_place: each directory given that holds no audio,
  // as given and its error ("DIR: directory holds no files"), for the command
  // to report while it reads the rest.
  std::vector<std::pair<std::string, std::string>> empty_folders;
  // "skipped 2 files that are not audio (no audio extension): DIR/a.txt, DIR/meta.json;
  // and 1 hidden file (name starting with "."): DIR/.b.wav" (the first five of
  // each, then a count; then the links to a recording listed under another
  // name); "" when none was skipped.
  std::string skipped_note() const;
  bool any_skipped() const { return !not_audio.empty() || !same_file.empty(); }
};
// A directory given that holds no audio: an Error that stops the command
// (enroll: its examples are all or nothing), or, in_place, listed in
// InputFiles::empty_folders while the other inputs are read (classify,
// detect: one empty folder among several must not cost the others); still an
// Error when no input is left at all.
enum class EmptyFolders { error, in_place };
InputFiles expand_inputs(const std::vector<std::string>& paths, EmptyFolders empty = EmptyFolders::error);

}  // namespace oneshot
