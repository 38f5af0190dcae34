#pragma once
// NumPy .npy files (format 1.0/2.0, little-endian float32), the exchange
// format for spectrograms and the librosa reference fixtures.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/atomic_file.h"

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

// A (rows, cols) '<f4' array written a few rows at a time, so that its size
// need not be known, nor held in memory: the header's row count is written at
// commit(). Nothing appears at PATH before commit() (AtomicWriter); a writer
// destroyed without it leaves no file.
class NpyRowWriter {
 public:
  NpyRowWriter(std::filesystem::path path, std::size_t cols);
  void append(const float* rows, std::size_t n_rows);  // n_rows x cols floats, C order
  std::size_t rows() const { return rows_; }
  void commit();

 private:
  std::unique_ptr<AtomicWriter> out_;
  std::size_t cols_, rows_ = 0;
};

}  // namespace oneshot
