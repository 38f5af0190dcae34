// Data-parallel training from the command line: `train --nproc 2` and two
// ranks started by hand (RANK / WORLD_SIZE / MASTER_ADDR=127.0.0.1) train
// into one run directory and continue it, also on one process; a killed
// rank makes the other exit non-zero naming it, with or without --nproc.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "core/atomic_file.h"
#include "support/synthetic_dataset.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string cli() { return test::cli_path().string(); }

// Short clips, a small model, 4 steps an epoch: an epoch takes about a second.
const char* const kSmall =
    " --quiet --threads 1 --set features.sample_rate=22050 --set features.duration=1.0"
    " --set features.n_fft=1024 --set features.n_mels=32 --set model.n_filters=8 --set model.n_dense=32"
    " --set model.n_conv_layers=2 --set train.val_episodes=100 --set train.patience=1000"
    " --set train.steps_per_epoch=4";

const fs::path& data() { return test::shared_small_dataset(12, 8, 22050, 1.0); }

// "RANK=r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=p timeout 300 oneshot-audio ARGS"
std::string rank_command(int rank, int port, const std::string& args) {
  return "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
         " timeout 300 " + cli() + " " + args;
}

// The steps column of RUN/metrics.csv, one value a row.
std::vector<long> steps_column(const fs::path& run) {
  std::istringstream csv(read_file(run / "metrics.csv"));
  std::string header, row, cell;
  std::getline(csv, header);
  std::istringstream h(header);
  int column = -1;
  for (int i = 0; std::getline(h, cell, ','); ++i)
    if (cell == "steps") column = i;
  std::vector<long> steps;
  while (std::getline(csv, row)) {
    std::istringstream r(row);
    for (int i = 0; std::getline(r, cell, ','); ++i)
      if (i == column) steps.push_back(std::stol(cell));
  }
  return steps;
}

TEST(CliDistributed, NprocAndHandStartedRanksTrainOneRunDirectoryAndResume) {
  TempDir tmp;
  const fs::path run = tmp / "run";
  // The run is lengthened at each start: a schedule whose length may change on resume.
  const std::string args = "train --data " + data().string() + " --run " + run.string() + " --cache " +
                           (tmp / "cache").string() + kSmall + " --set train.lr_schedule=plateau";
  std::string out;
  ASSERT_EQ(test::run_command("timeout 300 " + cli() + " " + args + " --nproc 2 --set train.epochs=2", &out), 0)
      << out;
  EXPECT_NE(out.find("data-parallel over 2 processes"), std::string::npos) << out;
  EXPECT_EQ(steps_column(run), (std::vector<long>{4, 8}));

  // Two ranks by hand, as on two hosts: the run continues.
  const int port = test::free_port();
  const std::string more = " --set train.epochs=3 > " + (tmp / "rank").string();
  const std::string both = "(" + rank_command(0, port, args + more + "0.log 2>&1") + "; echo $? > " +
                           (tmp / "rc0").string() + ") & (" + rank_command(1, port, args + more + "1.log 2>&1") +
                           "; echo $? > " + (tmp / "rc1").string() + ") & wait";
  ASSERT_EQ(test::run_command(both, &out), 0) << out;
  const std::string log0 = read_file(tmp / "rank0.log"), log1 = read_file(tmp / "rank1.log");
  EXPECT_EQ(read_file(tmp / "rc0"), "0\n") << log0;
  EXPECT_EQ(read_file(tmp / "rc1"), "0\n") << log1;
  EXPECT_NE(log0.find("continuing"), std::string::npos) << log0;
  EXPECT_EQ(log1.find("epoch"), std::string::npos) << "rank 1 logs nothing: " << log1;
  EXPECT_EQ(steps_column(run), (std::vector<long>{4, 8, 12}));

  // And on one process: the step count goes on.
  ASSERT_EQ(test::run_command("timeout 300 " + cli() + " train --run " + run.string() + " --quiet --threads 1 "
                              "--set train.epochs=4", &out), 0) << out;
  EXPECT_NE(out.find("continuing"), std::string::npos) << out;
  EXPECT_EQ(steps_column(run), (std::vector<long>{4, 8, 12, 16}));
  for (const auto& entry : fs::directory_iterator(run))  // no temporary checkpoint left behind
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
}

// Starts the ranks in the background, waits for the first epoch's row, kills
// rank 1 with SIGKILL and returns the survivor's output; `status` its exit status.
std::string kill_rank_one(const TempDir& tmp, bool nproc, int* status) {
  const fs::path run = tmp / "run";
  const std::string args = "train --data " + data().string() + " --run " + run.string() + " --cache " +
                           (tmp / "cache").string() + kSmall + " --set train.epochs=10000";
  const std::string wait_row = "for i in $(seq 1200); do grep -q '^1,' " + (run / "metrics.csv").string() +
                               " 2>/dev/null && break; sleep 0.1; done\n";
  // kids PID: the children of PID (no procps needed).
  std::string script =
      "kids() { for f in /proc/[0-9]*/stat; do read -r pid comm state ppid rest < $f 2>/dev/null && "
      "[ \"$ppid\" = \"$1\" ] && echo $pid; done; }\n";
  if (nproc) {
    // timeout -> the launcher -> its two ranks; rank 1 by its environment.
    script += "timeout 300 " + cli() + " " + args + " --nproc 2 > " + (tmp / "out").string() + " 2>&1 & T=$!\n" +
             wait_row + "L=$(kids $T)\n"
              "for p in $(kids $L); do tr '\\0' '\\n' < /proc/$p/environ | grep -qx RANK=1 && kill -9 $p; done\n"
             "wait $T; echo $? > " + (tmp / "rc").string() + "\n";
  } else {
    const int port = test::free_port();
    script += rank_command(0, port, args) + " > " + (tmp / "out").string() + " 2>&1 & P0=$!\n" +
             rank_command(1, port, args) + " > /dev/null 2>&1 & P1=$!\n" + wait_row +
             "kill -9 $(kids $P1) $P1\nwait $P0; echo $? > " + (tmp / "rc").string() + "\n";
  }
  write_file_atomic(tmp / "kill.sh", script);
  std::string out;
  test::run_command("bash " + (tmp / "kill.sh").string(), &out);
  *status = std::stoi(read_file(tmp / "rc"));
  return read_file(tmp / "out");
}

TEST(CliDistributed, KilledRankEndsTheOtherNamingIt) {
  TempDir tmp;
  int status = 0;
  const std::string out = kill_rank_one(tmp, false, &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(status, 124) << "ended by the test's timeout, not by itself: " << out;
  EXPECT_NE(out.find("rank 1 of 2 is lost"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(tmp / "run" / "last.pt"));  // the last complete epoch's checkpoint stays
}

TEST(CliDistributed, NprocNamesAKilledRank) {
  TempDir tmp;
  int status = 0;
  const std::string out = kill_rank_one(tmp, true, &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(status, 124) << "ended by the test's timeout, not by itself: " << out;
  EXPECT_NE(out.find("rank 1 of 2 (pid"), std::string::npos) << out;
  EXPECT_NE(out.find("killed by signal 9"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 1 of 2 is lost"), std::string::npos) << "rank 0's own message: " << out;
}

}  // namespace
}  // namespace oneshot
