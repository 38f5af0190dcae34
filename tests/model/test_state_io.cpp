#include <gtest/gtest.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "model/state_io.h"
#include "model_test_util.h"
#include "support/test_support.h"

namespace oneshot {
namespace {

using test::kFrames;
using test::kMels;
using test::random_clips;
using test::tiny_config;

void expect_same_state(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (const auto& p : ba) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
}

TEST(StateIo, RoundTrip) {
  test::TempDir dir;
  torch::manual_seed(1);
  Siamese saved(tiny_config(), kMels, kFrames);
  saved->train();
  saved->forward(random_clips(4, 1), random_clips(4, 2));  // move the BatchNorm statistics
  save_module_state(*saved, dir / "best.pt");
  // Only the file: the temporary is gone.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);

  torch::manual_seed(2);
  Siamese loaded(tiny_config(), kMels, kFrames);
  load_module_state(*loaded, dir / "best.pt");
  expect_same_state(*saved, *loaded);
  saved->eval();
  loaded->eval();
  torch::NoGradGuard no_grad;
  const auto a = random_clips(3, 5), b = random_clips(3, 6);
  EXPECT_TRUE(torch::equal(saved->forward(a, b), loaded->forward(a, b)));
}

TEST(StateIo, LoadKeepsChannelsLastAndTheSameTensors) {
  test::TempDir dir;
  Siamese saved(tiny_config(), kMels, kFrames);
  convert_to_channels_last(*saved);
  save_module_state(*saved, dir / "m.pt");
  Siamese loaded(tiny_config(), kMels, kFrames);
  convert_to_channels_last(*loaded);
  const auto before = loaded->encoder->named_parameters()["conv.0.weight"];
  const void* storage = before.data_ptr();
  load_module_state(*loaded, dir / "m.pt");
  const auto after = loaded->encoder->named_parameters()["conv.0.weight"];
  EXPECT_EQ(after.data_ptr(), storage);  // copied into: an optimizer's references stay valid
  EXPECT_TRUE(is_channels_last(after));
  expect_same_state(*saved, *loaded);
}

TEST(StateIo, ShapeMismatchNamesTheFileAndTheParameter) {
  test::TempDir dir;
  Siamese saved(tiny_config(), kMels, kFrames);
  save_module_state(*saved, dir / "small.pt");
  auto config = tiny_config();
  config.n_filters = 6;
  Siamese other(config, kMels, kFrames);
  try {
    load_module_state(*other, dir / "small.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "small.pt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("encoder.conv.0.weight"), std::string::npos) << msg;
  }
}

TEST(StateIo, MissingEntriesAndBadFilesAreErrors) {
  test::TempDir dir;
  auto config = tiny_config();
  config.n_dense_layers = 0;
  Siamese smaller(config, kMels, kFrames);
  save_module_state(*smaller, dir / "no-dense.pt");
  Siamese model(tiny_config(), kMels, kFrames);
  try {
    load_module_state(*model, dir / "no-dense.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_module_state(*model, dir / "absent.pt"), Error);
  std::ofstream(dir / "junk.pt") << "not a checkpoint";
  try {
    load_module_state(*model, dir / "junk.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pt"), std::string::npos) << e.what();
  }
}

// Sets the largest parameter to a value whose bytes occur nowhere else, saves,
// and returns the file's bytes and where that value's bytes are.
std::pair<std::string, std::size_t> saved_with_marker(Siamese& model, const std::filesystem::path& path) {
  const float marker = 1234.5678f;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor largest;
    for (auto& p : model->parameters())
      if (!largest.defined() || p.numel() > largest.numel()) largest = p;
    largest.fill_(marker);
  }
  save_module_state(*model, path);
  std::string bytes = read_file(path);
  const std::string pattern(reinterpret_cast<const char*>(&marker), sizeof marker);
  const std::size_t at = bytes.find(pattern + pattern);
  EXPECT_NE(at, std::string::npos);
  return {bytes, at};
}

TEST(StateIo, DamagedTensorDataIsAnErrorNamingTheFileAndEntry) {
  test::TempDir dir;
  Siamese model(tiny_config(), kMels, kFrames);
  auto [bytes, at] = saved_with_marker(model, dir / "best.pt");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] ^= 0x10;  // one bit of a weight: LibTorch alone loads it as another number
  write_file_atomic(dir / "best.pt", bytes);
  Siamese into(tiny_config(), kMels, kFrames);
  try {
    load_module_state(*into, dir / "best.pt");
    FAIL() << "a damaged weight loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("best.pt"), std::string::npos) << what;
    EXPECT_NE(what.find("CRC-32"), std::string::npos) << what;
    EXPECT_NE(what.find("data/"), std::string::npos) << "names the entry: " << what;
  }
}

TEST(StateIo, ChecksumsPassOnEveryIntactArchiveAndRejectDamagedDirectories) {
  test::TempDir dir;
  Siamese model(tiny_config(), kMels, kFrames);
  auto [bytes, at] = saved_with_marker(model, dir / "best.pt");
  EXPECT_NO_THROW(verify_archive_checksums(bytes, dir / "best.pt"));
  // Every truncation, and damage anywhere in the last 200 bytes (the ZIP
  // directory), is an Error or passes with the same checksums: never a
  // crash or a read past the end (AddressSanitizer builds check the latter).
  for (std::size_t keep : {std::size_t{0}, std::size_t{10}, bytes.size() / 2, bytes.size() - 1})
    EXPECT_THROW(verify_archive_checksums(std::string_view(bytes).substr(0, keep), "cut.pt"), Error) << keep;
  for (std::size_t back = 1; back <= 200 && back < bytes.size(); ++back) {
    std::string damaged = bytes;
    damaged[damaged.size() - back] ^= 0xFF;
    try {
      verify_archive_checksums(damaged, "damaged.pt");
    } catch (const Error&) {
    }
  }
}

TEST(StateIo, SeveralModulesInOneArchive) {
  test::TempDir dir;
  Siamese a(tiny_config(), kMels, kFrames), b(tiny_config("l1"), kMels, kFrames);
  torch::serialize::OutputArchive out;
  write_module_state(out, *a, "model");
  write_module_state(out, *b, "best");
  write_file_atomic(dir / "last.pt", archive_to_bytes(out));

  Siamese a2(tiny_config(), kMels, kFrames), b2(tiny_config("l1"), kMels, kFrames);
  torch::serialize::InputArchive in;
  archive_from_bytes(in, read_file(dir / "last.pt"), dir / "last.pt");
  read_module_state(in, *a2, dir / "last.pt", "model");
  read_module_state(in, *b2, dir / "last.pt", "best");
  expect_same_state(*a, *a2);
  expect_same_state(*b, *b2);
}

}  // namespace
}  // namespace oneshot
