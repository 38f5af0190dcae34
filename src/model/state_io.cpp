#include "model/state_io.h"

#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace {

std::string key_of(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

void read_into(torch::serialize::InputArchive& archive, const std::string& key, torch::Tensor& target,
               bool is_buffer, const std::filesystem::path& origin, const char* what) {
  torch::Tensor stored;
  bool found = false;
  try {
    found = archive.try_read(key, stored, is_buffer);
  } catch (const c10::Error& e) {
    throw file_error(origin, std::string(what) + " \"" + key + "\" cannot be read: " + e.what_without_backtrace());
  }
  if (!found || !stored.defined()) throw file_error(origin, std::string("missing ") + what + " \"" + key + "\"");
  if (stored.sizes() != target.sizes())
    throw file_error(origin, std::string(what) + " \"" + key + "\" has shape " + shape_text(stored.sizes()) +
                                 ", the model expects " + shape_text(target.sizes()) +
                                 " (was the checkpoint written with another model configuration?)");
  torch::NoGradGuard no_grad;
  target.copy_(stored);  // keeps the target's layout, dtype and device
}

}  // namespace

std::string shape_text(c10::IntArrayRef sizes) {
  std::ostringstream out;
  out << sizes;
  return out.str();
}

void write_module_state(torch::serialize::OutputArchive& archive, const torch::nn::Module& module,
                        const std::string& prefix) {
  auto plain = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); };
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    archive.write(key_of(prefix, p.key()), plain(p.value()), /*is_buffer=*/false);
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    archive.write(key_of(prefix, b.key()), plain(b.value()), /*is_buffer=*/true);
}

void read_module_state(torch::serialize::InputArchive& archive, torch::nn::Module& module,
                       const std::filesystem::path& origin, const std::string& prefix) {
  for (auto& p : module.named_parameters(/*recurse=*/true))
    read_into(archive, key_of(prefix, p.key()), p.value(), false, origin, "parameter");
  for (auto& b : module.named_buffers(/*recurse=*/true))
    read_into(archive, key_of(prefix, b.key()), b.value(), true, origin, "buffer");
}

std::string archive_to_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  return std::move(bytes).str();
}

void archive_from_bytes(torch::serialize::InputArchive& archive, const std::string& bytes,
                        const std::filesystem::path& origin) {
  verify_archive_checksums(bytes, origin);
  try {
    std::istringstream stream(bytes);
    archive.load_from(stream);
  } catch (const c10::Error& e) {
    throw file_error(origin, std::string("not a readable checkpoint: ") + e.what_without_backtrace() + ": " +
                                 damaged_checkpoint_way_out(origin));
  } catch (const std::exception& e) {  // TorchScript's own parser errors are not c10::Errors
    throw file_error(origin, std::string("damaged checkpoint: ") + e.what() + ": " + damaged_checkpoint_way_out(origin));
  }
}

void save_module_state(const torch::nn::Module& module, const std::filesystem::path& path) {
  torch::serialize::OutputArchive archive;
  write_module_state(archive, module);
  write_file_atomic(path, archive_to_bytes(archive));
}

void load_module_state(torch::nn::Module& module, const std::filesystem::path& path) {
  torch::serialize::InputArchive archive;
  archive_from_bytes(archive, read_file(path), path);
  read_module_state(archive, module, path);
}

}  // namespace oneshot
