#pragma once
// Inverted dropout (as Keras and torch: zero with probability p, scale the
// rest by 1 / (1 - p)) with a fast, parallel mask. torch's CPU dropout draws
// its Bernoulli mask serially from the global generator, which took 13% of a
// training step in a profile; here each element's keep/drop decision is a
// counter-based hash of (seed, element index), computed on all threads. The
// seed is drawn from the global torch generator, so torch::manual_seed makes
// the masks reproducible, and they do not depend on the thread count.
#include <torch/torch.h>

#include <cstdint>

namespace oneshot {

// The mask: 0 or 1 / (1 - p) per element, same shape, dtype and memory
// layout as `like`; element k (in memory order) is dropped iff
// hash(seed, k) < p * 2^32.
torch::Tensor dropout_mask(const torch::Tensor& like, double p, uint64_t seed);

// A 64-bit seed drawn from the global CPU generator (under its lock).
uint64_t draw_seed_from_default_generator();

class DropoutImpl : public torch::nn::Module {
 public:
  explicit DropoutImpl(double p) : p_(p) {}
  // Identity in eval mode or when p == 0; x * mask in training.
  torch::Tensor forward(const torch::Tensor& x);
  double p() const { return p_; }
  void pretty_print(std::ostream& stream) const override;

 private:
  double p_;
};
TORCH_MODULE(Dropout);

}  // namespace oneshot
