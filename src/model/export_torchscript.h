#pragma once
// TorchScript export of a trained network's embedding path (model/export_plan.h):
// a scripted module built in C++ (TorchScript source compiled by define(),
// the trained tensors registered as its parameters and buffers), saved so
// that PyTorch opens it with torch.jit.load(FILE), without this project.
//
// The module's methods:
//   forward(log_mel) -> embedding
//     log_mel: float32 (B, 1, n_mels, T), the log-mel spectrogram exactly as
//     the encoder gets it from the front end (natural log of mel power, see
//     the model card), before any normalisation: the clip and band
//     normalisation run inside. T = the run's frames (original encoder) or
//     any T >= 32 (compact encoder). Returns float32 (B, D) embeddings.
//   score(queries, references) -> (Q, R) pair scores of embeddings (Q, D) and
//     (R, D) by the trained head, higher = more similar (SiameseImpl::head).
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "model/export_plan.h"

namespace oneshot {

// The TorchScript source of the module's methods (the plan's layers in order).
std::string torchscript_source(const ExportPlan& plan);
// The module, in eval mode. Error when the source does not compile (a bug).
torch::jit::Module torchscript_module(const ExportPlan& plan);
// Writes the module to `path` atomically (core/atomic_file.h); `card`, when
// not empty, is stored inside too, as the extra file "model_card.json"
// (torch.jit.load(FILE, _extra_files={"model_card.json": ""})).
void save_torchscript(const ExportPlan& plan, const std::filesystem::path& path, const std::string& card = "");

}  // namespace oneshot
