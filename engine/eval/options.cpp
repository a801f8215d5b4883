// The lists the evaluation commands take (lengths, depths, modes, tasks) and the config of each
// mode, with messages that name the bad value.
#include "qread/error.hpp"
#include "qread/eval.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace qread::eval {
namespace {

std::vector<std::string_view> split_list(std::string_view list) {
  std::vector<std::string_view> items;
  std::size_t begin = 0;
  while (begin <= list.size()) {
    const auto end = std::min(list.find(',', begin), list.size());
    auto item = list.substr(begin, end - begin);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    items.push_back(item);
    begin = end + 1;
  }
  return items;
}

}  // namespace

const char* task_name(Task task) {
  switch (task) {
    case Task::needle: return "needle";
    case Task::passkey: return "passkey";
    case Task::kv: return "kv";
  }
  return "?";
}

std::optional<Task> parse_task(std::string_view name) {
  for (auto task : {Task::needle, Task::passkey, Task::kv})
    if (name == task_name(task)) return task;
  return std::nullopt;
}

std::int64_t parse_length(std::string_view text, std::string_view option) {
  std::int64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  const std::string_view suffix = error == std::errc() ? text.substr(std::size_t(end - text.data())) : text;
  std::int64_t scale = 0;
  if (suffix.empty()) scale = 1;
  if (suffix == "k" || suffix == "K") scale = 1024;
  if (suffix == "m" || suffix == "M") scale = 1024 * 1024;
  if (error != std::errc() || n <= 0 || scale == 0 || n > (std::int64_t(1) << 40) / scale)
    throw InputError(fmt::format("{}: '{}' is not a length like 4096, 32k or 1m", option, text));
  return n * scale;
}

std::vector<std::int64_t> parse_lengths(std::string_view list, std::string_view option) {
  std::vector<std::int64_t> lengths;
  for (auto item : split_list(list)) lengths.push_back(parse_length(item, option));
  return lengths;
}

std::vector<double> parse_depths(std::string_view list, std::string_view option) {
  std::vector<double> depths;
  for (auto item : split_list(list)) {
    double d = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), d);
    if (error != std::errc() || end != item.data() + item.size() || !std::isfinite(d))
      throw InputError(fmt::format("{}: '{}' is not a number (depths are fractions in [0, 1], e.g. 0,0.5,1)",
                                   option, item));
    if (d < 0 || d > 1)
      throw InputError(fmt::format("{}: {} is outside [0, 1] (0: the start of the document, 1: its end)",
                                   option, item));
    depths.push_back(d);
  }
  return depths;
}

std::vector<MemoryMode> parse_modes(std::string_view list, std::string_view option) {
  std::vector<MemoryMode> modes;
  for (auto item : split_list(list)) {
    const auto mode = parse_mode(std::string(item));
    if (!mode)
      throw InputError(fmt::format("{}: '{}' is not a mode; use qllm, inf-llm, stream-llm, infinite-lm, quest, "
                                   "origin",
                                   option, item));
    if (std::find(modes.begin(), modes.end(), *mode) != modes.end())
      throw InputError(fmt::format("{}: '{}' is given twice", option, item));
    modes.push_back(*mode);
  }
  return modes;
}

RunConfig config_for_mode(MemoryMode mode, const std::optional<std::filesystem::path>& config_dir,
                          std::string* source) {
  if (source) source->clear();
  if (!config_dir) return default_config(mode);
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(*config_dir, ec))
    throw InputError(fmt::format("--config-dir: {} is not a folder", config_dir->string()));
  const auto named = *config_dir / (std::string(mode_name(mode)) + ".yaml");
  if (fs::exists(named, ec)) {
    auto config = load_config(named);
    if (config.attention.mode != mode)
      throw InputError(fmt::format("{}: model.type is {}, expected {} from its name", named.string(),
                                   mode_name(config.attention.mode), mode_name(mode)));
    if (source) *source = named.string();
    return config;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(*config_dir, ec))
    if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    RunConfig config;
    try {
      config = load_config(file);
    } catch (const InputError&) {
      continue;  // a file of another kind, or broken: not this mode's
    }
    if (config.attention.mode != mode) continue;
    if (source) *source = file.string();
    return config;
  }
  return default_config(mode);
}

}  // namespace qread::eval
