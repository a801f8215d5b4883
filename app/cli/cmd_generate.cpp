// qread generate: run a model on a prompt (text through the model's tokenizer and chat template,
// or token ids from a file) with full attention, streaming the answer.
#include "command.hpp"
#include "input_ids.hpp"
#include "qread/chat_template.hpp"
#include "qread/error.hpp"
#include "qread/language_model.hpp"
#include "qread/tokenizer.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <iostream>

namespace {

std::atomic<bool> g_cancel{false};

struct GenerateArgs {
  std::string model_dir, prompt, input_ids, chat = "auto", device = "cpu", dtype = "auto";
  qread::GenerationOptions generation;
  bool json = false, logits = false;
};

qread::cli::Runner setup_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt with full attention");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("--model", a->model_dir, "Hugging Face model folder")->required();
  auto* prompt = cmd->add_option("--prompt", a->prompt, "Prompt text (tokenized with the model's tokenizer)");
  auto* ids = cmd->add_option("--input-ids", a->input_ids, "JSON file: an array of ids or an object with input_ids");
  prompt->excludes(ids);
  cmd->add_option("--chat", a->chat, "Chat template for --prompt: auto, none, or a name "
                  "(mistral-inst, llama-3-inst, vicuna, qwen, minicpm, chatml)")->capture_default_str();
  cmd->add_option("--max-new-tokens", a->generation.max_new_tokens)->capture_default_str();
  cmd->add_option("--chunk-size", a->generation.chunk_size, "Prefill chunk in tokens")->capture_default_str();
  cmd->add_option("--temperature", a->generation.sampling.temperature, "0: greedy")->capture_default_str();
  cmd->add_option("--top-p", a->generation.sampling.top_p)->capture_default_str();
  cmd->add_option("--top-k", a->generation.sampling.top_k, "0: no limit")->capture_default_str();
  cmd->add_option("--seed", a->generation.sampling.seed)->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16, float16")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object instead of streaming text");
  cmd->add_flag("--logits", a->logits, "With --json: include the logits after the last prompt token");
  return [a] {
    if (a->prompt.empty() && a->input_ids.empty())
      throw qread::InputError("generate: give --prompt TEXT or --input-ids FILE");
    std::unique_ptr<qread::model::Tokenizer> tokenizer;
    std::vector<qread::TokenId> prompt_ids;
    if (!a->input_ids.empty()) {
      prompt_ids = qread::cli::read_input_ids(a->input_ids);
    } else {
      tokenizer = qread::model::load_tokenizer(a->model_dir);
      const std::string name = a->chat == "auto" ? qread::model::detect_chat_template(a->model_dir) : a->chat;
      const auto chat = qread::model::ChatTemplate::by_name(name);
      const qread::model::ChatMessage message{"user", a->prompt};
      prompt_ids = tokenizer->encode(chat.render({&message, 1}, true), chat.encode_with_bos());
      for (const auto& stop : chat.stop_tokens())
        if (auto id = tokenizer->token_to_id(stop)) a->generation.stop_ids.push_back(*id);
    }
    if (!tokenizer) {
      try {
        tokenizer = qread::model::load_tokenizer(a->model_dir);
      } catch (const qread::InputError&) {
        // Oracle-style folders have no tokenizer: ids only.
      }
    }

    auto model = qread::LanguageModel::load(a->model_dir, {a->device, a->dtype, {}, {}});
    std::signal(SIGINT, [](int) { g_cancel = true; });
    std::unique_ptr<qread::model::StreamDecoder> stream;
    if (tokenizer && !a->json) stream = std::make_unique<qread::model::StreamDecoder>(*tokenizer);
    auto on_token = [&](qread::TokenId id) {
      if (stream) {
        std::cout << stream->push(id) << std::flush;
      } else if (!a->json) {
        std::cout << id << ' ' << std::flush;
      }
      return true;
    };
    const auto result = model->generate(prompt_ids, a->generation, on_token, {}, &g_cancel);
    if (stream) std::cout << stream->finish();
    if (!a->json) {
      std::cout << '\n';
      fmt::print(stderr, "[{} prompt tokens, prefill {:.2f} s; {} tokens, {:.1f} ms/token; stop: {}]\n",
                 result.prompt_tokens, result.prefill_seconds, result.tokens.size(),
                 result.tokens.empty() ? 0.0 : 1000.0 * result.decode_seconds / double(result.tokens.size()),
                 result.stop_reason);
    } else {
      nlohmann::json out = {{"tokens", result.tokens},
                            {"stop_reason", result.stop_reason},
                            {"prompt_tokens", result.prompt_tokens},
                            {"prefill_seconds", result.prefill_seconds},
                            {"decode_seconds", result.decode_seconds},
                            {"device", model->summary().device},
                            {"dtype", model->summary().dtype}};
      if (tokenizer) out["text"] = tokenizer->decode(result.tokens, /*skip_special=*/true);
      if (a->logits) out["last_logits"] = result.last_logits;
      std::cout << out.dump() << '\n';
    }
    return result.stop_reason == "cancelled" ? qread::cli::kExitCancelled : qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("generate", setup_generate);
