// The detector's window and hop (issue 22): the hop follows classify's and
// enroll's rule (hop_samples: one frame hop to a day, the same message), a
// window shorter than the model's input down to one FFT window is taken (it
// is padded or embedded at its own length, RunModel::short_windows()), and
// the default hop of such a window is never the error. And its events are
// its score curve replayed through its rules (BestClassTracker), which the
// user-path bench's rule grid relies on.
#include <gtest/gtest.h>

#include <sstream>

#include "enroll/library.h"
#include "inference/detector.h"
#include "inference/enrolment.h"
#include "events/best_class_tracker.h"
#include "tiny_run.h"

namespace oneshot {
namespace {

struct Detecting {
  test::TempDir dir;
  std::unique_ptr<RunModel> run = test::tiny_run(dir);  // 16 kHz, 2 s input, n_fft 512, frame hop 256
  std::unique_ptr<ClassLibrary> library;
  std::unique_ptr<LibraryScorer> scorer;
  Detecting() {
    {
      ClassLibrary lib = ClassLibrary::open_or_create(dir / "lib.db", run->library_model());
      LibraryExample e;
      e.source = "/bell.wav";
      e.embedding.assign(static_cast<std::size_t>(run->embedding_dim()), 0.25f);
      lib.add_examples("bell", false, {e});
    }
    library = std::make_unique<ClassLibrary>(ClassLibrary::open_read_only(dir / "lib.db"));
    ScoringOptions scoring;
    scoring.threshold = 0.5;
    scorer = std::make_unique<LibraryScorer>(*library, *run, scoring);
  }
  std::string error(double window_s, double hop_s) {
    DetectOptions o;
    o.window_s = window_s;
    o.hop_s = hop_s;
    return test::error_of([&] { Detector(*run, *scorer, o, "options"); });
  }
};

TEST(DetectorOptions, AWindowOfAFewFramesTakesItsDefaultHopOfAtLeastOneFrame) {
  Detecting s;
  // One FFT window (32 ms): the default hop, a quarter window (8 ms), is below
  // one frame hop (16 ms). It was refused, blaming a --hop nobody gave.
  for (double window : {0.032, 0.05}) {
    DetectOptions o;
    o.window_s = window;
    const Detector d(*s.run, *s.scorer, o, "clip.wav");
    EXPECT_NEAR(d.window_seconds(), window, 1.0 / 16000);
    EXPECT_DOUBLE_EQ(d.hop_seconds(), 256.0 / 16000) << window;
  }
  DetectOptions o;  // the model's input: a quarter of it, at most half a second
  const Detector d(*s.run, *s.scorer, o, "clip.wav");
  EXPECT_DOUBLE_EQ(d.window_seconds(), 2.0);
  EXPECT_DOUBLE_EQ(d.hop_seconds(), 0.5);
}

TEST(DetectorOptions, TheHopFollowsClassifysRuleAndMessage) {
  Detecting s;
  WindowingOptions w;
  w.hop_s = 0.001;
  const std::string expected = test::error_of([&] { hop_samples(*s.run, w); });
  ASSERT_NE(expected, "");
  EXPECT_EQ(s.error(0, 0.001), expected);
  EXPECT_NE(s.error(0, 0.001).find("--hop must be at least one frame hop"), std::string::npos);
  // Longer than a day: refused as classify refuses it (the detector took up to 1e15 samples).
  EXPECT_NE(s.error(0, 1e6).find("longer than a day"), std::string::npos) << s.error(0, 1e6);
  EXPECT_EQ(s.error(0, 86400), "");
}

TEST(DetectorOptions, AWindowIsBetweenOneFftWindowAndTheModelsInput) {
  Detecting s;
  EXPECT_NE(s.error(0.01, 0).find("--window 0.01 s is shorter than one FFT window of the model's input (0.032 s)"),
            std::string::npos)
      << s.error(0.01, 0);
  EXPECT_NE(s.error(2.5, 0).find("--window 2.5 s is longer than the model's input (2 s)"), std::string::npos)
      << s.error(2.5, 0);
  // Far too long: named, not an overflowed sample count.
  EXPECT_NE(s.error(1e300, 0).find("longer than the model's input"), std::string::npos) << s.error(1e300, 0);
  EXPECT_EQ(s.error(1.0, 0), "");
}

TEST(DetectorOptions, TheDefaultMinimumDurationFollowsTheWindow) {
  Detecting s;
  DetectOptions o;  // the model's 2 s input
  const Detector whole(*s.run, *s.scorer, o, "a.wav");
  EXPECT_DOUBLE_EQ(whole.min_duration(), kDefaultMinDurationOfWindow * 2.0);
  EXPECT_DOUBLE_EQ(whole.rules(0).min_duration, whole.min_duration());
  o.window_s = 1.0;
  EXPECT_DOUBLE_EQ(Detector(*s.run, *s.scorer, o, "a.wav").min_duration(), kDefaultMinDurationOfWindow * 1.0);
  o.min_duration = 0;  // given: taken as it is, 0 keeps every event
  const Detector given(*s.run, *s.scorer, o, "a.wav");
  EXPECT_EQ(given.min_duration(), 0.0);
  EXPECT_EQ(given.rules(0).min_duration, 0.0);
}
// Every event of `audio` pushed in blocks of `block` samples, then finished.
std::vector<Event> detect_all(Detector& d, const std::vector<float>& audio, std::size_t block) {
  std::vector<Event> events;
  for (std::size_t at = 0; at < audio.size(); at += block) {
    auto e = d.push(audio.data() + at, std::min(block, audio.size() - at));
    events.insert(events.end(), e.begin(), e.end());
  }
  auto e = d.finish();
  events.insert(events.end(), e.begin(), e.end());
  return events;
}

TEST(DetectorReplay, ItsEventsAreItsScoreCurveReplayedThroughItsRules) {
  Detecting s;
  const std::vector<float> audio = test::noisy_chirp(16000 * 12);
  auto detect = [&](Detector& d) { return detect_all(d, audio, 5000); };
  DetectOptions o;
  o.hop_s = 0.25;
  o.merge_gap = 0.3;
  o.sound_boundaries = false;  // the rules' window-level events, as the replay makes them
  Detector first(*s.run, *s.scorer, o, "chirp.wav");
  detect(first);
  // An on threshold at the curve's median, so that some windows make events.
  std::vector<double> sorted = first.scores();
  ASSERT_GT(sorted.size(), 8u);
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  ScoringOptions scoring;
  scoring.threshold = sorted[sorted.size() / 2];
  LibraryScorer scorer(*s.library, *s.run, scoring);
  Detector d(*s.run, scorer, o, "chirp.wav");
  const std::vector<Event> events = detect(d);
  ASSERT_FALSE(events.empty());

  const std::vector<Event> replayed =
      events_from_curves(scorer.names(), scorer.negative(), d.rules(), d.windows(), d.scores(), "chirp.wav");
  ASSERT_EQ(replayed.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(replayed[i].label, events[i].label);
    EXPECT_DOUBLE_EQ(replayed[i].onset, events[i].onset);
    EXPECT_DOUBLE_EQ(replayed[i].offset, events[i].offset);
  }
}

// With sound boundaries (the default), each window-level event becomes the
// sounding parts of the recording inside it: bursts of a chirp in silence,
// 1.5 s apart, come out one event a burst, at the burst.
TEST(DetectorBoundaries, EachEventIsTheSoundingPartsOfItsWindowLevelSpan) {
  Detecting s;
  const int rate = s.run->sample_rate();
  const std::vector<float> chirp = test::noisy_chirp(static_cast<std::size_t>(rate) * 12);
  std::vector<float> audio(chirp.size(), 0.0f);
  const std::vector<std::pair<double, double>> bursts = {{2.0, 2.4}, {3.3, 3.8}, {8.0, 8.6}};
  for (auto [on, off] : bursts)
    for (auto i = static_cast<std::size_t>(on * rate); i < static_cast<std::size_t>(off * rate); ++i) audio[i] = chirp[i];
  auto detect = [&](bool sound) {
    DetectOptions o;
    o.hop_s = 0.25;
    o.min_duration = 0;
    o.sound_boundaries = sound;
    ScoringOptions scoring;
    scoring.threshold = -1e300;  // every window: the boundaries alone decide
    LibraryScorer scorer(*s.library, *s.run, scoring);
    Detector d(*s.run, scorer, o, "bursts.wav");
    return detect_all(d, audio, 3000);
  };
  const auto windows = detect(false), parts = detect(true);
  ASSERT_EQ(windows.size(), 1u);  // one event over the whole recording
  ASSERT_EQ(parts.size(), bursts.size());
  for (std::size_t i = 0; i < bursts.size(); ++i) {
    EXPECT_EQ(parts[i].label, "bell");
    EXPECT_NEAR(parts[i].onset, bursts[i].first, 0.021);  // one 20 ms frame
    EXPECT_NEAR(parts[i].offset, bursts[i].second, 0.021);
    EXPECT_EQ(parts[i].score, windows[0].score);
    // Times made of 20 ms frames read 3.3, not 3.3000000000000003.
    std::istringstream fields(format_event_line(parts[i]));
    std::string name, onset, offset;
    std::getline(fields, name, '\t');
    std::getline(fields, onset, '\t');
    std::getline(fields, offset, '\t');
    for (const std::string& t : {onset, offset}) {
      const auto point = t.find('.');
      EXPECT_TRUE(point == std::string::npos || t.size() - point - 1 <= 6) << t;
    }
  }
}

}  // namespace
}  // namespace oneshot
