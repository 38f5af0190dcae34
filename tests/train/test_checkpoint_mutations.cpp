// LibTorch's own checkpoint reader, behind our archive check, under random
// damage: best.pt and last.pt with bytes flipped, runs overwritten, bytes
// inserted or removed, or cut short, at seeded random places. Each load must
// end in the loaded model (damage our check and LibTorch both let through
// must leave the weights exactly as saved: the tensors are CRC-checked) or in an
// oneshot::Error naming the file; never another exception, never a crash.
// The sanitizer build has no LibTorch, so this stands in for a fuzz target.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train_fixtures.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

Config small() { return test::small_model_config(); }

std::string damaged(std::string bytes, std::mt19937& rng) {
  std::uniform_int_distribution<int> kind(0, 4);
  auto at = [&] { return std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(rng); };
  const int mutations = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int m = 0; m < mutations && !bytes.empty(); ++m) {
    switch (kind(rng)) {
      case 0: bytes[at()] ^= static_cast<char>(1 << (rng() % 8)); break;
      case 1: {  // a run of random bytes
        const std::size_t from = at(), n = std::min<std::size_t>(bytes.size() - from, 1 + rng() % 64);
        for (std::size_t i = 0; i < n; ++i) bytes[from + i] = static_cast<char>(rng());
        break;
      }
      case 2: bytes.insert(at(), std::string(1 + rng() % 16, static_cast<char>(rng()))); break;
      case 3: bytes.erase(at(), 1 + rng() % 16); break;
      default: bytes.resize(at()); break;
    }
  }
  return bytes;
}

// Damage that loads must have left the weights as saved.
void expect_same_weights(Siamese& loaded, Siamese& saved) {
  const auto a = loaded->named_parameters(), b = saved->named_parameters();
  for (const auto& p : b) EXPECT_TRUE(torch::equal(a[p.key()], p.value())) << p.key() << " changed";
  const auto ab = loaded->named_buffers(), bb = saved->named_buffers();
  for (const auto& p : bb) EXPECT_TRUE(torch::equal(ab[p.key()], p.value())) << p.key() << " changed";
}

struct Outcome {
  int loaded = 0, named = 0;
};

template <class Load>
Outcome load_damaged(const fs::path& good, const fs::path& path, unsigned seed, int tries, const Load& load) {
  const std::string bytes = read_file(good);
  std::mt19937 rng(seed);
  Outcome outcome;
  for (int i = 0; i < tries; ++i) {
    write_file_atomic(path, damaged(bytes, rng));
    try {
      load(path);
      ++outcome.loaded;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << "try " << i << ": " << e.what();
      ++outcome.named;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "try " << i << " (seed " << seed << "): a bare exception: " << e.what();
    }
  }
  return outcome;
}

TEST(CheckpointMutations, DamagedBestPtLoadsOrIsAnErrorNamingIt) {
  test::TempDir dir;
  const Config c = small();
  Siamese model(c.model, 32, 40);
  save_best_weights(dir / "good.pt", model, {{"epoch", 1}});
  const Outcome o = load_damaged(dir / "good.pt", dir / "best.pt", 22, 1000, [&](const fs::path& p) {
    Siamese loaded(c.model, 32, 40);
    load_best_weights(p, loaded);
    expect_same_weights(loaded, model);
  });
  EXPECT_EQ(o.loaded + o.named, 1000);
  EXPECT_GT(o.named, 900) << "most damage is caught";
}

TEST(CheckpointMutations, DamagedLastPtLoadsOrIsAnErrorNamingIt) {
  test::TempDir dir;
  const Config c = small();
  Siamese model(c.model, 32, 40);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  TrainState state;
  state.epoch = 3;
  save_last_checkpoint(dir / "good.pt", model, optimizer, state);
  const Outcome o = load_damaged(dir / "good.pt", dir / "last.pt", 23, 1000, [&](const fs::path& p) {
    Siamese loaded(c.model, 32, 40);
    torch::optim::Adam opt(loaded->parameters(), torch::optim::AdamOptions(1e-3));
    const TrainState s = load_last_checkpoint(p, loaded, opt);
    EXPECT_EQ(s.epoch, 3) << "a checkpoint that loads holds what was saved";
    expect_same_weights(loaded, model);
  });
  EXPECT_EQ(o.loaded + o.named, 1000);
  EXPECT_GT(o.named, 900) << "most damage is caught";
}

}  // namespace
}  // namespace oneshot
