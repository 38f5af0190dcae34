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

TEST(Npy, RowWriterStreamsRowsAndWritesTheCountAtCommit) {
  test::TempDir dir;
  const std::vector<float> a{1, 2, 3, 4, 5, 6}, b{7, 8, 9};
  {
    NpyRowWriter w(dir / "rows.npy", 3);
    w.append(a.data(), 2);
    w.append(b.data(), 1);
    EXPECT_FALSE(std::filesystem::exists(dir / "rows.npy")) << "nothing before commit";
    w.commit();
  }
  const NpyArray back = read_npy(dir / "rows.npy");
  EXPECT_EQ(back.shape, (std::vector<std::size_t>{3, 3}));
  EXPECT_EQ(back.data, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // The header is a multiple of 64 bytes long, as the format asks.
  const std::string bytes = read_file(dir / "rows.npy");
  const std::size_t header = 10 + static_cast<unsigned char>(bytes[8]) + (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ(header % 64, 0u);
  EXPECT_EQ(bytes.size(), header + 9 * sizeof(float));
  {
    NpyRowWriter abandoned(dir / "gone.npy", 3);
    abandoned.append(a.data(), 2);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "gone.npy")) << "a writer destroyed without commit leaves no file";
}

TEST(Npy, AShapeLargerThanTheFileIsTruncationNotAHugeAllocation) {
  test::TempDir dir;
  const std::vector<float> data(6, 1.f);
  write_npy(dir / "x.npy", data.data(), {2, 3});
  std::string bytes = read_file(dir / "x.npy");
  const std::string shape = "(2, 3)";
  const std::size_t at = bytes.find(shape);
  ASSERT_NE(at, std::string::npos);
  // 2^32 x 2^32 overflows a 64-bit product to 0 when multiplied unchecked.
  std::string huge = "(4294967296, 4294967296)";
  bytes.replace(at, shape.size(), huge);
  bytes.erase(bytes.find('\n') - (huge.size() - shape.size()), huge.size() - shape.size());  // keep the header length
  write_file_atomic(dir / "x.npy", bytes);
  const std::string e = test::error_of([&] { read_npy(dir / "x.npy"); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("x.npy"), std::string::npos) << e;
}

namespace {
// A format 1.0 file with HEADER (a dict literal) and PAYLOAD as given.
std::string npy_bytes(const std::string& header, const std::string& payload = std::string(24, '\0')) {
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  return out + header + payload;
}
}  // namespace

// Found by fuzzing (fuzz/fuzz_npy): the header was read with regular
// expressions and std::stoull, so a dimension too long for 64 bits escaped
// as a bare std::out_of_range, junk between dimensions was skipped, and an
// empty array memcpy'd from a null pointer. Every damaged header is now an
// Error naming the file and what is wrong.
TEST(Npy, DamagedHeadersAreErrorsNamingTheFile) {
  test::TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (123456789012345678901234567890, 3), }",
       "a dimension is too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2;3), }", "separated by commas"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x3), }", "not a whole number"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }", "bad shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", "unterminated shape"},
      {"{'descr': '<f4', 'shape': (2, 3), }", "no fortran_order"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }", "neither True nor False"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }", "unsupported .npy dtype"},
      {"{'fortran_order': False, 'shape': (2, 3), }", "no dtype"},
      {"{'descr': '<" + std::string(60000, 'f') + "', 'fortran_order': False, 'shape': (2, 3), }",
       "unsupported .npy dtype"},
  };
  for (const auto& [header, why] : cases) {
    write_file_atomic(dir / "h.npy", npy_bytes(header));
    std::string e;
    try {
      e = test::error_of([&] { read_npy(dir / "h.npy"); });
    } catch (const std::exception& other) {
      ADD_FAILURE() << header.substr(0, 80) << ": escaped as " << other.what();
      continue;
    }
    EXPECT_NE(e.find(why), std::string::npos) << header.substr(0, 80) << ": " << e;
    EXPECT_NE(e.find("h.npy"), std::string::npos) << e;
  }
}

TEST(Npy, AnEmptyArrayReadsAsEmpty) {
  test::TempDir dir;
  for (const char* shape : {"(0, 3)", "(0,)", "(4294967296, 0)"}) {
    write_file_atomic(dir / "e.npy",
                      npy_bytes(std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }", ""));
    const NpyArray a = read_npy(dir / "e.npy");
    EXPECT_TRUE(a.data.empty()) << shape;
    EXPECT_EQ(a.shape.back() == 0 || a.shape.front() == 0, true) << shape;
  }
}
