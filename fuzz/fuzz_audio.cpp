// Audio files (audio/container_check, audio/audio_reader): the container
// checks and the streaming reader on any bytes (WAV/FLAC/Ogg/MP3 seeds):
// frames, or an Error naming the file, never a crash. Even-sized inputs are
// read at the file's rate, odd-sized ones resampled to 16 kHz (the streaming
// resampler). Reading stops after a few seconds of audio.
#include <cmath>
#include <vector>

#include "audio/audio_reader.h"
#include "audio/container_check.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const auto path = fuzz::write_input(data, size, "clip");
  fuzz::expect_clean("container checks", [&] {
    (void)container_truncation(path);
    (void)flac_declared_length(path);
    (void)mp3_declared_length(path);
    (void)wav_format_tag(path);
    (void)iff_stream_declared_length(std::vector<unsigned char>(data, data + std::min<std::size_t>(size, 4096)));
  });
  fuzz::expect_clean("AudioReader", [&] {
    ReaderOptions options;
    if (size & 1) options.sample_rate = 16000;
    AudioReader reader(path, options);
    fuzz::require(reader.info().sample_rate > 0 && reader.info().channels > 0, "a reader has a rate and channels");
    std::vector<float> block(4096);
    std::uint64_t total = 0;
    while (total < 200000) {
      const std::size_t n = reader.read(block.data(), block.size());
      if (n == 0) break;
      fuzz::require(n <= block.size(), "a block fits");
      for (std::size_t i = 0; i < n; ++i) fuzz::require(std::isfinite(block[i]), "finite samples");
      total += n;
    }
    fuzz::require(reader.frames_read() == total, "frames_read counts what was read");
  });
  return 0;
}
