// Byte-level BPE (tokenizer.json): a hand-written tokenizer with ids worked out by hand, the
// pre-tokenizer regexes on known strings, added tokens, and a trained tokenizer round trip.
#include "model/bpe_tokenizer.hpp"
#include "qread/chat_template.hpp"
#include "qread/error.hpp"
#include "tokenizer_test_util.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

using qread::model::BpeTokenizer;
using qread::model::TokenId;
using Ids = std::vector<TokenId>;
using Strings = std::vector<std::string>;

namespace {

// A GPT-2 style tokenizer small enough to follow by hand. Vocabulary (byte-level form, "Ġ" is
// the space byte): h e l o Ġ w r d ! and the merge results below; merges, by rank:
//   0 h+e=he  1 l+l=ll  2 ll+o=llo  3 he+llo=hello  4 Ġ+w=Ġw  5 o+r=or  6 Ġw+or=Ġwor  7 l+d=ld
// Added tokens: <a> (17), <a><b> (18, longer, so it wins where both match), <s> (20, special,
// the post-processor's BOS). `merges_as_pairs` writes merges in the newer [["a","b"]] form.
std::string hand_tokenizer(bool merges_as_pairs, bool ignore_merges = false) {
  nlohmann::json vocab = {{"h", 0},  {"e", 1},  {"l", 2},   {"o", 3},      {"\u0120", 4},      {"w", 5},
                          {"r", 6},  {"d", 7},  {"he", 8},  {"ll", 9},     {"llo", 10},        {"hello", 11},
                          {"\u0120w", 12}, {"or", 13}, {"\u0120wor", 14}, {"ld", 15}, {"!", 16},
                          {"\u0120world", 21}};
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"ll", "o"}, {"he", "llo"}, {"\u0120", "w"}, {"o", "r"}, {"\u0120w", "or"}, {"l", "d"}};
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& [a, b] : merges)
    merge_list.push_back(merges_as_pairs ? nlohmann::json::array({a, b}) : nlohmann::json(a + " " + b));
  nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 17}, {"content", "<a>"}, {"special", false}},
        {{"id", 18}, {"content", "<a><b>"}, {"special", false}},
        {{"id", 20}, {"content", "<s>"}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {20}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"ignore_merges", ignore_merges}, {"vocab", vocab}, {"merges", merge_list}}}};
  return j.dump();
}

// A tokenizer.json with the given pre_tokenizer and a one-letter vocabulary: enough to run
// pre_tokenize().
std::unique_ptr<BpeTokenizer> with_pre_tokenizer(const nlohmann::json& pre_tokenizer) {
  nlohmann::json j = {{"pre_tokenizer", pre_tokenizer},
                      {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}}};
  return BpeTokenizer::from_json_text(j.dump(), "test.json");
}

nlohmann::json split_then_byte_level(std::string_view pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", std::string(pattern)}}}, {"behavior", "Isolated"}, {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
}

}  // namespace

class TestBpe : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::unique_ptr<qread::model::Tokenizer> trained_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const auto size = qread::model::train_byte_level_bpe(qread::test::corpus(), 700,
                                                         std::filesystem::path(dir_.path().toStdString()) / "tokenizer.json");
    QCOMPARE(size, std::size_t(700));
    trained_ = qread::model::load_tokenizer(dir_.path().toStdString());
  }

  void byteLevelAlphabet() {
    const auto& a = qread::model::byte_level_alphabet();
    QCOMPARE(a[' '], std::string("\u0120"));   // Ġ
    QCOMPARE(a['\n'], std::string("\u010A"));  // Ċ
    QCOMPARE(a['A'], std::string("A"));
    QCOMPARE(a[0], std::string("\u0100"));
    QCOMPARE(a[0xAD], std::string("\u0143"));  // the soft hyphen is the last byte remapped
    QCOMPARE(qread::model::byte_level_decode(qread::model::byte_level_encode("a b\n\xFF")), std::string("a b\n\xFF"));
  }

  void handWritten_data() {
    QTest::addColumn<bool>("pairs");
    QTest::addRow("merges as strings") << false;
    QTest::addRow("merges as pairs") << true;
  }
  void handWritten() {
    QFETCH(bool, pairs);
    const auto t = BpeTokenizer::from_json_text(hand_tokenizer(pairs), "hand.json");
    QCOMPARE(t->encode("hello world", false), (Ids{11, 14, 15}));
    QCOMPARE(t->encode("hello!", false), (Ids{11, 16}));
    // Equal ranks: the leftmost pair first.
    QCOMPARE(t->encode("lll", false), (Ids{9, 2}));
    QCOMPARE(t->encode("llll", false), (Ids{9, 9}));
    QCOMPARE(t->encode("world", false), (Ids{5, 13, 15}));
    // Added tokens, longest first, and the BOS of the post-processor.
    QCOMPARE(t->encode("hello<a><b> world<a>", false), (Ids{11, 18, 14, 15, 17}));
    QCOMPARE(t->encode("hello", true), (Ids{20, 11}));
    QCOMPARE(t->encode("<s>hello", false), (Ids{20, 11}));
    QCOMPARE(t->bos_id(), std::optional<TokenId>(20));
    QVERIFY(t->is_special(20));
    QVERIFY(!t->is_special(17));
    QCOMPARE(t->vocab_size(), std::size_t(22));
    QCOMPARE(t->token_to_id("\u0120wor"), std::optional<TokenId>(14));
    QCOMPARE(t->token_to_id("<a><b>"), std::optional<TokenId>(18));
    QVERIFY(!t->token_to_id("nope"));
    QCOMPARE(t->decode(Ids{20, 11, 14, 15}), std::string("<s>hello world"));
    QCOMPARE(t->decode(Ids{20, 11, 14, 15}, true), std::string("hello world"));
    QCOMPARE(t->token_bytes(14), std::string(" wor"));
    QCOMPARE(t->decode(Ids{11, 999}), std::string("hello"));  // ids past the vocabulary decode to nothing
  }

  void ignoreMerges() {
    // Llama-3: a pre-token that is itself in the vocabulary is not merged piece by piece.
    QCOMPARE(BpeTokenizer::from_json_text(hand_tokenizer(false, false), "a")->encode(" world", false), (Ids{14, 15}));
    QCOMPARE(BpeTokenizer::from_json_text(hand_tokenizer(false, true), "b")->encode(" world", false), (Ids{21}));
  }

  void llama3PreTokenizer_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("pieces");
    QTest::addRow("contractions") << "I'm don't YOU'RE we'll"
                                  << QStringList{"I", "'m", " don", "'t", " YOU", "'RE", " we", "'ll"};
    QTest::addRow("numbers by three") << "12345 1234567" << QStringList{"123", "45", " ", "123", "456", "7"};
    QTest::addRow("space runs") << "a   b" << QStringList{"a", "  ", " b"};
    QTest::addRow("trailing spaces") << "end   " << QStringList{"end", "   "};
    QTest::addRow("newlines") << "hello\n\nworld" << QStringList{"hello", "\n\n", "world"};
    QTest::addRow("spaces then newline") << "x  \n y" << QStringList{"x", "  \n", " y"};
    QTest::addRow("punctuation") << "Hi!!! ok?" << QStringList{"Hi", "!!!", " ok", "?"};
    QTest::addRow("punctuation with newline") << "...\nNext" << QStringList{"...\n", "Next"};
    QTest::addRow("letters after a symbol") << "$hello (world)" << QStringList{"$hello", " (", "world", ")"};
    QTest::addRow("unicode letters") << QString::fromUtf8("café 日本語") << QStringList{QString::fromUtf8("café"), QString::fromUtf8(" 日本語")};
    QTest::addRow("tab") << "a\tb" << QStringList{"a", "\tb"};
  }
  void llama3PreTokenizer() {
    QFETCH(QString, text);
    QFETCH(QStringList, pieces);
    const auto t = with_pre_tokenizer(split_then_byte_level(qread::model::kLlama3Pattern));
    QStringList got;
    for (const auto& p : t->pre_tokenize(text.toStdString())) got << QString::fromStdString(p);
    QCOMPARE(got, pieces);
  }

  void otherPreTokenizers() {
    auto pieces = [](const BpeTokenizer& t, std::string_view s) { return t.pre_tokenize(s); };
    // GPT-2 (ByteLevel with use_regex): lower-case contractions only, digits in one run.
    const auto gpt2 = with_pre_tokenizer({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}});
    QCOMPARE(pieces(*gpt2, "I'm don't 12345"), (Strings{"I", "'m", " don", "'t", " 12345"}));
    QCOMPARE(pieces(*gpt2, "a   b"), (Strings{"a", "  ", " b"}));
    // add_prefix_space puts a space before the text.
    const auto prefixed = with_pre_tokenizer({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}});
    QCOMPARE(pieces(*prefixed, "hi there"), (Strings{" hi", " there"}));
    // Qwen2: single digits.
    const auto qwen = with_pre_tokenizer(split_then_byte_level(qread::model::kQwen2Pattern));
    QCOMPARE(pieces(*qwen, "x=12345"), (Strings{"x", "=", "1", "2", "3", "4", "5"}));
    // SmolLM2: Digits (individual) before the GPT-2 split.
    const auto smol = with_pre_tokenizer(
        {{"type", "Sequence"},
         {"pretokenizers",
          {{{"type", "Digits"}, {"individual_digits", true}},
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}});
    QCOMPARE(pieces(*smol, "abc 123"), (Strings{"abc", " ", "1", "2", "3"}));
    // Split behaviours, on the HF documentation's example.
    auto split = [](const char* behavior) {
      return with_pre_tokenizer(
          {{"type", "Sequence"},
           {"pretokenizers",
            {{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}},
             {{"type", "ByteLevel"}, {"use_regex", false}}}}});
    };
    const std::string s = "the-final--countdown";
    QCOMPARE(pieces(*split("Removed"), s), (Strings{"the", "final", "countdown"}));
    QCOMPARE(pieces(*split("Isolated"), s), (Strings{"the", "-", "final", "-", "-", "countdown"}));
    QCOMPARE(pieces(*split("MergedWithPrevious"), s), (Strings{"the-", "final-", "-", "countdown"}));
    QCOMPARE(pieces(*split("MergedWithNext"), s), (Strings{"the", "-final", "-", "-countdown"}));
    QCOMPARE(pieces(*split("Contiguous"), s), (Strings{"the", "-", "final", "--", "countdown"}));
  }

  void longWhitespaceRun() {
    // \s+(?!\S) backtracks over the run: a long one must neither fail nor take long.
    const auto t = with_pre_tokenizer(split_then_byte_level(qread::model::kLlama3Pattern));
    const std::string spaces(200000, ' ');
    const auto got = t->pre_tokenize(spaces + "x");
    QCOMPARE(got.size(), std::size_t(2));
    QCOMPARE(got[0].size(), spaces.size() - 1);
    QCOMPARE(got[1], std::string(" x"));
  }

  void invalidUtf8Input() {
    // Input that is not UTF-8 is read as Python would with errors="replace".
    const auto t = trained_.get();
    const auto ids = t->encode("a\xFF" "b", false);
    QCOMPARE(t->decode(ids), std::string("a\xEF\xBF\xBD" "b"));
  }

  void trainedTokenizer() {
    const auto& t = *trained_;
    QCOMPARE(t.kind(), std::string_view("bpe"));
    QCOMPARE(t.vocab_size(), std::size_t(700));
    QCOMPARE(t.bos_id(), t.token_to_id("<|begin_of_text|>"));
    QCOMPARE(t.eos_id(), t.token_to_id("<|eot_id|>"));
    QCOMPARE(*t.bos_id(), TokenId(695));
    const auto ids = t.encode("The reader opened the book.", true);
    QCOMPARE(ids.front(), *t.bos_id());
    QVERIFY(ids.size() < 12);  // learned merges: far fewer tokens than bytes
    QCOMPARE(t.decode(ids, true), std::string("The reader opened the book."));
    // Special tokens written in the text.
    const auto chat = t.encode("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", false);
    QCOMPARE(chat.front(), *t.token_to_id("<|start_header_id|>"));
    QCOMPARE(chat.back(), *t.token_to_id("<|eot_id|>"));
    QCOMPARE(t.decode(chat), std::string("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"));
    QCOMPARE(qread::model::detect_chat_template(dir_.path().toStdString()), std::string("llama-3-inst"));
    // The file is the shape HF `tokenizers` reads.
    const auto j = nlohmann::json::parse(qread::test::read_text(std::filesystem::path(dir_.path().toStdString()) / "tokenizer.json"));
    QCOMPARE(j.at("model").at("type").get<std::string>(), std::string("BPE"));
    QCOMPARE(j.at("model").at("merges").size(), std::size_t(700 - 5 - 256));
    QCOMPARE(j.at("added_tokens").size(), std::size_t(5));
  }

  void trainedRoundTrip() {
    std::mt19937_64 rng(qread::test::random_seed());
    for (int i = 0; i < 500; ++i) {
      const std::string s = qread::test::random_text(rng, 60);
      const auto ids = trained_->encode(s, false);
      for (TokenId id : ids) QVERIFY(id >= 0 && std::size_t(id) < trained_->vocab_size());
      const std::string back = trained_->decode(ids);
      if (back != s) QFAIL(qPrintable(QString("round trip of '%1' gave '%2'").arg(QString::fromStdString(s), QString::fromStdString(back))));
    }
  }

  void encodeMegabyte() {
    // 1 MB of English-like text: the corpus's words plus invented ones, so that the per-word
    // cache does not hide the cost of merging. The bound is loose (sanitizer builds); the
    // number is printed for the record.
    std::mt19937_64 rng(qread::test::random_seed());
    std::vector<std::string> words;
    {
      std::istringstream in(qread::test::corpus());
      for (std::string w; in >> w;) words.push_back(w);
    }
    std::string text;
    while (text.size() < (1 << 20)) {
      if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
        std::string w;
        for (int k = std::uniform_int_distribution<int>(2, 10)(rng); k > 0; --k)
          w += char('a' + std::uniform_int_distribution<int>(0, 25)(rng));
        text += w;
      } else {
        text += words[std::uniform_int_distribution<std::size_t>(0, words.size() - 1)(rng)];
      }
      text += std::uniform_int_distribution<int>(0, 12)(rng) == 0 ? "\n" : " ";
    }
    const auto start = std::chrono::steady_clock::now();
    const auto ids = trained_->encode(text, false);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    qInfo("encoded %zu bytes into %zu tokens in %.3f s (%.1f MB/s)", text.size(), ids.size(), seconds,
          double(text.size()) / 1e6 / seconds);
    QCOMPARE(trained_->decode(ids), text);
    QVERIFY(seconds < 30.0);
  }

  void malformed() {
    auto message_of = [](const std::string& json) -> QString {
      try {
        BpeTokenizer::from_json_text(json, "/models/x/tokenizer.json");
      } catch (const qread::InputError& e) {
        return QString::fromUtf8(e.what());
      }
      return "no error";
    };
    QVERIFY(message_of("{ not json").contains("/models/x/tokenizer.json: not valid JSON"));
    QVERIFY(message_of("{}").contains("/models/x/tokenizer.json: not a tokenizer.json"));
    using nlohmann::json;
    auto bpe = [](json vocab, json merges, json extra = json::object()) {
      json j = {{"pre_tokenizer", {{"type", "ByteLevel"}}},
                {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
      j.update(extra);
      return j.dump();
    };
    QVERIFY(message_of(json{{"model", {{"type", "WordPiece"}, {"vocab", json::object()}}}}.dump()).contains("WordPiece"));
    QVERIFY(message_of(bpe({{"a", 0}, {"b", 1}}, {"a c"})).contains("not in the vocabulary"));
    QVERIFY(message_of(bpe({{"a", 0}}, {"a b c"})).contains("not two tokens"));
    QVERIFY(message_of(bpe({{"a", "x"}}, json::array())).contains("malformed tokenizer.json"));
    QVERIFY(message_of(bpe({{"a", 0}}, json::array(), {{"normalizer", {{"type", "Lowercase"}}}}))
                .contains("normalizer 'Lowercase'"));
    const json bad_regex = {{"type", "Sequence"},
                            {"pretokenizers",
                             {{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
                              {{"type", "ByteLevel"}}}}};
    QVERIFY(message_of(bpe({{"a", 0}}, json::array(), {{"pre_tokenizer", bad_regex}})).contains("regular expression"));
    // SentencePiece-style (Llama-2 / Mistral tokenizer.json) without a tokenizer.model.
    const json llama2 = {
        {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\u2581"}}}}}},
        {"model", {{"type", "BPE"}, {"byte_fallback", true}, {"vocab", {{"a", 0}}}, {"merges", json::array()}}}};
    QVERIFY(message_of(llama2.dump()).contains("tokenizer.model"));
  }

  void nfcNormalizer() {
    nlohmann::json j = {{"normalizer", {{"type", "NFC"}}},
                        {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", true}}},
                        {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}}};
    const auto t = BpeTokenizer::from_json_text(j.dump(), "nfc.json");
#if QREAD_TEST_HAVE_ICU
    // "e" + combining acute becomes the precomposed "é".
    QCOMPARE(t->pre_tokenize("cafe\xCC\x81"), (Strings{"caf\xC3\xA9"}));
#else
    QSKIP("built without ICU: NFC passes text through");
#endif
  }
};

QTEST_GUILESS_MAIN(TestBpe)
#include "test_bpe.moc"
