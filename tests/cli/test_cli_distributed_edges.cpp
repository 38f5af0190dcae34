// Edge cases a new user meets: a mistyped command is named (CLI11 said "A
// subcommand is required") without handing over to the model executable,
// and a hand-started rank other than 0 whose --set differs from rank 0's
// configuration is refused on both ranks (it was ignored without a word).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "support/synthetic_dataset.h"
#include "support/test_support.h"

namespace oneshot {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string cli() { return "'" + test::cli_path().string() + "'"; }

TEST(CliFrontEndEdges, UnknownCommandIsNamedWithoutLoadingLibTorch) {
  std::string out;
  const int status = test::run_command("LD_DEBUG=libs " + cli() + " trian --run x", &out);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("unknown command 'trian'"), std::string::npos) << out.substr(out.size() > 3000 ? out.size() - 3000 : 0);
  EXPECT_NE(out.find("train"), std::string::npos);
  EXPECT_EQ(out.find("libtorch_cpu.so"), std::string::npos) << "handed over to the model executable";
  // The model executable says the same when run directly.
  const fs::path model = test::cli_path().parent_path() / "oneshot-audio-model";
  EXPECT_NE(test::run_command("'" + model.string() + "' bogus", &out), 0);
  EXPECT_NE(out.find("unknown command 'bogus'"), std::string::npos) << out;
}

TEST(CliDistributedEdges, AnotherRanksDifferentSetIsRefusedOnBothRanks) {
  TempDir tmp;
  const fs::path data = test::shared_small_dataset(12, 8, 22050, 1.0);
  const int port = test::free_port();
  const std::string args = " train --quiet --threads 1 --data '" + data.string() + "' --run '" + (tmp / "run").string() +
                           "' --cache '" + (tmp / "cache").string() + "' --set train.steps_per_epoch=2 --set train.epochs=1";
  auto rank = [&](int r) {
    return "RANK=" + std::to_string(r) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
           " timeout 120 " + cli() + args;
  };
  const fs::path out0 = tmp / "rank0.txt", out1 = tmp / "rank1.txt";
  std::string statuses;
  test::run_command(rank(0) + " > '" + out0.string() + "' 2>&1 & " + rank(1) + " --set features.n_mels=64 > '" +
                        out1.string() + "' 2>&1; s1=$?; wait $!; echo \"$? $s1\"",
                    &statuses);
  EXPECT_EQ(statuses, "1 1\n");
  const std::string expected = "features.n_mels = 64 here, 128 on rank 0";
  EXPECT_NE(read_file(out1).find(expected), std::string::npos) << read_file(out1);
  EXPECT_NE(read_file(out0).find("rank 1 of 2 failed"), std::string::npos) << read_file(out0);
  EXPECT_NE(read_file(out0).find(expected), std::string::npos) << read_file(out0);
}

// More threads than the host has cores, over all ranks: said once (by local
// rank 0), not silently slow.
TEST(CliDistributedEdges, OversubscribedCoresAreSaidOnce) {
  TempDir tmp;
  const fs::path data = test::shared_small_dataset(12, 8, 22050, 1.0);
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  std::string out;
  ASSERT_EQ(test::run_command("timeout 120 " + cli() + " train --quiet --nproc 2 --threads " + std::to_string(cores) +
                                  " --data '" + data.string() + "' --run '" + (tmp / "run").string() + "' --cache '" +
                                  (tmp / "cache").string() + "' --set train.steps_per_epoch=2 --set train.epochs=1",
                              &out),
            0)
      << out;
  const auto first = out.find("the ranks will contend");
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_EQ(out.find("the ranks will contend", first + 1), std::string::npos) << out;
}

}  // namespace
}  // namespace oneshot
