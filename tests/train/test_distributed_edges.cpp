// Hand-started ranks that disagree: a RANK given to two processes or a
// WORLD_SIZE that differs between ranks ends every rank at once with an
// error naming it (Gloo's own rendezvous waited out its timeout in silence),
// and RANK or WORLD_SIZE alone is refused. The ranks are threads of this
// process, each with its own store connection, as separate processes have.
// And a rank lost after rank 0's validation never leaves a best.pt that
// last.pt does not record.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "support/test_support.h"
#include "train/distributed.h"
#include "train/launcher.h"
#include "train/trainer.h"
#include "train_fixtures.h"

using namespace oneshot;
namespace fs = std::filesystem;

namespace {

// Each (rank, world size) joins in a thread; their errors ("" if connected).
std::vector<std::string> join_all(const std::vector<std::pair<int, int>>& ranks) {
  const int port = test::free_port();
  std::vector<std::string> errors(ranks.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    threads.emplace_back([&, i] {
      GlooOptions o;
      o.env.present = true;
      o.env.rank = ranks[i].first;
      o.env.world_size = ranks[i].second;
      o.env.local_rank = ranks[i].first;
      o.env.local_world_size = ranks[i].second;
      o.env.master_port = port;
      o.rendezvous_timeout = std::chrono::seconds(30);
      try {
        auto dist = connect_gloo(o);
      } catch (const Error& e) {
        errors[i] = e.what();
      } catch (const std::exception& e) {
        errors[i] = std::string("not an oneshot::Error: ") + e.what();
      }
    });
    // Rank 0 serves the store; the others retry until it does.
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace

TEST(DistributedEdges, SameRankTwiceEndsEveryRankNamingIt) {
  const auto start = std::chrono::steady_clock::now();
  const auto errors = join_all({{0, 3}, {1, 3}, {1, 3}});
  for (const auto& e : errors) {
    EXPECT_NE(e.find("the same RANK was given to more than one process: RANK 1 (2 processes)"), std::string::npos) << e;
    EXPECT_NE(e.find("no process has RANK 2"), std::string::npos) << e;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20.0);
}

TEST(DistributedEdges, WorldSizeDifferingEndsEveryRankNamingIt) {
  for (const auto& sizes : {std::pair{2, 3}, std::pair{3, 2}}) {
    const auto errors = join_all({{0, sizes.first}, {1, sizes.second}});
    const std::string expected = "WORLD_SIZE differs between ranks: " + std::to_string(sizes.second) + " on rank 1, " +
                                 std::to_string(sizes.first) + " on rank 0";
    for (const auto& e : errors) EXPECT_NE(e.find(expected), std::string::npos) << e;
  }
}

TEST(DistributedEdges, RankOrWorldSizeAloneIsRefused) {
  ::unsetenv("RANK");
  ::setenv("WORLD_SIZE", "2", 1);
  try {
    LaunchEnv::from_environment();
    ADD_FAILURE() << "WORLD_SIZE without RANK accepted (as rank 0)";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RANK is not"), std::string::npos) << e.what();
  }
  ::unsetenv("WORLD_SIZE");
  ::setenv("RANK", "1", 1);
  try {
    LaunchEnv::from_environment();
    ADD_FAILURE() << "RANK without WORLD_SIZE accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("WORLD_SIZE is not"), std::string::npos) << e.what();
  }
  ::unsetenv("RANK");
}

namespace {

// Rank 0 of two identical ranks (a sum over ranks is twice the value), whose
// peer is lost when rank 0 shares its end-of-epoch decisions (the broadcast
// of Trainer::share_epoch_state: 7 float64 values).
class PeerLostAtEpochEnd final : public Distributed {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  int local_rank() const override { return 0; }
  int local_world_size() const override { return 1; }
  void broadcast(std::vector<torch::Tensor>& tensors, int) override {
    for (const auto& t : tensors)
      if (t.scalar_type() == torch::kFloat64 && t.numel() == 7) {
        fired = true;
        throw Error("distributed training: rank 1 of 2 is lost (test)");
      }
  }
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    for (auto& t : tensors) t.mul_(2);
  }
  void barrier() override {}
  bool fired = false;
};

}  // namespace

TEST(DistributedEdges, RankLostAtEpochEndLeavesNoBestWithoutLast) {
  test::TempDir dir;
  Config c = test::tiny_config();
  c.train.epochs = 1;
  c.train.steps_per_epoch = 2;
  c.train.val_episodes = 20;
  PeerLostAtEpochEnd dist;
  TrainOptions o;
  o.run_dir = dir / "run";
  o.progress = false;
  o.distributed = &dist;
  EXPECT_THROW(train(c, test::separable_features(12, 8), o), Error);
  ASSERT_TRUE(dist.fired) << "the epoch-end broadcast was not where this test expects it";
  // The first epoch improves on nothing, so best.pt would be written: only with last.pt beside it.
  EXPECT_EQ(fs::exists(dir / "run" / "best.pt"), fs::exists(dir / "run" / "last.pt"))
      << "best.pt without the last.pt that records its epoch";
}

// Ctrl-C at start-up, before a rank has its own handler, ends the ranks by
// SIGINT: the launcher passed it on, so that is the user's interrupt (status
// 130), not "rank 0 of 2 was killed by signal 2" as an error.
TEST(DistributedEdges, LauncherCtrlCAtStartUpIsAnInterruptNotAFailure) {
  LaunchOptions o;
  o.nproc = 2;
  o.argv = {"/bin/sleep", "30"};
  std::thread ctrl_c([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(::getpid(), SIGINT);  // the launcher's handler passes it on
  });
  std::ostringstream err;
  const auto start = std::chrono::steady_clock::now();
  const int code = launch_local_ranks(o, err);
  ctrl_c.join();
  EXPECT_EQ(code, 130);
  EXPECT_EQ(err.str(), "") << "an interrupt reported as a failure";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}
