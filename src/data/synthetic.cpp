#include "data/synthetic.h"

#include <sndfile.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

// Sound families; class k is family k % kFamilies. Every class also has its
// own base frequency, so neighbouring classes differ in both.
enum Family { kTone, kChirp, kNoise, kClicks, kAm, kHarmonic, kFamilies };

// Explicit, portable random numbers (std:: distributions differ between
// standard libraries; these do not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {  // Box-Muller
    double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
  }

 private:
  std::uint64_t state_;
};

double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// The class's base frequency: classes spread evenly on the mel scale between
// 250 Hz and 0.3 x the sample rate, so they stay apart in a log-mel image.
double base_frequency(int class_index, int n_classes, int sample_rate) {
  const double lo = hz_to_mel(250.0), hi = hz_to_mel(0.3 * sample_rate);
  const double position = n_classes == 1 ? 0.25 : static_cast<double>(class_index) / (n_classes - 1);
  return std::round(mel_to_hz(lo + (hi - lo) * position));
}

// Rates of the rhythmic families (click trains, AM), also per step.
int rhythm_hz(int class_index) { return 6 + 3 * (class_index / kFamilies); }

std::string class_name(int class_index, int n_classes, int sample_rate) {
  const int f = static_cast<int>(base_frequency(class_index, n_classes, sample_rate));
  const int nyquist_safe = static_cast<int>(0.45 * sample_rate);
  switch (class_index % kFamilies) {
    case kTone: return "synth_tone_" + std::to_string(f);
    case kChirp: return "synth_chirp_" + std::to_string(f) + "_" + std::to_string(std::min(f * 8 / 5, nyquist_safe));
    case kNoise: return "synth_noise_" + std::to_string(f);
    case kClicks: return "synth_clicks_" + std::to_string(rhythm_hz(class_index)) + "hz_" + std::to_string(f);
    case kAm: return "synth_am_" + std::to_string(f) + "_" + std::to_string(rhythm_hz(class_index)) + "hz";
    default: return "synth_harmonic_" + std::to_string(std::max(80, f / 4));
  }
}

// RBJ band-pass biquad (constant 0 dB peak gain).
struct BandPass {
  double b0, b2, a1, a2, x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  BandPass(double f, double q, int sr) {
    const double w = kTwoPi * f / sr, alpha = std::sin(w) / (2 * q), a0 = 1 + alpha;
    b0 = alpha / a0;
    b2 = -alpha / a0;
    a1 = -2 * std::cos(w) / a0;
    a2 = (1 - alpha) / a0;
  }
  double operator()(double x) {
    double y = b0 * x + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1;
    x1 = x;
    y2 = y1;
    y1 = y;
    return y;
  }
};

// The sound event itself (unit-ish amplitude), `n` samples long.
std::vector<double> render_event(int family, double f, int rhythm, std::size_t n, int sr, Rng& rng) {
  std::vector<double> out(n);
  const double nyquist_safe = 0.45 * sr;
  switch (family) {
    case kTone:
      for (std::size_t i = 0; i < n; ++i) out[i] = std::sin(kTwoPi * f * i / sr);
      break;
    case kChirp: {  // exponential sweep f -> 1.6 f
      const double f1 = std::min(1.6 * f, nyquist_safe), k = std::log(f1 / f), len = static_cast<double>(n) / sr;
      for (std::size_t i = 0; i < n; ++i) {
        const double t = static_cast<double>(i) / sr;
        out[i] = std::sin(kTwoPi * f * len / k * (std::exp(k * t / len) - 1.0));
      }
      break;
    }
    case kNoise: {
      BandPass filter(f, 4.0, sr);
      for (std::size_t i = 0; i < n; ++i) out[i] = filter(rng.normal());
      break;
    }
    case kClicks: {  // decaying resonant bursts at `rhythm` per second
      const std::size_t period = static_cast<std::size_t>(sr / rhythm);
      const double decay = std::exp(-1.0 / (0.012 * sr));  // ~12 ms ring: pitched clicks
      double amp = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (i % period == 0) amp = 1.0;
        out[i] = amp * std::sin(kTwoPi * f * (i % period) / sr);
        amp *= decay;
      }
      break;
    }
    case kAm:
      for (std::size_t i = 0; i < n; ++i) {
        const double t = static_cast<double>(i) / sr;
        out[i] = 0.5 * (1.0 + std::sin(kTwoPi * rhythm * t)) * std::sin(kTwoPi * f * t);
      }
      break;
    default: {  // harmonic stack on f/4, 1/h amplitudes
      const double f0 = std::max(80.0, f / 4);
      for (int h = 1; h <= 8 && h * f0 < nyquist_safe; ++h)
        for (std::size_t i = 0; i < n; ++i) out[i] += std::sin(kTwoPi * h * f0 * i / sr) / h * 0.6;
      break;
    }
  }
  // Peak-normalised, so the clip's gain alone sets the level.
  double peak = 0;
  for (double v : out) peak = std::max(peak, std::abs(v));
  if (peak > 0)
    for (double& v : out) v /= peak;
  // 10 ms attack and release so onsets do not click.
  const std::size_t ramp = std::min<std::size_t>(n / 2, static_cast<std::size_t>(0.01 * sr));
  for (std::size_t i = 0; i < ramp; ++i) {
    const double g = static_cast<double>(i) / ramp;
    out[i] *= g;
    out[n - 1 - i] *= g;
  }
  return out;
}

std::uint64_t clip_seed(std::uint64_t seed, int class_index, int variant) {
  Rng mix(seed ^ (static_cast<std::uint64_t>(class_index) << 32) ^ static_cast<std::uint64_t>(variant));
  return mix.next();
}

// libsndfile writing into memory, so the file itself can be written atomically.
struct MemoryFile {
  std::string bytes;
  sf_count_t pos = 0;
};
sf_count_t mem_length(void* user) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes.size()); }
sf_count_t mem_seek(sf_count_t offset, int whence, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : static_cast<sf_count_t>(m->bytes.size());
  m->pos = std::max<sf_count_t>(0, base + offset);
  return m->pos;
}
sf_count_t mem_read(void* ptr, sf_count_t count, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  sf_count_t n = std::clamp<sf_count_t>(static_cast<sf_count_t>(m->bytes.size()) - m->pos, 0, count);
  std::copy_n(m->bytes.data() + m->pos, n, static_cast<char*>(ptr));
  m->pos += n;
  return n;
}
sf_count_t mem_write(const void* ptr, sf_count_t count, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  if (m->pos + count > static_cast<sf_count_t>(m->bytes.size())) m->bytes.resize(static_cast<std::size_t>(m->pos + count));
  std::copy_n(static_cast<const char*>(ptr), count, m->bytes.data() + m->pos);
  m->pos += count;
  return count;
}
sf_count_t mem_tell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

// Generated clips are renamed into place (never seen half-written) but not
// fsynced one by one: they are reproducible from the seed, and the CSV,
// written last with a full atomic write, is what makes the dataset complete.
void write_generated_file(const fs::path& path, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path temp = path;
  temp += ".partial";
  {
    errno = 0;
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {  // a full disk: said in words, and no partial file left
      const int err = errno != 0 ? errno : EIO;
      out.close();
      fs::remove(temp, ec);
      throw write_error(path, err);
    }
  }
  fs::rename(temp, path, ec);
  if (ec) throw file_error(path, "cannot replace: " + ec.message());
}

}  // namespace

std::vector<std::string> synthetic_class_names(int n_classes, int sample_rate) {
  std::vector<std::string> names;
  for (int k = 0; k < n_classes; ++k) names.push_back(class_name(k, n_classes, sample_rate));
  return names;
}

std::vector<float> synthesize_clip(int class_index, int variant, const SyntheticOptions& o) {
  const int sr = o.sample_rate;
  const std::size_t n = static_cast<std::size_t>(std::llround(o.duration * sr));
  Rng rng(clip_seed(o.seed, class_index, variant));
  const double pitch = 1.0 + rng.uniform(-o.pitch_jitter, o.pitch_jitter);
  const double f = base_frequency(class_index, o.n_classes, sr) * pitch;
  const std::size_t onset = static_cast<std::size_t>(rng.uniform(0.0, 0.2) * n);
  const std::size_t length = std::min(n - onset, static_cast<std::size_t>(rng.uniform(0.5, 0.8) * n));
  const double gain = rng.uniform(0.3, 0.7);
  const double noise = o.noise_level * rng.uniform(0.8, 1.25);

  std::vector<double> event = render_event(class_index % kFamilies, f, rhythm_hz(class_index), length, sr, rng);
  std::vector<float> clip(n);
  for (std::size_t i = 0; i < n; ++i) {
    double v = noise * rng.normal();
    if (i >= onset && i - onset < length) v += gain * event[i - onset];
    clip[i] = static_cast<float>(std::clamp(v, -1.0, 32767.0 / 32768.0));
  }
  return clip;
}

SyntheticRecording synthesize_recording(const SyntheticOptions& o, const RecordingOptions& r) {
  if (r.classes.empty() || r.n_events < 1) throw Error("synthetic recording: needs classes and events");
  if (!(r.min_event > 0 && r.max_event >= r.min_event && r.min_gap >= 0 && r.duration > 0))
    throw Error("synthetic recording: bad event lengths, gap or duration");
  const int sr = o.sample_rate;
  Rng rng(clip_seed(r.seed, 9973, r.n_events));
  std::vector<double> lengths(static_cast<std::size_t>(r.n_events));
  double total = 0;
  for (double& l : lengths) total += (l = rng.uniform(r.min_event, r.max_event));
  const double free = r.duration - total - r.min_gap * (r.n_events + 1);
  if (free < 0) throw Error("synthetic recording: the events do not fit in the duration");
  // The free time split at n sorted uniform points: n + 1 random extra gaps.
  std::vector<double> cuts(lengths.size());
  for (double& c : cuts) c = rng.uniform(0.0, free);
  std::sort(cuts.begin(), cuts.end());

  SyntheticRecording out;
  const std::size_t n = static_cast<std::size_t>(std::llround(r.duration * sr));
  std::vector<double> mix(n);
  const double noise = o.noise_level;
  for (double& v : mix) v = noise * rng.normal();
  double t = 0, previous_cut = 0;
  for (std::size_t e = 0; e < lengths.size(); ++e) {
    t += r.min_gap + (cuts[e] - previous_cut);
    previous_cut = cuts[e];
    const int k = r.classes[e % r.classes.size()];
    const double pitch = 1.0 + rng.uniform(-o.pitch_jitter, o.pitch_jitter);
    const double f = base_frequency(k, o.n_classes, sr) * pitch;
    const auto first = static_cast<std::size_t>(std::llround(t * sr));
    const std::size_t length = std::min(n - first, static_cast<std::size_t>(std::llround(lengths[e] * sr)));
    const double gain = rng.uniform(0.3, 0.7);
    const std::vector<double> event = render_event(k % kFamilies, f, rhythm_hz(k), length, sr, rng);
    for (std::size_t i = 0; i < length; ++i) mix[first + i] += gain * event[i];
    out.events.push_back({k, static_cast<double>(first) / sr, static_cast<double>(first + length) / sr});
    t += lengths[e];
  }
  out.samples.resize(n);
  for (std::size_t i = 0; i < n; ++i) out.samples[i] = static_cast<float>(std::clamp(mix[i], -1.0, 32767.0 / 32768.0));
  return out;
}

void write_wav16(const fs::path& path, const std::vector<float>& samples, int sample_rate) {
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  MemoryFile memory;
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* sf = sf_open_virtual(&io, SFM_WRITE, &info, &memory);
  if (!sf) throw file_error(path, std::string("cannot encode WAV: ") + sf_strerror(nullptr));
  // Clip instead of wrapping on full-scale input.
  sf_command(sf, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  const sf_count_t written = sf_writef_float(sf, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(sf);
  if (written != static_cast<sf_count_t>(samples.size())) throw file_error(path, "cannot encode WAV samples");
  write_generated_file(path, memory.bytes);
}

SyntheticDataset write_synthetic_dataset(const fs::path& root, const SyntheticOptions& o) {
  if (o.n_classes < 1 || o.clips_per_class < 1) throw Error("synthetic dataset: need at least 1 class and 1 clip");
  if (o.sample_rate < 4000) throw Error("synthetic dataset: sample rate must be at least 4000 Hz");
  if (!(o.duration >= 0.05)) throw Error("synthetic dataset: duration must be at least 0.05 s");
  SyntheticDataset out;
  out.root = root;
  out.class_names = synthetic_class_names(o.n_classes, o.sample_rate);
  for (std::size_t a = 0; a < out.class_names.size(); ++a)
    for (std::size_t b = 0; b < a; ++b)
      if (out.class_names[a] == out.class_names[b])
        throw Error("synthetic dataset: " + std::to_string(o.n_classes) + " classes do not fit at " +
                    std::to_string(o.sample_rate) + " Hz (duplicate class " + out.class_names[a] + ")");

  struct Row {
    std::string file;
    int fold, target;
  };
  std::vector<Row> rows;
  for (int k = 0; k < o.n_classes; ++k) {
    for (int c = 0; c < o.clips_per_class; ++c) {
      const int fold = c % 5 + 1;
      // ESC-50 naming: {fold}-{source id}-{take}-{target}.wav
      std::string file = std::to_string(fold) + "-" + std::to_string(100000 + k * 1000 + c) + "-A-" +
                         std::to_string(k) + ".wav";
      write_wav16(root / "audio" / file, synthesize_clip(k, c, o), o.sample_rate);
      rows.push_back({file, fold, k});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.file < b.file; });
  std::ostringstream csv;
  csv << "filename,fold,target,category,esc10,src_file,take\n";
  for (const auto& r : rows) {
    csv << r.file << ',' << r.fold << ',' << r.target << ',' << out.class_names[static_cast<std::size_t>(r.target)]
        << ',' << (r.target % 2 == 0 ? "True" : "False") << ',' << r.file.substr(2, 6) << ",A\n";
    out.file_names.push_back("audio/" + r.file);
  }
  write_file_atomic(root / "meta" / "esc50.csv", csv.str());
  return out;
}

}  // namespace oneshot
