// config.json parsing: the values the transformer needs, and errors that name the file and key.
#include "model/model_config.hpp"
#include "qread/error.hpp"

#include <QtTest>

using qread::model::ModelConfig;
using qread::model::RopeScaling;

namespace {
const char* kLlama31 = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
  "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
  "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
  "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "torch_dtype": "bfloat16", "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "attention_bias": false, "hidden_act": "silu"})";

QString error_of(const std::string& json) {
  try {
    ModelConfig::parse(json, "dir/config.json");
  } catch (const qread::InputError& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}
}  // namespace

class TestModelConfig : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void llama31() {
    const auto c = ModelConfig::parse(kLlama31, "config.json");
    QCOMPARE(c.architecture, std::string("LlamaForCausalLM"));
    QCOMPARE(c.num_layers, 32);
    QCOMPARE(c.num_kv_heads, 8);
    QCOMPARE(c.head_dim, 128);
    QCOMPARE(c.rope_theta, 500000.0);
    QVERIFY(c.rope_scaling.kind == RopeScaling::Kind::llama3);
    QCOMPARE(c.rope_scaling.factor, 8.0);
    QCOMPARE(c.rope_scaling.original_max_position_embeddings, 8192);
    QCOMPARE(c.eos_token_ids, (std::vector<std::int32_t>{128001, 128008, 128009}));
    QCOMPARE(*c.bos_token_id, 128000);
    QVERIFY(!c.qkv_bias && !c.tie_word_embeddings);
    QCOMPARE(c.torch_dtype, std::string("bfloat16"));
  }

  void qwen2HasQkvBias() {
    const auto c = ModelConfig::parse(R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
      "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": true,
      "rope_scaling": null})", "q");
    QVERIFY(c.qkv_bias);
    QVERIFY(!c.o_bias);
    QVERIFY(c.tie_word_embeddings);
    QVERIFY(c.rope_scaling.kind == RopeScaling::Kind::none);
  }

  void generationConfigAddsEos() {
    auto c = ModelConfig::parse(R"({"model_type": "mistral", "vocab_size": 10, "hidden_size": 8,
      "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "eos_token_id": 2})", "m");
    QCOMPARE(c.architecture, std::string("MistralForCausalLM"));
    c.merge_generation_config(R"({"eos_token_id": [2, 7], "bos_token_id": 1})", "g");
    QCOMPARE(c.eos_token_ids, (std::vector<std::int32_t>{2, 7}));
    QCOMPARE(*c.bos_token_id, 1);
  }

  void roundTripThroughJson() {
    const auto c = ModelConfig::parse(kLlama31, "config.json");
    const auto again = ModelConfig::parse(c.to_json(), "again");
    QCOMPARE(again.hidden_size, c.hidden_size);
    QCOMPARE(again.num_kv_heads, c.num_kv_heads);
    QVERIFY(again.rope_scaling.kind == c.rope_scaling.kind);
    QCOMPARE(again.rope_scaling.high_freq_factor, c.rope_scaling.high_freq_factor);
    QCOMPARE(again.eos_token_ids, c.eos_token_ids);
  }

  void errorsNameFileAndKey_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QStringList>("expected");
    const QString base = R"("model_type": "llama", "vocab_size": 10, "hidden_size": 8,
      "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2)";
    QTest::addRow("not json") << "{oops" << QStringList{"dir/config.json", "not valid JSON"};
    QTest::addRow("not an object") << "[1]" << QStringList{"expected a JSON object"};
    QTest::addRow("missing key") << R"({"model_type": "llama", "vocab_size": 10})"
                                 << QStringList{"dir/config.json", "hidden_size"};
    QTest::addRow("wrong type") << "{" + QString(base).replace("\"vocab_size\": 10", "\"vocab_size\": \"ten\"") + "}"
                                << QStringList{"vocab_size", "an integer", "\"ten\""};
    QTest::addRow("unknown arch") << R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 1})"
                                  << QStringList{"GPT2LMHeadModel", "not supported"};
    QTest::addRow("rope kind") << "{" + base + R"(, "rope_scaling": {"type": "yarn", "factor": 4}})"
                               << QStringList{"yarn", "rope_scaling", "not supported"};
    QTest::addRow("gqa") << "{" + base + R"(, "num_key_value_heads": 3})"
                         << QStringList{"num_key_value_heads", "multiple"};
    QTest::addRow("negative") << "{" + QString(base).replace("\"hidden_size\": 8", "\"hidden_size\": -8") + "}"
                              << QStringList{"hidden_size", "positive"};
    QTest::addRow("eos") << "{" + base + R"(, "eos_token_id": "x"})" << QStringList{"eos_token_id"};
    QTest::addRow("act") << "{" + base + R"(, "hidden_act": "gelu"})" << QStringList{"hidden_act", "gelu"};
  }
  void errorsNameFileAndKey() {
    QFETCH(QString, json);
    QFETCH(QStringList, expected);
    const QString message = error_of(json.toStdString());
    QVERIFY2(!message.isEmpty(), "no InputError");
    for (const auto& part : expected) QVERIFY2(message.contains(part), qPrintable(message + " lacks " + part));
  }

  void loadFromMissingFolder() {
    try {
      ModelConfig::load("/nonexistent/model");
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      QVERIFY(QString(e.what()).contains("/nonexistent/model"));
    }
  }
};

QTEST_APPLESS_MAIN(TestModelConfig)
#include "test_model_config.moc"
