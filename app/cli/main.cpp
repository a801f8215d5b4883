// qread: the command-line entry point. Argument parsing only; the work is in the engine.
#include "command.hpp"
#include "openmp_defaults.hpp"
#include "qread/error.hpp"
#include "qread/version.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <exception>
#include <iostream>
#include <map>
#include <string_view>
#include <vector>

namespace qread::cli {
namespace {
std::map<std::string, Setup>& registry() {
  static std::map<std::string, Setup> commands;  // sorted by name: the order of --help
  return commands;
}
}  // namespace

bool register_command(const char* name, Setup setup) {
  registry().emplace(name, setup);
  return true;
}

}  // namespace qread::cli

int main(int argc, char** argv) {
  using namespace qread::cli;
  // The commands that run a model on the CPU, and `info`, which reports the setting, start again
  // with qread's OpenMP default (openmp_defaults.hpp); quick commands do not pay for that.
  if (argc > 1) {
    const std::string_view command = argv[1];
    for (const char* heavy : {"ask", "bench", "compare", "eval", "generate", "info", "replay"})
      if (command == heavy) qread::app::relaunch_with_openmp_defaults(argv);
  }
  CLI::App app{"qread: ask questions about long documents with a local LLM"};
  app.name("qread");
  app.set_version_flag("-V,--version", std::string("qread ") + qread::kVersion);
  app.require_subcommand(0, 1);

  std::vector<std::pair<CLI::App*, Runner>> commands;
  for (const auto& [name, setup] : registry()) {
    Runner run = setup(app);
    commands.emplace_back(app.get_subcommand(name), std::move(run));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }

  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    std::cout << app.help();
    return kExitOk;
  } catch (const qread::InputError& e) {
    fmt::print(stderr, "qread: error: {}\n", e.what());
    return kExitBadInput;
  } catch (const qread::Cancelled&) {
    fmt::print(stderr, "qread: cancelled\n");
    return kExitCancelled;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qread: error: {}\n", e.what());
    return kExitRuntimeError;
  }
}
