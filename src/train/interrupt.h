#pragma once
// Ctrl-C during training: the first SIGINT only asks the loop to stop after
// the current step (it then writes last.pt and returns); a second SIGINT
// kills the process as usual.
namespace oneshot {

class InterruptGuard {
 public:
  InterruptGuard();   // installs the handler; clears any earlier request
  ~InterruptGuard();  // restores the previous handler
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  static bool requested();
};

}  // namespace oneshot
