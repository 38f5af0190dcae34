// oneshot-audio search: the windows of a sound archive most like an example
// recording (its sounding windows, as enroll picks them) or a library class's
// examples, merged into spans per recording (issue 19). Exact: every archived
// window is scored with the run's head (the score classify and detect use),
// streamed a block at a time and scored on every core (src/archive/search.h).
// With --library, the class is scored as LibraryScorer scores it (AS-norm
// against the library's cohort when it has one) and the library's
// calibration gives each hit a confidence.
// With --approx, the approximate index `index --ann` built (src/archive/
// ann_index.h) retrieves candidates near the query vectors (the example's
// windows, or the class's examples) and the same scorer ranks them; exact
// stays the default.
#include <cmath>
#include <map>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "archive/ann_index.h"
#include "archive/archive_store.h"
#include "archive/hit_tables.h"
#include "archive/review_page.h"
#include "archive/review_sample.h"
#include "archive/search.h"
#include "commands.h"
#include "core/error.h"
#include "core/parallel.h"
#include "enroll/library.h"
#include "events/annotation_tables.h"
#include "inference/archive_scoring.h"
#include "inference/enrolment.h"
#include "inference/library_scoring.h"
#include "inference/run_model.h"

namespace oneshot::cli {
namespace fs = std::filesystem;
namespace {

struct SearchArgs {
  std::string archive, example, segment, library, class_name, run, format = "table", out, page, sample = "top";
  std::string ann_file;
  int top = 10, threads = 0, ef = 0, nprobe = 0, candidates = 0;
  bool approx = false;
  std::uint64_t seed = 1;
  double context = 1.0;
  bool quiet = false, no_merge = false, include_reviewed = false;
};

int run_search(SearchArgs a) {
  a.archive = archive::archive_location(a.archive);  // sqlite:///PATH: its file, for every path derived from it
  const archive::HitFormat format = archive::parse_hit_format(a.format);
  if (a.example.empty() == a.library.empty())
    throw Error("search: give either --example FILE or --library LIB --class NAME");
  if (!a.library.empty() && a.class_name.empty()) throw Error("search: --library needs --class NAME");
  if (a.library.empty() && !a.class_name.empty()) throw Error("search: --class needs --library LIB");
  if (!a.segment.empty() && a.example.empty()) throw Error("search: --segment belongs to --example");
  if (a.example == "-") throw Error("search: give the example as a file, not standard input");
  const std::optional<Segment> segment =
      a.segment.empty() ? std::nullopt : std::optional<Segment>(parse_segment(a.segment));
  if (!a.out.empty()) {
    // --out ARCHIVE replaced the archive with the hit table (and --out LIB the library, --out EXAMPLE the
    // recording): named as the input it is, before the check that refuses any database as an output.
    check_not_an_input(a.out, {a.archive, a.archive + ".ann", a.ann_file, a.library, a.example}, "search");
    check_output_path(a.out);
  }
  const archive::SampleMethod sample = archive::parse_sample_method(a.sample);
  if (sample == archive::SampleMethod::margin && a.library.empty())
    throw Error("search: --sample margin picks the windows nearest the class's threshold: it needs --library LIB "
                "--class NAME");
  if (!a.page.empty()) check_output_directory(a.page);
  if (!(a.context >= 0) || !std::isfinite(a.context) || a.context > 60)
    throw Error("--context must be between 0 and 60 seconds");
  if (!a.approx && (a.ef || a.nprobe || a.candidates || !a.ann_file.empty()))
    throw Error("search: --ef, --nprobe, --candidates and --ann-file belong to --approx");
  if (a.approx && sample != archive::SampleMethod::top)
    throw Error("search: --sample " + a.sample + " draws from every window's score: search exactly (leave --approx out)");

  auto store = archive::open_archive(a.archive);
  const archive::ArchiveModel model = store->model();
  // The approximate index, checked before the model loads.
  std::optional<archive::AnnIndex> ann;
  if (a.approx) {
    ann.emplace(archive::AnnIndex::load(a.ann_file.empty() ? archive::default_ann_path(a.archive) : a.ann_file, model,
                                        a.archive));
    if (a.nprobe && ann->kind() == archive::AnnKind::hnsw)
      throw Error("search: --nprobe is the IVF index's knob; " + ann->path() + " is an HNSW index (its knob: --ef)");
    if (a.ef && ann->kind() == archive::AnnKind::ivf)
      throw Error("search: --ef is the HNSW index's knob; " + ann->path() + " is an IVF index (its knob: --nprobe)");
  }
  std::string run_dir = a.run.empty() ? model.run : a.run;
  {
    std::error_code ec;
    if (a.run.empty() && !fs::is_directory(run_dir, ec))
      throw file_error(a.archive, "the archive's run " + run_dir +
                                      " is gone (moved or deleted?): give it at its new place with --run RUN");
  }
  auto run = RunModel::load(run_dir, a.threads);
  if (!run->made(model.fingerprint))
    throw file_error(a.archive, "the archive was embedded with model " + model.fingerprint + " (run " + model.run +
                                    "), but the run " + run->run_dir().string() + " has model " + run->fingerprint() +
                                    "; search it with its own run, or index the recordings again with this one");
  const auto dim = static_cast<std::size_t>(model.embedding_dim);
  if (static_cast<std::size_t>(run->embedding_dim()) != dim)
    throw file_error(a.archive, "the archive's embedding_dim " + std::to_string(dim) + " is not the run's " +
                                    std::to_string(run->embedding_dim()) + " (the archive is damaged)");

  archive::BlockScorer scorer;
  std::function<double(double)> confidence;
  std::unique_ptr<LibraryScorer> library_scorer;
  std::string label;
  std::size_t query_windows = 0;
  std::vector<float> query_vectors;  // the vectors the approximate index searches near (nq x dim)
  if (!a.example.empty()) {
    // The example's sounding windows (enroll's rule), each one query; a window's score is their mean.
    const auto rows = embed_example(*run, a.example, WindowingOptions{}, segment, 1);
    query_windows = rows.size();
    torch::Tensor queries = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(dim)}, torch::kFloat);
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::memcpy(queries[static_cast<int64_t>(i)].data_ptr<float>(), rows[i].embedding.data(), dim * sizeof(float));
    label = filename_stem(a.example);
    for (const auto& r : rows) query_vectors.insert(query_vectors.end(), r.embedding.begin(), r.embedding.end());
    scorer = example_scorer(*run, queries);
  } else {
    ClassLibrary library = ClassLibrary::open_read_only(a.library);
    library_scorer = std::make_unique<LibraryScorer>(library, *run, ScoringOptions{});
    const auto& names = library_scorer->names();
    std::size_t c = names.size();
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == a.class_name) c = i;
    if (c == names.size()) {
      std::string list;
      for (std::size_t i = 0; i < names.size(); ++i)
        if (!library_scorer->negative()[i]) list += (list.empty() ? "" : ", ") + names[i];
      throw file_error(a.library, "no class \"" + a.class_name + "\" (its classes: " + list + ")");
    }
    if (library_scorer->negative()[c])
      throw file_error(a.library, "class \"" + a.class_name + "\" holds negative examples (sounds that are not "
                                  "any class): search for a positive class");
    const auto examples = library.examples(a.class_name);
    query_windows = examples.size();
    for (const auto& e : examples) query_vectors.insert(query_vectors.end(), e.embedding.begin(), e.embedding.end());
    label = a.class_name;
    scorer = class_scorer(*library_scorer, c, static_cast<int64_t>(dim));
    LibraryScorer* ls = library_scorer.get();
    if (ls->has_confidence()) confidence = [ls, c](double s) { return ls->confidence(c, s); };
  }

  // Every core scores its own chunks (core/parallel.h), each with one LibTorch thread.
  const int threads = resolve_threads(a.threads);
  torch::set_num_threads(1);
  archive::SearchOptions options;
  options.top_k = static_cast<std::size_t>(a.top);
  // Windows reviewed for the class (`review`) are left out of a --library search, unless
  // --include-reviewed. A search by --example names no class, so it leaves nothing out: a recording
  // reviewed for one class still finds itself (attack finding F5).
  std::size_t reviewed = 0;
  if (!a.include_reviewed && !a.library.empty()) {
    for (const auto& r : store->reviews(a.class_name))
      options.exclude.insert(r.window_id);
    reviewed = options.exclude.size();
  }
  // A sample other than top draws from every scored window (24 bytes each), then keeps --top of them.
  if (sample != archive::SampleMethod::top)
    options.top_k = static_cast<std::size_t>(std::max<std::int64_t>(store->window_count(), 1));
  options.dim = dim;
  options.threads = threads;
  archive::SearchStats stats;
  archive::ApproxStats approx;
  std::vector<archive::ScoredWindow> top;
  if (ann) {
    if (query_vectors.size() != query_windows * dim) throw Error("internal: query vectors of another size");
    archive::AnnSearchOptions ao;
    ao.candidates = static_cast<std::size_t>(a.candidates);
    ao.ef = a.ef;
    ao.nprobe = a.nprobe;
    top = archive::approx_top_k(*store, *ann, query_vectors.data(), query_windows, scorer, options, ao, &approx);
    stats.windows = approx.scored;
    stats.seconds = approx.seconds;
  } else {
    top = archive::exact_top_k(
        [&](std::size_t block, const std::function<void(const archive::WindowBlock&)>& f) { store->scan(block, f); },
        scorer, options, &stats);
  }
  if (sample != archive::SampleMethod::top) {
    archive::SampleOptions so;
    so.method = sample;
    so.k = static_cast<std::size_t>(a.top);
    so.seed = a.seed;
    if (sample == archive::SampleMethod::margin) {
      std::size_t c = 0;
      while (library_scorer->names()[c] != a.class_name) ++c;
      so.threshold = library_scorer->threshold(c);
    }
    top = archive::sample_for_review(std::move(top), so);
  }
  const auto files = store->files();
  const auto hits = archive::merge_hits(top, model.window_s, files, confidence, !a.no_merge);
  const Config& config = run->config();
  archive::HitContext context;
  context.label = label;
  context.low_freq_hz = config.features.fmin;
  context.high_freq_hz = config.features.fmax > 0 ? config.features.fmax : run->sample_rate() / 2.0;
  const std::string text = archive::format_hits(hits, format, context);
  if (!a.page.empty()) {
    archive::ReviewPageOptions po;
    po.label = label;
    po.features = config.features;
    po.features.sample_rate = run->sample_rate();
    po.context_s = a.context;
    po.low_freq_hz = context.low_freq_hz;
    po.high_freq_hz = context.high_freq_hz;
    po.description = std::to_string(hits.size()) + " hits (" + archive::sample_method_name(sample) + " sample of " +
                     std::to_string(a.top) + " windows) in " + a.archive +
                     (reviewed ? ", " + std::to_string(reviewed) + " reviewed windows left out" : std::string());
    // A recording changed since it was indexed would be played as it is now,
    // while review enrols the windows as they were embedded: left off the page.
    std::vector<archive::SearchHit> on_page;
    std::map<std::string, bool> changed;
    for (const auto& h : hits) {
      auto [it, fresh] = changed.try_emplace(h.file, false);
      if (fresh) {
        try {
          const auto stored = store->file(h.file);
          it->second = stored && !archive::same_identity(*stored, archive::file_identity(h.file));
        } catch (const Error&) {
          // unreadable now: the page names it (no clip)
        }
        if (it->second)
          std::fprintf(stderr, "note: %s changed since it was indexed: its hits are left off the review page "
                       "(`index --update` embeds it again)\n", h.file.c_str());
      }
      if (!it->second) on_page.push_back(h);
    }
    const auto page = archive::write_review_page(on_page, a.page, po);
    for (const auto& u : page.unreadable) std::fprintf(stderr, "note: no clip on the review page: %s\n", u.c_str());
    if (!a.quiet)
      std::fprintf(stderr, "review page: %s (%zu clip%s)\n", page.page.c_str(), page.clips, page.clips == 1 ? "" : "s");
  }
  if (a.out.empty() || a.out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    write_file_atomic(a.out, text);
  }
  if (ann && !a.quiet) {
    std::fprintf(stderr, "approximate (%s index %s, %s): %zu candidates a query window; the index covers %lld windows\n",
                 archive::ann_kind_name(ann->kind()), ann->path().c_str(),
                 (ann->kind() == archive::AnnKind::hnsw ? "ef " + std::to_string(approx.ef)
                                                        : "nprobe " + std::to_string(approx.nprobe) + " of " +
                                                              std::to_string(ann->nlist()) + " lists").c_str(),
                 approx.candidates, static_cast<long long>(approx.covered));
    if (approx.uncovered || approx.gone)
      std::fprintf(stderr, "note: the approximate index is out of date: %lld windows stored since it was built %s, %lld "
                           "it covers no longer stored (left out); `oneshot-audio index --archive %s --ann %s%s` brings it "
                           "up to date\n",
                   static_cast<long long>(approx.uncovered),
                   approx.fell_back ? "(over a quarter of the archive: every window searched exactly)" : "(scored exactly)",
                   static_cast<long long>(approx.gone), a.archive.c_str(), archive::ann_kind_name(ann->kind()),
                   a.ann_file.empty() ? "" : (" --ann-file " + a.ann_file).c_str());
  }
  if (!a.quiet)
    std::fprintf(stderr, "%s %lld windows of %zu recordings with %zu query window%s in %.2f s (%.0f windows/s): "
                         "%zu hit%s from the %d best windows%s\n",
                 ann ? "scored" : "searched", static_cast<long long>(stats.windows), files.size(), query_windows, query_windows == 1 ? "" : "s",
                 stats.seconds, static_cast<double>(stats.windows) / std::max(stats.seconds, 1e-9), hits.size(),
                 hits.size() == 1 ? "" : "s", a.top, a.out.empty() || a.out == "-" ? "" : (": " + a.out).c_str());
  return 0;
}

}  // namespace

void add_search_command(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand("search", "Find the windows of a sound archive most like an example or a class");
  cmd->add_option("--archive", a->archive, "The archive made by `index`")->required();
  cmd->add_option("--example", a->example, "A recording of the sound to find (its sounding windows are the query)");
  cmd->add_option("--segment", a->segment, "START:END seconds of the example to use");
  cmd->add_option("--library", a->library, "A class library (with --class): search for one of its classes");
  cmd->add_option("--class", a->class_name, "The library's class to search for");
  cmd->add_option("--top", a->top, "Windows to keep (hits of one recording that overlap or touch merge into one span)")
      ->check(WholeNumber(1, 1000000));
  cmd->add_option("--format", a->format, "table, json, csv, tsv (sed_eval event list) or raven (Raven Pro selection table)");
  cmd->add_option("--out", a->out, "Write the answer to this file (atomically) instead of standard output")
      ->check(CLI::Validator(
          [](std::string& path) {
            return path.empty() ? std::string("is empty: give a file, or - for standard output") : std::string();
          },
          "FILE"));
  cmd->add_option("--page", a->page,
                  "Write a review page into this directory: index.html with a spectrogram, a player and yes/no/skip "
                  "for every hit, exported as verdicts.tsv for `review`");
  cmd->add_option("--context", a->context, "Seconds of audio either side of a hit on the review page (default 1)");
  cmd->add_option("--sample", a->sample,
                  "Which --top windows to show: top (the best), random, balanced (one from each score quantile) or "
                  "margin (nearest the class's threshold; needs --library)");
  cmd->add_option("--seed", a->seed, "Seed of --sample random and balanced (default 1)")
      ->check(WholeNumber(0, std::numeric_limits<long long>::max()));
  cmd->add_flag("--include-reviewed", a->include_reviewed,
                "With --library: keep the windows already reviewed for the class (`review`); by default they are "
                "left out (a search by --example leaves nothing out)");
  cmd->add_flag("--no-merge", a->no_merge, "Every window its own hit (no spans): for evaluations and other tools");
  cmd->add_option("--run", a->run, "The archive's run at a new place (default: the run the archive records)");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_flag("--quiet", a->quiet, "No summary on standard error");
  cmd->add_flag("--approx", a->approx,
                "Search with the approximate index `index --ann` built: candidates near the query, scored exactly "
                "(fast on large archives; may miss a few of the exact top hits)");
  cmd->add_option("--ann-file", a->ann_file, "The approximate index's file (default ARCH.ann)");
  cmd->add_option("--candidates", a->candidates,
                  "--approx: windows retrieved near each query window and scored (default max(100, 10 x --top), at "
                  "most 100000)")
      ->check(WholeNumber(1, 100000));  // given, 0 is no value: 0 is the unset default
  cmd->add_option("--ef", a->ef, "--approx, HNSW index: its search list (default max(128, candidates); 1..100000)")
      ->check(WholeNumber(1, 100000));
  cmd->add_option("--nprobe", a->nprobe, "--approx, IVF index: lists visited (default 16; 1..the index's lists)")
      ->check(WholeNumber(1, kIntMax));
  cmd->footer(
      "Scores are the run's head (higher = more similar), the mean over the example's sounding windows;\n"
      "with --library, the class's score as classify computes it, and a confidence in [0, 1] from the\n"
      "library's calibration. --top K keeps the K best windows, so K windows give at most K hits.");
  cmd->callback([a] {
    if (int code = run_search(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
