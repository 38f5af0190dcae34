// Damaged checkpoints and run files as a new user met them (issue 22): a
// directory in place of best.pt was reported as "too short"; a damaged ZIP
// end record named no way out for the file it was in (last.pt was told to
// continue from last.pt), and one whose entry count was damaged let every
// entry past the count load unchecked; a missing split.json said "cannot
// open" without naming the run or what writes it.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_support.h"
#include "train/checkpoint.h"
#include "train_fixtures.h"
#include "train/run_dir.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;

Config small() { return test::small_model_config(); }

// best.pt and last.pt of one small model in `dir`.
void save_both(const fs::path& dir) {
  const Config c = small();
  Siamese model(c.model, 32, 40);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  TrainState state;
  state.epoch = 1;
  save_best_weights(dir / "best.pt", model, {{"epoch", 1}});
  save_last_checkpoint(dir / "last.pt", model, optimizer, state);
}

// The error of loading `path` as best.pt is loaded (evaluate, enroll, classify).
std::string load_error(const fs::path& path) {
  Siamese model(small().model, 32, 40);
  return test::error_of([&] { load_best_weights(path, model); });
}

// The offset of the ZIP end-of-directory record.
std::size_t end_record(const std::string& bytes) {
  const std::size_t at = bytes.rfind(std::string("PK\x05\x06", 4));
  EXPECT_NE(at, std::string::npos);
  return at;
}

TEST(CheckpointDamaged, ADirectoryInPlaceOfBestPtIsNamedAsOne) {
  test::TempDir dir;
  fs::create_directory(dir / "best.pt");
  EXPECT_EQ(load_error(dir / "best.pt"), (dir / "best.pt").string() + ": is a directory, not a checkpoint file");
}

TEST(CheckpointDamaged, ADamagedEndRecordSaysWhatToDoForThatFile) {
  test::TempDir dir;
  save_both(dir.path());
  const std::string best_way = "restore it from a copy, or copy the run's last.pt (its latest weights) over it: `cp " +
                               (dir / "last.pt").string() + " " + (dir / "best.pt").string() + "`; or train again";
  const std::string last_way = "restore it from a copy, or train again in a new run directory (`train --run NEW`); " +
                               (dir / "best.pt").string() + " still holds the run's weights";
  for (const std::string name : {"best.pt", "last.pt"}) {
    const fs::path path = dir / name;
    const std::string good = read_file(path);
    std::string bytes = good;
    bytes[end_record(bytes)] = 'X';  // the record's signature
    write_file_atomic(path, bytes);
    const std::string e = load_error(path);
    EXPECT_EQ(e.rfind(path.string() + ": damaged checkpoint: no ZIP directory at its end (a damaged copy or disk): ", 0),
              0u)
        << e;
    EXPECT_NE(e.find(name == "best.pt" ? best_way : last_way), std::string::npos) << e;
    EXPECT_EQ(e.find("continues from last.pt"), std::string::npos) << e;
    write_file_atomic(path, good);
  }
  // The way out for best.pt works: last.pt copied over it loads.
  fs::copy_file(dir / "last.pt", dir / "best.pt", fs::copy_options::overwrite_existing);
  EXPECT_EQ(load_error(dir / "best.pt"), "");
}

TEST(CheckpointDamaged, AnEndRecordCountingFewerEntriesLeavesNoEntryUnchecked) {
  test::TempDir dir;
  save_both(dir.path());
  const fs::path path = dir / "best.pt";
  const std::string good = read_file(path);
  const std::size_t end = end_record(good);
  std::uint16_t entries = 0;
  std::memcpy(&entries, good.data() + end + 10, 2);
  ASSERT_GT(entries, 2);
  for (const int field : {8, 10, -1}) {  // entries on this disk, in all, both
    std::string bytes = good;
    const std::uint16_t one = 1;
    if (field != 10) std::memcpy(bytes.data() + end + 8, &one, 2);
    if (field != 8) std::memcpy(bytes.data() + end + 10, &one, 2);
    write_file_atomic(path, bytes);
    const std::string e = load_error(path);  // LibTorch alone loaded all of them, 1 checked
    EXPECT_EQ(e.rfind(path.string() + ": damaged checkpoint: the ZIP end record counts ", 0), 0u) << field << ": " << e;
    EXPECT_NE(e.find("cp " + (dir / "last.pt").string()), std::string::npos) << e;
  }
  write_file_atomic(path, good);
  EXPECT_EQ(load_error(path), "");
}

TEST(CheckpointDamaged, AMissingRunFileIsNoSuchFileNamingTheRunAndWhatWritesIt) {
  test::TempDir dir;
  const fs::path run = dir / "run";
  fs::create_directories(run);
  const RunPaths paths{run};
  for (const fs::path& file : {paths.split(), paths.info()}) {
    const std::string e = test::error_of([&] {
      if (file == paths.info()) RunInfo::load(file);
      else read_run_file(file);
    });
    EXPECT_EQ(e, file.string() + ": no such file: the run directory " + run.string() + " has no " +
                     file.filename().string() + " (`train --run " + run.string() +
                     "` writes it when training starts; is this a run directory whose training started?)");
  }
  test::write_text(paths.split(), "{}");
  EXPECT_EQ(read_run_file(paths.split()), "{}");
}

// A hand-edited or damaged run.json: a float where a count belongs was an
// unchecked conversion (undefined behaviour); it is an error naming the file
// and the key.
TEST(CheckpointDamaged, ARunJsonCountThatIsAFloatIsRefusedNamingTheFileAndKey) {
  test::TempDir dir;
  const fs::path file = dir / "run.json";
  RunInfo info;
  info.n_clips = 12;
  info.save(file);
  EXPECT_EQ(RunInfo::load(file).n_clips, 12);
  std::string text = read_file(file);
  const std::string from = "\"n_clips\": 12";
  ASSERT_NE(text.find(from), std::string::npos) << text;
  text.replace(text.find(from), from.size(), "\"n_clips\": 1e300");
  write_file_atomic(file, text);
  EXPECT_EQ(test::error_of([&] { RunInfo::load(file); }), file.string() + ": n_clips: expected an integer");
}

}  // namespace
}  // namespace oneshot
