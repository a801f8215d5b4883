// qread: the command-line entry point. Argument parsing only; the work is in the engine.
// Exit codes: 0 success, 1 runtime failure, 2 bad input (usage errors included).
#include "qread/runtime.hpp"
#include "qread/version.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <exception>
#include <iostream>

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitBadInput = 2;

nlohmann::json to_json(const qread::RuntimeInfo& info) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& gpu : info.gpus)
    gpus.push_back({{"index", gpu.index}, {"name", gpu.name}, {"total_memory_bytes", gpu.total_memory_bytes}});
  return {{"qread_version", info.qread_version},
          {"torch_version", info.torch_version},
          {"built_with_cuda", info.built_with_cuda},
          {"cuda_available", info.cuda_available},
          {"gpus", gpus},
          {"intra_op_threads", info.intra_op_threads},
          {"cpu_cores", info.cpu_cores}};
}

void print_info(const qread::RuntimeInfo& info) {
  fmt::print("qread {}\nLibTorch {}\nCPU: {} cores, {} intra-op threads\n", info.qread_version,
             info.torch_version, info.cpu_cores, info.intra_op_threads);
  fmt::print("CUDA kernels: {}\n", info.built_with_cuda ? "built" : "not built");
  if (info.gpus.empty()) fmt::print("GPUs: none\n");
  for (const auto& gpu : info.gpus)
    fmt::print("GPU {}: {} ({:.1f} GiB)\n", gpu.index, gpu.name,
               double(gpu.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qread: ask questions about long documents with a local LLM"};
  app.name("qread");
  app.set_version_flag("-V,--version", std::string("qread ") + qread::kVersion);
  app.require_subcommand(0, 1);

  bool info_json = false;
  auto* info = app.add_subcommand("info", "Show versions, devices and threads the engine would use");
  info->add_flag("--json", info_json, "Print one JSON object");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }

  try {
    if (*info) {
      qread::init_runtime();
      const auto runtime = qread::runtime_info();
      if (info_json)
        std::cout << to_json(runtime).dump(2) << '\n';
      else
        print_info(runtime);
      return 0;
    }
    std::cout << app.help();
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qread: error: {}\n", e.what());
    return kExitRuntimeError;
  }
}
