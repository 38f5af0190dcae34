#pragma once
// One exception type for everything a user can get wrong: bad files, bad
// config, bad data. The message always names what and why.
#include <filesystem>
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

}  // namespace oneshot
