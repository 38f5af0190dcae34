#include "train/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/error.h"

namespace oneshot {
namespace {

volatile std::sig_atomic_t g_signals[2] = {0, 0};  // SIGINT, SIGTERM received, not yet passed on
void on_signal(int sig) {
  if (sig == SIGINT) g_signals[0] = g_signals[0] + 1;
  if (sig == SIGTERM) g_signals[1] = g_signals[1] + 1;
}

std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  if (args.empty()) throw Error("--nproc: cannot read this program's arguments from /proc/self/cmdline");
  return args;
}

// A port nothing listens on now (the kernel's choice for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("--nproc: no socket for a free port: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(std::string("--nproc: cannot find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

bool started_by_launcher() {
  const char* v = std::getenv("ONESHOT_LAUNCHED");
  return v && std::string(v) == "1";
}

int launch_local_ranks(const LaunchOptions& options, std::ostream& err) {
  const int n = options.nproc;
  const std::vector<std::string> argv = options.argv.empty() ? own_argv() : options.argv;
  const std::string program = options.argv.empty() ? "/proc/self/exe" : argv[0];
  const char* addr_env = std::getenv("MASTER_ADDR");
  const std::string addr = addr_env && *addr_env ? addr_env : "127.0.0.1";
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env && *port_env ? port_env : std::to_string(free_port());

  struct sigaction action {}, old_int {}, old_term {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  g_signals[0] = 0;
  g_signals[1] = 0;
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);

  std::vector<pid_t> pids(static_cast<std::size_t>(n), -1);
  const pid_t parent = ::getpid();
  pid_t group = 0;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      throw Error(std::string("--nproc: cannot start rank ") + std::to_string(r) + ": " + std::strerror(errno));
    }
    if (pid == 0) {
      // The ranks share a process group of their own: a terminal's Ctrl-C
      // reaches the launcher only, which passes exactly one on.
      ::setpgid(0, group);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher killed: the ranks go too
      if (::getppid() != parent) std::_Exit(1);
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", addr.c_str(), 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::setenv("ONESHOT_LAUNCHED", "1", 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(program.c_str(), args.data());
      std::fprintf(stderr, "error: --nproc: cannot run %s: %s\n", program.c_str(), std::strerror(errno));
      std::_Exit(127);
    }
    ::setpgid(pid, group);  // both sides set it: no race with the child's exec
    if (group == 0) group = pid;
    pids[static_cast<std::size_t>(r)] = pid;
  }

  std::vector<std::optional<int>> status(static_cast<std::size_t>(n));
  int running = n;
  std::optional<int> failed;  // the first rank that failed
  std::optional<SteadyClock::time_point> failed_at;
  bool terminated = false;
  bool passed_on[2] = {false, false};  // SIGINT, SIGTERM sent to the ranks
  while (running > 0) {
    for (int s = 0; s < 2; ++s) {
      while (g_signals[s] > 0) {
        g_signals[s] = g_signals[s] - 1;
        passed_on[s] = true;
        for (std::size_t r = 0; r < pids.size(); ++r)
          if (!status[r]) ::kill(pids[r], s == 0 ? SIGINT : SIGTERM);
      }
    }
    int st = 0;
    const pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (std::size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] != pid) continue;
        status[r] = st;
        --running;
        // A rank ended by the signal the user sent (Ctrl-C before its own
        // handler was installed, at start-up) did not fail.
        const bool asked = WIFSIGNALED(st) && ((WTERMSIG(st) == SIGINT && passed_on[0]) ||
                                               (WTERMSIG(st) == SIGTERM && passed_on[1] && !terminated));
        const bool bad = !asked && (WIFSIGNALED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 130));
        if (bad && !failed) {
          failed = static_cast<int>(r);
          failed_at = SteadyClock::now();
          err << "error: --nproc: rank " << r << " of " << n << " (pid " << pid << ") " << describe_status(st)
              << (running > 0 ? "; the other ranks stop" : "") << std::endl;
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (failed_at && running > 0) {
      const double waited = seconds_since(*failed_at);
      if (!terminated && waited > options.grace_seconds) {
        for (std::size_t r = 0; r < pids.size(); ++r)
          if (!status[r]) ::kill(pids[r], SIGTERM);
        terminated = true;
      } else if (waited > options.grace_seconds + 5) {
        for (std::size_t r = 0; r < pids.size(); ++r)
          if (!status[r]) ::kill(pids[r], SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  if (failed) return exit_code(*status[static_cast<std::size_t>(*failed)]);
  for (const auto& s : status)
    if (s && exit_code(*s) != 0) return exit_code(*s);
  return 0;
}

}  // namespace oneshot
