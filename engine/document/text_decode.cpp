// Text files to UTF-8. The model reads UTF-8; files in the wild are UTF-8, UTF-16 from Windows
// tools (always with a byte-order mark) or legacy 8-bit Western text. Rather than guess among
// many legacy encodings, anything that is not valid UTF-8 is read as Windows-1252 (the
// superset of Latin-1 that such files nearly always are) and the document says so.
#include "document/text_layout.hpp"
#include "common/utf8.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>

#include <array>
#include <cstdint>

namespace qread::document {
namespace {

constexpr std::uint32_t kReplacement = 0xFFFD;

// Windows-1252 bytes 0x80-0x9F; the five it leaves undefined keep their Latin-1 (C1 control)
// meaning, as browsers do.
constexpr std::array<std::uint16_t, 32> kWindows1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

std::string from_windows1252(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (unsigned char b : bytes) {
    if (b < 0x80)
      out += char(b);
    else if (b < 0xA0)
      append_utf8(out, kWindows1252High[b - 0x80]);
    else
      append_utf8(out, b);
  }
  return out;
}

std::string from_utf16(std::string_view bytes, bool big_endian) {
  std::string out;
  out.reserve(bytes.size());
  const auto unit = [&](std::size_t i) -> std::uint32_t {
    const auto hi = std::uint8_t(bytes[i + (big_endian ? 0 : 1)]);
    const auto lo = std::uint8_t(bytes[i + (big_endian ? 1 : 0)]);
    return std::uint32_t(hi) << 8 | lo;
  };
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) {
    const std::uint32_t u = unit(i);
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < bytes.size()) {
      const std::uint32_t low = unit(i + 2);
      if (low >= 0xDC00 && low < 0xE000) {
        append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
        i += 2;
        continue;
      }
    }
    append_utf8(out, u >= 0xD800 && u < 0xE000 ? kReplacement : u);  // unpaired surrogate
  }
  if (i < bytes.size()) append_utf8(out, kReplacement);  // odd trailing byte
  return out;
}

// In place: CR LF and lone CR to LF, form feed (a page break in old text files) to LF.
void normalise_line_ends(std::string& text) {
  std::size_t out = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;  // the \n follows
      c = '\n';
    } else if (c == '\f') {
      c = '\n';
    }
    text[out++] = c;
  }
  text.resize(out);
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t length;
    std::uint32_t min;  // smallest code point that needs this length (no overlong forms)
    std::uint32_t cp;
    if ((b & 0xE0) == 0xC0) {
      length = 2, min = 0x80, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      length = 3, min = 0x800, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, cp = b & 0x07;
    } else {
      return i;
    }
    if (i + length > n) return i;
    for (std::size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return i;
    i += length;
  }
  return std::string_view::npos;
}

DecodedText decode_text(std::string bytes, std::string_view name) {
  DecodedText decoded;
  const auto starts_with = [&](std::string_view prefix) { return std::string_view(bytes).starts_with(prefix); };
  if (starts_with("\xEF\xBB\xBF")) {
    bytes.erase(0, 3);
  } else if (starts_with("\xFF\xFE") || starts_with("\xFE\xFF")) {
    bytes = from_utf16(std::string_view(bytes).substr(2), starts_with("\xFE\xFF"));
  }
  if (const auto nul = bytes.find('\0'); nul != std::string::npos)
    throw InputError(fmt::format(
        "{}: not a text file (a NUL byte at offset {}): a binary file, or UTF-16 text without a byte-order mark? "
        "qread reads PDF, Markdown and plain text (UTF-8 or Latin-1)",
        name, nul));
  if (const auto bad = find_invalid_utf8(bytes); bad != std::string_view::npos) {
    decoded.warning = fmt::format("not valid UTF-8 (byte 0x{:02X} at offset {}); read as Windows-1252 (Latin-1)",
                                  unsigned(static_cast<unsigned char>(bytes[bad])), bad);
    bytes = from_windows1252(bytes);
  }
  normalise_line_ends(bytes);
  decoded.text = std::move(bytes);
  return decoded;
}

}  // namespace qread::document
