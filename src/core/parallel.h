#pragma once
// parallel_for: work items handed out one at a time from a shared counter, so
// uneven items (short and long clips) still balance across threads.
#include <cstddef>
#include <functional>

namespace oneshot {

// Number of threads to use for `requested` (0 = all cores).
int resolve_threads(int requested);

// Calls fn(item, worker) for item in [0, n) on `threads` workers (worker in
// [0, threads)). The first exception thrown by fn stops handing out items and
// is rethrown here after all workers finish.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t item, int worker)>& fn);

}  // namespace oneshot
