// libsndfile behind AudioReader: WAV/AIFF/FLAC/Ogg/MP3 and the other formats
// libsndfile 1.2 recognises.
#include <sndfile.h>
#include <unistd.h>

#include <limits>
#include <string>

#include "audio/audio_source.h"
#include "audio/container_check.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

std::string format_name(int format, int which) {
  SF_FORMAT_INFO info{};
  info.format = format & which;
  // SFC_GET_FORMAT_INFO looks a format up by its value (SFC_GET_FORMAT_MAJOR
  // and _SUBTYPE take an index into libsndfile's list instead).
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) != 0 || !info.name)
    return {};
  return info.name;
}

// Our short name for the container/codec.
std::string describe(int format) {
  const int major = format & SF_FORMAT_TYPEMASK, sub = format & SF_FORMAT_SUBMASK;
  if (major == SF_FORMAT_MPEG) return "MP3";
  if (major == SF_FORMAT_FLAC) return "FLAC";
  if (major == SF_FORMAT_OGG) return sub == SF_FORMAT_OPUS ? "Ogg Opus" : sub == SF_FORMAT_VORBIS ? "Ogg Vorbis" : "Ogg";
  const std::string m = format_name(format, SF_FORMAT_TYPEMASK), s = format_name(format, SF_FORMAT_SUBMASK);
  return s.empty() ? m : m + ", " + s;
}

class SndfileSource final : public AudioSource {
 public:
  SndfileSource(fs::path path, SNDFILE* file, const SF_INFO& sf) : path_(std::move(path)), file_(file) {
    info_.sample_rate = sf.samplerate;
    info_.channels = sf.channels;
    info_.decoder = "libsndfile";
    info_.format = describe(sf.format);
    const int major = sf.format & SF_FORMAT_TYPEMASK;
    const bool on_disk = path_ != "-";
    if (major == SF_FORMAT_FLAC) {
      if (on_disk)
        if (auto d = flac_declared_length(path_)) info_.declared_frames = d->frames, info_.codec_frame = d->codec_frame;
    } else if (major == SF_FORMAT_MPEG) {
      // libsndfile's count for MP3 is an estimate from the file size unless
      // a Xing/Info/VBRI header states one (libsndfile, through mpg123, then
      // trims the LAME tag's delay and padding as we subtract them).
      if (on_disk)
        if (auto d = mp3_declared_length(path_)) info_.declared_frames = d->frames, info_.codec_frame = d->codec_frame;
    } else if (major != SF_FORMAT_OGG) {
      // PCM-like containers: the count comes from the data size (the
      // container check compares that with the file size).
      if (sf.frames > 0 && sf.frames < std::numeric_limits<sf_count_t>::max() / 2)
        info_.declared_frames = static_cast<std::uint64_t>(sf.frames);
    }
  }
  ~SndfileSource() override { sf_close(file_); }

  std::size_t read(float* out, std::size_t max_frames) override {
    const sf_count_t got = sf_readf_float(file_, out, static_cast<sf_count_t>(max_frames));
    if (got > 0) {
      decoded_ += static_cast<std::uint64_t>(got);
      return static_cast<std::size_t>(got);
    }
    if (sf_error(file_) != SF_ERR_NO_ERROR)
      throw file_error(path_, "corrupt or truncated after " + std::to_string(decoded_) + " frames (libsndfile: " +
                                  sf_strerror(file_) + ")");
    return 0;
  }

 private:
  fs::path path_;
  SNDFILE* file_;
  std::uint64_t decoded_ = 0;
};

}  // namespace

std::unique_ptr<AudioSource> open_sndfile_source(const fs::path& path) {
  SF_INFO info{};
  SNDFILE* file = path == "-" ? sf_open_fd(STDIN_FILENO, SFM_READ, &info, 0) : sf_open(path.c_str(), SFM_READ, &info);
  if (!file) {
    const std::string why = sf_strerror(nullptr);
    if (why.find("Channel count is zero") != std::string::npos) throw file_error(path, "zero channels");
    if (why.find("not recognised") != std::string::npos) return nullptr;  // FFmpeg may know it
    // What libsndfile says of a few bytes of text ("No Error.") or of a
    // damaged MP3 ("File does not exist or is not a regular file (possibly a
    // pipe?)") is not about the file, which exists: FFmpeg gives the reason.
    if (why.find("No Error") != std::string::npos || why.find("does not exist") != std::string::npos) return nullptr;
    if (path != "-")
      if (auto tag = wav_format_tag(path); tag && why.find("'fmt '") != std::string::npos)
        throw file_error(path, "unsupported audio format: " + *tag + " (libsndfile: " + why + ")");
    throw file_error(path, "cannot decode (libsndfile: " + why + ")");
  }
  if (info.channels <= 0) {
    sf_close(file);
    throw file_error(path, "zero channels");
  }
  if (info.samplerate <= 0) {
    sf_close(file);
    throw file_error(path, "invalid sample rate " + std::to_string(info.samplerate));
  }
  // libsndfile stops an MP3 at its frame count, which without a Xing/Info/
  // VBRI header is an estimate from the first frame's bit rate: a VBR file
  // would end early without a word. FFmpeg decodes such a stream to its end.
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG && path != "-" && !mp3_declared_length(path)) {
    sf_close(file);
    return nullptr;
  }
  return std::make_unique<SndfileSource>(path, file, info);
}

}  // namespace oneshot
