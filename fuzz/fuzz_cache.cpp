// The feature cache (data/cache_file): any bytes read as a cache file are a
// verified cache or "corrupt: ..."/"stale: ...", never a crash or an
// allocation sized by a damaged count. The input's last 8 bytes are replaced
// by the checksum of the others, so that mutations reach the header parser
// behind the checksum (a damaged file with a right checksum).
#include <xxhash.h>

#include <cstring>
#include <vector>

#include "data/cache_file.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  std::vector<std::uint8_t> bytes(data, data + size);
  if (bytes.size() >= 8 && (bytes.size() & 1) == 0) {  // odd sizes keep their own (likely wrong) checksum
    const std::uint64_t sum = XXH3_64bits(bytes.data(), bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  }
  const auto path = fuzz::write_input(bytes.data(), bytes.size(), "features.bin");
  fuzz::expect_clean("read_cache_file", [&] {
    std::string problem;
    auto contents = read_cache_file(path, &problem);
    if (!contents) {
      fuzz::require(problem.rfind("corrupt: ", 0) == 0 || problem.rfind("stale: ", 0) == 0,
                    "a cache is refused as corrupt or stale");
      return;
    }
    const CacheHeader& h = contents->header;
    fuzz::require(h.file_names.size() == h.n_clips && h.class_ids.size() == h.n_clips, "one name and id per clip");
    for (std::int32_t id : h.class_ids)
      fuzz::require(id >= 0 && static_cast<std::size_t>(id) < h.class_names.size(), "class ids in range");
    fuzz::require(h.skipped_names.size() == h.skipped_reasons.size(), "one reason per skipped file");
    // Every value is readable (ASan checks the bounds).
    const std::size_t n = h.n_clips * h.n_mels * h.n_frames;
    float sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += contents->data[i];
    (void)sum;
  });
  return 0;
}
