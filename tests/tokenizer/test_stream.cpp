// StreamDecoder: pushes add up to decode(), and no chunk ever ends inside a UTF-8 character.
// Also the UTF-8 helpers it rests on.
#include "model/bpe_tokenizer.hpp"
#include "model/sentencepiece_tokenizer.hpp"
#include "tokenizer_test_util.hpp"

using qread::model::StreamDecoder;
using qread::model::TokenId;
using Ids = std::vector<TokenId>;

class TestStream : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::unique_ptr<qread::model::Tokenizer> spm_, bpe_;

  std::filesystem::path path(const char* name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

  // Streams `ids` and checks every chunk and the total.
  static void check_stream(const qread::model::Tokenizer& t, const Ids& ids, bool skip_special) {
    StreamDecoder stream(t, skip_special);
    std::string total;
    for (TokenId id : ids) {
      const std::string chunk = stream.push(id);
      QVERIFY2(qread::test::is_valid_utf8(chunk), "a chunk is not valid UTF-8 on its own");
      total += chunk;
    }
    const std::string tail = stream.finish();
    QVERIFY(qread::test::is_valid_utf8(tail));
    total += tail;
    QCOMPARE(total, t.decode(ids, skip_special));
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const auto corpus = qread::test::corpus();
    qread::model::train_sentencepiece(corpus, 600, path("spm/tokenizer.model"));
    qread::model::train_byte_level_bpe(corpus, 600, path("bpe/tokenizer.json"));
    spm_ = qread::model::load_tokenizer(path("spm"));
    bpe_ = qread::model::load_tokenizer(path("bpe"));
  }

  void utf8Helpers() {
    using qread::model::utf8_complete_prefix;
    using qread::model::utf8_lossy;
    const std::string fffd = "\xEF\xBF\xBD";
    QCOMPARE(utf8_lossy("plain é 日本 🙂"), std::string("plain é 日本 🙂"));
    QCOMPARE(utf8_lossy("a\xFF" "b"), "a" + fffd + "b");
    QCOMPARE(utf8_lossy("\xF0\x9F\x99"), fffd);                  // truncated emoji: one U+FFFD
    QCOMPARE(utf8_lossy("\xF0\x9F\x99" "a"), fffd + "a");
    QCOMPARE(utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);     // a surrogate is three bad bytes
    QCOMPARE(utf8_lossy("\xC0\xAF"), fffd + fffd);                // overlong
    QCOMPARE(utf8_lossy("\x80\x80"), fffd + fffd);
    QCOMPARE(utf8_complete_prefix("ab\xF0\x9F\x99"), std::size_t(2));
    QCOMPARE(utf8_complete_prefix("ab\xF0\x9F\x99\x82"), std::size_t(6));
    QCOMPARE(utf8_complete_prefix("ab\xFF"), std::size_t(3));  // invalid, not incomplete: no waiting
    QCOMPARE(utf8_complete_prefix("\xE6"), std::size_t(0));
  }

  void splitCharacterWaits() {
    // A rare emoji is several byte-level tokens: nothing comes out until its last byte.
    const auto& t = *bpe_;
    const std::string emoji = "\xF0\x9F\xA6\x8A";  // U+1F98A, not in the corpus
    const auto ids = t.encode(emoji, false);
    QVERIFY(ids.size() >= 2);
    StreamDecoder stream(t);
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) QCOMPARE(stream.push(ids[i]), std::string());
    QCOMPARE(stream.push(ids.back()), emoji);
    // An unfinished character at the end becomes U+FFFD.
    StreamDecoder cut(t);
    QCOMPARE(cut.push(ids[0]), std::string());
    QCOMPARE(cut.finish(), std::string("\xEF\xBF\xBD"));
  }

  void firstWordHasNoSpace() {
    // SentencePiece: "▁The" first in the stream is "The".
    const auto ids = spm_->encode("The reader", false);
    StreamDecoder stream(*spm_);
    std::string text;
    for (TokenId id : ids) text += stream.push(id);
    QCOMPARE(text + stream.finish(), std::string("The reader"));
    // With BOS shown, the space stays, as in decode().
    check_stream(*spm_, spm_->encode("The reader", true), false);
  }

  void encodedText() {
    std::mt19937_64 rng(qread::test::random_seed());
    for (auto* t : {spm_.get(), bpe_.get()})
      for (int i = 0; i < 100; ++i) {
        const std::string s = qread::test::random_text(rng, 40);
        const auto ids = t->encode(s, i % 2 == 0);
        check_stream(*t, ids, true);
        check_stream(*t, ids, false);
        StreamDecoder stream(*t);
        std::string total;
        for (TokenId id : ids) total += stream.push(id);
        QCOMPARE(total + stream.finish(), s);
      }
  }

  void randomIds() {
    // Any id sequence, special and byte tokens included: pushes == decode, chunks valid.
    std::mt19937_64 rng(qread::test::random_seed() + 1);
    for (auto* t : {spm_.get(), bpe_.get()}) {
      std::uniform_int_distribution<TokenId> any(0, TokenId(t->vocab_size()) - 1);
      for (int i = 0; i < 300; ++i) {
        Ids ids(std::uniform_int_distribution<std::size_t>(0, 30)(rng));
        for (auto& id : ids) id = any(rng);
        check_stream(*t, ids, i % 2 == 0);
      }
    }
  }
};

QTEST_GUILESS_MAIN(TestStream)
#include "test_stream.moc"
