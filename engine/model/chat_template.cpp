// Chat templates; see chat_template.hpp. The formats, per name:
//   llama-3-inst  Meta-Llama-3-Instruct: <|begin_of_text|> once, then per message
//                 <|start_header_id|>ROLE<|end_header_id|>\n\n CONTENT(trimmed) <|eot_id|>
//   mistral-inst  Mistral-7B-Instruct-v0.2: <s>[INST] USER [/INST]ASSISTANT</s>...; a system
//                 message is put before the first user message, separated by a blank line
//   vicuna        FastChat vicuna_v1.1: SYSTEM USER: u ASSISTANT: a</s>USER: ...
//   qwen          Qwen2/Qwen1.5 ChatML with the default system "You are a helpful assistant."
//   chatml        SmolLM2's ChatML, default system "You are a helpful AI assistant named SmolLM,
//                 trained by Hugging Face"
//   minicpm       MiniCPM: <用户>USER(stripped)<AI>ASSISTANT(stripped)
//   none          the contents one after the other
#include "qread/chat_template.hpp"
#include "model/gguf_model.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <optional>

namespace qread::model {

namespace {

constexpr std::array<std::string_view, 7> kNames = {"mistral-inst", "llama-3-inst", "vicuna", "qwen",
                                                    "minicpm",      "chatml",       "none"};

constexpr std::string_view kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";
constexpr std::string_view kQwenSystem = "You are a helpful assistant.";
constexpr std::string_view kSmolLMSystem = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

// Python's str.isspace() code points: what Jinja's `trim` and Python's `strip()` remove.
bool is_python_space(std::uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Decodes one character of (assumed valid) UTF-8 at `i`; `length` gets its size.
std::uint32_t code_point_at(std::string_view s, std::size_t i, std::size_t& length) {
  const auto b = static_cast<unsigned char>(s[i]);
  length = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
  if (i + length > s.size()) length = 1;
  if (length == 1) return b;
  std::uint32_t cp = b & (0xFF >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Python's str.strip(), on UTF-8.
std::string_view python_strip(std::string_view s) {
  std::size_t begin = 0, length = 0;
  while (begin < s.size() && is_python_space(code_point_at(s, begin, length))) begin += length;
  std::size_t end = s.size();
  while (end > begin) {
    std::size_t start = end - 1;  // back to the start of the last character
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!is_python_space(code_point_at(s, start, length))) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

// Appends text and remembers where each message's content went.
class Builder {
 public:
  explicit Builder(std::vector<ContentSpan>* spans, std::size_t count) : spans_(spans) {
    if (spans_) spans_->assign(count, ContentSpan{});
  }
  void text(std::string_view s) { out_.append(s); }
  void content(std::size_t message, std::string_view s) {
    if (spans_) (*spans_)[message] = {out_.size(), out_.size() + s.size()};
    out_.append(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::vector<ContentSpan>* spans_;
};

void render_chatml(Builder& b, std::span<const ChatMessage> messages, bool add_generation_prompt,
                   std::string_view default_system) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i == 0 && messages[0].role != "system") b.text(fmt::format("<|im_start|>system\n{}<|im_end|>\n", default_system));
    b.text("<|im_start|>" + messages[i].role + "\n");
    b.content(i, messages[i].content);
    b.text("<|im_end|>\n");
  }
  if (add_generation_prompt) b.text("<|im_start|>assistant\n");
}

std::optional<nlohmann::json> read_json_quietly(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

ChatTemplate ChatTemplate::by_name(std::string_view name) {
  if (std::find(kNames.begin(), kNames.end(), name) == kNames.end())
    throw InputError(fmt::format("unknown chat template '{}'; known: {}", name, fmt::join(kNames, ", ")));
  return ChatTemplate(std::string(name));
}

std::vector<std::string> ChatTemplate::names() { return {kNames.begin(), kNames.end()}; }

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                 std::vector<ContentSpan>* spans) const {
  Builder b(spans, messages.size());
  if (name_ == "llama-3-inst") {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (i == 0) b.text("<|begin_of_text|>");
      b.text("<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n");
      b.content(i, python_strip(messages[i].content));
      b.text("<|eot_id|>");
    }
    if (add_generation_prompt) b.text("<|start_header_id|>assistant<|end_header_id|>\n\n");
  } else if (name_ == "mistral-inst") {
    // v0.2's template knows no system role; later Mistral templates put the system text
    // before the first user message, which is what we do.
    b.text("<s>");
    std::optional<std::size_t> system;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      if (m.role == "system") {
        system = i;
      } else if (m.role == "user") {
        b.text("[INST] ");
        if (system) {
          b.content(*system, messages[*system].content);
          b.text("\n\n");
          system.reset();
        }
        b.content(i, m.content);
        b.text(" [/INST]");
      } else {
        b.content(i, m.content);
        b.text("</s>");
      }
    }
  } else if (name_ == "vicuna") {
    // FastChat's ADD_COLON_TWO style: system, then "ROLE: message" with " " after a user turn
    // and "</s>" after an assistant turn.
    std::size_t first = 0;
    if (!messages.empty() && messages[0].role == "system") {
      b.content(0, messages[0].content);
      first = 1;
    } else {
      b.text(kVicunaSystem);
    }
    b.text(" ");
    for (std::size_t i = first; i < messages.size(); ++i) {
      const bool user = messages[i].role != "assistant";
      b.text(user ? "USER: " : "ASSISTANT: ");
      b.content(i, messages[i].content);
      b.text(user ? " " : "</s>");
    }
    if (add_generation_prompt) b.text("ASSISTANT:");
  } else if (name_ == "qwen") {
    render_chatml(b, messages, add_generation_prompt, kQwenSystem);
  } else if (name_ == "chatml") {
    render_chatml(b, messages, add_generation_prompt, kSmolLMSystem);
  } else if (name_ == "minicpm") {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role == "user") {
        b.text("<用户>");
        b.content(i, python_strip(messages[i].content));
        b.text("<AI>");
      } else {
        b.content(i, python_strip(messages[i].content));
      }
    }
  } else {  // none
    for (std::size_t i = 0; i < messages.size(); ++i) b.content(i, messages[i].content);
  }
  return b.take();
}

std::vector<std::string> ChatTemplate::stop_tokens() const {
  if (name_ == "llama-3-inst") return {"<|eot_id|>", "<|end_of_text|>"};
  if (name_ == "qwen" || name_ == "chatml") return {"<|im_end|>", "<|endoftext|>"};
  if (name_ == "none") return {};
  return {"</s>"};
}

std::string detect_chat_template(const std::filesystem::path& model_dir) {
  if (const auto gguf = gguf_model_file(model_dir)) return chat_template_from_gguf(*GgufFile::open(*gguf));
  std::string chat_template;
  if (auto j = read_json_quietly(model_dir / "tokenizer_config.json"); j && j->is_object() && j->contains("chat_template")) {
    const auto& t = j->at("chat_template");
    if (t.is_string()) {
      chat_template = t.get<std::string>();
    } else if (t.is_array()) {  // [{"name": "default", "template": "..."}, ...]
      for (const auto& entry : t)
        if (entry.is_object() && entry.value("name", std::string()) == "default" && entry.contains("template") &&
            entry.at("template").is_string())
          chat_template = entry.at("template").get<std::string>();
    }
  }
  std::string model_type;
  if (auto j = read_json_quietly(model_dir / "config.json"); j && j->is_object() && j->contains("model_type") &&
                                                            j->at("model_type").is_string())
    model_type = lower(j->at("model_type").get<std::string>());

  auto has = [&](std::string_view marker) { return chat_template.find(marker) != std::string::npos; };
  if (has("<|start_header_id|>")) return "llama-3-inst";
  if (has("<|im_start|>")) return model_type.starts_with("qwen") ? "qwen" : "chatml";
  if (has("[INST]")) return "mistral-inst";
  if (has("<用户>")) return "minicpm";
  if (has("USER:") || has("ASSISTANT:")) return "vicuna";
  if (chat_template.empty()) {
    if (model_type.starts_with("minicpm")) return "minicpm";
    if (lower(model_dir.filename().string()).find("vicuna") != std::string::npos ||
        lower(model_dir.parent_path().filename().string()).find("vicuna") != std::string::npos)
      return "vicuna";
  }
  return "none";
}

RenderedPrompt render_user_prompt(const ChatTemplate& chat, std::string_view user_content,
                                  std::string_view system_content, bool add_generation_prompt) {
  std::vector<ChatMessage> messages;
  if (!system_content.empty()) messages.push_back({"system", std::string(system_content)});
  messages.push_back({"user", std::string(user_content)});
  std::vector<ContentSpan> spans;
  RenderedPrompt out;
  out.text = chat.render(messages, add_generation_prompt, &spans);
  out.user = spans.back();
  return out;
}

}  // namespace qread::model
