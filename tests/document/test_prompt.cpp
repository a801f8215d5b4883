// Prompts for a question about a document: the question span, the per-token document offsets
// (checked against the document's own bytes), suffix truncation, and errors.
#include "model/tokenizer_training.hpp"
#include "qread/error.hpp"
#include "qread/prompt.hpp"
#include "test_support.hpp"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

class TestPrompt : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::unique_ptr<qread::model::Tokenizer> tokenizer_;
  qread::Document document_;
  std::string corpus_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    std::ifstream in(fs::path(QREAD_SOURCE_DIR) / "tests/tokenizer/data/corpus.txt");
    std::stringstream text;
    text << in.rdbuf();
    corpus_ = text.str();
    QVERIFY(corpus_.size() > 2000);
    const fs::path dir = tmp_.path().toStdString();
    qread::model::train_byte_level_bpe(corpus_, 600, dir / "tokenizer.json");
    tokenizer_ = qread::model::load_tokenizer(dir);
    // A few pages of the corpus, with one sentence found nowhere else.
    std::string book;
    for (int i = 0; i < 3; ++i) book += corpus_;
    book.insert(book.size() * 2 / 3, "\nThe lighthouse keeper kept seventeen blue lanterns.\n");
    std::ofstream(dir / "book.txt") << book;
    qread::LoadOptions options;
    document_ = qread::load_document(dir / "book.txt", options);
    QVERIFY(document_.pages().size() >= 3);
  }

  void findsTheQuestionLikeTheReference() {
    const std::vector<qread::TokenId> prompt{5, 6, 7, 8, 9, 10, 11, 7, 8, 9};
    QCOMPARE(qread::find_question_span(prompt, std::vector<qread::TokenId>{7, 8})->begin, 2);
    // Longer than 2: the inner tokens are matched, the span widened by one each side.
    auto span = qread::find_question_span(prompt, std::vector<qread::TokenId>{99, 8, 9, 98});
    QVERIFY(span.has_value());
    QCOMPARE(span->begin, 2);
    QCOMPARE(span->end, 6);
    QVERIFY(!qread::find_question_span(prompt, std::vector<qread::TokenId>{42}).has_value());
    QVERIFY(!qread::find_question_span(prompt, std::vector<qread::TokenId>{}).has_value());
  }

  void promptMapsTokensToTheDocument() {
    const auto chat = qread::model::ChatTemplate::by_name("chatml");
    const std::string question = "How many lanterns did the keeper keep?";
    const auto p = qread::build_document_prompt(document_, question, *tokenizer_, chat);
    QCOMPARE(p.text_offsets.size(), p.ids.size());
    QCOMPARE(p.dropped_tokens, 0);
    QVERIFY(p.question.has_value());
    // The question's first occurrence comes before the document, and its tokens spell it.
    const auto first_doc = std::find_if(p.text_offsets.begin(), p.text_offsets.end(), [](auto o) { return o >= 0; }) -
                           p.text_offsets.begin();
    QVERIFY(p.question->end <= first_doc);
    const std::vector<qread::TokenId> q_ids(p.ids.begin() + p.question->begin, p.ids.begin() + p.question->end);
    QVERIFY2(tokenizer_->decode(q_ids).find("lanterns did the keeper") != std::string::npos, tokenizer_->decode(q_ids).c_str());
    // Every token inside the document stands for exactly the document's bytes at its offset.
    std::int64_t previous = -1, checked = 0;
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      const auto offset = p.text_offsets[i];
      if (offset < 0) continue;
      QVERIFY(offset > previous);
      previous = offset;
      const auto bytes = tokenizer_->token_bytes(p.ids[i]);
      if (offset + std::int64_t(bytes.size()) > std::int64_t(document_.text().size())) continue;
      QCOMPARE(document_.text().substr(std::size_t(offset), bytes.size()), bytes);
      ++checked;
    }
    QVERIFY(checked > 1000);
    // That sentence maps to its own page through its tokens. offsets.
    const auto where = document_.text().find("seventeen blue lanterns");
    bool found = false;
    for (std::size_t i = 0; i < p.ids.size() && !found; ++i)
      if (p.text_offsets[i] >= std::int64_t(where) && p.text_offsets[i] < std::int64_t(where + 10)) {
        QCOMPARE(document_.page_of_offset(std::size_t(p.text_offsets[i])), document_.page_of_offset(where));
        found = true;
      }
    QVERIFY(found);
  }

  void suffixTruncationKeepsStartAndEnd() {
    const auto chat = qread::model::ChatTemplate::by_name("chatml");
    const auto full = qread::build_document_prompt(document_, "Which lanterns?", *tokenizer_, chat);
    qread::PromptOptions o;
    o.max_len = 600;
    o.max_new_tokens = 40;
    const auto cut = qread::build_document_prompt(document_, "Which lanterns?", *tokenizer_, chat, o);
    QCOMPARE(std::int64_t(cut.ids.size()), 560);
    QCOMPARE(cut.dropped_tokens, std::int64_t(full.ids.size()) - 560);
    QVERIFY(std::equal(cut.ids.begin(), cut.ids.begin() + 128, full.ids.begin()));
    QVERIFY(std::equal(cut.ids.end() - 432, cut.ids.end(), full.ids.end() - 432));
    QVERIFY(std::equal(cut.text_offsets.end() - 432, cut.text_offsets.end(), full.text_offsets.end() - 432));
    o.truncation = "none";
    QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::build_document_prompt(document_, "Which?", *tokenizer_, chat, o));
    QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::build_document_prompt(document_, "  \n", *tokenizer_, chat));
  }
};

QTEST_APPLESS_MAIN(TestPrompt)
#include "test_prompt.moc"
