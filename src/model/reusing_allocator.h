#pragma once
// A CPU allocator for LibTorch's tensors that keeps the blocks it hands out
// and gives them back for later requests of about the same size.
//
// Why: a streaming command (classify, enroll, detect, embed) embeds a batch
// of windows at a time, and each batch allocates and frees the same set of
// activation buffers (about 7 MB a window for the default model). Through
// malloc (tcmalloc), the freed spans fragment over the first minutes and the
// process settles about 100 MB above what one batch needs; handing the same
// blocks back keeps the peak at the first batch's, whatever the recording's
// length (issue 22: peak memory within 10 % from 1 minute to 12 hours).
//
// Blocks of at least kMinReusedBytes are kept when freed (up to a cap on the
// free bytes held) and reused for a request of n bytes when their size is in
// [n, 4n]; smaller requests go to malloc, whose size classes reuse them
// already. Blocks are 64-byte aligned, as LibTorch's own allocator's.
#include <cstddef>

namespace oneshot {

inline constexpr std::size_t kMinReusedBytes = std::size_t{256} << 10;

// Makes the reusing allocator LibTorch's CPU allocator for the rest of the
// process (idempotent, thread-safe). Tensors allocated before keep their own
// deleters, so switching at any time is safe. `max_free_bytes`: the most
// freed bytes kept for reuse (those above it go back to malloc).
void use_reusing_cpu_allocator(std::size_t max_free_bytes = std::size_t{1} << 30);

struct ReusingAllocatorStats {
  std::size_t reused = 0;       // requests served from a kept block
  std::size_t allocated = 0;    // requests that allocated a new kept-size block
  std::size_t free_bytes = 0;   // bytes of the blocks kept free now
  std::size_t blocks = 0;       // kept-size blocks in existence (in use or free)
  std::size_t block_bytes = 0;  // their bytes
};
ReusingAllocatorStats reusing_allocator_stats();

}  // namespace oneshot
