// Anchor for the precompiled <torch/torch.h> that the torch-facing targets reuse.
