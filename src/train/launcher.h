#pragma once
// `--nproc N`: this program started N times on this host as the ranks of one
// data-parallel run, the way torchrun starts them (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT in each one's
// environment), and supervised until all have ended.
#include <iosfwd>
#include <string>
#include <vector>

namespace oneshot {

// Whether this process is one of the ranks a launcher started (its children
// carry ONESHOT_LAUNCHED=1 and must not launch again).
bool started_by_launcher();

struct LaunchOptions {
  int nproc = 2;
  // The program and its arguments; empty: this process's own
  // (/proc/self/exe with /proc/self/cmdline).
  std::vector<std::string> argv;
  // A rank that failed leaves the others this long to notice and end by
  // themselves (naming it) before they get SIGTERM, then SIGKILL 5 s later.
  double grace_seconds = 15;
};

// Starts the ranks in a process group of their own (MASTER_ADDR 127.0.0.1,
// or the environment's; MASTER_PORT the environment's or a free one) and
// waits for them. SIGINT / SIGTERM to the launcher are passed on to every
// rank (the first Ctrl-C stops training after the current step, on every
// rank together). When a rank dies by a signal or exits with a status
// other than 0 or 130 (interrupted), `err` gets a line naming it ("rank 1 of
// 2 (pid 123) was killed by signal 9 (Killed)") and the others are stopped
// as above. Returns that rank's status (128 + signal for a signal), else
// 130 if the ranks were interrupted, else 0. Errors (fork failing): Error.
int launch_local_ranks(const LaunchOptions& options, std::ostream& err);

}  // namespace oneshot
