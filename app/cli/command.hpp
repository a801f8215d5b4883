// How a `qread` subcommand plugs into the CLI: each command lives in its own cmd_*.cpp and
// registers itself with QREAD_CLI_COMMAND(name, setup). `setup` adds the subcommand and its
// options to the app and returns the function that runs it after parsing.
//
// Exit codes, shared by every command: 0 success, 1 runtime failure, 2 bad input (usage
// errors, unreadable or malformed files, bad values; qread::InputError), 130 cancelled.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace qread::cli {

using Runner = std::function<int()>;
using Setup = Runner (*)(CLI::App& app);

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitCancelled = 130;

bool register_command(const char* name, Setup setup);

}  // namespace qread::cli

#define QREAD_CLI_COMMAND(name, setup) \
  [[maybe_unused]] static const bool qread_cli_registered_##setup = \
      ::qread::cli::register_command(name, setup)
