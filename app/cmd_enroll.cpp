// oneshot-audio enroll: teach a class library new sounds from one or a few
// recordings, embedded with a trained run (src/inference, src/enroll).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "core/error.h"
#include "inference/enrolment.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"

namespace oneshot::cli {
namespace {

struct EnrollArgs {
  std::string run, library, class_name, segment, aggregate = "mean";
  std::vector<std::string> files;
  bool negative = false, quiet = false;
  double hop = 0, far = -1, threshold = std::nan("");
  int threads = 0;
};

void print_calibration(const Calibration& c) {
  std::printf("calibration: threshold %.4g at a false-accept rate of %.1f %% (false rejects %.1f %%; %lld same-class "
              "and %lld different-class pairs of %lld validation classes)\n",
              c.threshold, 100 * c.far, 100 * c.frr, static_cast<long long>(c.same_pairs),
              static_cast<long long>(c.different_pairs), static_cast<long long>(c.classes));
}

int run_enroll(const EnrollArgs& a) {
  if (a.class_name.empty() && !a.negative) throw Error("enroll: give the class name with --class");
  const std::string class_name = a.class_name.empty() ? "background" : a.class_name;
  check_class_name(class_name);  // before the model loads: a bad name costs no start-up
  if (a.negative && !std::isnan(a.threshold))
    throw Error("enroll: --threshold sets a class's decision threshold; a negative class has none (its examples "
                "raise the other classes' thresholds)");
  const std::vector<std::string> files = expand_inputs(a.files);
  for (const std::string& file : files)
    if (file == "-")
      throw Error("enroll: cannot enrol standard input (-): the library keeps each example's source file to "
                  "re-embed it (library --reembed); save the recording to a file and enrol that");
  std::optional<Segment> segment;
  if (!a.segment.empty()) {
    if (files.size() != 1) throw Error("enroll: --segment needs exactly one FILE, got " + std::to_string(files.size()));
    segment = parse_segment(a.segment);
  }
  auto run = RunModel::load(a.run, a.threads);
  ClassLibrary library = ClassLibrary::open_or_create(a.library, run->library_model());

  // The calibration comes from the run's validation classes, once per library
  // (or again for a new --far).
  const auto stored = library.calibration();
  if (!stored || (a.far >= 0 && a.far != stored->far)) {
    try {
      const Calibration c = calibrate_on_validation(*run, a.far >= 0 ? a.far : 0.05, !a.quiet);
      library.set_calibration(c);
      print_calibration(c);
    } catch (const Error& e) {
      if (std::isnan(a.threshold)) throw;
      std::cerr << "note: no calibration (" << e.what() << "); class \"" << class_name << "\" uses --threshold "
                << a.threshold << "\n";
    }
  } else {
    print_calibration(*stored);
  }

  // Every file first, then one transaction: a bad file enrols nothing.
  WindowingOptions windowing;
  windowing.hop_s = a.hop;
  std::vector<LibraryExample> rows;
  std::vector<std::string> problems;
  for (const std::string& file : files) {
    try {
      auto examples = embed_example(*run, file, windowing, segment);
      if (!a.quiet) std::printf("%s: %zu window%s\n", file.c_str(), examples.size(), examples.size() == 1 ? "" : "s");
      rows.insert(rows.end(), examples.begin(), examples.end());
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  if (!problems.empty()) {
    std::string message = std::to_string(problems.size()) + " of " + std::to_string(files.size()) +
                          " files cannot be enrolled (nothing was added):";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(message);
  }
  // The same source (and segment) enrolled twice would weigh twice in mean
  // and prototype scores: refused, naming it.
  for (const auto& existing : library.examples(class_name))
    for (const auto& row : rows)
      if (existing.source == row.source && existing.segment_start == row.segment_start &&
          existing.segment_end == row.segment_end)
        throw Error(row.source + ": already enrolled in class \"" + class_name + "\" (" + existing.added +
                    "); `library --remove` the class to enrol it afresh");
  library.add_examples(class_name, a.negative, rows);
  if (!std::isnan(a.threshold) && !a.negative) library.set_threshold(class_name, a.threshold, "user");
  update_thresholds(library, *run, a.aggregate);

  std::printf("enrolled %zu window%s from %zu file%s into %sclass \"%s\" of %s\n", rows.size(),
              rows.size() == 1 ? "" : "s", files.size(), files.size() == 1 ? "" : "s",
              a.negative ? "negative " : "", class_name.c_str(), a.library.c_str());
  for (const auto& c : library.classes()) {
    if (c.negative) {
      std::printf("  %-24s negative, %lld windows\n", c.name.c_str(), static_cast<long long>(c.examples));
      continue;
    }
    char threshold[64] = "none";
    if (c.threshold) std::snprintf(threshold, sizeof threshold, "%.4g (%s)", *c.threshold, c.threshold_source.c_str());
    std::printf("  %-24s %lld windows from %lld files, threshold %s\n", c.name.c_str(),
                static_cast<long long>(c.examples), static_cast<long long>(c.sources), threshold);
  }
  return 0;
}

}  // namespace

void add_enroll_command(CLI::App& app) {
  auto a = std::make_shared<EnrollArgs>();
  auto* cmd = app.add_subcommand("enroll", "Add examples of a class to a class library (one recording is enough)");
  cmd->add_option("--run", a->run, "Trained run directory whose model embeds the examples")->required();
  cmd->add_option("--library", a->library, "Class library (SQLite file; created when missing)")->required();
  cmd->add_option("--class", a->class_name, "Class name (with --negative: default \"background\")");
  cmd->add_option("FILE", a->files, "Audio files or directories of them")->required();
  cmd->add_flag("--negative", a->negative, "Enrol background / negative examples: they tighten every class's threshold");
  cmd->add_option("--segment", a->segment, "START:END in seconds of the single FILE");
  cmd->add_option("--hop", a->hop, "Seconds between windows of a long example (default: half the model's input)")
      ->check(FinitePositive);
  cmd->add_option("--far", a->far, "Target false-accept rate of the calibrated threshold (default 0.05); a new rate re-calibrates the whole library (every class not given --threshold)")
      ->check(CLI::Range(0.0, 0.999));
  cmd->add_option("--threshold", a->threshold, "This class's decision threshold (a score), instead of the calibration's")
      ->check(FiniteNumber);
  cmd->add_option("--aggregate", a->aggregate, "Scoring of a class's examples for the stored thresholds: mean, max or prototype")
      ->check(CLI::IsMember({"mean", "max", "prototype"}));
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", a->quiet, "Print the summary only");
  cmd->footer(
      "An example longer than the model's input is cut into windows; the windows within 6 dB of the loudest\n"
      "one are enrolled (they hold the sound). Shorter examples are zero-padded as in training. Silence is refused.");
  cmd->callback([a] {
    if (int code = run_enroll(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
