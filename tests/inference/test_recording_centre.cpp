// A recording as its own domain (detect's default without a library domain):
// recording_centre averages the embeddings of the windows that hold sound,
// worked here from the model's own embeddings; a LibraryScorer given that
// centre scores the head on the windows and examples each re-centred on it
// (raw, never AS-normalised), takes its thresholds from the library's
// recording calibration at the library's rate, and refuses a library with a
// domain or without that calibration.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "enroll/decision.h"
#include "enroll/library.h"
#include "inference/detector.h"
#include "inference/domain.h"
#include "inference/library_scoring.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

TEST(RecordingCentre, IsTheMeanOfTheSoundingWindowsEmbeddings) {
  test::TempDir dir;
  auto run = test::tiny_run(dir, "band_stats");
  const std::size_t window = run->window_samples();
  // Five windows: sound, silence, sound, sound, and a last partial window of sound (zero-padded).
  std::vector<float> samples = test::noisy_chirp(4 * window + window / 2);
  std::fill(samples.begin() + static_cast<std::ptrdiff_t>(window), samples.begin() + static_cast<std::ptrdiff_t>(2 * window), 0.0f);
  const RecordingCentre centre = recording_centre(*run, test::memory_source(samples, 3000), window, window);
  ASSERT_EQ(centre.windows, 4u);
  std::vector<float> padded = samples;
  padded.resize(5 * window, 0.0f);
  const torch::Tensor e = run->embed_windows(padded, {0, 2 * window, 3 * window, 4 * window}).to(torch::kDouble);
  const torch::Tensor mean = e.mean(0);
  ASSERT_EQ(centre.mean.size(), static_cast<std::size_t>(run->embedding_dim()));
  for (std::size_t d = 0; d < centre.mean.size(); ++d)
    EXPECT_NEAR(centre.mean[d], mean[static_cast<int64_t>(d)].item<double>(), 1e-5) << d;
  // All silence: no window, no mean.
  const std::vector<float> silence(3 * window, 0.0f);
  const RecordingCentre none = recording_centre(*run, test::memory_source(silence, 3000), window, window);
  EXPECT_EQ(none.windows, 0u);
  EXPECT_TRUE(none.mean.empty());
}

// A shorter window needs as many seconds of sound as 24 input-length windows, not 24 windows.
TEST(RecordingCentre, AShorterWindowNeedsAsMuchSoundNotAsManyWindows) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::size_t input = run->window_samples();
  EXPECT_EQ(min_recording_centre_windows(*run, input), 24u);
  EXPECT_EQ(min_recording_centre_windows(*run, input / 2), 48u);
  EXPECT_EQ(min_recording_centre_windows(*run, input / 2 + 1), 48u);  // 47.99... windows of sound: rounded up
  EXPECT_EQ(min_recording_centre_windows(*run, 3 * input), 24u);        // never fewer than 24
  EXPECT_THROW(min_recording_centre_windows(*run, 0), Error);
}

TEST(RecordingCentre, ScoresAreRawOnCentredEmbeddingsWithTheRecordingCalibrationsThresholds) {
  test::TempDir dir;
  auto run = test::tiny_run(dir, "band_stats");
  const std::int64_t dim = run->embedding_dim();
  torch::manual_seed(5);
  const torch::Tensor examples = torch::randn({4, dim}), windows = torch::randn({3, dim}),
                      training = torch::randn({30, dim});
  std::vector<float> centre(static_cast<std::size_t>(dim));
  for (std::size_t d = 0; d < centre.size(); ++d) centre[d] = 0.25f * std::sin(0.7f * static_cast<float>(d));
  const Calibration library_cal = test::hand_calibration(0.08, {{1e-4, 3.0, 0.9}, {0.5, -3.0, 0.0}}, -1, true, false);
  // Its rate is not used: the library's is.
  const Calibration recording_cal =
      test::hand_calibration(0.5, {{1e-4, 0.9, 0.95}, {0.01, 0.4, 0.5}, {0.5, -0.6, 0.0}}, -0.75, false, true);
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    test::enrol_bell_and_dog(lib, examples);
    lib.set_cohort(test::cohort_of(training));
    lib.set_calibration(library_cal);
    lib.set_recording_calibration(recording_cal);
  }
  const ClassLibrary lib = ClassLibrary::open_read_only(dir / "lib.db");
  ScoringOptions options;
  options.recording_centre = centre;
  LibraryScorer scorer(lib, *run, options);
  EXPECT_TRUE(scorer.recording_centred());
  EXPECT_TRUE(scorer.domain_centred());
  EXPECT_FALSE(scorer.normalised());
  EXPECT_EQ(scorer.floor(), -0.75);
  EXPECT_EQ(scorer.far(), 0.08);
  const double expected_threshold = library_threshold(recording_cal, 0.08, 2).threshold;
  EXPECT_NEAR(scorer.threshold(0), expected_threshold, 1e-12);
  EXPECT_NE(scorer.threshold(0), library_threshold(library_cal, 0.08, 2).threshold);

  const std::vector<double> scores = scorer.window_scores(windows);
  const std::vector<std::size_t> parts = run->embedding_parts();
  const torch::Tensor s =
      run->score(test::recentred_by_hand(windows, parts, centre), test::recentred_by_hand(examples, parts, centre)).to(torch::kDouble);  // (3, 4)
  for (int64_t w = 0; w < 3; ++w)
    for (int64_t c = 0; c < 2; ++c) {
      const double expected = s[w].narrow(0, c * 2, 2).mean().item<double>();
      EXPECT_NEAR(scores[static_cast<std::size_t>(w * 2 + c)], expected, 1e-5 * std::max(1.0, std::abs(expected)));
    }
  // The same library without the centre: AS-normalised against the training cohort, as stored.
  LibraryScorer stored(lib, *run, ScoringOptions{});
  EXPECT_TRUE(stored.normalised());
  EXPECT_FALSE(stored.domain_centred());

  // A library at the default rate is scored centred at the centred default
  // (centred_far); uncentred it stays at its own; a run's --far wins.
  {
    ClassLibrary w = ClassLibrary::open(dir / "lib.db");
    Calibration at_default = library_cal;
    at_default.far = kDefaultLibraryFar;
    w.set_calibration(at_default);
  }
  {
    const ClassLibrary at_default = ClassLibrary::open_read_only(dir / "lib.db");
    const LibraryScorer centred(at_default, *run, options);
    EXPECT_EQ(centred.far(), kDefaultDomainFar);
    EXPECT_NEAR(centred.threshold(0), library_threshold(recording_cal, kDefaultDomainFar, 2).threshold, 1e-12);
    EXPECT_EQ(LibraryScorer(at_default, *run, ScoringOptions{}).far(), kDefaultLibraryFar);
    ScoringOptions given = options;
    given.far = 0.02;
    const LibraryScorer at_given(at_default, *run, given);
    EXPECT_EQ(at_given.far(), 0.02);
    EXPECT_EQ(at_given.note(), "");
    // A rate past the curve's ends is held there, and said (not printed as if it applied).
    given.far = 1e-9;
    const LibraryScorer past(at_default, *run, given);
    EXPECT_NE(past.note().find("outside the calibration's curve (0.0001 to 0.5 a class)"), std::string::npos)
        << past.note();
    EXPECT_EQ(past.threshold(0), 0.9);  // the curve's first point
  }

  // A centre of the wrong length, a library with a domain, one without the calibration: refused.
  ScoringOptions short_centre;
  short_centre.recording_centre = std::vector<float>(3, 0.0f);
  EXPECT_THROW(LibraryScorer(lib, *run, short_centre), Error);
  {
    ClassLibrary w = ClassLibrary::open(dir / "lib.db");
    w.set_recording_calibration(std::nullopt);
  }
  const std::string missing = test::error_of([&] { LibraryScorer(ClassLibrary::open_read_only(dir / "lib.db"), *run, options); });
  EXPECT_NE(missing.find("centred on a recording"), std::string::npos) << missing;
  {
    ClassLibrary w = ClassLibrary::open(dir / "lib.db");
    w.set_recording_calibration(recording_cal);
    DomainCentre d;
    d.mean = centre;
    d.files = d.windows = 1;
    w.set_domain(d);
  }
  const std::string with_domain = test::error_of([&] { LibraryScorer(ClassLibrary::open_read_only(dir / "lib.db"), *run, options); });
  EXPECT_NE(with_domain.find("has a domain"), std::string::npos) << with_domain;
}

// The scoring pass reuses the first pass's embeddings of the windows they
// share: the same scores as embedding every window, and a known embedding
// is what is scored (a wrong one changes exactly those windows' scores).
TEST(RecordingCentre, TheDetectorReusesTheFirstPassesEmbeddings) {
  test::TempDir dir;
  auto run = test::tiny_run(dir);
  const std::size_t window = run->window_samples();
  const std::vector<float> samples = test::noisy_chirp(5 * window + window / 3);
  {
    ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
    LibraryExample e;
    e.source = "/x.wav";
    const torch::Tensor row = run->embed_windows(samples, {window}).contiguous();
    e.embedding.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    lib.add_examples("chirp", false, {e});
  }
  const ClassLibrary lib = ClassLibrary::open_read_only(dir / "lib.db");
  ScoringOptions options;
  options.threshold = 0.5;
  LibraryScorer scorer(lib, *run, options);
  DetectOptions detect;
  detect.hop_s = static_cast<double>(window / 4) / run->sample_rate();
  auto curve = [&](const RecordingCentre* first) {
    Detector d(*run, scorer, detect, "x.wav");
    if (first) d.reuse_embeddings(first->starts, first->embeddings.clone());
    for (std::size_t at = 0; at < samples.size(); at += 4000)
      (void)d.push(samples.data() + at, std::min<std::size_t>(4000, samples.size() - at));
    (void)d.finish();
    return std::make_pair(d.windows(), d.scores());
  };
  RecordingCentre first = recording_centre(*run, test::memory_source(samples, 3000), window, window, true);
  ASSERT_EQ(first.starts, (std::vector<std::size_t>{0, window, 2 * window, 3 * window, 4 * window}));  // the padded 6th left out
  ASSERT_EQ(first.embeddings.size(0), 5);
  const auto plain = curve(nullptr), reused = curve(&first);
  ASSERT_EQ(plain.first, reused.first);
  ASSERT_EQ(plain.second.size(), reused.second.size());
  for (std::size_t w = 0; w < plain.second.size(); ++w) EXPECT_NEAR(plain.second[w], reused.second[w], 1e-5) << w;
  // Known embeddings are used as given: a wrong one for the window at 2 x window moves that window's score alone.
  first.embeddings[2] = -first.embeddings[2];
  const auto wrong = curve(&first);
  for (std::size_t w = 0; w < plain.first.size(); ++w) {
    const bool known = std::abs(plain.first[w].first - 2.0 * static_cast<double>(window) / run->sample_rate()) < 1e-9;
    if (known) EXPECT_GT(std::abs(wrong.second[w] - plain.second[w]), 1e-3) << w;
    else EXPECT_NEAR(wrong.second[w], plain.second[w], 1e-5) << w;
  }
}

}  // namespace
}  // namespace oneshot
