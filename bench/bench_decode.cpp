// The reader's two decoders on the same files: libsndfile and FFmpeg each
// decode a 5 s, 44.1 kHz mono clip as WAV (16-bit), FLAC, MP3, Ogg Vorbis and
// Ogg Opus, in the same run on the same machine (files in the page cache).
// Prints milliseconds per clip (the fastest of the repeats) and the ratio.
//
//   build/bench_decode [REPEATS]     (default 20; MP3/Ogg files need the ffmpeg program)
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "audio/audio_source.h"

namespace fs = std::filesystem;
using namespace oneshot;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Decodes the whole file with one decoder; the frames decoded.
std::size_t decode_all(std::unique_ptr<AudioSource> source) {
  std::vector<float> block(4096 * static_cast<std::size_t>(source->info().channels));
  std::size_t total = 0;
  while (std::size_t n = source->read(block.data(), 4096)) total += n;
  return total;
}

template <class Open>
double best_ms(const fs::path& path, Open open, int repeats, std::size_t& frames) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    frames = decode_all(open(path));
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const fs::path dir = fs::temp_directory_path() / ("oneshot-bench-decode-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // 5 s of tones and noise, written losslessly by libsndfile; lossy versions by ffmpeg.
  const int rate = 44100;
  std::vector<float> x(5 * rate);
  unsigned seed = 1;
  for (std::size_t i = 0; i < x.size(); ++i) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = 0.3f * static_cast<float>(std::sin(2 * std::numbers::pi * 440 * i / rate)) +
           0.1f * (static_cast<float>(seed >> 8) / 16777216.0f - 0.5f);
  }
  for (auto [name, format] : {std::pair{"clip.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
                              std::pair{"clip.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16}}) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = 1;
    info.format = format;
    SNDFILE* f = sf_open((dir / name).c_str(), SFM_WRITE, &info);
    sf_writef_float(f, x.data(), static_cast<sf_count_t>(x.size()));
    sf_close(f);
  }
  const bool have_ffmpeg = std::system("command -v ffmpeg >/dev/null 2>&1") == 0;
  std::vector<std::string> files = {"clip.wav", "clip.flac"};
  if (have_ffmpeg)
    for (auto [name, codec] : {std::pair{"clip.mp3", "-c:a libmp3lame -b:a 128k"}, std::pair{"clip.ogg", "-c:a libvorbis"},
                               std::pair{"clip.opus", "-c:a libopus"}}) {
      const std::string cmd = "ffmpeg -hide_banner -loglevel error -nostdin -y -i '" + (dir / "clip.wav").string() +
                              "' " + codec + " '" + (dir / name).string() + "'";
      if (std::system(cmd.c_str()) == 0) files.push_back(name);
    }

  std::printf("decoders on the same 5 s mono 44.1 kHz clip, best of %d, %s, %ld online CPUs\n", repeats,
              cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-12s %14s %14s %18s\n", "file", "libsndfile ms", "FFmpeg ms", "FFmpeg/libsndfile");
  for (const auto& name : files) {
    const fs::path path = dir / name;
    std::size_t frames_sndfile = 0, frames_ffmpeg = 0;
    const double sndfile = best_ms(path, open_sndfile_source, repeats, frames_sndfile);
    const double ffmpeg = best_ms(path, open_ffmpeg_source, repeats, frames_ffmpeg);
    std::printf("%-12s %14.3f %14.3f %18.2f   (frames %zu / %zu)\n", name.c_str(), sndfile, ffmpeg, ffmpeg / sndfile,
                frames_sndfile, frames_ffmpeg);
  }
  if (!have_ffmpeg) std::printf("(the ffmpeg program is absent: no MP3/Ogg files to compare)\n");
  fs::remove_all(dir);
  return 0;
}
