// Checkpoint archives (best.pt, last.pt): the ZIP directory walk and CRC-32
// check that runs before LibTorch reads the bytes (model/archive_checksums.h).
// LibTorch's own reader is not built here (the sanitizer build has no
// LibTorch); what reaches it has passed this check.
#include "fuzz_support.h"
#include "model/archive_checksums.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean("verify_archive_checksums", [&] { verify_archive_checksums(bytes, "best.pt"); });
  return 0;
}
