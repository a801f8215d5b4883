// SentencePiece through the dlopen'ed shim: models trained on the test corpus, round trips on
// random Unicode, special tokens written in the text, byte fallback, legacy=false.
#include "model/sentencepiece_tokenizer.hpp"
#include "model/spm_library.hpp"
#include "model/spm_shim/qread_spm.h"
#include "qread/error.hpp"
#include "tokenizer_test_util.hpp"

using qread::model::SentencePieceTokenizer;
using qread::model::TokenId;
using Ids = std::vector<TokenId>;

class TestSpm : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::filesystem::path bpe_path_, unigram_path_;
  std::unique_ptr<SentencePieceTokenizer> bpe_, unigram_;

  std::filesystem::path path(const char* name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    bpe_path_ = path("bpe/tokenizer.model");
    unigram_path_ = path("unigram/tokenizer.model");
    const auto corpus = qread::test::corpus();
    const auto bpe_size = qread::model::train_sentencepiece(corpus, 800, bpe_path_);
    const auto unigram_size = qread::model::train_sentencepiece(corpus, 600, unigram_path_, qread::model::SpmModelType::Unigram);
    qInfo("trained SentencePiece models: bpe %zu pieces, unigram %zu pieces", bpe_size, unigram_size);
    QVERIFY(bpe_size > 300 && bpe_size <= 800);
    QVERIFY(unigram_size > 300 && unigram_size <= 600);
    // No scratch files left beside the model.
    for (const auto& entry : std::filesystem::directory_iterator(bpe_path_.parent_path()))
      QCOMPARE(entry.path().filename().string(), std::string("tokenizer.model"));
    bpe_ = std::make_unique<SentencePieceTokenizer>(bpe_path_);
    unigram_ = std::make_unique<SentencePieceTokenizer>(unigram_path_);
  }

  void library() {
    const auto& lib = qread::model::SpmLibrary::instance();
    QVERIFY(!lib.path().empty());
    qInfo("shim: %s", lib.path().c_str());
    const auto candidates = qread::model::spm_library_candidates();
    QVERIFY(candidates.size() >= 3);
    QCOMPARE(candidates.back().filename().string(), std::string("libqread_spm.so"));
    qputenv("QREAD_SPM_LIBRARY", "/somewhere/libqread_spm.so");
    QCOMPARE(qread::model::spm_library_candidates().front().string(), std::string("/somewhere/libqread_spm.so"));
    qunsetenv("QREAD_SPM_LIBRARY");
  }

  void layout() {
    for (auto* t : {bpe_.get(), unigram_.get()}) {
      QCOMPARE(t->piece(0), std::string("<unk>"));
      QCOMPARE(t->piece(1), std::string("<s>"));
      QCOMPARE(t->piece(2), std::string("</s>"));
      QCOMPARE(t->piece(3), std::string("<0x00>"));
      QCOMPARE(t->bos_id(), std::optional<TokenId>(1));
      QCOMPARE(t->eos_id(), std::optional<TokenId>(2));
      QVERIFY(t->is_special(0) && t->is_special(1) && t->is_special(2) && !t->is_special(3));
      QVERIFY(t->strips_leading_space());
      QCOMPARE(t->kind(), std::string_view("sentencepiece"));
      QCOMPARE(t->token_bytes(3 + 0x0A), std::string("\n"));
    }
  }

  void roundTrip_data() {
    QTest::addColumn<bool>("unigram");
    QTest::addRow("bpe") << false;
    QTest::addRow("unigram") << true;
  }
  void roundTrip() {
    QFETCH(bool, unigram);
    const auto& t = unigram ? *unigram_ : *bpe_;
    std::mt19937_64 rng(qread::test::random_seed());
    for (int i = 0; i < 300; ++i) {
      const std::string s = qread::test::random_text(rng, 50);
      const auto ids = t.encode(s, false);
      const std::string back = t.decode(ids);
      if (back != s)
        QFAIL(qPrintable(QString("round trip of '%1' gave '%2'").arg(QString::fromStdString(s), QString::fromStdString(back))));
      // Our decoding agrees with sentencepiece's own for plain text.
      QCOMPARE(t.decode_with_sentencepiece(ids), s);
    }
  }

  void corpusCompresses() {
    const auto corpus = qread::test::corpus();
    const auto ids = bpe_->encode(corpus, false);
    QVERIFY(ids.size() < corpus.size() / 2);
    QCOMPARE(bpe_->decode(ids), corpus);
  }

  void specialTokensInText() {
    const auto& t = *bpe_;
    const auto hello = t.encode("hello", false);
    const auto world = t.encode("world", false);
    Ids expected{1};
    expected.insert(expected.end(), hello.begin(), hello.end());
    expected.push_back(2);
    expected.insert(expected.end(), world.begin(), world.end());
    // Each stretch between special tokens gets its own "▁" (HF's legacy behaviour).
    QCOMPARE(t.encode("<s>hello</s>world", false), expected);
    QCOMPARE(t.encode("a<unk>", false).back(), TokenId(0));
    // add_bos puts <s> first; decode shows special tokens unless skipped.
    QCOMPARE(t.encode("hello", true).front(), TokenId(1));
    QCOMPARE(t.decode(t.encode("hello</s>", true)), std::string("<s> hello</s>"));
    QCOMPARE(t.decode(t.encode("hello</s>", true), true), std::string("hello"));
    QCOMPARE(t.token_to_id("</s>"), std::optional<TokenId>(2));
  }

  void byteFallback() {
    const auto& t = *bpe_;
    // A character that is surely not in the vocabulary: four byte pieces after "▁".
    const std::string rare = "\xF0\x9D\x94\x98";  // U+1D518
    const auto ids = t.encode(rare, false);
    QVERIFY(ids.size() >= 4);
    std::string bytes;
    for (std::size_t i = ids.size() - 4; i < ids.size(); ++i) {
      QVERIFY(t.piece(ids[i]).starts_with("<0x"));
      bytes += t.token_bytes(ids[i]);
    }
    QCOMPARE(bytes, rare);
    QCOMPARE(t.decode(ids), rare);
    QCOMPARE(t.encode("\n", false).back(), TokenId(3 + 0x0A));
  }

  void addBosFromConfig() {
    qread::model::TokenizerConfig config;
    config.add_bos_token = false;
    config.eos_token = "<s>";
    config.eos_token_ids = {2, 5};
    const SentencePieceTokenizer t(bpe_path_, config);
    QCOMPARE(t.encode("hello", true), t.encode("hello", false));
    QCOMPARE(t.eos_id(), std::optional<TokenId>(1));
    QCOMPARE(t.eos_ids(), (Ids{1, 2, 5}));
  }

  void legacyFalse() {
    qread::model::TokenizerConfig config;
    config.legacy = false;
    const SentencePieceTokenizer t(bpe_path_, config);
    // The first stretch still gets "▁"; the one after a special token does not, nor one that
    // starts with a space (HF's Metaspace, prepend_scheme "first").
    QCOMPARE(t.encode("hello", false), bpe_->encode("hello", false));
    std::string joined;
    for (auto id : t.encode(" hello", false)) joined += t.piece(id);
    QCOMPARE(joined, std::string("\xE2\x96\x81hello"));
    const auto ids = t.encode("<s>hello", false);
    QCOMPARE(ids.front(), TokenId(1));
    QVERIFY(!t.piece(ids[1]).starts_with("\xE2\x96\x81"));
    QCOMPARE(t.decode(Ids(ids.begin() + 1, ids.end())), std::string("hello"));
  }

  void errors() {
    try {
      SentencePieceTokenizer t(path("missing.model"));
      QFAIL("no error for a missing file");
    } catch (const qread::InputError& e) {
      QVERIFY(QString(e.what()).contains("missing.model"));
    }
    qread::test::write_text(path("garbage.model"), "this is not a protobuf");
    try {
      SentencePieceTokenizer t(path("garbage.model"));
      QFAIL("no error for a garbage file");
    } catch (const qread::InputError& e) {
      QVERIFY(QString(e.what()).contains("garbage.model"));
    }
    QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::model::train_sentencepiece("", 400, path("x.model")));
    QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::model::train_sentencepiece("abc", 100, path("x.model")));
    // A trainer failure comes back as an error, not a crash.
    QVERIFY_THROWS_EXCEPTION(qread::Error, qread::model::spm_train(path("no-such-input.txt"), path("out"), 400, "bpe", ""));
  }
};

QTEST_GUILESS_MAIN(TestSpm)
#include "test_spm.moc"
