#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/npy.h"
#include "support/test_support.h"

using namespace oneshot;

TEST(Npy, RoundTripsFloat32) {
  test::TempDir dir;
  std::vector<float> data{1.5f, -2.f, 3.25f, 0.f, 1e-9f, 7.f};
  write_npy(dir / "x.npy", data.data(), {2, 3});
  NpyArray back = read_npy(dir / "x.npy");
  EXPECT_EQ(back.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(back.data, data);
  write_npy(dir / "v.npy", data.data(), {6});
  EXPECT_EQ(read_npy(dir / "v.npy").shape, (std::vector<std::size_t>{6}));
}

TEST(Npy, ReadsLibrosaFixture) {
  NpyArray a = read_npy(test::fixture("librosa/tones_22k.melbasis.npy"));
  ASSERT_EQ(a.shape, (std::vector<std::size_t>{128, 1025}));
}

TEST(Npy, RejectsGarbageAndTruncation) {
  test::TempDir dir;
  write_file_atomic(dir / "bad.npy", "hello world, not numpy");
  EXPECT_THROW(read_npy(dir / "bad.npy"), Error);
  std::vector<float> data(100, 1.f);
  write_npy(dir / "t.npy", data.data(), {100});
  std::string bytes = read_file(dir / "t.npy");
  write_file_atomic(dir / "t.npy", bytes.substr(0, bytes.size() - 10));
  EXPECT_THROW(read_npy(dir / "t.npy"), Error);
}
