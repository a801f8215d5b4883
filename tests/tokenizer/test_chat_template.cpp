// Chat templates: the exact text of each format, written out by hand from the reference
// formats (the models' Jinja templates; FastChat's vicuna_v1.1), detection from a model
// folder, and the user-content span.
#include "qread/chat_template.hpp"
#include "qread/error.hpp"
#include "tokenizer_test_util.hpp"

using qread::model::ChatMessage;
using qread::model::ChatTemplate;

namespace {
std::string render(const char* name, const std::vector<ChatMessage>& messages, bool add_generation_prompt = true) {
  return ChatTemplate::by_name(name).render(messages, add_generation_prompt);
}
const std::vector<ChatMessage> kOneTurn = {{"user", "What is the ferry called?"}};
const std::vector<ChatMessage> kDialogue = {
    {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
}  // namespace

class TestChatTemplate : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

  std::filesystem::path folder(const char* name, const char* tokenizer_config, const char* config = nullptr) {
    const auto dir = std::filesystem::path(dir_.path().toStdString()) / name;
    std::filesystem::create_directories(dir);
    if (tokenizer_config) qread::test::write_text(dir / "tokenizer_config.json", tokenizer_config);
    if (config) qread::test::write_text(dir / "config.json", config);
    return dir;
  }

 private Q_SLOTS:
  void llama3() {
    QCOMPARE(render("llama-3-inst", kOneTurn),
             std::string("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
                         "What is the ferry called?<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n"));
    // Contents are trimmed; the BOS comes once; a system turn is a header like the others.
    QCOMPARE(render("llama-3-inst", {{"system", "Be brief. "}, {"user", "  Hi\n"}, {"assistant", "Hello!"}}, false),
             std::string("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"));
    QCOMPARE(ChatTemplate::by_name("llama-3-inst").stop_tokens(), (std::vector<std::string>{"<|eot_id|>", "<|end_of_text|>"}));
    QVERIFY(ChatTemplate::by_name("llama-3-inst").encode_with_bos());
  }

  void mistral() {
    QCOMPARE(render("mistral-inst", kOneTurn), std::string("<s>[INST] What is the ferry called? [/INST]"));
    QCOMPARE(render("mistral-inst", kDialogue), std::string("<s>[INST] Hi [/INST]Hello!</s>[INST] Bye [/INST]"));
    QCOMPARE(render("mistral-inst", {{"system", "Be brief."}, {"user", "Hi"}}),
             std::string("<s>[INST] Be brief.\n\nHi [/INST]"));
    QVERIFY(!ChatTemplate::by_name("mistral-inst").encode_with_bos());
    QCOMPARE(ChatTemplate::by_name("mistral-inst").stop_tokens(), (std::vector<std::string>{"</s>"}));
  }

  void vicuna() {
    const std::string system =
        "A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions.";
    QCOMPARE(render("vicuna", kOneTurn), system + " USER: What is the ferry called? ASSISTANT:");
    QCOMPARE(render("vicuna", kDialogue), system + " USER: Hi ASSISTANT: Hello!</s>USER: Bye ASSISTANT:");
    QCOMPARE(render("vicuna", {{"system", "Be brief."}, {"user", "Hi"}}), std::string("Be brief. USER: Hi ASSISTANT:"));
  }

  void qwen() {
    QCOMPARE(render("qwen", kOneTurn),
             std::string("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                         "<|im_start|>user\nWhat is the ferry called?<|im_end|>\n"
                         "<|im_start|>assistant\n"));
    QCOMPARE(render("qwen", {{"system", "Be brief."}, {"user", "Hi"}}, false),
             std::string("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"));
    QCOMPARE(ChatTemplate::by_name("qwen").stop_tokens().front(), std::string("<|im_end|>"));
  }

  void chatml() {
    QCOMPARE(render("chatml", kDialogue),
             std::string("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                         "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                         "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"));
  }

  void minicpm() {
    QCOMPARE(render("minicpm", {{"user", "  What is the ferry called?\n"}}),
             std::string("<用户>What is the ferry called?<AI>"));
    QCOMPARE(render("minicpm", kDialogue), std::string("<用户>Hi<AI>Hello!<用户>Bye<AI>"));
  }

  void none() {
    QCOMPARE(render("none", kOneTurn), std::string("What is the ferry called?"));
    QVERIFY(ChatTemplate::by_name("none").stop_tokens().empty());
  }

  void unknownName() {
    try {
      ChatTemplate::by_name("alpaca");
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      const QString message = e.what();
      QVERIFY(message.contains("alpaca"));
      for (const auto& name : ChatTemplate::names()) QVERIFY(message.contains(QString::fromStdString(name)));
    }
  }

  void userSpan() {
    for (const auto& name : ChatTemplate::names()) {
      const auto chat = ChatTemplate::by_name(name);
      const std::string question = "Where did the other books go?";
      const auto prompt = qread::model::render_user_prompt(chat, "  " + question + "\n", "Answer from the book.");
      const std::string_view in_text = std::string_view(prompt.text).substr(prompt.user.begin, prompt.user.end - prompt.user.begin);
      // Templates that trim (llama-3-inst, minicpm) point at the trimmed question.
      if (name == "llama-3-inst" || name == "minicpm")
        QCOMPARE(std::string(in_text), question);
      else
        QCOMPARE(std::string(in_text), "  " + question + "\n");
    }
    const auto plain = qread::model::render_user_prompt(ChatTemplate::by_name("qwen"), "Q?");
    QCOMPARE(plain.text.substr(plain.user.begin, 2), std::string("Q?"));
    QCOMPARE(plain.user.begin, std::string("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n").size());
  }

  void detect() {
    using qread::model::detect_chat_template;
    QVERIFY(dir_.isValid());
    QCOMPARE(detect_chat_template(folder("llama3", R"({"chat_template": "{{ '<|start_header_id|>' }}"})")), std::string("llama-3-inst"));
    QCOMPARE(detect_chat_template(folder("qwen2", R"({"chat_template": "<|im_start|>"})", R"({"model_type": "qwen2"})")), std::string("qwen"));
    QCOMPARE(detect_chat_template(folder("smol", R"({"chat_template": "<|im_start|>"})", R"({"model_type": "llama"})")), std::string("chatml"));
    QCOMPARE(detect_chat_template(folder("mistral", R"({"chat_template": "{{ bos_token }}[INST]"})")), std::string("mistral-inst"));
    QCOMPARE(detect_chat_template(folder("cpm", R"({"chat_template": "{{'<用户>'}}"})")), std::string("minicpm"));
    QCOMPARE(detect_chat_template(folder("listed", R"({"chat_template": [{"name": "default", "template": "[INST]"}]})")), std::string("mistral-inst"));
    QCOMPARE(detect_chat_template(folder("cpm2", R"({})", R"({"model_type": "minicpm"})")), std::string("minicpm"));
    QCOMPARE(detect_chat_template(folder("vicuna-7b-v1.5", R"({"bos_token": "<s>"})")), std::string("vicuna"));
    QCOMPARE(detect_chat_template(folder("base", R"({"bos_token": "<s>"})", R"({"model_type": "llama"})")), std::string("none"));
    QCOMPARE(detect_chat_template(folder("broken", "{ not json")), std::string("none"));
    QCOMPARE(detect_chat_template(std::filesystem::path(dir_.path().toStdString()) / "missing"), std::string("none"));
  }
};

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
