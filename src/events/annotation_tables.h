#pragma once
// Annotation tables of the programs people label sound in, read and written as
// event lists (events/event.h):
//
//  - Raven selection tables (Raven Pro / Raven Lite, Cornell; BirdNET-Analyzer
//    writes them too): tab-separated, a header row naming the columns, one row
//    per selection and view. Used columns: "Begin Time (s)", "End Time (s)",
//    "Selection" (rows of the same selection in other views are one event),
//    the label column (the first of "Annotation", "Label", "Class", "Species",
//    "Common Name", "Sound Type", "Call Type", any letter case), optionally
//    "Begin File" or "Begin Path" (the recording; its base name is the
//    event's filename) with "File Offset (s)" (where the selection starts in
//    that file: in a table over a sequence of files, Begin Time counts from the
//    start of the sequence), and "Score" or "Confidence". Other columns are
//    ignored. Without a file column the table is one recording's: the filename
//    is the table's own name less Raven's suffix (".Table.1.selections.txt"),
//    ".selections.txt", ".labels.txt" or ".txt".
//  - Audacity label tracks (File > Export > Labels): `start \t end \t label`
//    per line, seconds; lines starting with '\' (a label's frequency range)
//    are skipped. One file per recording, named as above.
//
// The format of a file is recognised from its contents (annotation_format).
// Every bad row is reported as "PATH line N: reason", all of them in one
// oneshot::Error, as read_event_list does.
#include <filesystem>
#include <string>
#include <vector>

#include "events/event.h"

namespace oneshot {

enum class AnnotationFormat { SedEval, Raven, Audacity };

// "sed_eval", "raven", "audacity".
std::string annotation_format_name(AnnotationFormat format);

// From the first line that is not blank or a '#' comment: a tab-separated
// row holding "Begin Time (s)" is a Raven header; a row of 3 tab-separated
// columns whose first two are numbers, or a line starting with '\', is an
// Audacity label; anything else is read as a sed_eval event list.
AnnotationFormat annotation_format(const std::string& text);

// The recording a per-recording table stands for: PATH's file name less the
// suffixes above ("rec.Table.1.selections.txt" -> "rec").
std::string recording_of_table(const std::filesystem::path& path);

// FILE_COLUMN (when given) is set to whether the table has a Begin File or
// Begin Path column; without one every event's filename is RECORDING.
std::vector<Event> parse_raven_table(const std::string& text, const std::string& source,
                                     const std::string& recording, bool* file_column = nullptr);
std::vector<Event> parse_audacity_labels(const std::string& text, const std::string& source,
                                         const std::string& recording);

// A filename's base name without its extension ("a/b/rec.wav" -> "rec"):
// the key on which lists of different formats are matched.
std::string filename_stem(const std::string& filename);

struct Annotations {
  std::vector<Event> events;
  AnnotationFormat format = AnnotationFormat::SedEval;
  // What an event's filename is: a path as written (sed_eval), a base name
  // (Raven's Begin File / Path) or the recording's name without extension,
  // from the table's own name (Audacity, Raven without a file column).
  enum class Names { Path, BaseName, Recording };
  Names names = Names::Path;
  // The key on which the event is matched with a list of another kind, or
  // with a recording: the recording's name without folder and extension.
  std::string recording_key(const Event& e) const {
    return names == Names::Recording ? e.filename : filename_stem(e.filename);
  }
};

// Reads a sed_eval event list, a Raven selection table or an Audacity label
// track, whichever PATH holds. Error "PATH: ..." when it cannot be read.
Annotations read_annotations(const std::filesystem::path& path);


// A Raven selection table of EVENTS (all of one recording: Begin Time is the
// time in that file), one "Spectrogram 1" row per event, selections numbered
// from 1, with Low Freq 0 and High Freq HIGH_FREQ_HZ (the Nyquist frequency,
// say), Begin File (the base name), Annotation (the label) and, when any event
// has one, Score. Error for an event read_event_list would refuse.
std::string format_raven_table(const std::vector<Event>& events, double high_freq_hz);
// An Audacity label track of EVENTS (all of one recording): `onset \t offset
// \t label`, six decimals as Audacity writes them. Scores are not written.
std::string format_audacity_labels(const std::vector<Event>& events);

}  // namespace oneshot
