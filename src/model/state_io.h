#pragma once
// Saving and loading a module's parameters and buffers (checkpoints).
// Files are written atomically; loading checks every name and shape and
// copies into the existing tensors, so their memory layout (channels-last)
// and the optimizer's references to them survive a load.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "model/archive_checksums.h"

namespace oneshot {

// A tensor shape as the checkpoint messages write it: "[32, 1, 3, 3]".
std::string shape_text(c10::IntArrayRef sizes);

// Writes every parameter and buffer of `module` into `archive`, as
// "<prefix>/<name>" (or "<name>" with an empty prefix), in NCHW layout on the CPU.
void write_module_state(torch::serialize::OutputArchive& archive, const torch::nn::Module& module,
                        const std::string& prefix = "");
// Reads them back into `module`. A missing entry or a shape that differs is an
// oneshot::Error naming `origin` (the file) and the parameter.
void read_module_state(torch::serialize::InputArchive& archive, torch::nn::Module& module,
                       const std::filesystem::path& origin, const std::string& prefix = "");

// A whole file holding one module's state, written atomically
// (core/atomic_file.h): a crash leaves the old file or the new one.
void save_module_state(const torch::nn::Module& module, const std::filesystem::path& path);
// Loads a file written by save_module_state; an unreadable file, a missing
// entry or a shape mismatch is an oneshot::Error naming the file (and the parameter).
void load_module_state(torch::nn::Module& module, const std::filesystem::path& path);

// An archive serialised to bytes / parsed from bytes (for atomic writes of
// archives that hold more than one module, e.g. last.pt).
std::string archive_to_bytes(torch::serialize::OutputArchive& archive);
// Checks `bytes` before parsing: verify_archive_checksums, then LibTorch's
// reader. Every problem is an oneshot::Error naming `origin`.
void archive_from_bytes(torch::serialize::InputArchive& archive, const std::string& bytes,
                        const std::filesystem::path& origin);


}  // namespace oneshot
