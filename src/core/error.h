#pragma once
// One exception type for everything a user can get wrong: bad files, bad
// config, bad data. The message always names what and why.
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace oneshot {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "PATH: reason" — the form every file-related error takes.
inline Error file_error(const std::filesystem::path& path, const std::string& reason) {
  return Error(path.string() + ": " + reason);
}

// Why nothing can be read at `path`, in file_error's words: "symbolic link
// loop", "broken link" (a link whose target does not exist) or "file not
// found"; nullopt when something exists there (a file, a folder, a device).
inline std::optional<std::string> missing_path_reason(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec == std::errc::too_many_symbolic_link_levels) return "symbolic link loop";
  if (std::filesystem::exists(status)) return std::nullopt;
  return std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec)) ? "broken link" : "file not found";
}

}  // namespace oneshot
