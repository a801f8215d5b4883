// Small PDFs written byte by byte for the document tests: text lines in Helvetica (one of the
// 14 standard fonts, so nothing is embedded), pages holding only an image, no pages at all,
// and encryption with the standard security handler (revision 2: RC4, 40-bit key, as in the
// PDF 1.7 reference, section 7.6.3, algorithms 1 to 4; MD5 from QtCore, RC4 below). Damaged
// and truncated files are cut or scribbled copies of these.
#pragma once

#include <QByteArray>
#include <QCryptographicHash>
#include <QString>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace qread::test {

struct PdfLine {
  double x = 72;      // points from the left
  double y = 700;     // points from the bottom (PDF user space)
  QString text;       // drawn in Helvetica with WinAnsiEncoding: Latin-1 characters only
  double size = 12;
};

struct PdfPage {
  std::vector<PdfLine> lines;
  bool image = false;  // draw a small grey image (a "scan" without text layer)
};

// Lines of body text from the top of a US-letter page, 14 points apart.
inline PdfPage text_page(const std::vector<QString>& lines, double top = 700) {
  PdfPage page;
  for (std::size_t i = 0; i < lines.size(); ++i) page.lines.push_back({72, top - 14.0 * double(i), lines[i]});
  return page;
}

namespace pdf_detail {

inline QByteArray rc4(const QByteArray& key, const QByteArray& data) {
  std::array<std::uint8_t, 256> s{};
  for (int i = 0; i < 256; ++i) s[i] = std::uint8_t(i);
  for (int i = 0, j = 0; i < 256; ++i) {
    j = (j + s[i] + std::uint8_t(key[i % key.size()])) & 0xFF;
    std::swap(s[i], s[j]);
  }
  QByteArray out(data.size(), '\0');
  for (int n = 0, i = 0, j = 0; n < data.size(); ++n) {
    i = (i + 1) & 0xFF;
    j = (j + s[i]) & 0xFF;
    std::swap(s[i], s[j]);
    out[n] = char(std::uint8_t(data[n]) ^ s[(s[i] + s[j]) & 0xFF]);
  }
  return out;
}

inline QByteArray md5(const QByteArray& data) { return QCryptographicHash::hash(data, QCryptographicHash::Md5); }

// The 32-byte padding string of the standard security handler.
inline QByteArray padded(const QByteArray& password) {
  static const unsigned char kPadding[32] = {0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E,
                                             0x56, 0xFF, 0xFA, 0x01, 0x08, 0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68,
                                             0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A};
  QByteArray out = password.left(32);
  out.append(reinterpret_cast<const char*>(kPadding), 32 - out.size());
  return out;
}

inline QByteArray escape(const QString& text) {
  QByteArray out;
  for (char c : text.toLatin1()) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace pdf_detail

// The whole file. With a non-empty `user_password` the file is encrypted: poppler opens it
// only with that password (or the owner password "owner-secret").
inline QByteArray make_pdf(const std::vector<PdfPage>& pages, const QByteArray& user_password = {}) {
  using namespace pdf_detail;
  const bool encrypted = !user_password.isEmpty();
  const QByteArray file_id = md5("qread test file");
  const std::int32_t permissions = -4;  // all allowed
  QByteArray owner_entry, user_entry, file_key;
  if (encrypted) {
    owner_entry = rc4(md5(padded("owner-secret")).left(5), padded(user_password));  // algorithm 3
    QByteArray input = padded(user_password) + owner_entry;                        // algorithm 2
    for (int i = 0; i < 4; ++i) input += char((std::uint32_t(permissions) >> (8 * i)) & 0xFF);
    input += file_id;
    file_key = md5(input).left(5);
    user_entry = rc4(file_key, padded({}));  // algorithm 4
  }
  // Algorithm 1: each object's strings and streams under a key made of the file key and its
  // object number.
  const auto protect = [&](int object, const QByteArray& data) {
    if (!encrypted) return data;
    QByteArray key = file_key;
    key += char(object & 0xFF), key += char((object >> 8) & 0xFF), key += char((object >> 16) & 0xFF);
    key += char(0), key += char(0);
    return rc4(md5(key).left(10), data);
  };

  // Objects: 1 catalog, 2 page tree, 3 font, 4 image, then a page and its content per page,
  // and last the encryption dictionary.
  std::vector<QByteArray> objects;
  const int page_count = int(pages.size());
  QByteArray kids;
  for (int i = 0; i < page_count; ++i) kids += QByteArray::number(5 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + QByteArray::number(page_count) + " >>");
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  const QByteArray pixels(16 * 16, char(0x80));
  objects.push_back("<< /Type /XObject /Subtype /Image /Width 16 /Height 16 /ColorSpace /DeviceGray "
                    "/BitsPerComponent 8 /Length " + QByteArray::number(pixels.size()) + " >>\nstream\n" +
                    protect(4, pixels) + "\nendstream");
  for (int i = 0; i < page_count; ++i) {
    const PdfPage& page = pages[std::size_t(i)];
    QByteArray content;
    if (page.image) content += "q 400 0 0 500 100 150 cm /Im1 Do Q\n";
    if (!page.lines.empty()) {
      content += "BT\n";
      for (const PdfLine& line : page.lines)
        content += "/F1 " + QByteArray::number(line.size) + " Tf 1 0 0 1 " + QByteArray::number(line.x) + " " +
                   QByteArray::number(line.y) + " Tm (" + escape(line.text) + ") Tj\n";
      content += "ET\n";
    }
    const int content_object = 6 + 2 * i;
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
                      "/XObject << /Im1 4 0 R >> >> /Contents " + QByteArray::number(content_object) + " 0 R >>");
    const QByteArray data = protect(content_object, content);
    objects.push_back("<< /Length " + QByteArray::number(data.size()) + " >>\nstream\n" + data + "\nendstream");
  }
  if (encrypted)
    objects.push_back("<< /Filter /Standard /V 1 /R 2 /Length 40 /P " + QByteArray::number(permissions) +
                      " /O <" + owner_entry.toHex() + "> /U <" + user_entry.toHex() + "> >>");

  QByteArray out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";  // the binary comment marks the file as binary
  std::vector<qsizetype> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += QByteArray::number(qsizetype(i + 1)) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const qsizetype xref = out.size();
  out += "xref\n0 " + QByteArray::number(qsizetype(objects.size() + 1)) + "\n0000000000 65535 f \n";
  for (qsizetype offset : offsets) out += QByteArray::number(offset).rightJustified(10, '0') + " 00000 n \n";
  out += "trailer\n<< /Size " + QByteArray::number(qsizetype(objects.size() + 1)) + " /Root 1 0 R";
  if (encrypted)
    out += " /Encrypt " + QByteArray::number(qsizetype(objects.size())) + " 0 R /ID [<" + file_id.toHex() + "> <" +
           file_id.toHex() + ">]";
  out += " >>\nstartxref\n" + QByteArray::number(xref) + "\n%%EOF\n";
  return out;
}

}  // namespace qread::test
