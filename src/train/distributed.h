#pragma once
// Data-parallel training across processes and hosts on LibTorch's c10d.
//
// The pattern of pytorch/examples cpp/distributed/dist-mnist.cpp (LibTorch has
// no C++ DistributedDataParallel): every rank holds the whole model, rank 0's
// initial parameters are broadcast, each rank computes the loss of its own
// sub-batch, and after backward the gradients are all-reduced (summed, in
// buckets of about 25 MB as DDP's bucket_cap_mb) and divided by the world
// size, so every rank takes the same optimizer step: the step of the mean of
// the ranks' losses.
//
// Ranks find each other by torchrun's conventions (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT): rank 0 serves a
// c10d::TCPStore at MASTER_ADDR:MASTER_PORT, the Gloo process group meets
// there. A watchdog thread per rank keeps a heartbeat in that store, so a
// rank that dies or hangs is named: every collective that fails afterwards
// throws an oneshot::Error "rank K of N is lost: ..." and a rank blocked in a
// collective that cannot fail (a stopped peer keeps its sockets open) is
// ended by the watchdog with that message and exit status 1 (never while a
// CheckpointGuard is open, so checkpoints are never cut short).
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/feature_cache.h"

namespace oneshot {

// torchrun's environment variables. present: RANK or WORLD_SIZE is set (then
// both must be, else an Error naming the missing one). LOCAL_RANK defaults to RANK and LOCAL_WORLD_SIZE to WORLD_SIZE (one host),
// MASTER_ADDR to 127.0.0.1 and MASTER_PORT to 29500. A malformed or
// inconsistent value (RANK >= WORLD_SIZE, ...) is an Error naming the variable.
struct LaunchEnv {
  bool present = false;
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  static LaunchEnv from_environment();
};

class Distributed {
 public:
  virtual ~Distributed() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;        // rank among the processes of this host
  virtual int local_world_size() const = 0;  // processes on this host
  bool is_main() const { return rank() == 0; }

  // In place: every tensor takes rank `root`'s values (same shapes and dtypes
  // on every rank).
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root = 0) = 0;
  // In place: every tensor becomes its element-wise sum over the ranks. The
  // tensors are reduced concurrently (one collective each).
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  virtual void barrier() = 0;

  // The gradients of `parameters` (those defined; the same set on every
  // rank) replaced by their mean over the ranks, flattened into buckets of
  // at most bucket_bytes. No-op for one process.
  void average_gradients(const std::vector<torch::Tensor>& parameters);
  // Rank `root`'s values of `tensors` (parameters, buffers) in every rank,
  // in place, bucketed as above. Any memory layout.
  void broadcast_tensors(const std::vector<torch::Tensor>& tensors, int root = 0);
  // Rank `root`'s text / values in every rank.
  void broadcast_string(std::string& text, int root = 0);
  void broadcast_values(std::vector<double>& values, int root = 0);
  // The element-wise sum over ranks (float64).
  std::vector<double> sum_values(std::vector<double> values);

  // A clean end on every rank together (after training); collectives
  // afterwards are errors. Idempotent.
  virtual void finish() {}
  // This rank is ending with an error: tells the other ranks why (they
  // name it), unless the error is another rank's loss. Best effort.
  virtual void report_failure(const std::string& what) {}

  // Seconds this rank spent inside collectives (waiting included) and their
  // count, since construction: the benchmark's all-reduce time.
  double communication_seconds() const { return comm_seconds_; }
  std::int64_t collectives() const { return n_collectives_; }

  std::size_t bucket_bytes = 25u << 20;

  // While one is alive the watchdog does not end the process (a checkpoint
  // being written finishes first).
  class CheckpointGuard {
   public:
    explicit CheckpointGuard(Distributed* d) : d_(d) { if (d_) ++d_->writing_; }
    ~CheckpointGuard() { if (d_) --d_->writing_; }
    CheckpointGuard(const CheckpointGuard&) = delete;
    CheckpointGuard& operator=(const CheckpointGuard&) = delete;

   private:
    Distributed* d_;
  };

 protected:
  std::atomic<int> writing_{0};
  double comm_seconds_ = 0;
  std::int64_t n_collectives_ = 0;
};

// One process: rank 0 of 1; every collective is a no-op.
std::unique_ptr<Distributed> single_process();

struct GlooOptions {
  LaunchEnv env;
  // How long rank 0 waits for the others to join, and they for rank 0.
  std::chrono::seconds rendezvous_timeout{300};
  // Gloo's per-collective timeout: longer than rank 0's longest lone work
  // between collectives (validation, checkpoints), as others wait meanwhile.
  std::chrono::seconds collective_timeout{1800};
  // A rank whose heartbeat stands still this long is lost (killed, stopped,
  // or its host gone). After a collective fails, 3 s.
  std::chrono::seconds lost_after{30};
};

// Joins the process group described by options.env (blocks until every rank
// has joined). The Gloo transport binds to GLOO_SOCKET_IFNAME's interface
// when set (torch's variable), to 127.0.0.1 when MASTER_ADDR is a loopback
// address, else to the address this host's name resolves to. Before Gloo's
// rendezvous every rank checks, through the store, that each RANK is held by
// one process and that WORLD_SIZE is rank 0's (on every rank the same error,
// at once); waiting longer than 10 s is noted on stderr. Errors: the
// rendezvous timing out (naming the ranks not started), MASTER_PORT in use, a
// RANK given twice or WORLD_SIZE differing, naming MASTER_ADDR:MASTER_PORT.
std::unique_ptr<Distributed> connect_gloo(const GlooOptions& options);

// XXH3-64 of a feature set's values, labels and class names: equal on two
// hosts when their caches hold the same features.
std::uint64_t feature_checksum(const FeatureSet& features);
// Throws an Error naming `cache_file` on every rank whose checksum differs
// from rank 0's (and on rank 0, naming those ranks).
void check_same_features(Distributed& dist, const FeatureSet& features, const std::string& cache_file);

}  // namespace oneshot
