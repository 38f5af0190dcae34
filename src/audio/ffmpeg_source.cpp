// FFmpeg behind AudioReader (libavformat demuxes, libavcodec decodes,
// libswresample turns every sample format into interleaved float): M4A/AAC,
// MP4/MOV audio tracks, WebM/Matroska, 3GP, AMR, and standard input.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "audio/audio_source.h"
#include "audio/container_check.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

std::string av_error(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

// Our name for the container: FFmpeg's demuxer names list every alias.
std::string container_name(const AVInputFormat* format) {
  const std::string name = format ? format->name : "";
  if (name.find("mp4") != std::string::npos) return "MP4/M4A/MOV";
  if (name.find("matroska") != std::string::npos) return "WebM/Matroska";
  if (name == "ogg") return "Ogg";
  if (name == "wav") return "WAV";
  if (name == "mp3") return "MP3";
  if (name == "amr" || name == "amrnb" || name == "amrwb") return "AMR";
  if (name == "aac") return "AAC (ADTS)";
  if (name == "flac") return "FLAC";
  std::string upper = name.substr(0, name.find(','));
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return upper;
}

std::string codec_name(AVCodecID id) {
  std::string name = avcodec_get_name(id);
  if (name == "aac") return "AAC";
  if (name == "opus") return "Opus";
  if (name == "vorbis") return "Vorbis";
  if (name == "mp3") return "MP3";
  if (name == "flac") return "FLAC";
  if (name == "alac") return "ALAC";
  return name;
}

// Whether the first bytes look like a format FFmpeg knows (no name hints):
// tells a damaged file of a known format from one that is not audio at all.
const AVInputFormat* sniff(const fs::path& path) {
  std::vector<unsigned char> bytes(4096 + AVPROBE_PADDING_SIZE, 0);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), 4096);
  AVProbeData probe{};
  probe.buf = bytes.data();
  probe.buf_size = static_cast<int>(in.gcount());
  probe.filename = "";
  int score = 0;
  const AVInputFormat* format = av_probe_input_format3(&probe, 1, &score);
  return score >= AVPROBE_SCORE_MAX / 4 ? format : nullptr;
}

// The first bytes read from standard input, kept until open() has read the
// WAV/AIFF header in them: a pipe cannot be rewound to look again, and
// FFmpeg's WAV demuxer states no length from a pipe (a cut WAV passed):
// a stream (standard input, a named pipe, bash's <(...)) is read through our
// own reader, which keeps its first bytes for the WAV/AIFF header's length.
struct StreamHead {
  static constexpr std::size_t kBytes = 1 << 16;  // headers beyond this state no length we check
  int fd = STDIN_FILENO;
  bool owned = false;  // opened here (a named pipe), closed here
  std::vector<unsigned char> bytes;
  bool recording = true;
};

int read_stream(void* opaque, std::uint8_t* buffer, int size) {
  auto* head = static_cast<StreamHead*>(opaque);
  for (;;) {
    const ssize_t n = ::read(head->fd, buffer, static_cast<std::size_t>(size));
    if (n > 0) {
      if (head->recording && head->bytes.size() < StreamHead::kBytes)
        head->bytes.insert(head->bytes.end(), buffer,
                           buffer + std::min<std::size_t>(static_cast<std::size_t>(n), StreamHead::kBytes - head->bytes.size()));
      return static_cast<int>(n);
    }
    if (n == 0) return AVERROR_EOF;
    if (errno != EINTR) return AVERROR(errno);
  }
}

class FfmpegSource final : public AudioSource {
 public:
  explicit FfmpegSource(const fs::path& path) : path_(path) {
    try {
      open();
    } catch (...) {
      release();  // the destructor does not run for a constructor that throws
      throw;
    }
  }

  ~FfmpegSource() override { release(); }

  std::size_t read(float* out, std::size_t max_frames) override {
    const std::size_t channels = static_cast<std::size_t>(info_.channels);
    while (pos_ == converted_.size() / channels) {
      if (!decode_some()) return 0;
    }
    const std::size_t n = std::min(max_frames, converted_.size() / channels - pos_);
    std::copy_n(converted_.data() + pos_ * channels, n * channels, out);
    pos_ += n;
    return n;
  }

 private:
  void open() {
    const fs::path& path = path_;
    static std::once_flag quiet;
    std::call_once(quiet, [] { av_log_set_level(AV_LOG_QUIET); });  // we report errors ourselves
    std::error_code regular_ec;
    const bool streamed = path == "-" || !fs::is_regular_file(path, regular_ec);
    format_ = avformat_alloc_context();
    if (!format_) throw file_error(path_, "out of memory");
    if (streamed) {
      if (path != "-") {
        stream_head_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (stream_head_.fd < 0) throw file_error(path_, std::string("cannot open: ") + std::strerror(errno));
        stream_head_.owned = true;
      }
      constexpr int kBuffer = 1 << 16;
      auto* buffer = static_cast<std::uint8_t*>(av_malloc(kBuffer));
      io_ = avio_alloc_context(buffer, kBuffer, 0, &stream_head_, read_stream, nullptr, nullptr);
      if (!io_) throw file_error(path_, "out of memory");
      format_->pb = io_;
      format_->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    // "file:" always: a name such as "12:30.m4a" (or "http://...") would
    // otherwise be taken for a protocol.
    const std::string url = streamed ? std::string("pipe:") : "file:" + path.string();
    if (int err = avformat_open_input(&format_, url.c_str(), nullptr, nullptr); err < 0) {
      format_ = nullptr;  // freed by avformat_open_input
      std::error_code ec;
      if (fs::is_regular_file(path, ec))  // a pipe cannot be read again
        if (const AVInputFormat* known = sniff(path))
          throw file_error(path_, "corrupt or truncated " + container_name(known) + " file (FFmpeg: " + av_error(err) + ")");
      throw file_error(path_, kNotAudio);
    }
    if (int err = avformat_find_stream_info(format_, nullptr); err < 0)
      throw file_error(path_, "corrupt or truncated " + container_name(format_->iformat) + " file (FFmpeg: " +
                                  av_error(err) + ")");
    stream_ = av_find_best_stream(format_, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (stream_ < 0) {
      bool has_other = format_->nb_streams > 0;
      throw file_error(path_, has_other ? "no audio track (a " + container_name(format_->iformat) + " file without sound)"
                                        : std::string(kNotAudio));
    }
    const AVStream* st = format_->streams[stream_];
    const AVCodecParameters* par = st->codecpar;
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (!codec)
      throw file_error(path_, "unsupported audio format: " + codec_name(par->codec_id) + " in " +
                                  container_name(format_->iformat) + " (FFmpeg has no decoder for it)");
    codec_ = avcodec_alloc_context3(codec);
    if (!codec_ || avcodec_parameters_to_context(codec_, par) < 0) throw file_error(path_, "out of memory");
    if (int err = avcodec_open2(codec_, codec, nullptr); err < 0)
      throw file_error(path_, "cannot decode " + codec_name(par->codec_id) + " (FFmpeg: " + av_error(err) + ")");
    if (codec_->ch_layout.nb_channels <= 0) throw file_error(path_, "zero channels");
    if (codec_->sample_rate <= 0) throw file_error(path_, "invalid sample rate " + std::to_string(codec_->sample_rate));
    packet_ = av_packet_alloc();
    frame_ = av_frame_alloc();
    if (!packet_ || !frame_) throw file_error(path_, "out of memory");

    info_.sample_rate = codec_->sample_rate;
    info_.channels = codec_->ch_layout.nb_channels;
    info_.decoder = "FFmpeg";
    info_.format = container_name(format_->iformat) + " (" + codec_name(par->codec_id) + ")";
    // A length the container states (MP4's track duration, Matroska's
    // segment duration), never one estimated from the bit rate; less the
    // samples the codec's priming hides.
    // Matroska states the segment's duration only (in ms), not the track's:
    // the audio's length only where the audio is the segment's one track.
    std::int64_t frames = 0;
    if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
      frames = av_rescale_q(st->duration, st->time_base, AVRational{1, codec_->sample_rate});
    else if (container_name(format_->iformat) == "WebM/Matroska" && format_->nb_streams == 1 &&
             format_->duration > 0 && format_->duration != AV_NOPTS_VALUE)
      frames = av_rescale_q(format_->duration, AVRational{1, AV_TIME_BASE}, AVRational{1, codec_->sample_rate});
    // FFmpeg's MP3 duration is the Xing frame count before it trims the LAME
    // delay and padding (a whole MP3 from a pipe read "decoded 88200 of 89856").
    const bool mp3 = container_name(format_->iformat) == "MP3";
    if (frames > 0 && !mp3 && format_->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
      const std::int64_t priming = std::max(par->initial_padding, 0);
      if (frames > priming) info_.declared_frames = static_cast<std::uint64_t>(frames - priming);
      info_.codec_frame = static_cast<std::uint64_t>(par->frame_size > 0 ? par->frame_size : 4096) +
                          static_cast<std::uint64_t>(priming);
    }
    // From a pipe the WAV/AIFF header's own length decides, as
    // container_truncation's does for files (AudioReader checks it at the end).
    if (streamed) {
      const StreamHeaderLength header = iff_stream_declared_length(stream_head_.bytes);
      if (header.iff) {
        info_.declared_frames.reset();
        info_.codec_frame = 1;
        if (header.declared) {
          info_.declared_frames = header.declared->frames;
          info_.codec_frame = header.declared->codec_frame;
          iff_length_stated_ = true;
        }
      }
      stream_head_.recording = false;
      std::vector<unsigned char>().swap(stream_head_.bytes);
    }
  }

  void release() {
    swr_free(&swr_);
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&codec_);
    avformat_close_input(&format_);
    if (io_) {
      av_freep(&io_->buffer);
      avio_context_free(&io_);
    }
    if (format_) avformat_free_context(format_);  // allocated but not opened
    if (stream_head_.owned) ::close(stream_head_.fd);
    stream_head_.owned = false;
    format_ = nullptr;
  }

  // Decodes the next frame into converted_; false at the end of the stream.
  bool decode_some() {
    for (;;) {
      const int got = avcodec_receive_frame(codec_, frame_);
      if (got == 0) {
        convert();
        av_frame_unref(frame_);
        if (!converted_.empty()) return true;
        continue;
      }
      if (got == AVERROR_EOF) return false;
      if (got != AVERROR(EAGAIN)) throw corrupt(got);
      if (draining_) return false;
      const int read = av_read_frame(format_, packet_);
      if (read == AVERROR_EOF) {
        draining_ = true;
        avcodec_send_packet(codec_, nullptr);
        continue;
      }
      if (read < 0) throw corrupt(read);
      if (packet_->stream_index == stream_) {
        const int sent = avcodec_send_packet(codec_, packet_);
        if (sent < 0 && sent != AVERROR(EAGAIN)) {
          av_packet_unref(packet_);
          throw corrupt(sent);
        }
      }
      av_packet_unref(packet_);
    }
  }

  Error corrupt(int code) const {
    // A PCM stream cut mid-frame ends in a packet the decoder calls invalid:
    // the same truncation as a cut on a frame boundary, so the same words.
    if (iff_length_stated_ && decoded_ + info_.codec_frame < *info_.declared_frames)
      return file_error(path_, "truncated: decoded " + std::to_string(decoded_) + " of " +
                                   std::to_string(*info_.declared_frames) + " frames the header declares");
    return file_error(path_, "corrupt or truncated after " + std::to_string(decoded_) + " frames (FFmpeg: " +
                                 av_error(code) + ")");
  }

  void convert() {
    if (frame_->ch_layout.nb_channels != info_.channels)
      throw file_error(path_, "the channel count changes from " + std::to_string(info_.channels) + " to " +
                                  std::to_string(frame_->ch_layout.nb_channels) + " within the stream");
    if (!swr_) {
      AVChannelLayout layout{};
      if (frame_->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&layout, frame_->ch_layout.nb_channels);
      else
        av_channel_layout_copy(&layout, &frame_->ch_layout);
      const int err = swr_alloc_set_opts2(&swr_, &layout, AV_SAMPLE_FMT_FLT, frame_->sample_rate, &layout,
                                          static_cast<AVSampleFormat>(frame_->format), frame_->sample_rate, 0, nullptr);
      av_channel_layout_uninit(&layout);
      if (err < 0 || swr_init(swr_) < 0) throw file_error(path_, "cannot convert its samples (libswresample)");
    }
    const std::size_t channels = static_cast<std::size_t>(info_.channels);
    converted_.resize(static_cast<std::size_t>(frame_->nb_samples) * channels);
    auto* dst = reinterpret_cast<std::uint8_t*>(converted_.data());
    const int n = swr_convert(swr_, &dst, frame_->nb_samples, const_cast<const std::uint8_t**>(frame_->extended_data),
                              frame_->nb_samples);
    if (n < 0) throw file_error(path_, "cannot convert its samples (libswresample: " + av_error(n) + ")");
    converted_.resize(static_cast<std::size_t>(n) * channels);
    pos_ = 0;
    decoded_ += static_cast<std::uint64_t>(n);
  }

  fs::path path_;
  StreamHead stream_head_;
  AVFormatContext* format_ = nullptr;
  AVIOContext* io_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
  SwrContext* swr_ = nullptr;
  int stream_ = -1;
  bool draining_ = false;
  bool iff_length_stated_ = false;  // standard input's WAV/AIFF header stated the length
  std::vector<float> converted_;  // one decoded frame, interleaved float
  std::size_t pos_ = 0;           // frames of it already returned
  std::uint64_t decoded_ = 0;
};

}  // namespace

std::unique_ptr<AudioSource> open_ffmpeg_source(const fs::path& path) { return std::make_unique<FfmpegSource>(path); }

}  // namespace oneshot
