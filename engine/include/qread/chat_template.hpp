// Chat prompt formats, named as the Q-LLM reference's `conv_type` (benchmark/pred.py:
// mistral-inst, llama-3-inst, vicuna, qwen, minicpm), plus chatml (SmolLM2's template) and
// none (the raw text). Each renders exactly what the model's own Jinja chat template (or, for
// vicuna, FastChat's "vicuna_v1.1") produces, written out by hand: no Jinja interpreter.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qread::model {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// Where the content of a message ended up in the rendered text: [begin, end) byte offsets.
struct ContentSpan {
  std::size_t begin = 0, end = 0;
};

class ChatTemplate {
 public:
  // Throws InputError listing the known names.
  static ChatTemplate by_name(std::string_view name);
  static std::vector<std::string> names();

  const std::string& name() const { return name_; }

  // The prompt text. With `add_generation_prompt` it ends where the assistant's answer begins.
  // Special tokens appear as text ("<|eot_id|>", "<s>"); encode the result so that they
  // become ids (Tokenizer::encode does). `spans`, when given, receives one ContentSpan per
  // message: where its (possibly trimmed) content lies in the result.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                     std::vector<ContentSpan>* spans = nullptr) const;

  // Token strings that end the answer besides the tokenizer's EOS ("<|eot_id|>", "<|im_end|>").
  std::vector<std::string> stop_tokens() const;

  // Whether the reference tokenizes the rendered prompt with add_special_tokens=True
  // (pred.py: every template but mistral-inst, whose text already starts with "<s>"). For
  // llama-3-inst this gives two <|begin_of_text|>, as the reference has.
  bool encode_with_bos() const { return name_ != "mistral-inst"; }

 private:
  explicit ChatTemplate(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// Picks the template of a model folder: from tokenizer_config.json's `chat_template` markers
// (<|start_header_id|> -> llama-3-inst; <|im_start|> -> qwen for Qwen models, else chatml;
// [INST] -> mistral-inst; <用户> -> minicpm; "USER:" -> vicuna), then config.json's
// `model_type` and the folder's name (vicuna), else "none". Never throws for missing files.
std::string detect_chat_template(const std::filesystem::path& model_dir);

// A prompt of one user turn (after an optional system message) and where the user's content
// lies in it: the document layer needs the question's position.
struct RenderedPrompt {
  std::string text;
  ContentSpan user;
};
RenderedPrompt render_user_prompt(const ChatTemplate& chat, std::string_view user_content,
                                  std::string_view system_content = {}, bool add_generation_prompt = true);

}  // namespace qread::model
