#include "qread/memory_budget.hpp"

#include "memory/block_store.hpp"

#include "qread/error.hpp"
#include "qread/runtime.hpp"

#include <fmt/core.h>

#ifdef QREAD_WITH_CUDA
#include <ATen/Context.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <string_view>

namespace qread {
namespace {

std::int64_t element_size(const std::string& dtype) {
  if (dtype == "float32") return 4;
  if (dtype == "bfloat16" || dtype == "float16") return 2;
  throw InputError(fmt::format("memory check: unknown dtype '{}'", dtype));
}

bool on_cpu(const ModelSummary& model) { return model.device.rfind("cuda", 0) != 0; }

// "1.5 GiB", "640 MiB", "12 KiB".
std::string size_text(std::int64_t bytes) {
  if (bytes >= (1LL << 30)) return fmt::format("{:.1f} GiB", double(bytes) / double(1LL << 30));
  if (bytes >= (1LL << 20)) return fmt::format("{:.0f} MiB", double(bytes) / double(1LL << 20));
  return fmt::format("{:.0f} KiB", double(bytes) / 1024.0);
}

// The lowest memory limit of this process's control group and its parents (cgroup v2, else v1).
std::optional<std::int64_t> cgroup_limit() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::optional<std::int64_t> lowest;
  auto consider = [&](const std::string& file) {
    std::ifstream f(file);
    std::string value;
    if (!(f >> value) || value == "max" || value.empty() || !std::isdigit(static_cast<unsigned char>(value[0]))) return;
    const std::int64_t limit = std::strtoll(value.c_str(), nullptr, 10);
    if (limit > 0 && (!lowest || limit < *lowest)) lowest = limit;
  };
  while (std::getline(in, line)) {
    std::string path;
    std::string root;
    if (line.rfind("0::", 0) == 0) {
      path = line.substr(3);
      root = "/sys/fs/cgroup";
      for (std::string p = path;; p = p.substr(0, p.rfind('/'))) {
        consider(root + p + "/memory.max");
        if (p.empty() || p == "/") break;
      }
    } else if (const auto at = line.find(":memory:"); at != std::string::npos) {
      consider("/sys/fs/cgroup/memory" + line.substr(at + 8) + "/memory.limit_in_bytes");
    }
  }
  return lowest;
}

// QREAD_HOST_MEMORY: "24G", "512M", "1.5GiB", "1073741824".
std::optional<std::int64_t> host_memory_override() {
  const char* text = std::getenv("QREAD_HOST_MEMORY");
  if (!text || !*text) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  std::string suffix(end);
  for (const std::string_view unit : {"iB", "B"})  // "GiB", "GB", "B"
    if (suffix.ends_with(unit)) {
      suffix.resize(suffix.size() - unit.size());
      break;
    }
  const auto unit = suffix.size() == 1 ? std::string_view("KMGT").find(char(std::toupper(static_cast<unsigned char>(suffix[0]))))
                                       : std::string_view::npos;
  const double scale = suffix.empty() ? 1.0 : unit != std::string_view::npos ? double(1LL << (10 * (unit + 1))) : 0.0;
  if (end == text || !(value > 0) || scale == 0 || value * scale > 9e18)
    throw InputError(fmt::format("QREAD_HOST_MEMORY='{}' is not a size (bytes, or a number with K, M, G or T)", text));
  return std::int64_t(value * scale);
}

}  // namespace

ContextBytes context_memory_floor(const ModelSummary& model, const AttentionConfig& config, std::int64_t tokens) {
  const std::int64_t n = std::max<std::int64_t>(tokens, 0), element = element_size(model.dtype);
  const std::int64_t kv_row = 2 * model.kv_heads * model.head_dim * element;  // keys and values of a token
  std::int64_t host = 0, device = 0;
  switch (config.mode) {
    case MemoryMode::origin:
    case MemoryMode::quest:
      device = n * kv_row;
      break;
    case MemoryMode::stream_llm:
    case MemoryMode::infinite_lm:
      device = std::min(n, config.n_init + config.n_local) * kv_row;
      break;
    case MemoryMode::inf_llm:
    case MemoryMode::qllm: {
      // Blocks leave the window once n_init tokens and a window of n_local lie before them.
      const std::int64_t blocks = std::max<std::int64_t>(n - config.n_init - config.n_local, 0) / config.block_size;
      host = blocks * config.block_size * kv_row;
      device = std::min(n, config.n_local) * kv_row + blocks * model.heads * model.head_dim * element;
      break;
    }
  }
  ContextBytes floor{host * model.layers, device * model.layers};
  if (on_cpu(model)) floor = {floor.host + floor.device, 0};
  return floor;
}

MemoryRoom memory_room(const std::string& device) {
  MemoryRoom room;
  const bool cuda = device.rfind("cuda", 0) == 0;
  const auto colon = device.find(':');
  const int index = cuda && colon != std::string::npos ? std::atoi(device.c_str() + colon + 1) : 0;
  const auto usage = memory_usage(index);
  // Page-locked memory that cleared block stores keep for the next ones is in the resident set
  // but ready for the next document.
  room.host_used = std::max<std::int64_t>(usage.host_rss_bytes - memory::pinned_arena_pool_bytes(), 0);
  room.host_available = usage.host_available_bytes;
  if (const auto set = host_memory_override()) {
    room.host_total = *set;
  } else {
    room.host_total = usage.host_total_bytes > 0 ? usage.host_total_bytes : std::numeric_limits<std::int64_t>::max();
    if (const auto limit = cgroup_limit()) room.host_total = std::min(room.host_total, *limit);
  }
#ifdef QREAD_WITH_CUDA
  if (cuda && at::hasCUDA()) {
    std::size_t free = 0, total = 0;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
      room.device_total = std::int64_t(total);
      // What LibTorch's allocator holds unused is free to this process too.
      room.device_used = usage.gpu_allocated_bytes;
      room.device_available = std::int64_t(free) + usage.gpu_reserved_bytes - usage.gpu_allocated_bytes;
    } else {
      cudaGetLastError();
    }
  }
#endif
  return room;
}

std::vector<std::string> check_memory_room(const ModelSummary& model, const AttentionConfig& config,
                                           std::int64_t tokens, const MemoryRoom& room,
                                           const std::string& subject, bool suggest_max_len) {
  const bool cpu = on_cpu(model);
  const std::int64_t host_left = std::max<std::int64_t>(room.host_total - room.host_used, 0);
  const std::int64_t device_left = std::max<std::int64_t>(room.device_total - room.device_used, 0);
  auto fits = [&](std::int64_t n) {
    const auto floor = context_memory_floor(model, config, n);
    return floor.host <= host_left && (cpu || floor.device <= device_left);
  };
  const auto need = context_memory_floor(model, config, tokens);
  const char* mode = mode_name(config.mode);
  if (!fits(tokens)) {
    const bool host_short = need.host > host_left;
    // The longest prompt (with its answer) that fits: the floor grows with the tokens.
    std::int64_t lo = 0, hi = tokens;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo + 1) / 2;
      if (fits(mid)) lo = mid;
      else hi = mid - 1;
    }
    const std::string what =
        host_short ? fmt::format("{} of host memory for their keys and values, and qread has {} left ({} in all, {} "
                                 "in use)",
                                 size_text(need.host), size_text(host_left), size_text(room.host_total),
                                 size_text(room.host_used))
                   : fmt::format("{} of GPU memory for their keys and values, and the GPU has {} left ({} in all, {} "
                                 "in use)",
                                 size_text(need.device), size_text(device_left), size_text(room.device_total),
                                 size_text(room.device_used));
    const bool windowed = config.mode == MemoryMode::stream_llm || config.mode == MemoryMode::infinite_lm;
    const bool keeps_on_device = config.mode == MemoryMode::origin || config.mode == MemoryMode::quest;
    std::string modes;
    if (!host_short && keeps_on_device)
      modes = "qllm or inf-llm (they keep the document in host memory), or stream-llm or infinite-lm";
    else if (!windowed)
      modes = "stream-llm or infinite-lm (a fixed window)";
    std::string remedy;
    if (lo > 0 && suggest_max_len)
      remedy = fmt::format(" Set max_len={} (with truncation: suffix, the prompt's start and end are kept){}.", lo,
                           modes.empty() ? "" : ", or use " + modes);
    else if (lo > 0)
      remedy = fmt::format(" At most {} tokens fit.{}", lo, modes.empty() ? "" : " Or use " + modes + ".");
    else if (!modes.empty())
      remedy = " Use " + modes + ".";
    throw InputError(fmt::format("{}: {} tokens in {} mode need at least {}.{}", subject,
                                 tokens, mode, what, remedy));
  }
  std::vector<std::string> notes;
  if (need.host > std::max<std::int64_t>(room.host_available, 0))
    notes.push_back(fmt::format("reading this document in {} mode needs at least {} of host memory, and {} was "
                                "free when it began: the system may swap or stop other programs",
                                mode, size_text(need.host), size_text(room.host_available)));
  if (!cpu && need.device > std::max<std::int64_t>(room.device_available, 0))
    notes.push_back(fmt::format("reading this document in {} mode needs at least {} of GPU memory, and {} was "
                                "free when it began",
                                mode, size_text(need.device), size_text(room.device_available)));
  return notes;
}

}  // namespace qread
