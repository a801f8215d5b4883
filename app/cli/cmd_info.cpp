// qread info: versions, devices and threads the engine would use.
#include "command.hpp"
#include "qread/runtime.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

// How idle OpenMP threads wait (see app/openmp_defaults.hpp): the variables libgomp was started
// with, where set.
constexpr const char* kOpenmpWaitVariables[] = {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"};

nlohmann::json openmp_wait() {
  nlohmann::json out = nlohmann::json::object();
  for (const char* name : kOpenmpWaitVariables) {
    const char* value = std::getenv(name);
    out[name] = value ? nlohmann::json(value) : nlohmann::json(nullptr);
  }
  return out;
}

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
          {"cpu_cores", info.cpu_cores},
          {"openmp_wait", openmp_wait()}};
}

void print_text(const qread::RuntimeInfo& info) {
  fmt::print("qread {}\nLibTorch {}\nCPU: {} cores, {} intra-op threads\n", info.qread_version,
             info.torch_version, info.cpu_cores, info.intra_op_threads);
  std::string wait;
  for (const char* name : kOpenmpWaitVariables)
    if (const char* value = std::getenv(name)) wait += fmt::format("{}{}={}", wait.empty() ? "" : ", ", name, value);
  fmt::print("OpenMP waiting: {}\n", wait.empty() ? "libgomp's default" : wait);
  fmt::print("CUDA kernels: {}\n", info.built_with_cuda ? "built" : "not built");
  if (info.gpus.empty()) fmt::print("GPUs: none\n");
  for (const auto& gpu : info.gpus)
    fmt::print("GPU {}: {} ({:.1f} GiB)\n", gpu.index, gpu.name,
               double(gpu.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0));
}

qread::cli::Runner setup_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show versions, devices and threads the engine would use");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print one JSON object");
  return [json] {
    qread::init_runtime();
    const auto info = qread::runtime_info();
    if (*json)
      std::cout << to_json(info).dump(2) << '\n';
    else
      print_text(info);
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("info", setup_info);
