// The files classified together as their own domain (classify --centre batch):
// a recording's windows go into the mean of recordings (MeanOfRecordings); classify_batch
// scores every file re-centred on the mean of the files that hold sound, with
// the library's recording calibration, once enough of them do, reports each
// file in the order given (errors in their place), gives the same answers when
// the kept embeddings run out and files are embedded again, and scores as the
// library stores when there are too few or centring is off. With the library's
// batch calibration it also AS-normalises against the batch's own windows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/synthetic.h"
#include "enroll/domain_centre.h"
#include "enroll/library.h"
#include "enroll/score_norm.h"
#include "inference/classify_batch.h"
#include "inference/domain.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

// A recording's windows as the run embeds them (a tensor) go into the mean as
// their rows would (enroll/domain_centre.h MeanOfRecordings, tested there).
TEST(ClassifyBatchCentre, ARecordingsWindowTensorAddsItsRows) {
  const torch::Tensor a = torch::tensor({{1.0f, 0.0f}, {3.0f, 0.0f}, {5.0f, 6.0f}});
  MeanOfRecordings from_tensor, from_rows;
  add_recording(from_tensor, a);
  add_recording(from_tensor, torch::tensor({{-1.0, 4.0}}, torch::kDouble));  // any float type
  const std::vector<float> rows = {1, 0, 3, 0, 5, 6}, one = {-1, 4};
  from_rows.add(rows.data(), 3, 2);
  from_rows.add(one.data(), 1, 2);
  EXPECT_EQ(from_tensor.mean(), from_rows.mean());
  EXPECT_THROW(add_recording(from_tensor, torch::zeros({2})), Error);     // not (W, D)
  EXPECT_THROW(add_recording(from_tensor, torch::zeros({0, 2})), Error);  // no window
}

struct BatchFixture {
  test::TempDir dir;
  std::unique_ptr<RunModel> run = test::tiny_run(dir, "band_stats");
  std::vector<std::string> files;

  BatchFixture() {
    const std::size_t window = run->window_samples();
    // Recordings of 1 to 3 windows, each a chirp at its own gain and length;
    // the fourth is silence (classify refuses it).
    for (int i = 0; i < 7; ++i) {
      std::vector<float> samples = test::noisy_chirp(window + static_cast<std::size_t>(i % 3) * window / 2 + 100 * i);
      for (float& s : samples) s *= 0.2f + 0.1f * static_cast<float>(i);
      if (i == 3) std::fill(samples.begin(), samples.end(), 0.0f);
      const std::string path = (dir / ("r" + std::to_string(i) + ".wav")).string();
      write_wav16(path, samples, run->sample_rate());
      files.push_back(path);
    }
    torch::manual_seed(9);
    const std::int64_t dim = run->embedding_dim();
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    test::enrol_bell_and_dog(lib, torch::randn({4, dim}));
    lib.set_cohort(test::cohort_of(torch::randn({30, dim})));
    lib.set_calibration(test::hand_calibration(0.05, {{1e-4, 3.0, 0.9}, {0.5, -3.0, 0.0}}, -1, true, false));
    lib.set_recording_calibration(test::hand_calibration(0.05, {{1e-4, 0.9, 0.95}, {0.5, -0.6, 0.0}}, -0.75, false, true));
  }

  struct Outcome {
    std::string path, error, decision, centred_on;
    std::vector<double> scores;  // by class name order of the ranking
  };
  std::vector<Outcome> classify(const BatchOptions& options, BatchReport* report = nullptr) {
    const ClassLibrary lib = ClassLibrary::open_read_only(dir / "lib.db");
    LibraryScorer as_stored(lib, *run, ScoringOptions{});
    std::vector<Outcome> out;
    const BatchReport r = classify_batch(*run, lib, ScoringOptions{}, as_stored, files, options,
                                         [&](const std::string& path, const Classification* c, const std::string& e) {
                                           Outcome o{path, e, "", "", {}};
                                           if (c) {
                                             o.decision = c->decision;
                                             o.centred_on = c->centred_on;
                                             for (const RankedClass& rc : c->ranking) o.scores.push_back(rc.score);
                                           }
                                           out.push_back(o);
                                         });
    if (report) *report = r;
    return out;
  }
};

TEST(ClassifyBatch, ScoresEveryFileCentredOnTheFilesThatHoldSound) {
  BatchFixture f;
  BatchOptions options;
  options.min_files = 4;
  BatchReport report;
  const auto outcomes = f.classify(options, &report);
  EXPECT_TRUE(report.centred);
  EXPECT_EQ(report.sounding, 6u);
  EXPECT_EQ(report.embedded_twice, 0u);
  EXPECT_EQ(report.cohort, 0u);  // not asked for
  ASSERT_EQ(outcomes.size(), f.files.size());

  // By hand: the centre of the six sounding files, a scorer given it, each file classified.
  MeanOfRecordings centre;
  std::vector<SoundingEmbeddings> embedded;
  for (std::size_t i = 0; i < f.files.size(); ++i) {
    if (i == 3) continue;
    embedded.push_back(embed_sounding(*f.run, f.files[i], options.classify));
    add_recording(centre, embedded.back().windows);
  }
  const ClassLibrary lib = ClassLibrary::open_read_only(f.dir / "lib.db");
  ScoringOptions with_centre;
  with_centre.recording_centre = centre.mean();
  LibraryScorer centred(lib, *f.run, with_centre);
  EXPECT_EQ(report.far, centred.far());  // the rate the note states is the centred scorer's
  LibraryScorer as_stored(lib, *f.run, ScoringOptions{});
  std::size_t e = 0;
  double moved = 0;
  for (std::size_t i = 0; i < f.files.size(); ++i) {
    EXPECT_EQ(outcomes[i].path, f.files[i]);  // in the order given
    if (i == 3) {
      EXPECT_NE(outcomes[i].error.find("r3.wav"), std::string::npos) << outcomes[i].error;
      EXPECT_NE(outcomes[i].error.find("silence"), std::string::npos) << outcomes[i].error;
      continue;
    }
    const Classification expected = classify_embedded(centred, embedded[e], options.classify);
    const Classification plain = classify_embedded(as_stored, embedded[e++], options.classify);
    EXPECT_EQ(outcomes[i].centred_on, "batch");
    EXPECT_EQ(outcomes[i].decision, expected.decision);
    ASSERT_EQ(outcomes[i].scores.size(), expected.ranking.size());
    for (std::size_t r = 0; r < expected.ranking.size(); ++r) {
      EXPECT_NEAR(outcomes[i].scores[r], expected.ranking[r].score, 1e-6) << i << " " << r;
      moved = std::max(moved, std::abs(outcomes[i].scores[r] - plain.ranking[r].score));
    }
  }
  EXPECT_GT(moved, 1e-3) << "centring changed no score";

  // Past the kept windows' budget the files are embedded again: the same answers.
  BatchOptions tight = options;
  tight.keep_windows = 1;
  BatchReport tight_report;
  const auto again = f.classify(tight, &tight_report);
  EXPECT_TRUE(tight_report.centred);
  EXPECT_EQ(tight_report.embedded_twice, 5u);  // the first file's single window fits
  ASSERT_EQ(again.size(), outcomes.size());
  for (std::size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].decision, outcomes[i].decision) << i;
    EXPECT_EQ(again[i].error, outcomes[i].error) << i;
    ASSERT_EQ(again[i].scores.size(), outcomes[i].scores.size());
    for (std::size_t r = 0; r < again[i].scores.size(); ++r) EXPECT_NEAR(again[i].scores[r], outcomes[i].scores[r], 1e-6);
  }
}

// A recording given again (the same path, or another path of it) is
// classified each time but counts once in the mean and towards the minimum:
// 24 copies of one clip would otherwise centre that clip on itself.
TEST(ClassifyBatch, ARecordingGivenAgainCountsOnce) {
  BatchFixture f;
  BatchOptions options;
  options.min_files = 4;
  BatchReport once;
  const auto reference = f.classify(options, &once);
  const std::vector<std::string> distinct = f.files;
  f.files.push_back(distinct[0]);
  f.files.push_back((f.dir / "." / "r1.wav").string());
  BatchReport again;
  const auto outcomes = f.classify(options, &again);
  EXPECT_EQ(again.sounding, once.sounding);
  EXPECT_EQ(again.repeated, 2u);
  ASSERT_EQ(outcomes.size(), distinct.size() + 2);
  for (std::size_t i = 0; i < distinct.size(); ++i) {
    ASSERT_EQ(outcomes[i].scores.size(), reference[i].scores.size());
    for (std::size_t r = 0; r < reference[i].scores.size(); ++r)
      EXPECT_NEAR(outcomes[i].scores[r], reference[i].scores[r], 1e-6) << i;  // the same centre
  }
  EXPECT_EQ(outcomes[distinct.size()].scores, outcomes[0].scores);  // and each copy answered
  // Four copies of one clip (and a silent file) are one recording: not centred.
  f.files = {distinct[0], distinct[0], distinct[0], distinct[0], distinct[3]};
  BatchReport copies;
  (void)f.classify(options, &copies);
  EXPECT_EQ(copies.sounding, 1u);
  EXPECT_FALSE(copies.centred);
}

TEST(ClassifyBatch, TooFewFilesWithSoundOrCentringOffScoreAsTheLibraryStores) {
  BatchFixture f;
  const ClassLibrary lib = ClassLibrary::open_read_only(f.dir / "lib.db");
  LibraryScorer as_stored(lib, *f.run, ScoringOptions{});
  BatchOptions few;
  few.min_files = 7;  // six of the seven hold sound
  BatchOptions off;
  off.centre = false;
  for (const BatchOptions& options : {few, off}) {
    BatchReport report;
    const auto outcomes = f.classify(options, &report);
    EXPECT_FALSE(report.centred);
    EXPECT_EQ(report.sounding, options.centre ? 6u : 0u);
    ASSERT_EQ(outcomes.size(), f.files.size());
    for (std::size_t i = 0; i < f.files.size(); ++i) {
      if (i == 3) {
        EXPECT_FALSE(outcomes[i].error.empty());
        continue;
      }
      const Classification expected = classify_recording(*f.run, as_stored, f.files[i], options.classify);
      EXPECT_EQ(outcomes[i].centred_on, "");
      EXPECT_EQ(outcomes[i].decision, expected.decision);
      ASSERT_EQ(outcomes[i].scores.size(), expected.ranking.size());
      for (std::size_t r = 0; r < expected.ranking.size(); ++r)
        EXPECT_NEAR(outcomes[i].scores[r], expected.ranking[r].score, 1e-6);
    }
  }
}

// A batch's cohort: each recording's windows evenly strided to its share of
// kMaxDomainCohort (domain_cohort_quota of the batch's size), at most
// kMaxDomainCohort in all, every row one of the recordings' own.
TEST(ClassifyBatchCohort, EachRecordingGivesItsShareEvenlyStrided) {
  BatchCohort none(3);
  EXPECT_FALSE(none.take().defined());
  // Three recordings: a share of 667 each (2000 / 3 rounded up).
  BatchCohort three(3);
  const torch::Tensor long_one = torch::arange(0, 3000, torch::kFloat).reshape({1000, 3});
  three.add(long_one);
  three.add(torch::full({5, 3}, -1.0f));
  three.add(torch::zeros({0, 3}));  // nothing to give
  const torch::Tensor got = three.take();
  ASSERT_EQ(got.size(0), static_cast<int64_t>(domain_cohort_quota(3) + 5));
  EXPECT_EQ(got.size(1), 3);
  // The long recording's rows are its own, in order: row i * 1000 / 667 (core/evenly_strided.h).
  const auto q = static_cast<int64_t>(domain_cohort_quota(3));
  EXPECT_TRUE(torch::equal(got[0], long_one[0]));
  EXPECT_TRUE(torch::equal(got[1], long_one[1]));
  EXPECT_TRUE(torch::equal(got[q - 1], long_one[(q - 1) * 1000 / q]));
  EXPECT_TRUE(torch::equal(got[-1], torch::full({3}, -1.0f)));
  // Two long recordings in a batch of two: 1000 each, then the cap holds.
  BatchCohort two(2);
  two.add(torch::ones({1500, 3}));
  two.add(torch::ones({1500, 3}));
  EXPECT_EQ(two.take().size(0), static_cast<int64_t>(kMaxDomainCohort));
}

// With the library's batch calibration, a centred batch is also AS-normalised
// against its own windows: by hand, every sounding window of the batch is a
// cohort member (six recordings of 1-2 windows, far under their share), both
// sides' top-K statistics of centred raw scores, K domain_top_k of the
// cohort, each file's score the mean of its windows' normalised scores.
TEST(ClassifyBatch, NormalisesAgainstTheBatchsOwnWindowsWithTheBatchCalibration) {
  BatchFixture f;
  {
    ClassLibrary lib = ClassLibrary::open(f.dir / "lib.db");
    Calibration batch = test::hand_calibration(0.05, {{1e-4, 3.5, 0.9}, {0.5, -2.5, 0.0}}, -1.5, true, true);
    batch.cohort = "domain";
    lib.set_batch_calibration(batch);
  }
  BatchOptions options;
  options.min_files = 4;
  options.cohort = true;
  BatchReport report;
  const auto outcomes = f.classify(options, &report);
  ASSERT_TRUE(report.centred);

  MeanOfRecordings centre;
  std::vector<SoundingEmbeddings> embedded;
  std::vector<torch::Tensor> windows;
  for (std::size_t i = 0; i < f.files.size(); ++i) {
    if (i == 3) continue;
    embedded.push_back(embed_sounding(*f.run, f.files[i], options.classify));
    add_recording(centre, embedded.back().windows);
    windows.push_back(embedded.back().windows);
  }
  const torch::Tensor cohort = torch::cat(windows, 0);
  const auto n = static_cast<std::size_t>(cohort.size(0));
  EXPECT_EQ(report.cohort, n);
  const ClassLibrary lib = ClassLibrary::open_read_only(f.dir / "lib.db");
  ScoringOptions raw_centred;
  raw_centred.recording_centre = centre.mean();
  LibraryScorer raw(lib, *f.run, raw_centred);  // the recording calibration: raw centred scores
  ASSERT_FALSE(raw.normalised());
  const std::size_t k = domain_top_k(static_cast<std::size_t>(lib.settings().cohort_top_k), n);
  const std::size_t n_classes = raw.n_classes();
  const std::vector<CohortStats> class_stats = top_k_stats_columns(raw.window_scores(cohort), n, n_classes, k);
  const torch::Tensor cohort_centred = recentred(*f.run, cohort, centre.mean());

  std::size_t e = 0;
  for (std::size_t i = 0; i < f.files.size(); ++i) {
    if (i == 3) continue;
    const SoundingEmbeddings& mine = embedded[e++];
    const auto w = static_cast<std::size_t>(mine.windows.size(0));
    const torch::Tensor pair = f.run->score(recentred(*f.run, mine.windows, centre.mean()), cohort_centred)
                                   .to(torch::kDouble).contiguous();
    const std::vector<double> against(pair.data_ptr<double>(), pair.data_ptr<double>() + pair.numel());
    std::vector<double> table = raw.window_scores(mine.windows);
    as_norm_table(table, w, class_stats, top_k_stats_rows(against, w, n, k));
    std::vector<double> file(n_classes, 0);
    for (std::size_t r = 0; r < w; ++r)
      for (std::size_t c = 0; c < n_classes; ++c) file[c] += table[r * n_classes + c] / static_cast<double>(w);
    std::sort(file.rbegin(), file.rend());  // the ranking's order
    ASSERT_EQ(outcomes[i].scores.size(), file.size());
    for (std::size_t r = 0; r < file.size(); ++r) EXPECT_NEAR(outcomes[i].scores[r], file[r], 1e-5) << i << " " << r;
  }
  // The rate is the centred rate, on the batch calibration's curve.
  EXPECT_EQ(report.far, 0.05);

  // Without it (the default): centred only.
  BatchOptions off;
  off.min_files = options.min_files;
  BatchReport centred_only;
  const auto plain = f.classify(off, &centred_only);
  EXPECT_TRUE(centred_only.centred);
  EXPECT_EQ(centred_only.cohort, 0u);
  double moved = 0;
  for (std::size_t i = 0; i < plain.size(); ++i)
    for (std::size_t r = 0; r < plain[i].scores.size(); ++r)
      moved = std::max(moved, std::abs(plain[i].scores[r] - outcomes[i].scores[r]));
  EXPECT_GT(moved, 1e-3) << "normalising changed no score";
}

}  // namespace
}  // namespace oneshot
