#include "model/reusing_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

namespace oneshot {
namespace {

constexpr std::size_t kAlignment = 64;
// Each block starts with a header of kAlignment bytes holding its size, so
// the deleter needs only the data pointer: LibTorch's mkldnn kernels free
// through raw_deleter(), which gets nothing else.
constexpr std::size_t kHeader = kAlignment;
// A kept block serves requests down to a quarter of its size: the default
// model's batch frees two 113 MB activations before it asks for two of
// 49 MB; reusing those keeps the blocks near the batch's peak in use (278 MB
// kept against 236 MB in use at most; at 2x, 391 MB).
constexpr std::size_t kMaxReuseRatio = 4;

std::byte* new_block(std::size_t size) {
  void* base = nullptr;
  if (size > SIZE_MAX - kHeader || posix_memalign(&base, kAlignment, kHeader + size) != 0) throw std::bad_alloc();
  *static_cast<std::size_t*>(base) = size;
  return static_cast<std::byte*>(base) + kHeader;
}
std::size_t block_size(void* data) { return *reinterpret_cast<std::size_t*>(static_cast<std::byte*>(data) - kHeader); }
void delete_block(void* data) { std::free(static_cast<std::byte*>(data) - kHeader); }

// Never destroyed: tensors may be freed during static destruction.
class Pool {
 public:
  void* take(std::size_t n) {
    {
      std::lock_guard lock(mutex_);
      auto it = free_.lower_bound(n);
      if (it != free_.end() && it->first / kMaxReuseRatio <= n) {
        void* data = it->second;
        free_bytes_ -= it->first;
        free_.erase(it);
        ++stats_.reused;
        return data;
      }
      ++stats_.allocated;
      ++stats_.blocks;
      stats_.block_bytes += n;
    }
    return new_block(n);
  }

  void give(void* data) {
    const std::size_t size = block_size(data);
    {
      std::lock_guard lock(mutex_);
      if (free_bytes_ + size <= max_free_bytes_) {
        free_.emplace(size, data);
        free_bytes_ += size;
        return;
      }
      --stats_.blocks;
      stats_.block_bytes -= size;
    }
    delete_block(data);
  }

  void set_max_free_bytes(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    max_free_bytes_ = bytes;
  }

  ReusingAllocatorStats stats() {
    std::lock_guard lock(mutex_);
    ReusingAllocatorStats s = stats_;
    s.free_bytes = free_bytes_;
    return s;
  }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;  // by size: lower_bound finds the smallest that fits
  std::size_t free_bytes_ = 0;
  std::size_t max_free_bytes_ = std::size_t{1} << 30;
  ReusingAllocatorStats stats_;
};

Pool& pool() {
  static Pool* instance = new Pool;
  return *instance;
}

void release(void* data) {
  if (data == nullptr) return;
  if (block_size(data) >= kMinReusedBytes)
    pool().give(data);
  else
    delete_block(data);
}

class ReusingCpuAllocator final : public c10::Allocator {
 public:
  // LibTorch 2.3 made allocate non-const and added copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  c10::DataPtr allocate(std::size_t n) override { return make(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
#else
  c10::DataPtr allocate(std::size_t n) const override { return make(n); }
#endif
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static c10::DataPtr make(std::size_t n) {
    void* data = n < kMinReusedBytes ? new_block(n) : pool().take(n);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
};

}  // namespace

void use_reusing_cpu_allocator(std::size_t max_free_bytes) {
  static ReusingCpuAllocator allocator;
  static std::once_flag installed;
  pool().set_max_free_bytes(max_free_bytes);
  std::call_once(installed, [] {
    c10::SetCPUAllocator(&allocator);
  });
}

ReusingAllocatorStats reusing_allocator_stats() { return pool().stats(); }

}  // namespace oneshot
