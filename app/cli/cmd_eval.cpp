// qread eval needle|passkey|kv: synthetic long-context retrieval over lengths x depths for one or
// more modes; results.json, a heat map per mode (<task>-<mode>.png) and a summary table.
#include "command.hpp"
#include "progress.hpp"
#include "qread/config.hpp"
#include "qread/document.hpp"
#include "qread/error.hpp"
#include "qread/eval.hpp"
#include "qread/session.hpp"

#ifdef QREAD_WITH_RENDER
#include "heat_map.hpp"
#endif

#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

namespace eval = qread::eval;

struct EvalArgs {
  std::string task, model_dir, lengths = "2k,4k", depths = "0,0.25,0.5,0.75,1", haystack, modes = "qllm";
  std::string config_dir, out, device = "cpu", dtype = "auto";
  std::vector<std::string> overrides;
  std::uint64_t seed = 0;
  int cases_per_cell = 1, max_new_tokens = 0;  // 0: 32, or 64 for kv (a UUID is ~25 tokens)
};

#ifdef QREAD_WITH_RENDER
std::string length_label(std::int64_t n) {
  if (n >= 1024 * 1024 && n % (1024 * 1024) == 0) return fmt::format("{}m", n / (1024 * 1024));
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{}k", n / 1024);
  return std::to_string(n);
}

qread::render::HeatMap heat_map_of(const eval::AccuracyGrid& grid, const std::string& model) {
  qread::render::HeatMap map;
  const double all = grid.overall();
  map.title = fmt::format("{} - {} - {}{}", eval::task_name(grid.task), grid.mode,
                          std::filesystem::path(model).filename().string(),
                          std::isnan(all) ? "" : fmt::format(" - {:.0f}%", 100 * all));
  map.x_label = "prompt length (tokens)";
  map.y_label = "depth of the fact";
  for (auto length : grid.lengths) map.columns.push_back(length_label(length));
  for (auto depth : grid.depths) map.rows.push_back(fmt::format("{:g}%", 100 * depth));
  for (std::size_t d = 0; d < grid.depths.size(); ++d)
    for (std::size_t l = 0; l < grid.lengths.size(); ++l) {
      const auto i = d * grid.lengths.size() + l;
      map.values.push_back(grid.accuracy(d, l));
      map.cell_text.push_back(grid.cases[i] == 0 ? "-"
                              : grid.cases[i] == 1
                                  ? (grid.correct[i] ? "yes" : "no")
                                  : fmt::format("{}/{}", grid.correct[i], grid.cases[i]));
    }
  return map;
}
#endif

qread::cli::Runner setup_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Synthetic long-context retrieval: needle, passkey or kv");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("task", a->task, "needle (a magic number in a haystack), passkey, kv (UUID key -> value)")
      ->required();
  cmd->add_option("--model", a->model_dir, "Hugging Face model folder or GGUF file")->required();
  cmd->add_option("--lengths", a->lengths, "Prompt lengths in tokens of the model: 4096, 32k, 1m")
      ->capture_default_str();
  cmd->add_option("--depths", a->depths, "Where the fact sits, fractions of the document in [0, 1]")
      ->capture_default_str();
  cmd->add_option("--haystack", a->haystack, "needle: a text/PDF/Markdown file as the haystack "
                  "(default: generated sentences)");
  cmd->add_option("--modes", a->modes, "Comma-separated modes")->capture_default_str();
  cmd->add_option("--config-dir", a->config_dir, "Folder of YAML configs: <mode>.yaml, else the first of that type");
  cmd->add_option("--set", a->overrides, "Override a config key in every mode: key=value (repeatable)");
  cmd->add_option("--seed", a->seed, "Seed of the needles, keys and haystack")->capture_default_str();
  cmd->add_option("--cases-per-cell", a->cases_per_cell, "Cases per (length, depth)")->capture_default_str();
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "Answer tokens per case (default: 32; kv: 64)");
  cmd->add_option("--out", a->out, "Folder for results.json and the heat maps")->required();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16, float16")->capture_default_str();
  return [a] {
    const auto& cancel = qread::cli::install_cancel_handler();
    eval::EvalPlan plan;
    const auto task = eval::parse_task(a->task);
    if (!task) throw qread::InputError(fmt::format("eval: '{}' is not a task; use needle, passkey or kv", a->task));
    plan.task = *task;
    plan.lengths = eval::parse_lengths(a->lengths);
    plan.depths = eval::parse_depths(a->depths);
    plan.seed = a->seed;
    plan.cases_per_cell = a->cases_per_cell;
    plan.max_new_tokens = a->max_new_tokens ? a->max_new_tokens : plan.task == eval::Task::kv ? 64 : 32;
    if (a->cases_per_cell < 1) throw qread::InputError(fmt::format("--cases-per-cell: {} is less than 1", a->cases_per_cell));
    if (plan.max_new_tokens < 1) throw qread::InputError(fmt::format("--max-new-tokens: {} is less than 1", a->max_new_tokens));
    std::optional<std::filesystem::path> config_dir;
    if (!a->config_dir.empty()) config_dir = a->config_dir;
    for (const auto mode : eval::parse_modes(a->modes)) {
      std::string source;
      auto config = eval::config_for_mode(mode, config_dir, &source);
      if (!source.empty()) fmt::print(stderr, "qread: {}: {}\n", qread::mode_name(mode), source);
      qread::apply_overrides(config, a->overrides);
      plan.configs.push_back(std::move(config));
    }
    if (!a->haystack.empty()) {
      if (plan.task != eval::Task::needle)
        throw qread::InputError(fmt::format("--haystack is for the needle task, not {}", a->task));
      qread::LoadOptions load;
      load.cancelled = [&cancel] { return cancel.load(); };
      plan.haystack = qread::load_document(a->haystack, load).text();
    }
    const std::filesystem::path out(a->out);
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec || !std::filesystem::is_directory(out))
      throw qread::InputError(fmt::format("--out: cannot make the folder {}: {}", a->out, ec.message()));

    const auto& first = plan.configs.front().attention;
    qread::Reader reader(a->model_dir, {a->device, a->dtype, first.base, first.distance_scale});
    qread::cli::ProgressBar bar;
    eval::EvalEvents events;
    events.cancel = &cancel;
    events.case_started = [&bar](const eval::EvalResult& r, int index, int total) {
      bar.start(fmt::format("{} {}/{} ({} tokens, depth {:g})", r.mode, index + 1, total, r.length, r.depth));
    };
    events.reading = [&bar](std::int64_t done, std::int64_t total) { bar.update(done, total); };
    const auto results = eval::run_eval(reader, plan, events);
    bar.clear();
    if (!results.empty() && results.back().stop_reason == "cancelled") {
      fmt::print(stderr, "qread: cancelled; nothing written\n");
      return qread::cli::kExitCancelled;
    }

    const auto json_path = out / "results.json";
    {
      std::ofstream file(json_path);
      file << eval::results_json(results, plan, a->model_dir) << '\n';
      if (!file) throw qread::Error(fmt::format("cannot write {}", json_path.string()));
    }
    const auto grids = eval::accuracy_grids(results, plan);
    std::vector<std::string> images;
#ifdef QREAD_WITH_RENDER
    for (const auto& grid : grids) {
      const auto png = out / fmt::format("{}-{}.png", a->task, grid.mode);
      qread::render::write_heat_map_png(heat_map_of(grid, a->model_dir), png.string());
      images.push_back(png.string());
    }
#else
    fmt::print(stderr, "qread: note: built without Qt (QREAD_GUI=OFF): heat maps skipped, results.json written\n");
#endif
    fmt::print("{}: accuracy per prompt length ({} depth{} x {} case{} per cell)\n", a->task, plan.depths.size(),
               plan.depths.size() == 1 ? "" : "s", plan.cases_per_cell, plan.cases_per_cell == 1 ? "" : "s");
    std::cout << eval::summary_table(grids);
    fmt::print("results: {}\n", json_path.string());
    for (const auto& image : images) fmt::print("heat map: {}\n", image);
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("eval", setup_eval);
