#include "train/interrupt.h"

#include <csignal>

namespace oneshot {
namespace {

volatile std::sig_atomic_t g_requested = 0;
struct sigaction g_previous;

void on_sigint(int) {
  if (g_requested) {  // second Ctrl-C: die as usual
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_requested = 1;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_requested = 0;
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &g_previous);
}

InterruptGuard::~InterruptGuard() { sigaction(SIGINT, &g_previous, nullptr); }

bool InterruptGuard::requested() { return g_requested != 0; }

}  // namespace oneshot
