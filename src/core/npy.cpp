#include "core/npy.h"

#include <cstdint>
#include <cstring>
#include <numeric>
#include <regex>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {
std::size_t product(const std::vector<std::size_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

std::vector<std::size_t> parse_shape(const std::string& text) {
  std::vector<std::size_t> shape;
  std::regex number("[0-9]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoull(it->str()));
  return shape;
}
}  // namespace

NpyArray read_npy(const fs::path& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw file_error(path, "not a NumPy .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw file_error(path, "truncated .npy header");
    std::uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  } else {
    throw file_error(path, "unsupported .npy version " + std::to_string(major));
  }
  if (bytes.size() < offset + header_len) throw file_error(path, "truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")))
    throw file_error(path, "no dtype in .npy header");
  const std::string descr = m[1];
  if (header.find("'fortran_order': True") != std::string::npos)
    throw file_error(path, "Fortran-order arrays are not supported");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    throw file_error(path, "no shape in .npy header");
  NpyArray array;
  array.shape = parse_shape(m[1]);
  const char* payload = bytes.data() + offset + header_len;
  const std::size_t available = bytes.size() - offset - header_len;
  // The shape is not trusted: its product must not overflow before it is compared with the file's size.
  std::size_t n = 1;
  for (std::size_t d : array.shape) {
    if (d != 0 && n > available / d) {
      n = available + 1;  // more elements than bytes: truncated whatever the dtype
      break;
    }
    n *= d;
  }
  if (n > available) throw file_error(path, "truncated .npy data (the header's shape needs more than the file holds)");
  if (descr == "<f4") {
    if (available / 4 < n) throw file_error(path, "truncated .npy data");
    array.data.resize(n);
    std::memcpy(array.data.data(), payload, n * 4);
  } else if (descr == "<f8") {
    if (available / 8 < n) throw file_error(path, "truncated .npy data");
    array.data.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, payload + i * 8, 8);
      array.data[i] = static_cast<float>(v);
    }
  } else {
    throw file_error(path, "unsupported .npy dtype '" + descr + "' (need <f4 or <f8)");
  }
  return array;
}

namespace {

// The magic, version, length and header of a format 1.0 '<f4' file; the
// shape's text is padded to WIDTH (a header rewritten later keeps its length).
std::string npy_prefix(const std::vector<std::size_t>& shape, std::size_t width = 0) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::string d = std::to_string(shape[i]);
    if (i == 0 && d.size() < width) d.insert(0, width - d.size(), ' ');
    dims += (i ? ", " : "") + d;
  }
  if (shape.size() == 1) dims += ",";  // a 1-tuple needs its comma
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad so that magic + len + header + '\n' is a multiple of 64.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string prefix = "\x93NUMPY";
  prefix.push_back('\x01');
  prefix.push_back('\x00');
  prefix.push_back(static_cast<char>(header.size() & 0xff));
  prefix.push_back(static_cast<char>(header.size() >> 8));
  return prefix + header;
}

constexpr std::size_t kRowDigits = 20;  // any std::size_t

}  // namespace

void write_npy(const fs::path& path, const float* data, const std::vector<std::size_t>& shape) {
  AtomicWriter out(path);
  out.write(npy_prefix(shape));
  out.write(data, product(shape) * sizeof(float));
  out.commit();
}

// The row count is patched into the header at commit(): a pipe or device cannot
// take that, and is refused here, before any row is computed.
NpyRowWriter::NpyRowWriter(fs::path path, std::size_t cols)
    : out_(std::make_unique<AtomicWriter>(std::move(path), OutputRules{.streaming = false})), cols_(cols) {
  out_->write(npy_prefix({0, cols_}, kRowDigits));
}

void NpyRowWriter::append(const float* rows, std::size_t n_rows) {
  out_->write(rows, n_rows * cols_ * sizeof(float));
  rows_ += n_rows;
}

void NpyRowWriter::commit() {
  const std::string prefix = npy_prefix({rows_, cols_}, kRowDigits);
  out_->write_at(0, prefix.data(), prefix.size());
  out_->commit();
}

}  // namespace oneshot
