// NumPy .npy files (core/npy): a float array whose size matches its shape,
// or an Error naming the file.
#include "core/npy.h"
#include "fuzz_support.h"

#include <functional>
#include <numeric>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const auto path = fuzz::write_input(data, size, "array.npy");
  fuzz::expect_clean("read_npy", [&] {
    const NpyArray a = read_npy(path);
    std::size_t n = 1;
    for (std::size_t d : a.shape) n *= d;
    fuzz::require(n == a.data.size(), "the values match the shape");
    fuzz::require(a.data.size() <= size, "no more values than the file has bytes");
  });
  return 0;
}
