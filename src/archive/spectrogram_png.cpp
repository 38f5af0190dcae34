#include "archive/spectrogram_png.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace oneshot::archive {
namespace {

// matplotlib's magma at 0, 1/8, ..., 1.
constexpr std::array<std::array<double, 3>, 9> kMagma = {{{0, 0, 4},
                                                          {28, 16, 68},
                                                          {79, 18, 123},
                                                          {129, 37, 129},
                                                          {181, 54, 122},
                                                          {229, 80, 100},
                                                          {251, 135, 97},
                                                          {254, 194, 135},
                                                          {252, 253, 191}}};

std::array<unsigned char, 3> colour(double t) {
  t = std::clamp(t, 0.0, 1.0) * (kMagma.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(t), kMagma.size() - 2);
  const double f = t - static_cast<double>(i);
  std::array<unsigned char, 3> c{};
  for (int k = 0; k < 3; ++k)
    c[k] = static_cast<unsigned char>(std::lround(kMagma[i][k] + f * (kMagma[i + 1][k] - kMagma[i][k])));
  return c;
}

void put32(std::string& s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xFF);
}

void chunk(std::string& png, const char* type, const std::string& data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  png += body;
  put32(png, static_cast<std::uint32_t>(
                 crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

}  // namespace

std::string spectrogram_png(const float* log_mel, std::size_t n_mels, std::size_t n_frames,
                            const SpectrogramImage& style) {
  if (n_mels == 0 || n_frames == 0) throw Error("spectrogram image: nothing to draw (no frames)");
  const std::size_t width = std::min(n_frames, std::max<std::size_t>(style.max_width, 1));
  const std::size_t rh = std::max<std::size_t>(style.row_height, 1);
  const std::size_t height = n_mels * rh;
  // Max-pool frames into columns.
  std::vector<float> pooled(n_mels * width, -std::numeric_limits<float>::infinity());
  float top = -std::numeric_limits<float>::infinity();
  for (std::size_t m = 0; m < n_mels; ++m)
    for (std::size_t t = 0; t < n_frames; ++t) {
      const float v = log_mel[m * n_frames + t];
      if (std::isnan(v) || v == std::numeric_limits<float>::infinity())
        throw Error("spectrogram image: a value is not finite (band " + std::to_string(m) + ", frame " +
                    std::to_string(t) + ")");
      float& p = pooled[m * width + t * width / n_frames];
      p = std::max(p, v);
      top = std::max(top, v);
    }
  const double range = std::log(1e8);  // 80 dB of power
  std::vector<bool> marked(width, false);
  for (double f : style.marks)
    if (f >= 0 && f <= 1) marked[std::min(width - 1, static_cast<std::size_t>(f * static_cast<double>(width)))] = true;

  std::string raw;
  raw.reserve(height * (1 + 3 * width));
  for (std::size_t y = 0; y < height; ++y) {
    const std::size_t m = n_mels - 1 - y / rh;  // low bands at the bottom
    raw += '\0';                                 // filter: none
    for (std::size_t x = 0; x < width; ++x) {
      std::array<unsigned char, 3> c;
      if (marked[x] && (y / 3) % 2 == 0) {
        c = {255, 255, 255};  // dashed white line
      } else {
        const float v = pooled[m * width + x];
        c = std::isfinite(top) && std::isfinite(v) ? colour(1.0 - (top - v) / range) : colour(0);
      }
      raw.append(reinterpret_cast<const char*>(c.data()), 3);
    }
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string z(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw Error("spectrogram image: zlib could not compress it");
  z.resize(size);

  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put32(ihdr, static_cast<std::uint32_t>(width));
  put32(ihdr, static_cast<std::uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, adaptive filters, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

}  // namespace oneshot::archive
