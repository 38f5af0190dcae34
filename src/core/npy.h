#pragma once
// NumPy .npy files (format 1.0/2.0, little-endian float32), the exchange
// format for spectrograms and the librosa reference fixtures.
#include <cstddef>
#include <filesystem>
#include <vector>

namespace oneshot {

struct NpyArray {
  std::vector<std::size_t> shape;
  std::vector<float> data;  // C order
  std::size_t size() const { return data.size(); }
};

// Reads '<f4' or '<f8' (converted to float); anything else is an Error naming the file.
NpyArray read_npy(const std::filesystem::path& path);
// Writes '<f4', C order, atomically.
void write_npy(const std::filesystem::path& path, const float* data, const std::vector<std::size_t>& shape);

}  // namespace oneshot
