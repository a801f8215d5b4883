// PDF documents through poppler, on PDFs the test writes itself (pdf_fixtures.hpp): text per
// page in reading order, running headers and footers dropped, hyphenated words joined,
// threads, progress, cancel, and a clear error for each kind of bad file.
#include "pdf_fixtures.hpp"
#include "qread/document.hpp"
#include "qread/error.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>

using qread::Document;
using qread::test::make_pdf;
using qread::test::PdfPage;
using qread::test::text_page;

namespace {

[[maybe_unused]] QString q(std::string_view s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }

QString load_error(const std::filesystem::path& path, const qread::LoadOptions& options = {}) {
  try {
    qread::load_document(path, options);
  } catch (const qread::InputError& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

const char* const kAnimals[] = {"otter", "heron", "badger", "lynx", "marten", "stoat", "vole", "wren",
                                "plover", "newt", "ferret", "hare", "egret", "shrew", "ibis", "gecko"};

// A page of body text that differs from page to page, with a running title, a chapter
// title on even pages, and a footer with the page number.
[[maybe_unused]] PdfPage report_page(int number, int of) {
  const QString animal = kAnimals[number % 16];
  PdfPage page = text_page({QString("The %1 is the subject of page %2.").arg(animal).arg(number),
                            QString("Field notes about the %1 continue here.").arg(animal),
                            QString("A closing remark on the %1.").arg(animal)});
  page.lines.push_back({72, 760, "Annual Report on Small Animals"});
  if (number % 2 == 0) page.lines.push_back({400, 745, "Chapter 2: Wetlands"});
  page.lines.push_back({280, 40, QString("Page %1 of %2").arg(number).arg(of)});
  return page;
}

}  // namespace

class TestPdfDocument : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  std::filesystem::path write(const QString& name, const QByteArray& bytes) {
    const QString path = dir_.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size()) qFatal("cannot write %s", qPrintable(path));
    return path.toStdString();
  }

  // A document of `pages` report pages.
  std::filesystem::path report(int pages) {
    std::vector<PdfPage> all;
    for (int p = 1; p <= pages; ++p) all.push_back(report_page(p, pages));
    return write(QString("report-%1.pdf").arg(pages), make_pdf(all));
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

#ifdef QREAD_TEST_PDF
  void textPerPage() {
    const auto path = write("three.pdf", make_pdf({text_page({"First page, first line.", "Second line."}),
                                                   text_page({"Caf\u00e9 on page two (with parentheses)."}),
                                                   text_page({"Page three."})}));
    const Document doc = qread::load_document(path);
    QCOMPARE(doc.kind(), qread::DocumentKind::pdf);
    QCOMPARE(doc.pages().size(), std::size_t(3));
    QCOMPARE(q(doc.page_text(0)), QString("First page, first line.\nSecond line."));
    QCOMPARE(q(doc.page_text(1)), QString::fromUtf8("Caf\xC3\xA9 on page two (with parentheses)."));
    QCOMPARE(q(doc.page_text(2)), QString("Page three."));
    QCOMPARE(q(doc.text()), q(std::string(doc.page_text(0)) + "\n\n" + std::string(doc.page_text(1)) + "\n\n" +
                              std::string(doc.page_text(2))));
    for (int i = 0; i < 3; ++i) {
      QCOMPARE(doc.pages()[i].number, i + 1);
      QVERIFY(doc.pages()[i].label.empty());
    }
    QCOMPARE(doc.page_of_offset(doc.text().find("Caf")), 2);
    QVERIFY(doc.warnings().empty());
  }

  void runningHeadersAndFootersDropped() {
    const Document doc = qread::load_document(report(12));
    QCOMPARE(doc.pages().size(), std::size_t(12));
    const QString text = q(doc.text());
    QVERIFY2(!text.contains("Annual Report") && !text.contains("Chapter 2") && !text.contains("Page 3 of 12"),
             qPrintable(text.left(600)));
    for (int p = 1; p <= 12; ++p) {
      const QString animal = kAnimals[p % 16];
      QCOMPARE(q(doc.page_text(std::size_t(p - 1))),
               QString("The %1 is the subject of page %2.\nField notes about the %1 continue here.\n"
                       "A closing remark on the %1.")
                   .arg(animal)
                   .arg(p));
    }
  }

  void shortDocumentKeepsItsTitles() {
    // Two pages cannot tell a running title from a heading: nothing is dropped.
    const Document doc = qread::load_document(report(2));
    QVERIFY(q(doc.page_text(0)).contains("Annual Report on Small Animals"));
    QVERIFY(q(doc.page_text(1)).contains("Page 2 of 2"));
  }

  void hyphenatedWordsJoined() {
    const auto path = write("hyphens.pdf", make_pdf({text_page({"This is an exam-", "ple of text, a well-",
                                                                "Known fact, and code: x <-", "foo(1) ends it."})}));
    const Document doc = qread::load_document(path);
    QCOMPARE(q(doc.page_text(0)), QString("This is an example of text, a well-\nKnown fact, and code: x <-\nfoo(1) ends it."));
  }

  void twoColumnsReadColumnByColumn() {
    PdfPage page;
    for (int i = 0; i < 12; ++i) {
      page.lines.push_back({72, 700 - 14.0 * i, QString("Left column line %1 about %2.").arg(i + 1).arg(kAnimals[i])});
      page.lines.push_back({330, 700 - 14.0 * i, QString("Right column line %1 about %2.").arg(i + 1).arg(kAnimals[i + 4])});
    }
    const Document doc = qread::load_document(write("columns.pdf", make_pdf({page})));
    const QString text = q(doc.text());
    // Physical layout would interleave "Left ... 1" and "Right ... 1" on one line.
    QVERIFY2(text.indexOf("Left column line 12") < text.indexOf("Right column line 1 "), qPrintable(text));
    QVERIFY2(text.startsWith("Left column line 1 about otter.\nLeft column line 2"), qPrintable(text));
  }

  void threadsGiveTheSameText() {
    const auto path = report(70);
    qread::LoadOptions one, three;
    one.threads = 1;
    three.threads = 3;
    const Document a = qread::load_document(path, one);
    const Document b = qread::load_document(path, three);
    QCOMPARE(a.text(), b.text());
    QCOMPARE(a.pages().size(), b.pages().size());
    for (std::size_t i = 0; i < a.pages().size(); ++i) QCOMPARE(a.pages()[i].begin, b.pages()[i].begin);
  }

  void progressReports() {
    const auto path = report(40);
    std::vector<std::pair<int, int>> reports;
    qread::LoadOptions options;
    options.progress = [&](int done, int total) { reports.emplace_back(done, total); };
    qread::load_document(path, options);
    QVERIFY(reports.size() >= 2);
    QCOMPARE(reports.front(), std::make_pair(0, 40));
    QCOMPARE(reports.back(), std::make_pair(40, 40));
    for (std::size_t i = 1; i < reports.size(); ++i) QVERIFY(reports[i].first >= reports[i - 1].first);
  }

  void cancelStopsPromptly() {
    // Enough pages to take a while; cancel as soon as the first progress report comes.
    const auto path = report(600);
    std::atomic<bool> cancel{false};
    qread::LoadOptions options;
    options.threads = 2;
    options.progress = [&](int done, int) {
      if (done > 0) cancel = true;
    };
    options.cancelled = [&] { return cancel.load(); };
    QElapsedTimer timer;
    timer.start();
    QVERIFY_THROWS_EXCEPTION(qread::Cancelled, qread::load_document(path, options));
    qInfo("cancelled after %lld ms", timer.elapsed());
    QVERIFY(timer.elapsed() < 5000);
  }

  void encryptedWithPassword() {
    const auto path = write("locked.pdf", make_pdf({text_page({"Secret minutes of the meeting."})}, "letmein"));
    QString error = load_error(path);
    QVERIFY2(error.contains("locked.pdf: the PDF is encrypted and needs a password"), qPrintable(error));
    qread::LoadOptions options;
    options.password = "wrong";
    error = load_error(path, options);
    QVERIFY2(error.contains("the password does not open this encrypted PDF"), qPrintable(error));
    options.password = "letmein";
    QCOMPARE(q(qread::load_document(path, options).text()), QString("Secret minutes of the meeting."));
    options.password = "owner-secret";  // the owner's password opens it too
    QCOMPARE(q(qread::load_document(path, options).text()), QString("Secret minutes of the meeting."));
  }

  void someImagePagesWarn() {
    PdfPage scan;
    scan.image = true;
    const auto path = write("mixed.pdf", make_pdf({text_page({"Typed page."}), scan, text_page({"Typed again."})}));
    const Document doc = qread::load_document(path);
    QCOMPARE(doc.pages().size(), std::size_t(3));
    QVERIFY(doc.page_text(1).empty());
    QCOMPARE(doc.page_of_offset(doc.text().find("Typed again")), 3);
    QCOMPARE(doc.warnings().size(), std::size_t(1));
    QVERIFY2(q(doc.warnings()[0]).contains("1 of 3 pages have no text"), qPrintable(q(doc.warnings()[0])));
  }

  void badInput_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    const QByteArray good = make_pdf({text_page({"Some text."}), text_page({"More text."})});
    PdfPage scan;
    scan.image = true;
    QTest::addRow("encrypted") << make_pdf({text_page({"Hidden."})}, "pw") << "encrypted and needs a password";
    QTest::addRow("truncated") << good.left(good.size() / 2) << "the PDF is truncated";
    QTest::addRow("truncated tail") << good.left(good.size() - 40) << "the PDF is truncated";
    QByteArray damaged = good;
    for (qsizetype i = 20; i < damaged.size() - 10; i += 7) damaged[i] = char(0xA5);  // intact %%EOF
    QTest::addRow("damaged") << damaged << "cannot be read as a PDF: the file is damaged";
    QTest::addRow("garbage after header") << QByteArray("%PDF-1.7\n") + QByteArray(4000, 'z') + "\n%%EOF\n"
                                          << "the file is damaged";
    QTest::addRow("no text layer") << make_pdf({scan, scan}) << "no text layer (is it a scanned document?); OCR is not supported";
    QTest::addRow("zero pages") << make_pdf({}) << "the PDF has no pages";
    QTest::addRow("header only") << QByteArray("%PDF-1.4\n") << "truncated";
  }
  void badInput() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    const auto path = write(QString("bad-%1.pdf").arg(QTest::currentDataTag()).replace(' ', '-'), bytes);
    const QString error = load_error(path);
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY2(error.startsWith(QString::fromStdString(path.string()) + ": "), qPrintable(error));
  }

  void junkBeforeTheHeader() {
    // Mail gateways and old tools leave a few bytes before %PDF-; readers accept up to 1 KiB.
    const auto path = write("junk.pdf", QByteArray("\r\n\r\n") + make_pdf({text_page({"After the junk."})}));
    QCOMPARE(q(qread::load_document(path).text()), QString("After the junk."));
  }

  void pdfFoundByHeaderNotName() {
    const auto path = write("saved-as.txt", make_pdf({text_page({"A PDF with the wrong name."})}));
    const Document doc = qread::load_document(path);
    QCOMPARE(doc.kind(), qread::DocumentKind::pdf);
    QCOMPARE(q(doc.text()), QString("A PDF with the wrong name."));
  }
#else
  void noPdfSupport() {
    const auto path = write("any.pdf", make_pdf({text_page({"Text."})}));
    const QString error = load_error(path);
    QVERIFY2(error.contains("this build of qread has no PDF support"), qPrintable(error));
  }
#endif
};

QTEST_GUILESS_MAIN(TestPdfDocument)
#include "test_pdf_document.moc"
