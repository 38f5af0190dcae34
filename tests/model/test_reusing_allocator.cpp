// The reusing CPU allocator (model/reusing_allocator.h): blocks come back for
// requests of about their size, contents and results are unchanged, the kept
// bytes stop growing once a repeated workload has run once, and the cap on
// free bytes holds. The allocator is process-wide: each test compares stats
// before and after its own work.
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstring>

#include "model/reusing_allocator.h"

namespace oneshot {
namespace {

constexpr int64_t kFloatsPerMiB = (1 << 20) / 4;

class ReusingAllocator : public ::testing::Test {
 protected:
  void SetUp() override { use_reusing_cpu_allocator(); }
  void TearDown() override { use_reusing_cpu_allocator(); }  // restore the default cap
};

TEST_F(ReusingAllocator, AFreedBlockServesTheNextRequestOfItsSize) {
  void* first = nullptr;
  {
    torch::Tensor t = torch::empty({4 * kFloatsPerMiB});
    first = t.data_ptr();
  }
  const auto before = reusing_allocator_stats();
  torch::Tensor again = torch::empty({4 * kFloatsPerMiB});
  const auto after = reusing_allocator_stats();
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(after.reused, before.reused + 1);
  EXPECT_EQ(after.allocated, before.allocated);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(again.data_ptr()) % 64, 0u);
}

TEST_F(ReusingAllocator, ABlockServesDownToAQuarterOfItsSizeAndNoSmaller) {
  // Sizes no other test uses, so no other kept block fits them.
  void* block = nullptr;
  {
    torch::Tensor t = torch::empty({37 * kFloatsPerMiB});
    block = t.data_ptr();
  }
  {
    torch::Tensor quarter = torch::empty({37 * kFloatsPerMiB / 4 + 1});
    EXPECT_EQ(quarter.data_ptr(), block);
  }
  const auto before = reusing_allocator_stats();
  torch::Tensor smaller = torch::empty({37 * kFloatsPerMiB / 5});
  EXPECT_NE(smaller.data_ptr(), block);
  EXPECT_EQ(reusing_allocator_stats().allocated, before.allocated + 1);
}

TEST_F(ReusingAllocator, RawAllocationsAsMkldnnMakesThemRoundTrip) {
  c10::Allocator* allocator = c10::GetCPUAllocator();
  ASSERT_NE(allocator->raw_deleter(), nullptr);
  for (std::size_t bytes : {std::size_t{0}, std::size_t{100}, std::size_t{3} << 20}) {
    void* p = allocator->raw_allocate(bytes);
    ASSERT_NE(p, nullptr);
    if (bytes > 0) std::memset(p, 0xab, bytes);
    allocator->raw_deallocate(p);
  }
}

TEST_F(ReusingAllocator, ResultsAreTheSameAndKeptBytesStopGrowingAfterOneBatch) {
  torch::manual_seed(3);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)), torch::nn::ReLU(),
                            torch::nn::MaxPool2d(2), torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)),
                            torch::nn::ReLU(), torch::nn::AdaptiveAvgPool2d(1));
  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor input = torch::randn({8, 1, 64, 128});
  const torch::Tensor expected = net->forward(input).clone();
  std::size_t kept_after_first = 0;
  for (int batch = 0; batch < 20; ++batch) {
    const torch::Tensor out = net->forward(input);
    ASSERT_TRUE(torch::equal(out, expected)) << "batch " << batch;
    if (batch == 1) kept_after_first = reusing_allocator_stats().block_bytes;
  }
  EXPECT_GT(kept_after_first, 0u);
  EXPECT_EQ(reusing_allocator_stats().block_bytes, kept_after_first);
}

TEST_F(ReusingAllocator, FreedBytesAboveTheCapGoBackToMalloc) {
  use_reusing_cpu_allocator(std::size_t{1} << 20);  // keep at most 1 MiB free
  const auto before = reusing_allocator_stats();
  ASSERT_LE(before.free_bytes, std::size_t{1} << 30);
  { torch::Tensor big = torch::empty({41 * kFloatsPerMiB}); }  // 41 MiB: over the cap when freed
  const auto after = reusing_allocator_stats();
  EXPECT_EQ(after.blocks, before.blocks + (after.allocated - before.allocated) - 1);
  EXPECT_EQ(after.free_bytes, before.free_bytes);
}

}  // namespace
}  // namespace oneshot
