// The rules that turn a PDF page's words into text (engine/document/pdf_text.hpp), on words
// and strings built by hand: no PDF, no poppler.
#include "document/pdf_text.hpp"

#include <QtTest>

using namespace qread::document;

namespace {

// Words of one line at height `y`, 12 points tall, each followed by a space but the last.
std::vector<Word> line_of(const std::vector<std::string>& texts, double y, double x = 72) {
  std::vector<Word> words;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const double width = 6.0 * double(texts[i].size());
    words.push_back({texts[i], x, y, x + width, y + 12, 0, i + 1 < texts.size()});
    x += width + 4;
  }
  return words;
}

std::vector<Word> concat(std::vector<std::vector<Word>> parts) {
  std::vector<Word> all;
  for (auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

QString q(const std::string& s) { return QString::fromStdString(s); }

// The edges of page `number` whose first lines are `top` and last lines `bottom` (bottom up).
PageEdges edges(int number, std::vector<std::string> top, std::vector<std::string> bottom) {
  std::string page;
  for (auto& t : top) page += t + "\n";
  page += "\n... the body of the page ...\n\n";
  for (auto it = bottom.rbegin(); it != bottom.rend(); ++it) page += *it + "\n";
  PageEdges e = page_edges(page, number);
  e.top.resize(top.size());  // only the lines given: the body line is no edge of interest here
  e.bottom.resize(bottom.size());
  return e;
}

}  // namespace

class TestPdfText : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void wordsMakeLinesAndBlocks() {
    // Two lines 14 points apart, then a block 40 points further down.
    const auto words = concat({line_of({"The", "quick", "brown"}, 100), line_of({"fox", "jumps."}, 114),
                               line_of({"New", "block"}, 166)});
    QCOMPARE(q(assemble_lines(words)), QString("The quick brown\nfox jumps.\n\nNew block"));
  }

  void cellsSideBySideGetASpace() {
    // Poppler puts table cells in separate blocks: the first cell's last word has no space
    // after it, yet the next cell starts well to its right on the same line.
    auto words = concat({line_of({"fun"}, 100), line_of({"function", "of", "one"}, 100, 150)});
    QCOMPARE(q(assemble_lines(words)), QString("fun function of one"));
    // A word split by a font change (no space, touching) stays one word.
    words = {{"x", 72, 100, 78, 112, 0, false}, {"2", 78, 98, 82, 106, 0, false}};
    QCOMPARE(q(assemble_lines(words)), QString("x2"));
  }

  void nextColumnStartsABlock() {
    // Reading order goes from the bottom of the left column to the top of the right one.
    const auto words = concat({line_of({"left", "top"}, 100), line_of({"left", "bottom"}, 114),
                               line_of({"right", "top"}, 100, 320)});
    QCOMPARE(q(assemble_lines(words)), QString("left top\nleft bottom\n\nright top"));
  }

  void rotatedTextMakesLinesToo() {
    // Text turned a quarter clockwise: it runs down the page, the next line is to its left.
    std::vector<Word> words = {{"down", 500, 100, 512, 124, 1, true},
                               {"wards", 500, 128, 512, 158, 1, false},
                               {"next", 486, 100, 498, 124, 1, false}};
    QCOMPARE(q(assemble_lines(words)), QString("down wards\nnext"));
  }

  void runningLineKeys() {
    QCOMPARE(q(running_line_key("  Page 12   of 300 ")), QString("Page # of #"));
    QCOMPARE(q(running_line_key("2374")), QString("#"));
    QCOMPARE(q(running_line_key("- 12 -")), QString("- # -"));
    QCOMPARE(q(running_line_key("callCC 69")), QString("callCC #"));
    QCOMPARE(q(running_line_key("Chapter 3: Reading")), QString("Chapter #: Reading"));
    QVERIFY(running_line_key("2021  45.3  12.1").empty());  // a numeric table row
    QVERIFY(running_line_key("* * *").empty());
    QVERIFY(running_line_key(std::string(200, 'a')).empty());
  }

  void edgeNumbers() {
    QCOMPARE(edge_number("callCC 69"), 69L);
    QCOMPARE(edge_number("  70   CallExternal "), 70L);
    QCOMPARE(edge_number("- 12 -"), -1L);  // "-" is a word of its own: not a decorated number
    QCOMPARE(edge_number("-12-"), 12L);
    QCOMPARE(edge_number("[7]"), 7L);
    QCOMPARE(edge_number("2374"), 2374L);
    QCOMPARE(edge_number("Chapter 3: Reading"), -1L);
    QCOMPARE(edge_number("x2 is 12a"), -1L);
    QCOMPARE(edge_number("1234567"), -1L);  // not a page number
  }

  void pageEdgesSkipBlankLines() {
    const PageEdges e = page_edges("\nHeader 1\n\nfirst\nmiddle\nlast\n\nPage 1\n", 5);
    QCOMPARE(e.top.size(), std::size_t(2));
    QCOMPARE(q(e.top[0].key), QString("Header #"));
    QCOMPARE(e.top[0].number_offset, std::optional<long>(4));  // page 5 printed as 1
    QCOMPARE(q(e.top[1].key), QString("first"));
    QVERIFY(!e.top[1].number_offset);
    QCOMPARE(q(e.bottom[0].key), QString("Page #"));
    QCOMPARE(q(e.bottom[1].key), QString("last"));
    const PageEdges one = page_edges("only line", 1);
    QCOMPARE(one.top.size(), std::size_t(1));
  }

  void runningLinesRepeatNearby() {
    // Ten pages: a running title on every page, page numbers at the bottom, a chapter title
    // on the even pages only, and "Summary" opening two pages: it is body text.
    std::vector<PageEdges> pages;
    for (int p = 1; p <= 10; ++p) {
      const std::string second = p == 3 || p == 6 ? "Summary" : "body " + std::string(1, char('a' + p));
      pages.push_back(edges(p, {p % 2 == 0 ? "Chapter 2. Methods" : "A Study of Things", second},
                            {std::to_string(p), "last line " + std::string(1, char('a' + p))}));
    }
    const auto running = find_running_lines(pages);
    for (int p = 0; p < 10; ++p) {
      QVERIFY2(running[p].top & 1, qPrintable(QString("page %1 title").arg(p + 1)));
      QVERIFY2(!(running[p].top & 2), qPrintable(QString("page %1 body").arg(p + 1)));
      QVERIFY2(running[p].bottom & 1, qPrintable(QString("page %1 number").arg(p + 1)));
      QVERIFY2(!(running[p].bottom & 2), qPrintable(QString("page %1 last line").arg(p + 1)));
    }
  }

  void runningLinesAreLocal() {
    // A line at the top of three pages far apart is not a running header.
    std::vector<PageEdges> pages(30);
    for (int p : {2, 12, 22}) pages[p] = edges(p + 1, {"Arguments"}, {});
    for (const auto& r : find_running_lines(pages)) QCOMPARE(int(r.top), 0);
    // Two pages with the same title do not make it one either.
    std::vector<PageEdges> two = {edges(1, {"Title"}, {}), edges(2, {"Title"}, {})};
    for (const auto& r : find_running_lines(two)) QCOMPARE(int(r.top), 0);
  }

  void headersWithPageNumbersAndChangingWords() {
    // As in the R manual: the topic and the printed page number, on alternate sides, the
    // printed number 31 less than the page's position. The topics change, the offset not.
    const std::vector<std::string> tops = {"callCC 69", "70 CallExternal", "CallExternal 71", "72 capabilities",
                                           "cat 73", "74 cat"};
    std::vector<PageEdges> pages;
    const std::vector<std::string> body = {"Description", "Arguments", "Details", "Value", "Usage", "Examples"};
    for (int i = 0; i < 6; ++i) pages.push_back(edges(100 + i, {tops[i], body[i]}, {"a last line"}));
    // A numbered list opening pages is not one: its numbers do not follow the pages.
    const std::vector<std::string> fruit = {"3 apples", "8 pears", "13 plums", "18 figs"};
    for (int i = 0; i < 4; ++i) pages.push_back(edges(106 + i, {fruit[i], body[i]}, {}));
    const auto running = find_running_lines(pages);
    for (int i = 0; i < 6; ++i) QCOMPARE(int(running[i].top), 1);
    for (int i = 6; i < 10; ++i) QCOMPARE(int(running[i].top), 0);
  }

  void dehyphenation_data() {
    QTest::addColumn<QString>("in");
    QTest::addColumn<QString>("out");
    QTest::addRow("broken word") << "an exam-\nple of" << "an example of";
    QTest::addRow("indented continuation") << "exam-\n   ple" << "example";
    QTest::addRow("capital keeps hyphen") << "well-\nKnown" << "well-\nKnown";
    QTest::addRow("code assignment") << "x <-\nfoo(1)" << "x <-\nfoo(1)";
    QTest::addRow("number after") << "COVID-\n19" << "COVID-\n19";
    QTest::addRow("dash after space") << "word -\nnext" << "word -\nnext";
    QTest::addRow("blank line between") << "exam-\n\nple" << "exam-\n\nple";
    QTest::addRow("last line") << "end-" << "end-";
    QTest::addRow("two in a row") << "a long hy-\nphen-\nated word" << "a long hyphenated word";
    QTest::addRow("soft hyphen joins always") << "Effi\xC2\xAD\nCiency" << "EffiCiency";
    QTest::addRow("unicode hyphen") << "caf\xC3\xA9\xE2\x80\x90\n\xC3\xA9tude" << "caf\xC3\xA9\xC3\xA9tude";
    QTest::addRow("non-ASCII lowercase") << "Stra-\n\xC3\x9F" "e" << "Stra\xC3\x9F" "e";
  }
  void dehyphenation() {
    QFETCH(QString, in);
    QFETCH(QString, out);
    QCOMPARE(q(dehyphenate(in.toStdString())), out);
  }

  void cleanPageDropsAndTidies() {
    const std::string page = "Running Title\n12\n\nFirst   \nline with \xEF\xAC\x81nd and exam-\nple\n\n\n\nlast\f\nFooter";
    RunningLines drop;
    drop.top = 0b11;     // "Running Title" and "12"
    drop.bottom = 0b01;  // "Footer"
    QCOMPARE(q(clean_page(page, drop)), QString("First\nline with find and example\n\nlast"));
    QCOMPARE(q(clean_page(page, {})),
             QString("Running Title\n12\n\nFirst\nline with find and example\n\nlast\nFooter"));
  }
};

QTEST_GUILESS_MAIN(TestPdfText)
#include "test_pdf_text.moc"
