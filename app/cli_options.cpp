// What both executables share: the --config/--set options and the parse-run-report loop.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/error.h"

namespace oneshot::cli {

void ConfigOptions::add_to(CLI::App& cmd) {
  cmd.add_option("--config", file, "TOML configuration file")->check(CLI::ExistingFile);
  cmd.add_option("--set", overrides, "Override a configuration key: section.key=value (repeatable)");
}

Config ConfigOptions::load() const { return Config::load(file, overrides); }

void set_up_app(CLI::App& app) {
  app.description("oneshot-audio: learn to recognise environmental sounds from a single example");
  app.require_subcommand(1);
  app.set_version_flag("--version", "oneshot-audio 0.1.0");
}

int run_app(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const oneshot::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace oneshot::cli
