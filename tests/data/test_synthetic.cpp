// The synthetic ESC-50-shaped dataset: layout, format, determinism.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "data/synthetic.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

SyntheticOptions small() {
  SyntheticOptions o;
  o.n_classes = 12;
  o.clips_per_class = 5;
  o.sample_rate = 16000;
  o.duration = 0.25;
  o.seed = 42;
  return o;
}

TEST(Synthetic, WritesEsc50LayoutWith16BitWavs) {
  TempDir dir;
  const SyntheticOptions o = small();
  SyntheticDataset synth = write_synthetic_dataset(dir.path(), o);
  ASSERT_EQ(synth.file_names.size(), 60u);
  ASSERT_EQ(synth.class_names.size(), 12u);
  EXPECT_EQ(std::set<std::string>(synth.class_names.begin(), synth.class_names.end()).size(), 12u) << "unique names";
  EXPECT_EQ(synth.class_names[0].rfind("synth_tone_", 0), 0u) << synth.class_names[0];
  for (const auto& name : synth.class_names) EXPECT_EQ(name.rfind("synth_", 0), 0u) << name;

  for (const auto& name : synth.file_names) {
    SF_INFO info{};
    SNDFILE* sf = sf_open((dir / name).c_str(), SFM_READ, &info);
    ASSERT_NE(sf, nullptr) << name;
    EXPECT_EQ(info.samplerate, 16000);
    EXPECT_EQ(info.channels, 1);
    EXPECT_EQ(info.frames, 4000);
    EXPECT_EQ(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    sf_close(sf);
  }
  // The CSV loads as ESC-50 with every fold 1..5 used by every class.
  Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.class_names, synth.class_names);
  ASSERT_EQ(ds.clips.size(), 60u);
  std::set<std::pair<int, int>> class_folds;
  for (const auto& c : ds.clips) class_folds.insert({c.class_id, c.fold});
  EXPECT_EQ(class_folds.size(), 60u);
  // No partial files are left behind.
  for (const auto& e : fs::directory_iterator(dir / "audio")) EXPECT_EQ(e.path().extension(), ".wav");
}

TEST(Synthetic, DeterministicFromTheSeed) {
  TempDir a, b, c;
  SyntheticOptions o = small();
  o.n_classes = 3;
  write_synthetic_dataset(a.path(), o);
  write_synthetic_dataset(b.path(), o);
  o.seed = 43;
  write_synthetic_dataset(c.path(), o);
  int differing = 0;
  for (const auto& e : fs::directory_iterator(a / "audio")) {
    const std::string name = "audio/" + e.path().filename().string();
    EXPECT_EQ(read_file(a / name), read_file(b / name)) << name;
    differing += read_file(a / name) != read_file(c / name);
  }
  EXPECT_EQ(differing, 15);
  EXPECT_EQ(read_file(a / "meta/esc50.csv"), read_file(c / "meta/esc50.csv"));
}

double rms(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * v;
  return std::sqrt(s / x.size());
}

// Energy of x at frequency f (Goertzel-like single DFT bin, normalised).
double tone_energy(const std::vector<float>& x, double f, int sr) {
  double re = 0, im = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    re += x[i] * std::cos(2 * M_PI * f * i / sr);
    im += x[i] * std::sin(2 * M_PI * f * i / sr);
  }
  return (re * re + im * im) / x.size();
}

TEST(Synthetic, ClipsVaryButKeepTheirClassSound) {
  SyntheticOptions o = small();
  o.duration = 1.0;
  // Tone classes (0 and 6) sit at their named frequency, give or take the jitter.
  const auto names = synthetic_class_names(o.n_classes, o.sample_rate);
  for (int k : {0, 6}) {
    const double f = std::stod(names[static_cast<std::size_t>(k)].substr(std::string("synth_tone_").size()));
    for (int v = 0; v < 3; ++v) {
      auto clip = synthesize_clip(k, v, o);
      ASSERT_EQ(clip.size(), 16000u);
      for (float s : clip) ASSERT_TRUE(s >= -1.0f && s < 1.0f);
      EXPECT_GT(rms(clip), 0.05);
      // Within +-3% jitter: the energy near f dwarfs the energy an octave away.
      double near = 0;
      for (double r = 0.96; r <= 1.04; r += 0.005) near = std::max(near, tone_energy(clip, f * r, o.sample_rate));
      EXPECT_GT(near, 100 * tone_energy(clip, f * 2, o.sample_rate)) << names[static_cast<std::size_t>(k)];
    }
  }
  EXPECT_NE(synthesize_clip(3, 0, o), synthesize_clip(3, 1, o));
  EXPECT_EQ(synthesize_clip(3, 1, o), synthesize_clip(3, 1, o));
}

TEST(Synthetic, RejectsImpossibleSettings) {
  TempDir dir;
  SyntheticOptions o = small();
  o.n_classes = 0;
  EXPECT_THROW(write_synthetic_dataset(dir.path(), o), std::exception);
  o = small();
  o.sample_rate = 1000;
  EXPECT_THROW(write_synthetic_dataset(dir.path(), o), std::exception);
}

}  // namespace
}  // namespace oneshot
