#include "train/distributed.h"

// ProcessGroupGloo.hpp declares its class only with USE_C10D_GLOO (LibTorch's
// own build defines it); Debian's libtorch_cpu.so is built with Gloo.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#include <xxhash.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "core/clock.h"
#include "core/error.h"

namespace oneshot {
namespace {

// LibTorch 2.x made ProcessGroupGloo a c10d::Backend (ProcessGroup became a
// dispatcher over backends) and routes collectives through c10d::Work; 1.13
// has ProcessGroupGloo as a ProcessGroup. Holding the Gloo class itself and
// waiting on its Work works on both; only the names of the types differ.
#if TORCH_VERSION_MAJOR >= 2
using GlooGroup = c10d::ProcessGroupGloo;  // : c10d::Backend
using WorkPtr = c10::intrusive_ptr<c10d::Work>;
#else
using GlooGroup = c10d::ProcessGroupGloo;  // : c10d::ProcessGroup
using WorkPtr = c10::intrusive_ptr<c10d::Work>;  // ProcessGroup::Work in older releases
#endif

int env_int(const char* name, int fallback, int min_value) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < min_value || x > 1 << 20)
    throw Error(std::string("environment variable ") + name + "=\"" + v + "\" is not an integer >= " +
                std::to_string(min_value));
  return static_cast<int>(x);
}

class SingleProcess final : public Distributed {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_world_size() const override { return 1; }
  void broadcast(std::vector<torch::Tensor>&, int) override {}
  void all_reduce_sum(std::vector<torch::Tensor>&) override {}
  void barrier() override {}
};

const std::string kAbortKey = "oneshot/abort";
const std::string kAbortSeenKey = "oneshot/abort_seen";
std::string heartbeat_key(int rank) { return "oneshot/heartbeat/" + std::to_string(rank); }

// The heartbeat thread: its own store connection (TCPStore clients are not
// meant to be shared between threads), one tick every 0.5 s.
class Watchdog {
 public:
  Watchdog(const LaunchEnv& env, std::chrono::seconds lost_after, const std::atomic<int>& writing)
      : env_(env), lost_after_(lost_after), writing_(writing) {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(env.master_port);
    o.isServer = false;
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(10);
    store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    const auto now = SteadyClock::now();
    last_value_.assign(static_cast<std::size_t>(env.world_size), -1);
    last_change_.assign(static_cast<std::size_t>(env.world_size), now);
    thread_ = std::thread([this] { loop(); });
  }
  ~Watchdog() { stop(); }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // A collective failed with `detail`: which rank is lost? Waits for the
  // verdict (at most 4 s), looking at heartbeats with a 3 s limit.
  std::string diagnose(const std::string& detail) {
    std::unique_lock<std::mutex> lock(mutex_);
    alert_ = true;
    consumed_ = true;  // the main thread reports it; the watchdog need not end the process
    cv_.notify_all();
    // In alert mode a rank is lost after 3 s without a heartbeat, so 4 s tell.
    cv_.wait_for(lock, std::chrono::seconds(4), [this] { return verdict_.has_value() || stopping_; });
    if (verdict_) return *verdict_;
    return "a collective operation failed on rank " + std::to_string(env_.rank) +
           " while every rank is alive: " + detail;
  }

  std::optional<std::string> verdict() {
    std::lock_guard<std::mutex> lock(mutex_);
    return verdict_;
  }

  // This rank fails: the others read why. Rank 0 serves the store, so it
  // waits (at most 3 s) until the others have read the message.
  void publish(const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      consumed_ = true;  // this rank is ending on its own
    }
    try {
      const std::vector<std::uint8_t> bytes(message.begin(), message.end());
      store_->set(kAbortKey, bytes);
      if (env_.rank == 0) {
        const auto start = SteadyClock::now();
        while (store_->add(kAbortSeenKey, 0) < env_.world_size - 1 && seconds_since(start) < 3.0)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } catch (const std::exception&) {
      // The store is gone (rank 0 lost): nobody left to tell.
    }
  }

 private:
  void loop() {
    const std::string own = heartbeat_key(env_.rank);
    std::optional<SteadyClock::time_point> verdict_at;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      const bool alert = alert_;
      const bool have_verdict = verdict_.has_value();
      lock.unlock();
      std::optional<std::string> found;
      if (!have_verdict) found = tick(own, alert);
      lock.lock();
      if (found && !verdict_) {
        verdict_ = *found;
        verdict_at = SteadyClock::now();
        cv_.notify_all();
        lock.unlock();
        if (found->rfind("rank 0 ", 0) != 0 || env_.rank == 0) publish_verdict(*found);
        lock.lock();
      }
      // The main thread did not come to ask within 5 s: it is blocked in a
      // collective that will not fail by itself (or busy alone); end here.
      if (verdict_ && !consumed_ && verdict_at && seconds_since(*verdict_at) > 5.0 && writing_.load() == 0) {
        std::fprintf(stderr, "error: distributed training: %s (rank %d ends too)\n", verdict_->c_str(), env_.rank);
        std::fflush(stderr);
        std::_Exit(1);
      }
      cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
    }
  }

  void publish_verdict(const std::string& message) {
    try {
      const std::vector<std::uint8_t> bytes(message.begin(), message.end());
      if (!store_->check({kAbortKey})) store_->set(kAbortKey, bytes);
    } catch (const std::exception&) {
    }
  }

  // One heartbeat; a verdict when a rank is lost or has reported a failure.
  std::optional<std::string> tick(const std::string& own, bool alert) {
    const auto now = SteadyClock::now();
    try {
      store_->add(own, 1);
      if (store_->check({kAbortKey})) {
        const auto bytes = store_->get(kAbortKey);
        if (!seen_abort_) {
          seen_abort_ = true;
          store_->add(kAbortSeenKey, 1);
        }
        return std::string(bytes.begin(), bytes.end());
      }
      const double limit = alert ? 3.0 : static_cast<double>(lost_after_.count());
      for (int r = 0; r < env_.world_size; ++r) {
        if (r == env_.rank) continue;
        const auto i = static_cast<std::size_t>(r);
        const std::int64_t v = store_->add(heartbeat_key(r), 0);
        if (v != last_value_[i]) {
          last_value_[i] = v;
          last_change_[i] = now;
        } else if (std::chrono::duration<double>(now - last_change_[i]).count() > limit) {
          return "rank " + std::to_string(r) + " of " + std::to_string(env_.world_size) + " is lost: no heartbeat for " +
                 std::to_string(static_cast<int>(limit)) + " s (killed, crashed, stopped or its host unreachable)";
        }
      }
    } catch (const std::exception& e) {
      if (env_.rank == 0) return std::string("the rendezvous store of rank 0 failed: ") + e.what();
      return "rank 0 of " + std::to_string(env_.world_size) + " is lost: its rendezvous store at " + env_.master_addr +
             ":" + std::to_string(env_.master_port) + " stopped answering (rank 0 killed, crashed or ended)";
    }
    return std::nullopt;
  }

  LaunchEnv env_;
  std::chrono::seconds lost_after_;
  const std::atomic<int>& writing_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::vector<std::int64_t> last_value_;
  std::vector<SteadyClock::time_point> last_change_;
  bool seen_abort_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false, alert_ = false, consumed_ = false;
  std::optional<std::string> verdict_;
  std::thread thread_;
};

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

class GlooProcesses final : public Distributed {
 public:
  explicit GlooProcesses(const GlooOptions& o) : env_(o.env) {
    const std::string where = env_.master_addr + ":" + std::to_string(env_.master_port);
    try {
      // Under torchrun its agent already serves the store at MASTER_PORT.
      const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
      const bool agent_store = agent && std::string(agent) == "True";
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(env_.master_port);
      so.isServer = env_.rank == 0 && !agent_store;
      so.numWorkers = static_cast<std::size_t>(env_.world_size);
      // join() below waits for every rank, names the missing ones and checks
      // that RANK and WORLD_SIZE agree (TCPStore's own wait does neither).
      so.waitWorkers = false;
      so.timeout = o.rendezvous_timeout;
      if (so.isServer) {
        store_ = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, so);
      } else {
        // TCPStore's client retries in silence until its timeout: try 10 s at
        // a time and say what this rank waits for.
        const auto start = SteadyClock::now();
        while (!store_) {
          const double left = static_cast<double>(o.rendezvous_timeout.count()) - seconds_since(start);
          so.timeout = std::chrono::seconds(std::max<long long>(1, std::min<long long>(10, static_cast<long long>(left))));
          try {
            store_ = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, so);
          } catch (const std::exception&) {
            if (seconds_since(start) + 0.5 >= static_cast<double>(o.rendezvous_timeout.count())) throw;
            std::fprintf(stderr, "note: rank %d of %d: waiting for rank 0's store at %s (%d s of %lld)\n", env_.rank,
                         env_.world_size, where.c_str(), static_cast<int>(seconds_since(start)),
                         static_cast<long long>(o.rendezvous_timeout.count()));
          }
        }
        store_->setTimeout(o.rendezvous_timeout);
      }
    } catch (const std::exception& e) {
      throw Error("rendezvous of " + std::to_string(env_.world_size) + " ranks at " + where + " (rank " +
                  std::to_string(env_.rank) + ", waiting at most " + std::to_string(o.rendezvous_timeout.count()) +
                  " s) failed: " + first_line(e.what()) +
                  (env_.rank == 0 ? " (is MASTER_PORT in use, or a rank not started?)" : " (is rank 0 running?)"));
    }
    join(o.rendezvous_timeout, where);
    try {
      auto options = GlooGroup::Options::create(std::chrono::milliseconds(o.collective_timeout));
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        options->devices.push_back(GlooGroup::createDeviceForInterface(ifname));
      else if (is_loopback(env_.master_addr))
        options->devices.push_back(GlooGroup::createDeviceForHostname("127.0.0.1"));
      else
        options->devices.push_back(GlooGroup::createDefaultDevice());
      options->threads = 2;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", store_);
      group_ = c10::make_intrusive<GlooGroup>(prefixed, env_.rank, env_.world_size, options);
    } catch (const std::exception& e) {
      throw Error("Gloo process group at " + where + " (rank " + std::to_string(env_.rank) +
                  ") could not connect: " + first_line(e.what()));
    }
    watchdog_ = std::make_unique<Watchdog>(env_, o.lost_after, writing_);
  }

  ~GlooProcesses() override {
    if (watchdog_) watchdog_->stop();
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  int local_rank() const override { return env_.local_rank; }
  int local_world_size() const override { return env_.local_world_size; }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    run("broadcast", [&] {
      std::vector<WorkPtr> works;
      for (auto& t : tensors) {
        std::vector<at::Tensor> one{t};
        c10d::BroadcastOptions bo;
        bo.rootRank = root;
        works.push_back(group_->broadcast(one, bo));
      }
      for (auto& w : works) w->wait();
    });
  }

  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    run("all-reduce", [&] {
      std::vector<WorkPtr> works;
      for (auto& t : tensors) {
        std::vector<at::Tensor> one{t};
        works.push_back(group_->allreduce(one));
      }
      for (auto& w : works) w->wait();
    });
  }

  void barrier() override {
    run("barrier", [&] { group_->barrier()->wait(); });
  }

  void finish() override {
    if (finished_ || failure_) return;
    barrier();
    watchdog_->stop();  // no heartbeats after this: no false alarm at exit
    // Nobody may leave (rank 0 ends the store) while another's watchdog still ticks.
    barrier();
    finished_ = true;
  }

  void report_failure(const std::string& what) override {
    if (failure_ || finished_ || !watchdog_) return;  // another rank's loss: already told
    failure_ = "rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) + " failed: " + what;
    watchdog_->publish(*failure_);
  }

 private:
  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

  // Before Gloo's rendezvous (which waits out its whole timeout, silently, on
  // a RANK given twice or a WORLD_SIZE that differs between ranks): every
  // rank announces itself in the store and waits until WORLD_SIZE processes
  // have; then each RANK must have been claimed once and every WORLD_SIZE
  // must be rank 0's. Any rank that finds a problem posts it, so every rank
  // ends with the same error. Waiting is reported every 10 s, naming the
  // ranks not yet started.
  void join(std::chrono::seconds timeout, const std::string& where) {
    // torchrun's agent store outlives a restart of the workers: keys per attempt.
    const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
    const std::string prefix = std::string("oneshot/join/") + (attempt ? attempt : "0") + "/";
    const std::string error_key = prefix + "error", count_key = prefix + "count", ok_key = prefix + "ok";
    const std::string me = "rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size);
    auto fail = [&](const std::string& why) {
      try {
        if (!store_->check({error_key})) store_->set(error_key, std::vector<std::uint8_t>(why.begin(), why.end()));
        // Rank 0 serves the store: a moment for the others to read why.
        if (env_.rank == 0) std::this_thread::sleep_for(std::chrono::seconds(1));
      } catch (const std::exception&) {
      }
      throw Error("rendezvous at " + where + " (" + me + "): " + why);
    };
    auto posted = [&]() -> std::optional<std::string> {
      if (!store_->check({error_key})) return std::nullopt;
      const auto b = store_->get(error_key);
      return std::string(b.begin(), b.end());
    };
    auto value = [&](const std::string& key) -> std::int64_t { return store_->add(key, 0); };
    bool world_checked = env_.rank == 0;
    auto check_world = [&] {  // rank 0's WORLD_SIZE, once it has set it
      if (world_checked || !store_->check({prefix + "world_size"})) return;
      const auto b = store_->get(prefix + "world_size");
      const std::string theirs(b.begin(), b.end());
      if (theirs != std::to_string(env_.world_size))
        fail("WORLD_SIZE differs between ranks: " + std::to_string(env_.world_size) + " on rank " +
             std::to_string(env_.rank) + ", " + theirs + " on rank 0");
      world_checked = true;
    };
    auto wait_for = [&](const std::string& key, const char* what) {
      const auto start = SteadyClock::now();
      double reported = 0;
      while (true) {
        if (auto why = posted()) fail(*why);
        check_world();
        const std::int64_t n = value(key);
        if (n >= env_.world_size) return n;
        const double waited = seconds_since(start);
        if (waited > static_cast<double>(timeout.count())) {
          std::string missing;
          for (int r = 0; r < env_.world_size; ++r)
            if (value(prefix + "rank/" + std::to_string(r)) == 0) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
          fail(std::to_string(n) + " of " + std::to_string(env_.world_size) + " processes " + what + " within " +
               std::to_string(timeout.count()) + " s" + (missing.empty() ? "" : "; not started: rank(s) " + missing));
        }
        if (waited - reported >= 10) {
          reported = waited;
          std::fprintf(stderr, "note: %s: waiting for the other ranks at %s (%d of %d here, %d s of %lld)\n", me.c_str(),
                       where.c_str(), static_cast<int>(n), env_.world_size, static_cast<int>(waited),
                       static_cast<long long>(timeout.count()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    };
    try {
      if (env_.rank == 0) {
        const std::string ws = std::to_string(env_.world_size);
        store_->set(prefix + "world_size", std::vector<std::uint8_t>(ws.begin(), ws.end()));
      }
      store_->add(prefix + "rank/" + std::to_string(env_.rank), 1);
      store_->add(count_key, 1);
      const std::int64_t joined = wait_for(count_key, "joined");
      std::string twice, none;
      for (int r = 0; r < env_.world_size; ++r) {
        const std::int64_t c = value(prefix + "rank/" + std::to_string(r));
        if (c > 1) twice += (twice.empty() ? "" : ", ") + std::to_string(r) + " (" + std::to_string(c) + " processes)";
        if (c == 0) none += (none.empty() ? "" : ", ") + std::to_string(r);
      }
      if (!twice.empty())
        fail("the same RANK was given to more than one process: RANK " + twice +
             (none.empty() ? "" : "; no process has RANK " + none) + " (WORLD_SIZE=" +
             std::to_string(env_.world_size) + ")");
      if (joined > env_.world_size)
        fail(std::to_string(joined) + " processes joined, more than WORLD_SIZE=" + std::to_string(env_.world_size) +
             " (a RANK or WORLD_SIZE differs between them?)");
      check_world();  // set by now: rank 0 sets it before it claims its rank
      store_->add(ok_key, 1);
      wait_for(ok_key, "checked their RANK and WORLD_SIZE");
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("rendezvous at " + where + " (" + me + "): rank 0's store stopped answering: " + first_line(e.what()));
    }
  }

  template <class F>
  void run(const char* what, F&& f) {
    if (failure_) throw Error("distributed training: " + *failure_);
    if (finished_) throw Error(std::string("distributed training: ") + what + " after the group finished");
    const auto start = SteadyClock::now();
    try {
      f();
    } catch (const std::exception& e) {
      failure_ = watchdog_->diagnose(std::string(what) + ": " + first_line(e.what()));
      throw Error("distributed training: " + *failure_);
    }
    comm_seconds_ += seconds_since(start);
    ++n_collectives_;
  }

  LaunchEnv env_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  c10::intrusive_ptr<GlooGroup> group_;
  std::unique_ptr<Watchdog> watchdog_;
  std::optional<std::string> failure_;
  bool finished_ = false;
};

}  // namespace

LaunchEnv LaunchEnv::from_environment() {
  LaunchEnv e;
  e.present = std::getenv("RANK") || std::getenv("WORLD_SIZE");
  if (!e.present) return e;
  // One without the other would make a process rank 0 (or of a world of one)
  // by default: two hosts would both serve the store, or wait in silence.
  for (const char* name : {"RANK", "WORLD_SIZE"})
    if (const char* v = std::getenv(name); !v || !*v)
      throw Error(std::string("environment: ") + (std::string(name) == "RANK" ? "WORLD_SIZE" : "RANK") +
                  " is set but " + name + " is not: a rank started by hand needs both (and MASTER_ADDR, "
                  "MASTER_PORT), as torchrun sets them");
  e.world_size = env_int("WORLD_SIZE", 1, 1);
  e.rank = env_int("RANK", 0, 0);
  if (e.rank >= e.world_size)
    throw Error("environment: RANK=" + std::to_string(e.rank) + " is not below WORLD_SIZE=" +
                std::to_string(e.world_size));
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size, 1);
  if (e.local_rank >= e.local_world_size)
    throw Error("environment: LOCAL_RANK=" + std::to_string(e.local_rank) + " is not below LOCAL_WORLD_SIZE=" +
                std::to_string(e.local_world_size));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1);
  if (e.master_port > 65535) throw Error("environment: MASTER_PORT=" + std::to_string(e.master_port) + " is not a port");
  return e;
}

namespace {

// Gloo reduces float, double, half and the integer types; booleans travel as bytes.
at::ScalarType wire_type(const torch::Tensor& t) {
  return t.scalar_type() == at::kBool ? at::kByte : t.scalar_type();
}

// Whole tensors in order, each bucket at most `limit` bytes (or one tensor)
// and of one wire type.
std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors, std::size_t limit) {
  std::vector<std::vector<torch::Tensor>> groups;
  std::size_t bytes = limit;
  for (const auto& t : tensors) {
    const std::size_t n = static_cast<std::size_t>(t.numel()) * t.element_size();
    if (groups.empty() || bytes + n > limit || wire_type(groups.back().front()) != wire_type(t)) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(t);
    bytes += n;
  }
  return groups;
}

// One flat contiguous buffer per bucket (Gloo wants dense contiguous tensors;
// channels-last parameters are not), and back.
std::vector<torch::Tensor> flatten(const std::vector<std::vector<torch::Tensor>>& groups) {
  std::vector<torch::Tensor> flat;
  for (const auto& group : groups) {
    std::vector<torch::Tensor> pieces;
    for (const auto& t : group) pieces.push_back(t.reshape({-1}).to(wire_type(t)));
    flat.push_back(torch::cat(pieces));
  }
  return flat;
}

void unflatten(const std::vector<torch::Tensor>& flat, std::vector<std::vector<torch::Tensor>>& groups) {
  for (std::size_t b = 0; b < groups.size(); ++b) {
    std::int64_t offset = 0;
    for (auto& t : groups[b]) {
      const auto n = t.numel();
      t.copy_(flat[b].narrow(0, offset, n).view(t.sizes()));
      offset += n;
    }
  }
}

}  // namespace

void Distributed::average_gradients(const std::vector<torch::Tensor>& parameters) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  auto groups = buckets(grads, bucket_bytes);
  auto flat = flatten(groups);
  all_reduce_sum(flat);
  for (auto& f : flat) f.div_(static_cast<double>(world_size()));
  unflatten(flat, groups);
}

void Distributed::broadcast_tensors(const std::vector<torch::Tensor>& tensors, int root) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> defined;
  for (const auto& t : tensors)
    if (t.defined() && t.numel() > 0) defined.push_back(t);
  auto groups = buckets(defined, bucket_bytes);
  auto flat = flatten(groups);
  broadcast(flat, root);
  unflatten(flat, groups);
}

void Distributed::broadcast_string(std::string& text, int root) {
  if (world_size() == 1) return;
  std::vector<torch::Tensor> size{torch::tensor({static_cast<std::int64_t>(text.size())}, torch::kInt64)};
  broadcast(size, root);
  const auto n = size[0].item<std::int64_t>();
  std::vector<torch::Tensor> bytes{torch::empty({n}, torch::kUInt8)};
  if (rank() == root && n > 0) std::memcpy(bytes[0].data_ptr(), text.data(), static_cast<std::size_t>(n));
  if (n > 0) broadcast(bytes, root);
  text.assign(static_cast<const char*>(bytes[0].data_ptr()), static_cast<std::size_t>(n));
}

void Distributed::broadcast_values(std::vector<double>& values, int root) {
  if (world_size() == 1 || values.empty()) return;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64)};
  broadcast(t, root);
  std::memcpy(values.data(), t[0].data_ptr(), values.size() * sizeof(double));
}

std::vector<double> Distributed::sum_values(std::vector<double> values) {
  if (world_size() == 1 || values.empty()) return values;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64)};
  all_reduce_sum(t);
  std::memcpy(values.data(), t[0].data_ptr(), values.size() * sizeof(double));
  return values;
}

std::unique_ptr<Distributed> single_process() { return std::make_unique<SingleProcess>(); }

std::unique_ptr<Distributed> connect_gloo(const GlooOptions& options) {
  return std::make_unique<GlooProcesses>(options);
}

std::uint64_t feature_checksum(const FeatureSet& features) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const std::uint64_t dims[3] = {features.n_clips(), features.n_mels(), features.n_frames()};
  XXH3_64bits_update(state, dims, sizeof dims);
  if (features.n_clips() > 0)
    XXH3_64bits_update(state, features.clip(0), features.n_clips() * features.clip_size() * sizeof(float));
  XXH3_64bits_update(state, features.labels().data(), features.labels().size() * sizeof(int));
  for (const auto& name : features.class_names()) XXH3_64bits_update(state, name.c_str(), name.size() + 1);
  const std::uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return h;
}

void check_same_features(Distributed& dist, const FeatureSet& features, const std::string& cache_file) {
  if (dist.world_size() == 1) return;
  const std::uint64_t mine = feature_checksum(features);
  // Two halves: a double holds 53 bits exactly, not 64.
  std::vector<double> theirs{static_cast<double>(mine >> 32), static_cast<double>(mine & 0xffffffffu)};
  dist.broadcast_values(theirs);
  const std::uint64_t root = (static_cast<std::uint64_t>(theirs[0]) << 32) | static_cast<std::uint64_t>(theirs[1]);
  std::vector<double> differs(static_cast<std::size_t>(dist.world_size()), 0.0);
  differs[static_cast<std::size_t>(dist.rank())] = mine == root ? 0.0 : 1.0;
  differs = dist.sum_values(differs);
  std::string ranks;
  for (std::size_t r = 0; r < differs.size(); ++r)
    if (differs[r] > 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  if (ranks.empty()) return;
  char hex[2][17];
  std::snprintf(hex[0], sizeof hex[0], "%016llx", static_cast<unsigned long long>(mine));
  std::snprintf(hex[1], sizeof hex[1], "%016llx", static_cast<unsigned long long>(root));
  throw file_error(cache_file, "the features of rank(s) " + ranks + " differ from rank 0's (this rank " +
                                   std::to_string(dist.rank()) + ": checksum " + hex[0] + ", rank 0: " + hex[1] +
                                   "); every host needs the same dataset and feature settings");
}

}  // namespace oneshot
