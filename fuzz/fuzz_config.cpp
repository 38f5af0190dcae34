// Configuration files (core/config: config.toml of a run, --config FILE):
// a merged, validated config, or an Error naming the file. A config that
// validates is written and read back to the same TOML.
#include "core/config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const auto path = fuzz::write_input(data, size, "config.toml");
  fuzz::expect_clean("Config::merge_file", [&] {
    Config config;
    config.merge_file(path);
    config.validate();
    const std::string text = config.to_toml();
    Config again;
    again.merge_toml(text, "again.toml");
    fuzz::require(again.to_toml() == text, "a valid config reads back as written");
  });
  return 0;
}
