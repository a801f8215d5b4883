// Plain text and Markdown documents, the page map, and the errors for files that are not
// documents at all.
#include "document/text_layout.hpp"
#include "qread/document.hpp"
#include "qread/error.hpp"
#include "test_support.hpp"

#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <unistd.h>

#include <random>

using qread::Document;
using qread::DocumentKind;
using qread::Page;
using qread::PageRange;

namespace {

QString q(std::string_view s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }

// The message of the InputError that loading `path` throws, or "" when it loads.
QString load_error(const std::filesystem::path& path, const qread::LoadOptions& options = {}) {
  try {
    qread::load_document(path, options);
  } catch (const qread::InputError& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

// Paragraphs of words, `count` of them, separated by blank lines.
std::string paragraphs(int count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  static const char* kWords[] = {"river", "stone", "quiet", "lantern", "map", "harbour", "é", "naïve", "north", "x"};
  std::string text;
  for (int p = 0; p < count; ++p) {
    const int words = int(rng() % 120) + 5;
    for (int w = 0; w < words; ++w) {
      text += kWords[rng() % std::size(kWords)];
      text += (w + 1) % 12 == 0 ? '\n' : ' ';
    }
    text += p + 1 < count ? "\n\n" : "\n";
  }
  return text;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

class TestTextDocument : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  std::filesystem::path write(const QString& name, const QByteArray& bytes) {
    const QString path = dir_.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size()) qFatal("cannot write %s", qPrintable(path));
    return path.toStdString();
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  // --- decoding ------------------------------------------------------------------------

  void utf8IsKept() {
    const auto d = qread::document::decode_text("caf\xC3\xA9 \xF0\x9F\x93\x96\r\nline\rtwo\fthree", "f");
    QCOMPARE(q(d.text), QString::fromUtf8("caf\xC3\xA9 \xF0\x9F\x93\x96\nline\ntwo\nthree"));
    QVERIFY(d.warning.empty());
    QCOMPARE(q(qread::document::decode_text("\xEF\xBB\xBFhello", "f").text), QString("hello"));  // BOM dropped
  }

  void latin1FallsBackWithWarning() {
    const auto d = qread::document::decode_text("caf\xE9 \x80 \x93quoted\x94", "f");
    QCOMPARE(q(d.text), QString::fromUtf8("caf\xC3\xA9 \xE2\x82\xAC \xE2\x80\x9Cquoted\xE2\x80\x9D"));
    QVERIFY2(q(d.warning).contains("not valid UTF-8") && q(d.warning).contains("offset 3") &&
                 q(d.warning).contains("Latin-1"),
             qPrintable(q(d.warning)));
  }

  void utf16WithByteOrderMark() {
    const QString text = QString::fromUtf8("Gr\xC3\xBC\xC3\x9F" "e \xF0\x9F\x98\x80\r\nzwei");
    QByteArray le("\xFF\xFE", 2), be("\xFE\xFF", 2);
    for (QChar c : text) {
      const char16_t u = c.unicode();
      le += char(u & 0xFF), le += char(u >> 8);
      be += char(u >> 8), be += char(u & 0xFF);
    }
    const QString expected = QString(text).replace("\r\n", "\n");
    QCOMPARE(q(qread::document::decode_text(le.toStdString(), "f").text), expected);
    QCOMPARE(q(qread::document::decode_text(be.toStdString(), "f").text), expected);
  }

  void invalidUtf8Found() {
    using qread::document::find_invalid_utf8;
    QCOMPARE(find_invalid_utf8("plain"), std::string_view::npos);
    QCOMPARE(find_invalid_utf8("ab\xC0\xAF"), std::size_t(2));      // overlong '/'
    QCOMPARE(find_invalid_utf8("\xED\xA0\x80"), std::size_t(0));    // a surrogate
    QCOMPARE(find_invalid_utf8("ok\xE2\x82"), std::size_t(2));      // cut short
    QCOMPARE(find_invalid_utf8("\xF4\x90\x80\x80"), std::size_t(0));  // past U+10FFFF
  }

  // --- pages -------------------------------------------------------------------------

  void pagesCutAtParagraphs() {
    const std::string text = paragraphs(200, qread::test::random_seed());
    const auto pages = qread::document::split_into_pages(text, 3000);
    QVERIFY(pages.size() > 5);
    std::size_t previous_end = 0;
    for (std::size_t i = 0; i < pages.size(); ++i) {
      const auto [begin, end] = pages[i];
      const std::string_view page = std::string_view(text).substr(begin, end - begin);
      QVERIFY(begin >= previous_end && end > begin);
      QVERIFY2(code_points(page) <= 3000, qPrintable(QString::number(code_points(page))));
      // What lies between pages is white space only: no text is lost.
      for (std::size_t k = previous_end; k < begin; ++k) QVERIFY(text[k] == '\n' || text[k] == ' ');
      if (i + 1 < pages.size()) {
        QVERIFY2(code_points(page) >= 1500, qPrintable(QString::number(code_points(page))));
        // Cut at a paragraph end: a blank line follows (after the line's trailing spaces).
        const auto rest = std::string_view(text).substr(end);
        QVERIFY(rest.substr(rest.find_first_not_of(' ')).starts_with("\n\n"));
      }
      previous_end = end;
    }
    QCOMPARE(pages.back().second, text.find_last_not_of(" \n") + 1);  // the final line end belongs to no page
  }

  void longLinesCutAtSpacesOrAnywhere() {
    const std::string words = [] {
      std::string s;
      for (int i = 0; i < 1000; ++i) s += "word ";
      return s;
    }();
    for (const auto& [begin, end] : qread::document::split_into_pages(words, 100)) {
      QVERIFY(end - begin <= 100);
      QVERIFY(words[begin] != ' ' && words[end - 1] != ' ');
    }
    // No space at all: cut between code points, never inside one.
    std::string dense;
    for (int i = 0; i < 500; ++i) dense += "\xC3\xA9";
    const auto pages = qread::document::split_into_pages(dense, 100);
    QCOMPARE(pages.size(), std::size_t(5));
    for (const auto& [begin, end] : pages) QCOMPARE(code_points(std::string_view(dense).substr(begin, end - begin)), std::size_t(100));
  }

  void loadText() {
    const std::string text = paragraphs(60, qread::test::random_seed() + 1);
    const auto path = write("story.txt", QByteArray::fromStdString(text));
    std::vector<std::pair<int, int>> reports;
    qread::LoadOptions options;
    options.progress = [&](int done, int total) { reports.emplace_back(done, total); };
    const Document doc = qread::load_document(path, options);
    QCOMPARE(doc.kind(), DocumentKind::text);
    QCOMPARE(doc.source(), path);
    QCOMPARE(doc.text(), text);
    QVERIFY(doc.pages().size() > 1);
    QVERIFY(doc.sections().empty() && doc.warnings().empty());
    for (std::size_t i = 0; i < doc.pages().size(); ++i) QCOMPARE(doc.pages()[i].number, int(i) + 1);
    QVERIFY(!reports.empty());
    QCOMPARE(reports.back(), std::make_pair(int(doc.pages().size()), int(doc.pages().size())));
  }

  void textAboutPdfIsText() {
    const Document doc = qread::load_document(write("about.txt", "A PDF file starts with %PDF-1.7 and ends with %%EOF.\n"));
    QCOMPARE(doc.kind(), DocumentKind::text);
  }

  void loadLatin1TextWarns() {
    const Document doc = qread::load_document(write("old.txt", "Caf\xE9 cr\xE8me\r\n"));
    QCOMPARE(q(doc.text()), QString::fromUtf8("Caf\xC3\xA9 cr\xC3\xA8me\n"));
    QCOMPARE(doc.warnings().size(), std::size_t(1));
    QVERIFY(q(doc.warnings()[0]).contains("Windows-1252"));
  }

  // --- Markdown ----------------------------------------------------------------------

  void markdownHeadingsAreSections() {
    const std::string md =
        "# Title\n\nIntro text.\n\n## Install ##\n\nRun it.\n\n```sh\n# not a heading\n```\n\n"
        "Setext Heading\n==============\n\nSecond level\n---\n\n    # indented code\n#hashtag\n"
        "####### seven\n###   Spaced   \n~~~~\n## fenced\n~~~\n## still fenced\n~~~~\n### After\n";
    const auto sections = qread::document::markdown_sections(md);
    QStringList got;
    for (const auto& s : sections) got << QString("%1:%2").arg(s.level).arg(q(s.title));
    QCOMPARE(got, (QStringList{"1:Title", "2:Install", "1:Setext Heading", "2:Second level", "3:Spaced", "3:After"}));
    QCOMPARE(md.substr(sections[1].offset, 5), std::string("## In"));
    QCOMPARE(md.substr(sections[2].offset, 6), std::string("Setext"));

    const Document doc = qread::load_document(write("notes.md", QByteArray::fromStdString(md)));
    QCOMPARE(doc.kind(), DocumentKind::markdown);
    QCOMPARE(doc.text(), md);  // kept as text, marks and all
    QCOMPARE(doc.sections().size(), sections.size());
  }

  // --- the page map ------------------------------------------------------------------

  void pageMap() {
    // "aaaa" page 1, separator, an empty page 2, "bbb" page 3, separator, "cc" page 5 (numbers
    // need only increase).
    const std::string text = "aaaa\n\nbbb\n\ncc";
    const Document doc("x.pdf", DocumentKind::pdf, text,
                       {Page{1, {}, 0, 4}, Page{2, {}, 4, 4}, Page{3, {}, 6, 9}, Page{5, "v", 11, 13}});
    QCOMPARE(q(doc.page_text(2)), QString("bbb"));
    const int expected[] = {1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 5, 5, 5};  // offsets 0..13
    for (std::size_t o = 0; o <= text.size(); ++o) QCOMPARE(doc.page_of_offset(o), expected[o]);
    QVERIFY_THROWS_EXCEPTION(std::out_of_range, doc.page_of_offset(14));

    QCOMPARE(doc.pages_of_range(0, 4), (PageRange{1, 1}));
    QCOMPARE(doc.pages_of_range(2, 8), (PageRange{1, 3}));
    QCOMPARE(doc.pages_of_range(4, 8), (PageRange{3, 3}));    // starts in a gap: next page
    QCOMPARE(doc.pages_of_range(2, 6), (PageRange{1, 1}));    // ends in a gap: page before
    QCOMPARE(doc.pages_of_range(0, 13), (PageRange{1, 5}));
    QCOMPARE(doc.pages_of_range(9, 11), (PageRange{3, 3}));   // all in a gap
    QCOMPARE(doc.pages_of_range(7, 7), (PageRange{3, 3}));    // empty
    QCOMPARE(qread::to_string(doc.pages_of_range(2, 12)), std::string("pages 1-5"));
    QCOMPARE(qread::to_string(PageRange{7, 7}), std::string("page 7"));

    QCOMPARE(Document().page_of_offset(0), 0);
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             Document("x", DocumentKind::text, "abc", {Page{1, {}, 0, 2}, Page{2, {}, 1, 3}}));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, Document("x", DocumentKind::text, "abc", {Page{1, {}, 0, 4}}));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             Document("x", DocumentKind::text, "abc", {Page{2, {}, 0, 1}, Page{2, {}, 1, 2}}));
  }

  void pageMapAgreesWithPagesOnALongText() {
    const auto path = write("long.txt", QByteArray::fromStdString(paragraphs(400, qread::test::random_seed() + 2)));
    const Document doc = qread::load_document(path);
    std::mt19937_64 rng(qread::test::random_seed());
    for (const Page& page : doc.pages()) {
      QCOMPARE(doc.page_of_offset(page.begin), page.number);
      QCOMPARE(doc.page_of_offset(page.end - 1), page.number);
      QCOMPARE(doc.page_of_offset(page.begin + rng() % (page.end - page.begin)), page.number);
    }
  }

  // --- cancel ------------------------------------------------------------------------

  void cancelledBeforeStart() {
    qread::LoadOptions options;
    options.cancelled = [] { return true; };
    QVERIFY_THROWS_EXCEPTION(qread::Cancelled, qread::load_document(write("c.txt", "text"), options));
  }

  // --- bad input ---------------------------------------------------------------------

  void badInput_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    QTest::addRow("empty file") << "empty.txt" << QByteArray() << "the file is empty";
    QTest::addRow("white space only") << "blank.md" << QByteArray(" \n\t\n\n") << "contains no text";
    QTest::addRow("binary") << "image.txt" << QByteArray("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) << "NUL byte at offset 8";
    QTest::addRow("utf-16 without mark") << "u16.txt" << QByteArray("h\0i\0", 4) << "UTF-16 text without a byte-order mark";
    QTest::addRow("pdf name, not a pdf") << "report.pdf" << QByteArray("just some text") << "not a PDF file";
  }
  void badInput() {
    QFETCH(QString, name);
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    const auto path = write(name, bytes);
    const QString error = load_error(path);
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY2(error.startsWith(QString::fromStdString(path.string()) + ": "), qPrintable(error));  // names the file
  }

  void unreadablePaths() {
    QString error = load_error(dir_.filePath("no-such-file.txt").toStdString());
    QVERIFY2(error.contains("no-such-file.txt: cannot open: no such file"), qPrintable(error));
    error = load_error(dir_.path().toStdString());
    QVERIFY2(error.contains("is a directory"), qPrintable(error));
    error = load_error("/dev/null");
    QVERIFY2(error.contains("not a regular file"), qPrintable(error));
  }

  void unreadableFile() {
    if (geteuid() == 0) QSKIP("running as root, which may read any file");
    const auto path = write("secret.txt", "text");
    QFile::setPermissions(QString::fromStdString(path.string()), QFileDevice::Permissions());
    const QString error = load_error(path);
    QVERIFY2(error.contains("secret.txt: cannot open: Permission denied"), qPrintable(error));
  }
};

QTEST_GUILESS_MAIN(TestTextDocument)
#include "test_text_document.moc"
