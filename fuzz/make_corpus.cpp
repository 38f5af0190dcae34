// Writes the fuzz targets' seed corpus with the program's own writers:
//   fuzz_make_corpus DIR   ->  DIR/<reader>/seed-*
// Small on purpose (a few clips of a few frames, a two-class library, a
// study of three trials): libFuzzer's inputs are capped by the largest seed.
#include <sndfile.h>

#include <cmath>
#include <fstream>
#include <iostream>

#include "core/config.h"
#include "core/npy.h"
#include "data/cache_file.h"
#include "data/synthetic.h"
#include "enroll/library.h"
#include "events/annotation_tables.h"
#include "events/event.h"
#include "tune/sampler.h"
#include "tune/space.h"
#include "train/run_dir.h"
#include "train/split.h"
#include "tune/study.h"

namespace fs = std::filesystem;
using namespace oneshot;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void cache_seeds(const fs::path& dir) {
  for (CacheDtype dtype : {CacheDtype::float32, CacheDtype::float16}) {
    CacheHeader h;
    h.key = 0x1234;
    h.dtype = dtype;
    h.n_clips = 3;
    h.n_mels = 4;
    h.n_frames = 5;
    h.features_toml = "sample_rate = 8000\nn_mels = 4\n";
    h.class_names = {"dog", "rain"};
    h.file_names = {"dog/1.wav", "dog/2.wav", "rain/1.wav"};
    h.class_ids = {0, 0, 1};
    if (dtype == CacheDtype::float16) {
      h.skipped_names = {"rain/bad.wav"};
      h.skipped_reasons = {"not an audio file"};
    }
    std::vector<float> values(h.n_clips * h.n_mels * h.n_frames);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = -80.0f + static_cast<float>(i);
    write_cache_file(dir / (dtype == CacheDtype::float32 ? "seed-f32.bin" : "seed-f16.bin"), h, values.data());
  }
}

void npy_seeds(const fs::path& dir) {
  const std::vector<float> v = {0.5f, -1, 2, 3.25f, 4, 5};
  write_npy(dir / "seed-2d.npy", v.data(), {2, 3});
  write_npy(dir / "seed-1d.npy", v.data(), {6});
  write_npy(dir / "seed-3d.npy", v.data(), {1, 2, 3});
  NpyRowWriter rows(dir / "seed-rows.npy", 2);
  rows.append(v.data(), 3);
  rows.commit();
}

void event_seeds(const fs::path& dir) {
  std::vector<Event> events = {{"a.wav", 0.5, 1.25, "dog"}, {"a.wav", 2, 3.5, "rain"}, {"b.wav", 0, 0.75, "dog"}};
  write_text(dir / "seed-sed.tsv", format_event_list(events));
  events[0].score = 0.9;
  events[1].score = 0.4;
  write_text(dir / "seed-sed-scores.tsv", format_event_list(events));
  write_text(dir / "seed-raven.txt", format_raven_table(events, 8000));
  write_text(dir / "seed-audacity.txt", format_audacity_labels(events));
}

void config_seeds(const fs::path& dir, const fs::path& source) {
  write_text(dir / "seed-default.toml", Config().to_toml());
  for (const auto& entry : fs::directory_iterator(source / "configs")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".toml" || name.find("space") != std::string::npos) continue;
    write_text(dir / ("seed-" + name), read_text(entry.path()));
  }
}

void space_seeds(const fs::path& dir) {
  write_text(dir / "seed-original.toml", tune::original_space_toml());
  write_text(dir / "seed-default.toml", tune::default_space_toml());
}

void write_audio(const fs::path& path, int format, const std::vector<float>& samples, int rate, int channels) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error(path.string() + ": " + sf_strerror(nullptr));
  sf_writef_float(f, samples.data(), static_cast<sf_count_t>(samples.size() / channels));
  sf_close(f);
}

void audio_seeds(const fs::path& dir) {
  SyntheticOptions o;
  o.sample_rate = 8000;
  o.duration = 0.05;
  const std::vector<float> mono = synthesize_clip(1, 0, o);
  write_wav16(dir / "seed.wav", mono, 8000);
  std::vector<float> stereo;
  for (float s : mono) {
    stereo.push_back(s);
    stereo.push_back(-s);
  }
  write_audio(dir / "seed-float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, stereo, 8000, 2);
  write_audio(dir / "seed.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, mono, 8000, 1);
  write_audio(dir / "seed.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, mono, 8000, 1);
  SyntheticOptions longer = o;
  longer.duration = 0.3;  // a few codec frames
  const std::vector<float> lossy = synthesize_clip(2, 0, longer);
  write_audio(dir / "seed.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, lossy, 8000, 1);
  write_audio(dir / "seed.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, lossy, 8000, 1);
}

void library_seed(const fs::path& dir) {
  LibraryModel model{"/runs/demo", "fp-0123", 4, 1.0, 16000};
  const fs::path path = dir / "seed.db";
  {
    ClassLibrary library = ClassLibrary::open_or_create(path, model);
    library.add_examples("dog", false, {{0, "dog", false, "/sounds/dog.wav", 0.5, 1.5, 0.5, {1, 0, 0, 0}, ""},
                                        {0, "dog", false, "/sounds/dog.wav", {}, {}, 1.0, {0.9f, 0.1f, 0, 0}, ""}});
    library.add_examples("noise", true, {{0, "noise", true, "/sounds/noise.wav", {}, {}, 0, {0, 0, 1, 0}, ""}});
    Calibration c;
    c.threshold = 0.4;
    c.far_curve = {{0.01, 0.6, 0.2}, {0.03, 0.4, 0.1}};
    library.set_calibration(c);
    library.set_cohort({{"rain/1.wav", "rain", {0, 1, 0, 0}}});
    library.set_threshold("dog", 0.5, "user");
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(path.string() + suffix);
}

void study_seed(const fs::path& dir) {
  const fs::path path = dir / "seed.db";
  {
    const tune::SearchSpace space = tune::SearchSpace::parse_toml(tune::default_space_toml(), "default-space.toml");
    tune::Study study(path.string(), "default", &space);
    tune::RandomSampler sampler;
    TuneConfig config;
    config.sampler = "random";
    for (int i = 0; i < 3; ++i) {
      const tune::Claim claim = study.claim(sampler, config, "fuzz:1");
      study.report(claim, "fuzz:1", 1, 0.5 + i);
      study.finish(claim, "fuzz:1", i == 2 ? tune::TrialState::pruned : tune::TrialState::complete, 0.4 + i, "");
    }
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(path.string() + suffix);
}

void run_seeds(const fs::path& dir) {
  // fuzz_run: the first byte picks the reader (even: run.json, odd: split.json).
  RunInfo info;
  info.data_dir = "/data/esc50";
  info.layout = "esc50";
  info.cache_file = "/data/esc50/.oneshot-cache/features-1.bin";
  info.n_clips = 2000;
  info.n_mels = 128;
  info.n_frames = 431;
  info.n_classes = 50;
  info.save(dir / "run.json");
  write_text(dir / "seed-run.json", std::string(1, '\0') + read_text(dir / "run.json"));
  fs::remove(dir / "run.json");
  const std::vector<std::string> classes = {"dog", "rain", "sea_waves", "crying_baby", "clock_tick", "sneezing"};
  ClassSplit split{{0, 1, 2}, {3}, {4, 5}};
  write_text(dir / "seed-split.json", std::string(1, '\1') + split.to_json(classes));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_make_corpus OUT_DIR SOURCE_DIR\n";
    return 2;
  }
  const fs::path out = argv[1], source = argv[2];
  try {
    auto dir = [&](const char* name) {
      fs::create_directories(out / name);
      return out / name;
    };
    cache_seeds(dir("cache"));
    npy_seeds(dir("npy"));
    event_seeds(dir("events"));
    config_seeds(dir("config"), source);
    space_seeds(dir("space"));
    audio_seeds(dir("audio"));
    library_seed(dir("library"));
    study_seed(dir("study"));
    run_seeds(dir("run"));
  } catch (const std::exception& e) {
    std::cerr << "fuzz_make_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
