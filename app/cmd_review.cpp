// oneshot-audio review: teaches a class library from a user's verdicts on
// search hits (issue 19 item 4). Each row of the review table (the review
// page's export, a search's table with a verdict column, or a Raven table
// annotated in Raven: src/archive/verdicts.h) is resolved to the archived
// windows it covers (src/archive/review_resolve.h); the confirmed windows'
// stored embeddings are enrolled as examples of --class, the rejected ones as
// negative examples (the library's negative class, --negative-class,
// "background" by default, as `enroll --negative` stores them), and every
// verdict (skip too) is recorded in the archive, so that the next `search`
// leaves those windows out (unless --include-reviewed).
//
// No audio is decoded and no embedding computed: the archive's embeddings are
// the run's. The run is loaded only to recompute the stored thresholds after
// the change, as enroll does (inference/library_scoring.h update_thresholds).
//
// Two stores, one transaction each: the library first (examples and
// thresholds in one change), then the archive's reviews (one transaction).
// Both steps are idempotent: a window already enrolled in the class (same
// recording and window start) is not added again, and a review of the same
// window and class replaces the earlier one. So if the archive's commit fails
// after the library's, running the same review again adds nothing to the
// library and records the reviews; the message says so.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "archive/archive_store.h"
#include "archive/review_resolve.h"
#include "archive/verdicts.h"
#include "commands.h"
#include "core/error.h"
#include "enroll/library.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"

namespace oneshot::cli {
namespace fs = std::filesystem;
namespace {

struct ReviewArgs {
  std::string archive, library, class_name, negative_class = "background", run, table, aggregate = "mean";
  int threads = 0;
  bool quiet = false;
};

// A window's key in a library: its recording and start (what review stores as source and window_start).
using WindowKey = std::pair<std::string, double>;

int run_review(ReviewArgs a) {
  a.archive = archive::archive_location(a.archive);  // sqlite:///PATH: its file, for every path derived from it
  check_class_name(a.class_name);
  check_class_name(a.negative_class);
  if (a.class_name == a.negative_class)
    throw Error("review: --class and --negative-class are both \"" + a.class_name +
                "\": the rejected hits go to a negative class of their own");
  const archive::VerdictTable table = archive::read_verdict_table(a.table);
  {
    std::error_code ec;
    if (!fs::exists(a.library, ec))
      throw file_error(a.library, "no class library here: review adds to an existing library; make it with "
                                  "`oneshot-audio enroll --run RUN --library " + a.library + " --class " +
                                  a.class_name + " EXAMPLE` (one example is enough)");
  }
  auto store = archive::open_archive(a.archive, /*read_only=*/false);
  const archive::ArchiveModel model = store->model();
  ClassLibrary library = ClassLibrary::open(a.library);
  const LibraryModel lib_model = library.model();
  // One of them may carry the run's former fingerprint (written before every
  // feature setting was counted): the same model when the run made both.
  const auto one_run_made_both = [&] {
    try {
      auto run = RunModel::load(a.run.empty() ? library.run_directory() : fs::path(a.run), 1);
      return run->made(lib_model.fingerprint) && run->made(model.fingerprint);
    } catch (const Error&) {
      return false;
    }
  };
  if (lib_model.fingerprint != model.fingerprint && !one_run_made_both())
    throw Error("review: the library " + a.library + " was embedded with model " + lib_model.fingerprint + " (run " +
                lib_model.run + ") but the archive " + a.archive + " with model " + model.fingerprint + " (run " +
                model.run + "): their embeddings cannot be mixed; review into a library of the archive's run");
  if (lib_model.embedding_dim != model.embedding_dim)
    throw Error("review: the library's embedding_dim " + std::to_string(lib_model.embedding_dim) +
                " is not the archive's " + std::to_string(model.embedding_dim) + " (one of them is damaged)");

  // Rows -> windows (one read of the archive's window list for the files named).
  const auto files = store->files();
  const archive::WindowLister lister = [&](const std::set<std::int64_t>& wanted) {
    std::map<std::int64_t, std::vector<archive::ArchivedWindow>> out;
    store->scan(8192, [&](const archive::WindowBlock& b) {
      for (std::size_t i = 0; i < b.count(); ++i)
        if (wanted.count(b.file_ids[i])) out[b.file_ids[i]].push_back({b.ids[i], b.starts_s[i]});
    });
    return out;
  };
  auto resolved = archive::resolve_verdicts(table, files, lister, model.window_s);
  // A span of this round merged across a window judged in an earlier one (search left it out): that window
  // keeps its verdict (archive/review_resolve.h).
  std::map<std::int64_t, archive::Verdict> earlier;
  for (const auto& r : store->reviews(a.class_name))
    if (const auto v = archive::parse_verdict(r.verdict)) earlier.emplace(r.window_id, *v);
  const auto kept_earlier = archive::keep_earlier_reviews(resolved, earlier);
  const auto verdicts = archive::window_verdicts(resolved);
  std::map<std::int64_t, const archive::VerdictRow*> row_of;
  for (const auto& r : resolved)
    for (auto id : r.window_ids) row_of.emplace(id, r.row);

  std::vector<std::int64_t> ids;
  for (const auto& [id, v] : verdicts)
    if (v != archive::Verdict::skip) ids.push_back(id);
  const auto windows = store->windows(ids);

  // What the library holds already: a window enrolled before is not added again;
  // one enrolled on the other side is a verdict changed, refused (the library keeps both otherwise).
  // Planned once to know whether the run is needed, and again inside the change, so that an
  // enroll, review or --remove committed meanwhile is seen (two reviews of one table at once
  // added its windows twice).
  std::vector<LibraryExample> positives, negatives;
  std::size_t already = 0;
  bool class_known = false;
  std::string class_names;  // the library's positive classes, for the note on a new one
  auto plan_examples = [&] {
    positives.clear();
    negatives.clear();
    already = 0;
    class_known = false;
    class_names.clear();
    std::set<WindowKey> in_class, in_negative;
    for (const auto& c : library.classes()) {
      class_known = class_known || c.name == a.class_name;
      if (!c.negative) class_names += (class_names.empty() ? "" : ", ") + c.name;
      if (c.name == a.class_name && c.negative)
        throw file_error(a.library, "class \"" + a.class_name + "\" holds negative examples: review a positive class");
      if (c.name == a.negative_class && !c.negative)
        throw file_error(a.library, "class \"" + a.negative_class + "\" is a positive class: give --negative-class "
                                    "a negative one (enroll --negative makes \"background\")");
    }
    for (const auto& e : library.example_sources()) {
      if (e.class_name == a.class_name) in_class.insert({e.source, e.window_start});
      if (e.class_name == a.negative_class) in_negative.insert({e.source, e.window_start});
    }
    for (const auto& w : windows) {
      const bool yes = verdicts.at(w.id) == archive::Verdict::yes;
      const WindowKey key{w.file, w.start_s};
      const archive::VerdictRow& row = *row_of.at(w.id);
      if ((yes ? in_negative : in_class).count(key))
        throw file_error(table.source, "line " + std::to_string(row.line) + ": the window of " + w.file + " at " +
                                           std::to_string(w.start_s) + " s is enrolled in \"" +
                                           (yes ? a.negative_class : a.class_name) + "\" already and is marked " +
                                           (yes ? "yes" : "no") + " here; `library --remove` that class to review it "
                                           "afresh");
      if ((yes ? in_class : in_negative).count(key)) {
        ++already;
        continue;
      }
      LibraryExample e;
      e.source = w.file;
      e.segment_start = row.onset_s;
      e.segment_end = row.offset_s;
      e.window_start = w.start_s;
      e.embedding = w.embedding;
      (yes ? positives : negatives).push_back(std::move(e));
    }
  };
  plan_examples();
  // A misspelt --class made a new class without a word.
  if (!positives.empty() && !class_known && !a.quiet)
    std::fprintf(stderr, "note: class \"%s\" is new in %s (its classes: %s): the confirmed windows start it\n",
                 a.class_name.c_str(), a.library.c_str(), class_names.empty() ? "none" : class_names.c_str());

  // 1. The library, one change: examples, negatives, thresholds (as enroll).
  if (!positives.empty() || !negatives.empty()) {
    std::string run_dir = a.run;
    if (run_dir.empty()) run_dir = library.run_directory().string();
    auto run = RunModel::load(run_dir, a.threads);
    if (!run->made(lib_model.fingerprint))
      throw Error("review: the run " + run_dir + " has model " + run->fingerprint() + ", not the library's " +
                  lib_model.fingerprint);
    library.change([&] {
      // A library moved to another model meanwhile (library --reembed) cannot take the archive's embeddings.
      if (library.model().fingerprint != lib_model.fingerprint)
        throw file_error(a.library, "was re-embedded with another model while this review was read; nothing was "
                                    "added: run the review again");
      plan_examples();
      if (!positives.empty()) library.add_examples(a.class_name, false, positives);
      if (!negatives.empty()) library.add_examples(a.negative_class, true, negatives);
      update_thresholds(library, *run, a.aggregate);
    });
  }

  // 2. The archive's reviews, one transaction.
  std::vector<archive::Review> reviews;
  for (const auto& [id, v] : verdicts) reviews.push_back({id, a.class_name, archive::verdict_name(v), {}});
  try {
    store->add_reviews(reviews);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "\nThe library " + a.library + " was changed (" +
                std::to_string(positives.size()) + " examples, " + std::to_string(negatives.size()) +
                " negatives) but the reviews were not recorded: run the same review again (it adds nothing twice)");
  }

  std::size_t n_skip = 0;
  for (const auto& [id, v] : verdicts) n_skip += v == archive::Verdict::skip;
  if (!a.quiet)
    std::printf("review of %zu row%s (%zu window%s): enrolled %zu window%s into \"%s\" and %zu into negative \"%s\" "
                "of %s%s; %zu skipped; %zu reviews recorded in %s\n",
                table.rows.size(), table.rows.size() == 1 ? "" : "s", verdicts.size(), verdicts.size() == 1 ? "" : "s",
                positives.size(), positives.size() == 1 ? "" : "s", a.class_name.c_str(), negatives.size(),
                a.negative_class.c_str(), a.library.c_str(),
                already ? (" (" + std::to_string(already) + " enrolled before, not added again)").c_str() : "", n_skip,
                reviews.size(), a.archive.c_str());
  if (!a.quiet && !kept_earlier.empty())
    std::printf("  %zu window%s inside this table's spans, judged otherwise in an earlier review (and so left out of "
                "the search), kept %s earlier verdict\n",
                kept_earlier.size(), kept_earlier.size() == 1 ? "" : "s", kept_earlier.size() == 1 ? "its" : "their");
  return 0;
}

}  // namespace

void add_review_command(CLI::App& app) {
  auto a = std::make_shared<ReviewArgs>();
  auto* cmd = app.add_subcommand("review", "Teach a class from verdicts on search hits (the review page's export)");
  cmd->add_option("--archive", a->archive, "The archive the hits were found in")->required();
  cmd->add_option("--library", a->library, "The class library to teach (made by enroll, of the archive's run)")->required();
  cmd->add_option("--class", a->class_name, "The class the hits were judged for: 'yes' hits become its examples")
      ->required();
  cmd->add_option("--negative-class", a->negative_class,
                  "The negative class the 'no' hits join (default \"background\", as enroll --negative)");
  cmd->add_option("--aggregate", a->aggregate, "Scoring of a class's examples for the stored thresholds: mean, max or prototype");
  cmd->add_option("--run", a->run, "The library's run at a new place (default: the run the library records)");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_flag("--quiet", a->quiet, "No summary");
  cmd->add_option("VERDICTS", a->table, "The review table (verdicts.tsv from search --page, or a Raven table with a "
                                        "verdict column)")
      ->required();
  cmd->footer(
      "Rows name a recording (Begin Path, or a unique Begin File) and a span; the windows whose centre lies\n"
      "in the span get the row's verdict (yes, no or skip). The next search leaves reviewed windows out.");
  cmd->callback([a] {
    if (int code = run_review(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
