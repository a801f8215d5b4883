// GGUF reader (mmap + validation) and dequantization to float32. The file is untrusted input:
// every count and length is checked against the bytes that remain before anything is allocated
// or a pointer is formed, so that a corrupt file ends in an InputError naming the file and the
// key or tensor at fault, never in a crash or a huge allocation.
//
// Block layouts follow ggml (ggml-common.h / ggml-quants.c); the code here is our own.
#include "model/gguf.hpp"
#include "common/mapped_file.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>


#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

namespace qread::model {
namespace {

// A tensor has at most 4 dims in ggml (GGML_MAX_DIMS).
constexpr std::uint32_t kMaxDims = 4;
constexpr std::uint64_t kDefaultAlignment = 32;

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;
  std::size_t block;  // elements per block
  std::size_t size;   // bytes per block
};

// Block sizes from ggml-common.h (QK_K = 256 for the K and IQ quants).
constexpr std::array<GgmlTypeInfo, 32> kGgmlTypes{{
    {GgmlType::F32, "F32", 1, 4},
    {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},
    {GgmlType::Q4_1, "Q4_1", 32, 20},
    {GgmlType::Q5_0, "Q5_0", 32, 22},
    {GgmlType::Q5_1, "Q5_1", 32, 24},
    {GgmlType::Q8_0, "Q8_0", 32, 34},
    {GgmlType::Q8_1, "Q8_1", 32, 36},
    {GgmlType::Q2_K, "Q2_K", 256, 84},
    {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144},
    {GgmlType::Q5_K, "Q5_K", 256, 176},
    {GgmlType::Q6_K, "Q6_K", 256, 210},
    {GgmlType::Q8_K, "Q8_K", 256, 292},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 74},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98},
    {GgmlType::IQ1_S, "IQ1_S", 256, 50},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18},
    {GgmlType::IQ3_S, "IQ3_S", 256, 110},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136},
    {GgmlType::I8, "I8", 1, 1},
    {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},
    {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},
    {GgmlType::IQ1_M, "IQ1_M", 256, 56},
    {GgmlType::BF16, "BF16", 1, 2},
    {GgmlType::TQ1_0, "TQ1_0", 256, 54},
    {GgmlType::TQ2_0, "TQ2_0", 256, 66},
    {GgmlType::MXFP4, "MXFP4", 32, 17},
}};

const GgmlTypeInfo* find_ggml_type(std::uint32_t id) {
  for (const auto& info : kGgmlTypes)
    if (std::uint32_t(info.type) == id) return &info;
  return nullptr;
}

// Smallest encoded size of one metadata value of each type (a string is at least its length).
std::optional<std::uint64_t> min_value_bytes(std::uint32_t type) {
  switch (GgufType(type)) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
    case GgufType::STRING:
      return 8;
    case GgufType::ARRAY:
      return 12;  // element type + count
  }
  return std::nullopt;
}

std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// A short, printable form of a name from the file for error messages: a corrupt name could be
// megabytes of binary.
std::string brief_name(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  if (s.size() > 80) out += "...";
  return out;
}

// Sequential little-endian reader over the mapped bytes. Every read checks the remaining length
// and throws an InputError that says what was being read ("where") when the file ends early.
class Cursor {
 public:
  Cursor(const std::byte* data, std::uint64_t size, const std::string& file)
      : data_(data), size_(size), file_(file) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const std::string& where) {
    need(sizeof(T), where);
    std::uint64_t v = 0;  // assembled byte by byte: little-endian whatever the host
    for (std::size_t i = 0; i < sizeof(T); ++i)
      v |= std::uint64_t(std::to_integer<std::uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += sizeof(T);
    if constexpr (std::is_same_v<T, float>)
      return std::bit_cast<float>(std::uint32_t(v));
    else if constexpr (std::is_same_v<T, double>)
      return std::bit_cast<double>(v);
    else
      return T(v);  // two's complement narrowing for the signed types
  }

  std::string read_string(const std::string& where) {
    const auto len = read<std::uint64_t>(where + " (string length)");
    if (len > remaining())
      throw InputError(
          fmt::format("{}: {}: string length {} exceeds the {} bytes left in the file "
                      "(truncated or corrupt)",
                      file_, where, len, remaining()));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), std::size_t(len));
    pos_ += len;
    return s;
  }

 private:
  void need(std::uint64_t n, const std::string& where) const {
    if (n > remaining())
      throw InputError(
          fmt::format("{}: {}: file ends at byte {} (truncated)", file_, where, size_));
  }
  const std::byte* data_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  const std::string& file_;
};

// Reads one scalar of `type` into `v` (as a scalar of that type).
void read_scalar(Cursor& in, GgufType type, GgufValue& v, const std::string& where) {
  v.type = type;
  switch (type) {
    case GgufType::U8:
      v.uint_value = in.read<std::uint8_t>(where);
      break;
    case GgufType::U16:
      v.uint_value = in.read<std::uint16_t>(where);
      break;
    case GgufType::U32:
      v.uint_value = in.read<std::uint32_t>(where);
      break;
    case GgufType::U64:
      v.uint_value = in.read<std::uint64_t>(where);
      break;
    case GgufType::I8:
      v.int_value = in.read<std::int8_t>(where);
      break;
    case GgufType::I16:
      v.int_value = in.read<std::int16_t>(where);
      break;
    case GgufType::I32:
      v.int_value = in.read<std::int32_t>(where);
      break;
    case GgufType::I64:
      v.int_value = in.read<std::int64_t>(where);
      break;
    case GgufType::F32:
      v.float_value = in.read<float>(where);
      break;
    case GgufType::F64:
      v.float_value = in.read<double>(where);
      break;
    case GgufType::BOOL:
      v.uint_value = in.read<std::uint8_t>(where);
      break;
    case GgufType::STRING:
      v.string_value = in.read_string(where);
      break;
    case GgufType::ARRAY:
      break;  // handled by the caller
  }
}

bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64 ||
         t == GgufType::BOOL;
}
bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
bool is_float(GgufType t) {
  return t == GgufType::F32 || t == GgufType::F64;
}

GgufValue read_value(Cursor& in, std::uint32_t raw_type, const std::string& file,
                     const std::string& where) {
  if (!min_value_bytes(raw_type))
    throw InputError(fmt::format("{}: {}: unknown value type {}", file, where, raw_type));
  const auto type = GgufType(raw_type);
  GgufValue v;
  if (type != GgufType::ARRAY) {
    read_scalar(in, type, v, where);
    if (type == GgufType::BOOL && v.uint_value > 1)
      throw InputError(
          fmt::format("{}: {}: bool value {} is neither 0 nor 1", file, where, v.uint_value));
    return v;
  }
  v.type = GgufType::ARRAY;
  const auto raw_elem = in.read<std::uint32_t>(where + " (array element type)");
  const auto elem_min = min_value_bytes(raw_elem);
  if (!elem_min)
    throw InputError(fmt::format("{}: {}: unknown array element type {}", file, where, raw_elem));
  if (GgufType(raw_elem) == GgufType::ARRAY)
    throw InputError(fmt::format("{}: {}: arrays of arrays are not supported", file, where));
  v.array_type = GgufType(raw_elem);
  const auto count = in.read<std::uint64_t>(where + " (array length)");
  // Each element takes at least elem_min bytes: a count that cannot fit in the rest of the file
  // is corrupt, and checking it here keeps the reserve() below bounded by the file size.
  if (count > in.remaining() / *elem_min)
    throw InputError(fmt::format(
        "{}: {}: array of {} {} values cannot fit in the {} bytes left in the file (corrupt)", file,
        where, count, gguf_type_name(v.array_type), in.remaining()));
  GgufValue elem;
  const auto n = std::size_t(count);
  if (v.array_type == GgufType::STRING) {
    v.string_array.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      v.string_array.push_back(in.read_string(fmt::format("{} [{}]", where, i)));
  } else if (is_unsigned(v.array_type)) {
    v.uint_array.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      read_scalar(in, v.array_type, elem, where);
      if (v.array_type == GgufType::BOOL && elem.uint_value > 1)
        throw InputError(fmt::format("{}: {} [{}]: bool value {} is neither 0 nor 1", file, where,
                                     i, elem.uint_value));
      v.uint_array.push_back(elem.uint_value);
    }
  } else if (is_signed(v.array_type)) {
    v.int_array.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      read_scalar(in, v.array_type, elem, where);
      v.int_array.push_back(elem.int_value);
    }
  } else {
    v.float_array.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      read_scalar(in, v.array_type, elem, where);
      v.float_array.push_back(elem.float_value);
    }
  }
  return v;
}

// ---- dequantization ------------------------------------------------------------------------

// IEEE half -> float by bit manipulation (handles subnormals, infinities and NaN).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
  std::uint32_t exp = (h >> 10) & 0x1F;
  std::uint32_t mant = h & 0x3FF;
  std::uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa into an ordinary float.
    exp = 127 - 15 + 1;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t le16(const std::byte* p) {
  return std::uint16_t(std::to_integer<std::uint16_t>(p[0]) |
                       (std::to_integer<std::uint16_t>(p[1]) << 8));
}
std::uint32_t le32(const std::byte* p) {
  return std::uint32_t(le16(p)) | (std::uint32_t(le16(p + 2)) << 16);
}
std::uint8_t u8(const std::byte* p) {
  return std::to_integer<std::uint8_t>(*p);
}

// Q8_0: half scale d, 32 int8 quants; x = d * q.
void dequant_q8_0(const std::byte* b, float* y) {
  const float d = half_to_float(le16(b));
  for (int i = 0; i < 32; ++i) y[i] = d * float(std::int8_t(u8(b + 2 + i)));
}

// Q4_0: half scale d, 16 bytes of nibbles; element i < 16 is the low nibble of byte i, element
// i + 16 the high nibble; x = d * (q - 8).
void dequant_q4_0(const std::byte* b, float* y) {
  const float d = half_to_float(le16(b));
  for (int i = 0; i < 16; ++i) {
    const std::uint8_t q = u8(b + 2 + i);
    y[i] = d * float(int(q & 0xF) - 8);
    y[i + 16] = d * float(int(q >> 4) - 8);
  }
}

// Q4_1: half scale d, half minimum m, nibbles as Q4_0; x = d * q + m.
void dequant_q4_1(const std::byte* b, float* y) {
  const float d = half_to_float(le16(b));
  const float m = half_to_float(le16(b + 2));
  for (int i = 0; i < 16; ++i) {
    const std::uint8_t q = u8(b + 4 + i);
    y[i] = d * float(q & 0xF) + m;
    y[i + 16] = d * float(q >> 4) + m;
  }
}

// Q4_K: 256 elements in 8 sub-blocks of 32. Half d and dmin, 12 bytes packing eight 6-bit scales
// and eight 6-bit mins, 128 bytes of nibbles. Sub-blocks 2k and 2k+1 share 32 bytes of nibbles
// (low then high); x = d * scale * q - dmin * min.
void q4_k_scale_min(int j, const std::byte* s, std::uint8_t& scale, std::uint8_t& min) {
  // Sub-blocks 0-3 keep their 6 bits in bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 keep
  // their low 4 bits in bytes 8-11 and their top 2 bits in the spare top bits of bytes 0-7.
  if (j < 4) {
    scale = u8(s + j) & 63;
    min = u8(s + j + 4) & 63;
  } else {
    scale = std::uint8_t((u8(s + j + 4) & 0xF) | ((u8(s + j - 4) >> 6) << 4));
    min = std::uint8_t((u8(s + j + 4) >> 4) | ((u8(s + j) >> 6) << 4));
  }
}
void dequant_q4_k(const std::byte* b, float* y) {
  const float d = half_to_float(le16(b));
  const float dmin = half_to_float(le16(b + 2));
  const std::byte* scales = b + 4;
  const std::byte* q = b + 16;
  for (int pair = 0; pair < 4; ++pair, q += 32, y += 64) {
    std::uint8_t sc = 0, mn = 0;
    q4_k_scale_min(2 * pair, scales, sc, mn);
    const float d1 = d * float(sc), m1 = dmin * float(mn);
    q4_k_scale_min(2 * pair + 1, scales, sc, mn);
    const float d2 = d * float(sc), m2 = dmin * float(mn);
    for (int l = 0; l < 32; ++l) y[l] = d1 * float(u8(q + l) & 0xF) - m1;
    for (int l = 0; l < 32; ++l) y[l + 32] = d2 * float(u8(q + l) >> 4) - m2;
  }
}

// Q6_K: 256 elements; 128 bytes of low nibbles (ql), 64 bytes of 2-bit high parts (qh), 16 int8
// scales (one per 16 elements), half d; x = d * scale * (q - 32). Each half of 128 elements uses
// 64 ql bytes and 32 qh bytes: element l, l+32, l+64, l+96 take the low nibble of ql[l], of
// ql[l+32], the high nibble of ql[l], of ql[l+32], and bits 0-1, 2-3, 4-5, 6-7 of qh[l].
void dequant_q6_k(const std::byte* b, float* y) {
  const std::byte* ql = b;
  const std::byte* qh = b + 128;
  const std::byte* sc = b + 192;
  const float d = half_to_float(le16(b + 208));
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const std::uint8_t h = u8(qh + l);
      const int q1 = int((u8(ql + l) & 0xF) | ((h & 3) << 4)) - 32;
      const int q2 = int((u8(ql + l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32;
      const int q3 = int((u8(ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const int q4 = int((u8(ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
      y[l] = d * float(std::int8_t(u8(sc + is))) * float(q1);
      y[l + 32] = d * float(std::int8_t(u8(sc + is + 2))) * float(q2);
      y[l + 64] = d * float(std::int8_t(u8(sc + is + 4))) * float(q3);
      y[l + 96] = d * float(std::int8_t(u8(sc + is + 6))) * float(q4);
    }
  }
}


}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "?";
}

std::size_t GgufValue::array_size() const {
  if (!is_array()) return 0;
  if (array_type == GgufType::STRING) return string_array.size();
  if (is_unsigned(array_type)) return uint_array.size();
  if (is_signed(array_type)) return int_array.size();
  return float_array.size();
}

const char* ggml_type_name(GgmlType type) {
  const auto* info = find_ggml_type(std::uint32_t(type));
  return info ? info->name : "?";
}
std::size_t ggml_block_size(GgmlType type) {
  const auto* info = find_ggml_type(std::uint32_t(type));
  return info ? info->block : 0;
}
std::size_t ggml_type_size(GgmlType type) {
  const auto* info = find_ggml_type(std::uint32_t(type));
  return info ? info->size : 0;
}
bool ggml_can_dequantize(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q4_K:
    case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

std::vector<std::int64_t> GgufTensorInfo::shape() const {
  return std::vector<std::int64_t>(dims.rbegin(), dims.rend());  // dims validated to fit int64
}

// ---- GgufFile ------------------------------------------------------------------------------

std::unique_ptr<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->map_ = MappedFile::open(path, ".gguf file", [&](std::uint64_t size) {
    if (size < 4)
      throw InputError(fmt::format("{}: file is {} bytes, too short for the GGUF magic (truncated?)", name, size));
  });
  const auto size = std::uint64_t(file->map_.size());
  const auto* base = file->map_.data();

  Cursor in(base, size, name);
  if (std::memcmp(base, "GGUF", 4) != 0)
    throw InputError(fmt::format("{}: not a GGUF file (the first 4 bytes are not \"GGUF\")", name));
  in.read<std::uint32_t>("magic");
  const auto version = in.read<std::uint32_t>("version");
  // A big-endian file (written for s390x) stores the version byte-swapped.
  if (version == 0x02000000u || version == 0x03000000u)
    throw InputError(fmt::format("{}: big-endian GGUF files are not supported", name));
  if (version == 1)
    throw InputError(fmt::format("{}: GGUF version 1 is not supported (only 2 and 3)", name));
  if (version != 2 && version != 3)
    throw InputError(
        fmt::format("{}: unsupported GGUF version {} (supported: 2 and 3)", name, version));
  file->version_ = version;
  const auto n_tensors = in.read<std::uint64_t>("tensor count");
  const auto n_kv = in.read<std::uint64_t>("metadata count");
  // Lower bounds on the encoded sizes keep both counts honest before any reserve():
  // a key/value is at least a key length, a type and a 1-byte value; a tensor info at least a
  // name length, n_dims, a type and an offset.
  if (n_kv > in.remaining() / 13)
    throw InputError(
        fmt::format("{}: metadata count {} cannot fit in the {} bytes of the file (corrupt)", name,
                    n_kv, size));
  if (n_tensors > in.remaining() / 24)
    throw InputError(
        fmt::format("{}: tensor count {} cannot fit in the {} bytes of the file "
                    "(corrupt)",
                    name, n_tensors, size));

  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = in.read_string(fmt::format("metadata key #{}", i));
    const std::string where = fmt::format("metadata key '{}'", brief_name(key));
    const auto raw_type = in.read<std::uint32_t>(where + " (type)");
    GgufValue value = read_value(in, raw_type, name, where);
    if (!file->metadata_.emplace(std::move(key), std::move(value)).second)
      throw InputError(fmt::format("{}: {} appears twice", name, where));
  }

  if (const GgufValue* a = file->find("general.alignment")) {
    // llama.cpp writes a u32; accept any integer type but insist on a power of two.
    const std::uint64_t align = is_unsigned(a->type) && a->type != GgufType::BOOL ? a->uint_value
                                : is_signed(a->type) && a->int_value > 0
                                    ? std::uint64_t(a->int_value)
                                    : 0;
    if (align == 0 || !std::has_single_bit(align) || align > (std::uint64_t(1) << 30))
      throw InputError(fmt::format(
          "{}: metadata key 'general.alignment' must be a power of two up to 2^30", name));
    file->alignment_ = align;
  } else {
    file->alignment_ = kDefaultAlignment;
  }

  file->tensors_.reserve(std::size_t(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = in.read_string(fmt::format("tensor #{} name", i));
    const std::string where = fmt::format("tensor '{}'", brief_name(t.name));
    const auto n_dims = in.read<std::uint32_t>(where + " (n_dims)");
    if (n_dims > kMaxDims)
      throw InputError(fmt::format("{}: {}: {} dims, more than the {} ggml allows", name, where,
                                   n_dims, kMaxDims));
    std::uint64_t n_elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = in.read<std::uint64_t>(where + " (dims)");
      t.dims.push_back(ne);
      // ggml keeps ne as int64: every dim and the element count must fit.
      const auto product = checked_mul(n_elements, ne);
      if (ne > std::uint64_t(std::numeric_limits<std::int64_t>::max()) || !product ||
          *product > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        throw InputError(fmt::format("{}: {}: dims [{}...] overflow the element count", name, where,
                                     fmt::join(t.dims, ", ")));
      n_elements = *product;
    }
    t.n_elements = n_elements;
    const auto raw_type = in.read<std::uint32_t>(where + " (type)");
    const GgmlTypeInfo* info = find_ggml_type(raw_type);
    if (!info) throw InputError(fmt::format("{}: {}: unknown ggml type {}", name, where, raw_type));
    t.type = info->type;
    t.offset = in.read<std::uint64_t>(where + " (offset)");
    // Quantized rows are whole blocks: ne[0] must be a multiple of the block size.
    const std::uint64_t row = t.dims.empty() ? 1 : t.dims[0];
    if (row % info->block != 0)
      throw InputError(fmt::format("{}: {}: first dim {} is not a multiple of the {} block size {}",
                                   name, where, row, info->name, info->block));
    // The byte size must also fit in 63 bits (n_elements / block * size could exceed it).
    const auto nbytes = checked_mul(n_elements / info->block, info->size);
    if (!nbytes || *nbytes > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      throw InputError(fmt::format("{}: {}: byte size overflows", name, where));
    if (!file->tensor_index_.emplace(t.name, file->tensors_.size()).second)
      throw InputError(fmt::format("{}: {} appears twice", name, where));
    // The byte range is checked below, once the data section start is known.
    file->tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. A file without tensor data
  // may end right after the infos.
  const std::uint64_t end_of_infos = in.pos();
  const std::uint64_t align = file->alignment_;
  const std::uint64_t data_start = std::min(size, (end_of_infos + align - 1) / align * align);
  file->data_offset_ = data_start;
  const std::uint64_t data_size = size - data_start;

  struct Range {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  ranges.reserve(file->tensors_.size());
  for (std::size_t i = 0; i < file->tensors_.size(); ++i) {
    GgufTensorInfo& t = file->tensors_[i];
    const std::string where = fmt::format("tensor '{}'", brief_name(t.name));
    const std::uint64_t nbytes = t.n_elements / ggml_block_size(t.type) * ggml_type_size(t.type);
    if (t.offset % align != 0)
      throw InputError(fmt::format("{}: {}: data offset {} is not a multiple of the alignment {}",
                                   name, where, t.offset, align));
    if (t.offset > data_size || nbytes > data_size - t.offset)
      throw InputError(fmt::format(
          "{}: {}: data [{}, {}) extends past the end of the data section ({} bytes; truncated "
          "file?)",
          name, where, t.offset,
          t.offset > std::numeric_limits<std::uint64_t>::max() - nbytes
              ? std::numeric_limits<std::uint64_t>::max()
              : t.offset + nbytes,
          data_size));
    t.bytes = std::span<const std::byte>(base + data_start + t.offset, std::size_t(nbytes));
    if (nbytes > 0) ranges.push_back({t.offset, t.offset + nbytes, i});
  }
  // No two tensors may share bytes: a writer never produces that.
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      throw InputError(fmt::format("{}: tensor '{}': data [{}, {}) overlaps tensor '{}' [{}, {})",
                                   name, brief_name(file->tensors_[ranges[i].index].name),
                                   ranges[i].begin, ranges[i].end,
                                   brief_name(file->tensors_[ranges[i - 1].index].name),
                                   ranges[i - 1].begin, ranges[i - 1].end));
  return file;
}

GgufFile::~GgufFile() = default;

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::require(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw InputError(fmt::format("{}: metadata key '{}' is missing", path_.string(), key));
  return *v;
}

namespace {
std::string type_text(const GgufValue& v) {
  if (v.is_array()) return fmt::format("array of {}", gguf_type_name(v.array_type));
  return gguf_type_name(v.type);
}
InputError wrong_type(const std::filesystem::path& path, const std::string& key, const GgufValue& v,
                      const char* expected) {
  return InputError(fmt::format("{}: metadata key '{}' holds {}, expected {}", path.string(), key,
                                type_text(v), expected));
}
}  // namespace

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::STRING) throw wrong_type(path_, key, v, "a string");
  return v.string_value;
}

std::uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& v = require(key);
  if (is_unsigned(v.type) && v.type != GgufType::BOOL) return v.uint_value;
  if (is_signed(v.type)) {
    if (v.int_value < 0)
      throw InputError(fmt::format("{}: metadata key '{}' is negative ({}), expected >= 0",
                                   path_.string(), key, v.int_value));
    return std::uint64_t(v.int_value);
  }
  throw wrong_type(path_, key, v, "an unsigned integer");
}

std::uint32_t GgufFile::get_u32(const std::string& key) const {
  const std::uint64_t v = get_uint(key);
  if (v > std::numeric_limits<std::uint32_t>::max())
    throw InputError(fmt::format("{}: metadata key '{}' value {} does not fit in 32 bits",
                                 path_.string(), key, v));
  return std::uint32_t(v);
}

std::int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = require(key);
  if (is_signed(v.type)) return v.int_value;
  if (is_unsigned(v.type) && v.type != GgufType::BOOL) {
    if (v.uint_value > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      throw InputError(fmt::format("{}: metadata key '{}' value {} does not fit in 63 bits",
                                   path_.string(), key, v.uint_value));
    return std::int64_t(v.uint_value);
  }
  throw wrong_type(path_, key, v, "an integer");
}

float GgufFile::get_f32(const std::string& key) const {
  const GgufValue& v = require(key);
  if (!is_float(v.type)) throw wrong_type(path_, key, v, "a float");
  return float(v.float_value);
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufType::BOOL) throw wrong_type(path_, key, v, "a bool");
  return v.uint_value != 0;
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = require(key);
  if (!v.is_array() || v.array_type != GgufType::STRING)
    throw wrong_type(path_, key, v, "an array of strings");
  return v.string_array;
}

std::vector<std::int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue& v = require(key);
  if (!v.is_array() || !(is_signed(v.array_type) || is_unsigned(v.array_type)) ||
      v.array_type == GgufType::BOOL)
    throw wrong_type(path_, key, v, "an array of integers");
  if (is_signed(v.array_type)) return v.int_array;
  std::vector<std::int64_t> out;
  out.reserve(v.uint_array.size());
  for (std::size_t i = 0; i < v.uint_array.size(); ++i) {
    if (v.uint_array[i] > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      throw InputError(fmt::format("{}: metadata key '{}' [{}] value {} does not fit in 63 bits",
                                   path_.string(), key, i, v.uint_array[i]));
    out.push_back(std::int64_t(v.uint_array[i]));
  }
  return out;
}

std::vector<float> GgufFile::get_float_array(const std::string& key) const {
  const GgufValue& v = require(key);
  if (!v.is_array() || !is_float(v.array_type))
    throw wrong_type(path_, key, v, "an array of floats");
  return std::vector<float>(v.float_array.begin(), v.float_array.end());
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::dequantize(const GgufTensorInfo& t, float* out) const {
  const auto* base = map_.data();
  // The info must describe bytes of this map: a caller's stray copy must not become a wild read.
  const auto nbytes =
      t.n_elements / std::max<std::size_t>(ggml_block_size(t.type), 1) * ggml_type_size(t.type);
  if (t.bytes.size() != nbytes ||
      (nbytes > 0 && (t.bytes.data() < base || t.bytes.data() + nbytes > base + map_.size())))
    throw InputError(fmt::format("{}: tensor '{}' is not a tensor of this file", path_.string(),
                                 brief_name(t.name)));
  const std::byte* p = t.bytes.data();
  const std::uint64_t n = t.n_elements;
  switch (t.type) {
    case GgmlType::F32:
      for (std::uint64_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(le32(p + 4 * i));
      return;
    case GgmlType::F16:
      for (std::uint64_t i = 0; i < n; ++i) out[i] = half_to_float(le16(p + 2 * i));
      return;
    case GgmlType::BF16:  // the top half of a float32
      for (std::uint64_t i = 0; i < n; ++i)
        out[i] = std::bit_cast<float>(std::uint32_t(le16(p + 2 * i)) << 16);
      return;
    case GgmlType::Q8_0:
      for (std::uint64_t b = 0; b < n / 32; ++b) dequant_q8_0(p + 34 * b, out + 32 * b);
      return;
    case GgmlType::Q4_0:
      for (std::uint64_t b = 0; b < n / 32; ++b) dequant_q4_0(p + 18 * b, out + 32 * b);
      return;
    case GgmlType::Q4_1:
      for (std::uint64_t b = 0; b < n / 32; ++b) dequant_q4_1(p + 20 * b, out + 32 * b);
      return;
    case GgmlType::Q4_K:
      for (std::uint64_t b = 0; b < n / 256; ++b) dequant_q4_k(p + 144 * b, out + 256 * b);
      return;
    case GgmlType::Q6_K:
      for (std::uint64_t b = 0; b < n / 256; ++b) dequant_q6_k(p + 210 * b, out + 256 * b);
      return;
    default:
      throw InputError(fmt::format(
          "{}: tensor '{}': dequantizing ggml type {} is not supported (supported: F32, F16, "
          "BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)",
          path_.string(), brief_name(t.name), ggml_type_name(t.type)));
  }
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& t) const {
  if (!ggml_can_dequantize(t.type)) {
    dequantize(t, nullptr);  // throws the InputError naming tensor and type
  }
  std::vector<float> out(std::size_t(t.n_elements));
  dequantize(t, out.data());
  return out;
}

}  // namespace qread::model
