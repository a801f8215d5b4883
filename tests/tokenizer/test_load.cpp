// load_tokenizer and read_tokenizer_config: which file is used, and clear InputErrors naming
// the file for missing or malformed input.
#include "model/bpe_tokenizer.hpp"
#include "model/sentencepiece_tokenizer.hpp"
#include "qread/error.hpp"
#include "tokenizer_test_util.hpp"

#include <nlohmann/json.hpp>

using qread::model::load_tokenizer;

class TestLoad : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::filesystem::path spm_model_;

  std::filesystem::path folder(const char* name) {
    const auto dir = std::filesystem::path(dir_.path().toStdString()) / name;
    std::filesystem::create_directories(dir);
    return dir;
  }

  // The message of the InputError that load_tokenizer throws for `dir`.
  static QString error_of(const std::filesystem::path& dir) {
    try {
      load_tokenizer(dir);
    } catch (const qread::InputError& e) {
      return QString::fromUtf8(e.what());
    }
    return "no InputError";
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    spm_model_ = folder("spm") / "tokenizer.model";
    qread::model::train_sentencepiece(qread::test::corpus(), 500, spm_model_);
  }

  void missing() {
    const auto nowhere = std::filesystem::path(dir_.path().toStdString()) / "nowhere";
    QVERIFY(error_of(nowhere).contains(QString::fromStdString(nowhere.string())));
    const auto empty = folder("empty");
    const QString message = error_of(empty);
    QVERIFY(message.contains(QString::fromStdString(empty.string())));
    QVERIFY(message.contains("tokenizer.json") && message.contains("tokenizer.model"));
  }

  void malformedFiles() {
    const auto bad_json = folder("bad-json");
    qread::test::write_text(bad_json / "tokenizer.json", "{\"model\": ");
    QVERIFY(error_of(bad_json).contains(QString::fromStdString((bad_json / "tokenizer.json").string())));

    const auto bad_model = folder("bad-model");
    qread::test::write_text(bad_model / "tokenizer.model", std::string(100, '\x07'));
    QVERIFY(error_of(bad_model).contains(QString::fromStdString((bad_model / "tokenizer.model").string())));

    const auto bad_config = folder("bad-config");
    std::filesystem::copy_file(spm_model_, bad_config / "tokenizer.model");
    qread::test::write_text(bad_config / "tokenizer_config.json", "{,}");
    QVERIFY(error_of(bad_config).contains(QString::fromStdString((bad_config / "tokenizer_config.json").string())));

    const auto unknown_bos = folder("unknown-bos");
    std::filesystem::copy_file(spm_model_, unknown_bos / "tokenizer.model");
    qread::test::write_text(unknown_bos / "tokenizer_config.json", R"({"bos_token": "<|nope|>"})");
    QVERIFY(error_of(unknown_bos).contains("<|nope|>"));
  }

  void picksTheRightFile() {
    QCOMPARE(load_tokenizer(spm_model_.parent_path())->kind(), std::string_view("sentencepiece"));
    QCOMPARE(load_tokenizer(spm_model_)->kind(), std::string_view("sentencepiece"));  // the file itself

    // tokenizer.json first when both exist.
    const auto both = folder("both");
    std::filesystem::copy_file(spm_model_, both / "tokenizer.model");
    qread::model::train_byte_level_bpe(qread::test::corpus(), 400, both / "tokenizer.json");
    QCOMPARE(load_tokenizer(both)->kind(), std::string_view("bpe"));

    // A Llama-2 style tokenizer.json (Metaspace, byte fallback) defers to tokenizer.model.
    const auto llama2 = folder("llama2");
    std::filesystem::copy_file(spm_model_, llama2 / "tokenizer.model");
    qread::test::write_text(llama2 / "tokenizer.json", R"({
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                         {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
      "pre_tokenizer": null,
      "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
      "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}})");
    QCOMPARE(load_tokenizer(llama2)->kind(), std::string_view("sentencepiece"));
  }

  void dummyPrefixFromTokenizerJson_data() {
    QTest::addColumn<QString>("component");  // "normalizer" or "pre_tokenizer"
    QTest::addColumn<QString>("type");
    QTest::addColumn<QString>("scheme");
    QTest::addColumn<QString>("withSpace");  // pieces of " hi<s> yo", joined
    QTest::addColumn<QString>("plain");      // pieces of "hi<s>yo", joined
    // Llama-2's conversion: a Prepend normalizer puts "▁" before every stretch, even a space.
    QTest::addRow("Prepend") << "normalizer" << "Prepend" << "" << "▁▁hi<s>▁▁yo" << "▁hi<s>▁yo";
    // Metaspace: never before a space; "always" every stretch, "first" the text's start only.
    QTest::addRow("Metaspace always") << "pre_tokenizer" << "Metaspace" << "always" << "▁hi<s>▁yo" << "▁hi<s>▁yo";
    QTest::addRow("Metaspace first") << "pre_tokenizer" << "Metaspace" << "first" << "▁hi<s>▁yo" << "▁hi<s>yo";
    QTest::addRow("Metaspace never") << "pre_tokenizer" << "Metaspace" << "never" << "▁hi<s>▁yo" << "hi<s>yo";
  }
  void dummyPrefixFromTokenizerJson() {
    QFETCH(QString, component);
    QFETCH(QString, type);
    QFETCH(QString, scheme);
    QFETCH(QString, withSpace);
    QFETCH(QString, plain);
    nlohmann::json part = {{"type", type.toStdString()}};
    if (type == "Prepend") part["prepend"] = "\u2581";
    else part["prepend_scheme"] = scheme.toStdString(), part["replacement"] = "\u2581";
    nlohmann::json j = {{component.toStdString(), part},
                        {"model", {{"type", "BPE"}, {"byte_fallback", true}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}}};
    const auto dir = folder(("prefix-" + type + scheme).toUtf8().constData());
    std::filesystem::copy_file(spm_model_, dir / "tokenizer.model", std::filesystem::copy_options::overwrite_existing);
    qread::test::write_text(dir / "tokenizer.json", j.dump());
    const auto t = load_tokenizer(dir);
    const auto& spm = dynamic_cast<const qread::model::SentencePieceTokenizer&>(*t);
    auto joined = [&](std::string_view text) {
      std::string out;
      for (auto id : t->encode(text, false)) out += spm.piece(id);
      return QString::fromStdString(out);
    };
    QCOMPARE(joined(" hi<s> yo"), withSpace);
    QCOMPARE(joined("hi<s>yo"), plain);
    QCOMPARE(t->decode(t->encode("hi<s>yo", false), true), scheme == "never" || scheme == "first" ? std::string("hiyo") : std::string("hi yo"));
  }

  void configFiles() {
    const auto dir = folder("configs");
    std::filesystem::copy_file(spm_model_, dir / "tokenizer.model");
    qread::test::write_text(dir / "tokenizer_config.json",
                            R"({"bos_token": {"content": "<s>", "__type": "AddedToken"}, "eos_token": "</s>",
                                "add_bos_token": false, "legacy": false})");
    qread::test::write_text(dir / "generation_config.json", R"({"eos_token_id": [2, 7], "bos_token_id": 1})");
    qread::test::write_text(dir / "config.json", R"({"eos_token_id": 9})");
    const auto c = qread::model::read_tokenizer_config(dir);
    QCOMPARE(c.bos_token, std::optional<std::string>("<s>"));
    QCOMPARE(c.eos_token, std::optional<std::string>("</s>"));
    QCOMPARE(c.add_bos_token, std::optional<bool>(false));
    QCOMPARE(c.legacy, std::optional<bool>(false));
    QCOMPARE(c.eos_token_ids, (std::vector<qread::model::TokenId>{2, 7}));  // generation_config.json wins
    QCOMPARE(c.bos_token_id, std::optional<qread::model::TokenId>(1));
    const auto t = load_tokenizer(dir);
    QCOMPARE(t->eos_ids(), (std::vector<qread::model::TokenId>{2, 7}));
    QCOMPARE(t->encode("hi", true), t->encode("hi", false));  // add_bos_token: false
  }
};

QTEST_GUILESS_MAIN(TestLoad)
#include "test_load.moc"
