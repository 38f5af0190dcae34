// Checkpoints on a full disk: best.pt and last.pt reach the disk through
// AtomicWriter, so ENOSPC at any of their write steps is an error that says
// the disk is full and names the checkpoint, the previous checkpoint stays
// byte for byte, and no temporary is left.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train_fixtures.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

Config small() { return test::small_model_config(); }

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(CheckpointFullDisk, EveryWriteStepOfBestAndLastKeepsThePreviousFile) {
  test::TempDir dir;
  const Config c = small();
  Siamese model(c.model, 32, 40);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  TrainState state;
  state.epoch = 1;
  save_best_weights(dir / "best.pt", model, {{"epoch", 1}});
  save_last_checkpoint(dir / "last.pt", model, optimizer, state);
  const std::string best = read_file(dir / "best.pt"), last = read_file(dir / "last.pt");
  state.epoch = 2;
  for (const char* name : {"best.pt", "last.pt"}) {
    const fs::path path = dir / name;
    auto save = [&] {
      if (std::string(name) == "best.pt")
        save_best_weights(path, model, {{"epoch", 2}});
      else
        save_last_checkpoint(path, model, optimizer, state);
    };
    const std::size_t before = write_faults::steps();
    save();
    const std::size_t steps = write_faults::steps() - before;
    ASSERT_GE(steps, 3u);
    // Back to the first file's bytes (a good checkpoint), then fail each step of the next save.
    write_file_atomic(path, std::string(name) == "best.pt" ? best : last);
    for (std::size_t n = 1; n < steps; ++n) {  // the last step is after the rename
      write_faults::inject(n, write_faults::Action::fail, ENOSPC);
      const std::string e = test::error_of(save);
      write_faults::inject(0, write_faults::Action::none);
      EXPECT_NE(e.find("the disk is full"), std::string::npos) << name << " step " << n << ": " << e;
      EXPECT_NE(e.find(path.string()), std::string::npos) << e;
      EXPECT_EQ(read_file(path), std::string(name) == "best.pt" ? best : last) << name << " step " << n;
      EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"best.pt", "last.pt"})) << name << " step " << n;
    }
  }
}

}  // namespace
}  // namespace oneshot
