#include "core/npy.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {
std::size_t product(const std::vector<std::size_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

// The header is a Python dict literal, read strictly and without regular
// expressions (libstdc++'s recurse once per character: a long header would
// overflow the stack). Each function returns an empty string or what is wrong.
std::size_t skip_spaces(const std::string& h, std::size_t at) {
  while (at < h.size() && (h[at] == ' ' || h[at] == '\t' || h[at] == '\n')) ++at;
  return at;
}

// The position just after "'KEY':" and the spaces after it, or npos.
std::size_t value_of(const std::string& header, const std::string& key) {
  const std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return std::string::npos;
  std::size_t at = skip_spaces(header, k + key.size() + 2);
  if (at >= header.size() || header[at] != ':') return std::string::npos;
  return skip_spaces(header, at + 1);
}

std::string parse_descr(const std::string& header, std::string& descr) {
  std::size_t at = value_of(header, "descr");
  if (at == std::string::npos || at >= header.size() || header[at] != '\'') return "no dtype in .npy header";
  const std::size_t end = header.find('\'', at + 1);
  if (end == std::string::npos) return "unterminated dtype in .npy header";
  descr = header.substr(at + 1, end - at - 1);
  return {};
}

std::string parse_fortran_order(const std::string& header, bool& fortran) {
  const std::size_t at = value_of(header, "fortran_order");
  if (at == std::string::npos) return "no fortran_order in .npy header";
  if (header.compare(at, 4, "True") == 0) fortran = true;
  else if (header.compare(at, 5, "False") == 0) fortran = false;
  else return "fortran_order in .npy header is neither True nor False";
  return {};
}

// "(d0, d1, ...)" with an optional trailing comma; each dimension a whole number.
std::string parse_shape(const std::string& header, std::vector<std::size_t>& shape) {
  std::size_t at = value_of(header, "shape");
  if (at == std::string::npos || at >= header.size() || header[at] != '(') return "no shape in .npy header";
  at = skip_spaces(header, at + 1);
  while (at < header.size() && header[at] != ')') {
    if (header[at] < '0' || header[at] > '9') return "bad shape in .npy header (a dimension is not a whole number)";
    std::size_t d = 0;
    while (at < header.size() && header[at] >= '0' && header[at] <= '9') {
      if (__builtin_mul_overflow(d, std::size_t{10}, &d) ||
          __builtin_add_overflow(d, static_cast<std::size_t>(header[at] - '0'), &d))
        return "bad shape in .npy header (a dimension is too large)";
      ++at;
    }
    shape.push_back(d);
    at = skip_spaces(header, at);
    if (at < header.size() && header[at] == ',') at = skip_spaces(header, at + 1);
    else if (at < header.size() && header[at] != ')') return "bad shape in .npy header (dimensions must be separated by commas)";
  }
  if (at >= header.size()) return "unterminated shape in .npy header";
  return {};
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
  std::string descr;
  bool fortran = false;
  NpyArray array;
  for (const std::string& why :
       {parse_descr(header, descr), parse_fortran_order(header, fortran), parse_shape(header, array.shape)})
    if (!why.empty()) throw file_error(path, why);
  if (fortran) throw file_error(path, "Fortran-order arrays are not supported");
  const char* payload = bytes.data() + offset + header_len;
  const std::size_t available = bytes.size() - offset - header_len;
  // The shape is not trusted: its product must not overflow before it is compared with the file's size.
  // An empty array (a dimension of 0) is empty whatever the other dimensions.
  std::size_t n = std::find(array.shape.begin(), array.shape.end(), 0) == array.shape.end() ? 1 : 0;
  for (std::size_t d : array.shape) {
    if (n == 0) break;
    if (n > available / d) {
      n = available + 1;  // more elements than bytes: truncated whatever the dtype
      break;
    }
    n *= d;
  }
  if (n > available) throw file_error(path, "truncated .npy data (the header's shape needs more than the file holds)");
  if (descr == "<f4") {
    if (available / 4 < n) throw file_error(path, "truncated .npy data");
    array.data.resize(n);
    if (n > 0) std::memcpy(array.data.data(), payload, n * 4);
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
