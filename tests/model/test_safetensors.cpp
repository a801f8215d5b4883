// safetensors: writer/reader round trips, files built byte by byte by this test (independent of
// the writer), sharded model folders, and the reader's defences: every truncation and thousands
// of random corruptions must end in a parsed file whose views lie inside the file, or in an
// InputError naming the file and the field at fault.
#include "model/safetensors.hpp"
#include "qread/error.hpp"
#include "test_support.hpp"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using qread::InputError;
using qread::model::DType;
using qread::model::SafetensorsFile;
using qread::model::TensorData;
using qread::model::TensorView;
using qread::model::WeightStore;

namespace {

const std::vector<DType> kAllDTypes = {DType::F64, DType::F32, DType::F16, DType::BF16,
                                       DType::I64, DType::I32, DType::I16, DType::I8,
                                       DType::U8,  DType::BOOL};

// ---- small file helpers --------------------------------------------------------------------

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((v >> (8 * i)) & 0xFF);
  return s;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) qFatal("cannot write %s", path.c_str());
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::byte> random_bytes(std::size_t n, std::mt19937_64& rng) {
  std::vector<std::byte> v(n);
  for (auto& b : v) b = std::byte(rng() & 0xFF);
  return v;
}

std::string as_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
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
  return std::all_of(parts.begin(), parts.end(),
                     [&](const std::string& p) { return message.find(p) != std::string::npos; });
}

#define EXPECT_INPUT_ERROR(call, ...)                                                              \
  do {                                                                                             \
    const std::string message_ = input_error_of([&] { (void)(call); });                            \
    QVERIFY2(contains_all(message_, {__VA_ARGS__}), qPrintable(QString::fromStdString(message_))); \
  } while (0)

// The address range this process maps from `path`, read from /proc/self/maps: lets the tests
// check that views point into the file's mapping without access to the class internals.
struct Mapping {
  std::uintptr_t begin = 0, end = 0;
  int count = 0;  // how many separate mappings of the file exist
};
Mapping mapping_of(const fs::path& path) {
  const std::string wanted = fs::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  Mapping m;
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset dev inode path
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode;
    fields >> range >> perms >> offset >> dev >> inode;
    std::string rest;
    std::getline(fields, rest);
    rest.erase(0, rest.find_first_not_of(' '));
    if (rest != wanted) continue;
    const auto dash = range.find('-');
    m.begin = std::stoull(range.substr(0, dash), nullptr, 16);
    m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    ++m.count;
  }
  return m;
}

// Checks what must hold for every successfully opened file: views lie inside the file's mapping
// (within its size, not just its pages), sizes agree with dtype x shape, and non-empty views
// never share bytes. Returns an empty string when all hold, else what failed.
std::string check_views(const SafetensorsFile& file, std::uint64_t file_size) {
  const Mapping m = mapping_of(file.path());
  if (m.count != 1) return "expected exactly one mapping of the file";
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  for (const auto& [name, view] : file.tensors()) {
    const auto begin = reinterpret_cast<std::uintptr_t>(view.bytes.data());
    const auto end = begin + view.bytes.size();
    if (begin < m.begin || end > m.begin + file_size)
      return "tensor '" + name + "' lies outside the file";
    if (std::uint64_t(view.numel()) * qread::model::dtype_size(view.dtype) != view.bytes.size())
      return "tensor '" + name + "' size disagrees with dtype x shape";
    if (view.name != name || view.file != file.path())
      return "tensor '" + name + "' has wrong name/file";
    if (!view.bytes.empty()) ranges.emplace_back(begin, end);
    // Touch every byte: a view outside the mapping would crash here.
    unsigned sum = 0;
    for (std::byte b : view.bytes) sum += unsigned(b);
    (void)sum;
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) return "two tensors overlap";
  return {};
}

// ---- files built by hand, independent of the writer ------------------------------------------

// One header entry as raw JSON text, so that tests can put any value (or none) in any field.
struct RawEntry {
  std::string name;
  std::optional<std::string> dtype = "\"F32\"";
  std::optional<std::string> shape = "[]";
  std::optional<std::string> offsets = "[0,4]";
  std::optional<std::string> whole;  // replaces the whole value, e.g. "5" for "not an object"
};

struct RawFile {
  std::vector<RawEntry> entries;
  std::optional<std::string> metadata;  // raw JSON value of "__metadata__"
  std::string data;                     // the data area
  bool pad = true;                      // pad the header with spaces to 8 bytes, as writers do

  std::string header() const {
    std::string h = "{";
    auto add = [&](const std::string& key, const std::string& value) {
      if (h.size() > 1) h += ",";
      h += "\"" + key + "\":" + value;
    };
    if (metadata) add("__metadata__", *metadata);
    for (const auto& e : entries) {
      if (e.whole) {
        add(e.name, *e.whole);
        continue;
      }
      std::string v = "{";
      auto field = [&](const char* key, const std::optional<std::string>& value) {
        if (!value) return;
        if (v.size() > 1) v += ",";
        v += std::string("\"") + key + "\":" + *value;
      };
      field("dtype", e.dtype);
      field("shape", e.shape);
      field("data_offsets", e.offsets);
      add(e.name, v + "}");
    }
    h += "}";
    if (pad) h.append((8 - h.size() % 8) % 8, ' ');
    return h;
  }
  std::string bytes() const {
    const std::string h = header();
    return le64(h.size()) + h + data;
  }
};

std::string json_list(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

// A valid file of random tensors laid out back to back; the last one is non-empty so that any
// truncation cuts into some tensor.
RawFile random_raw_file(std::mt19937_64& rng) {
  RawFile f;
  const int n = 1 + int(rng() % 5);
  for (int i = 0; i < n; ++i) {
    const DType dtype = kAllDTypes[rng() % kAllDTypes.size()];
    std::vector<std::int64_t> shape(rng() % 4);
    for (auto& d : shape) d = std::int64_t(rng() % 4);
    if (i == n - 1)
      for (auto& d : shape) d = std::max<std::int64_t>(d, 1);
    std::int64_t numel = 1;
    for (auto d : shape) numel *= d;
    const std::size_t size = std::size_t(numel) * qread::model::dtype_size(dtype);
    RawEntry e;
    e.name = "t" + std::to_string(i) + ".weight";
    e.dtype = std::string("\"") + qread::model::dtype_name(dtype) + "\"";
    e.shape = json_list(shape);
    e.offsets = json_list({std::int64_t(f.data.size()), std::int64_t(f.data.size() + size)});
    f.data += as_string(random_bytes(size, rng));
    f.entries.push_back(e);
  }
  if (rng() % 2) f.metadata = "{\"format\":\"pt\",\"note\":\"caf\xC3\xA9\"}";
  return f;
}

std::vector<TensorData> random_tensors(std::mt19937_64& rng, int count) {
  std::vector<TensorData> tensors;
  for (int i = 0; i < count; ++i) {
    TensorData t;
    t.name = "layer." + std::to_string(i) + (rng() % 2 ? ".w\xC3\xA9ight" : ".bias");
    t.dtype = kAllDTypes[rng() % kAllDTypes.size()];
    t.shape.resize(rng() % 5);                            // rank 0 is a scalar
    for (auto& d : t.shape) d = std::int64_t(rng() % 6);  // some dimensions are 0: empty tensors
    std::int64_t numel = 1;
    for (auto d : t.shape) numel *= d;
    t.bytes = random_bytes(std::size_t(numel) * qread::model::dtype_size(t.dtype), rng);
    tensors.push_back(std::move(t));
  }
  return tensors;
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  fs::path dir() const { return fs::path(tmp_.path().toStdString()); }
  // A fresh empty folder under the temporary dir.
  fs::path folder(const std::string& name) const {
    const fs::path p = dir() / name;
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void dtypeHelpers() {
    const std::vector<std::pair<const char*, std::size_t>> expected = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
        {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
    for (std::size_t i = 0; i < kAllDTypes.size(); ++i) {
      QCOMPARE(std::string(qread::model::dtype_name(kAllDTypes[i])),
               std::string(expected[i].first));
      QCOMPARE(qread::model::dtype_size(kAllDTypes[i]), expected[i].second);
      QVERIFY(qread::model::parse_dtype(expected[i].first) == kAllDTypes[i]);
    }
    EXPECT_INPUT_ERROR(qread::model::parse_dtype("F8_E4M3"), "dtype", "F8_E4M3");
    EXPECT_INPUT_ERROR(qread::model::parse_dtype("f32"), "dtype", "f32");
  }

  void roundTripRandomTensors() {
    std::mt19937_64 rng(qread::test::random_seed());
    const fs::path out_dir = folder("roundtrip");
    const fs::path path = out_dir / "model.safetensors";
    for (int round = 0; round < 30; ++round) {
      auto tensors = random_tensors(rng, 1 + int(rng() % 12));
      std::map<std::string, std::string> metadata;
      for (int i = int(rng() % 4); i > 0; --i)
        metadata["key" + std::to_string(i)] =
            i == 1 ? "" : "value \xE2\x82\xAC " + std::to_string(rng());
      qread::model::write_safetensors(path, tensors, metadata);  // also overwrites the last round

      const std::string raw = read_bytes(path);
      std::uint64_t header_len = 0;
      std::memcpy(&header_len, raw.data(), 8);  // test machines are little-endian
      QCOMPARE(header_len % 8, std::uint64_t(0));
      std::uint64_t data_bytes = 0;
      for (const auto& t : tensors) data_bytes += t.bytes.size();
      QCOMPARE(std::uint64_t(raw.size()), 8 + header_len + data_bytes);
      // Names appear in the header in sorted order.
      const std::string header = raw.substr(8, header_len);
      std::vector<std::string> names;
      for (const auto& t : tensors) names.push_back(t.name);
      std::sort(names.begin(), names.end());
      std::size_t last = 0;
      for (const auto& n : names) {
        const auto at = header.find("\"" + n + "\"");
        QVERIFY(at != std::string::npos && at >= last);
        last = at;
      }

      auto file = SafetensorsFile::open(path);
      QCOMPARE(file->tensors().size(), tensors.size());
      QCOMPARE(file->metadata(), metadata);
      for (const auto& t : tensors) {
        const TensorView* v = file->find(t.name);
        QVERIFY2(v, t.name.c_str());
        QVERIFY(v->dtype == t.dtype);
        QCOMPARE(v->shape, t.shape);
        QCOMPARE(as_string(v->bytes), as_string(t.bytes));
        QCOMPARE(v->file, path);
        // The writer keeps each tensor aligned to its element size.
        QCOMPARE(
            reinterpret_cast<std::uintptr_t>(v->bytes.data()) % qread::model::dtype_size(v->dtype),
            std::uintptr_t(0));
      }
      QVERIFY(file->find("absent") == nullptr);
      const std::string problem = check_views(*file, raw.size());
      QVERIFY2(problem.empty(), problem.c_str());
    }
    // The temporary files of every write were renamed away.
    QCOMPARE(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);
  }

  void scalarsEmptyTensorsAndEmptyFiles() {
    const fs::path path = dir() / "small.safetensors";
    const double pi = 3.25;
    TensorData scalar{"scalar", DType::F64, {}, std::vector<std::byte>(8)};
    std::memcpy(scalar.bytes.data(), &pi, 8);
    qread::model::write_safetensors(
        path, {scalar, {"empty", DType::F32, {0}, {}}, {"empty3d", DType::BF16, {3, 0, 2}, {}}});
    auto file = SafetensorsFile::open(path);
    QCOMPARE(file->tensors().size(), std::size_t(3));
    const TensorView* s = file->find("scalar");
    QVERIFY(s && s->shape.empty() && s->numel() == 1);
    double got = 0;
    std::memcpy(&got, s->bytes.data(), 8);
    QCOMPARE(got, pi);
    QCOMPARE(file->find("empty")->numel(), std::int64_t(0));
    QVERIFY(file->find("empty3d")->bytes.empty());
    QVERIFY(file->metadata().empty());
    file.reset();

    // Nothing at all, and only empty tensors: both are valid files with an empty data area.
    qread::model::write_safetensors(path, {});
    QVERIFY(SafetensorsFile::open(path)->tensors().empty());
    qread::model::write_safetensors(path, {{"a", DType::I8, {0, 7}, {}}, {"b", DType::U8, {0}, {}}},
                                    {{"only", "metadata"}});
    file = SafetensorsFile::open(path);
    QCOMPARE(file->tensors().size(), std::size_t(2));
    QCOMPARE(file->metadata().at("only"), std::string("metadata"));
  }

  // The exact bytes the reference implementation writes for a small file (compact JSON,
  // metadata first, spaces to a multiple of 8), written out by hand here.
  void writerMatchesReferenceLayout() {
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}      )";  // 138 + 6 spaces
    QCOMPARE(header.size(), std::size_t(144));
    const std::string data("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40", 12);  // 1, 2, 3
    const std::string expected = std::string("\x90\0\0\0\0\0\0\0", 8) + header + data;

    auto f32 = [](std::initializer_list<float> values) {
      std::vector<std::byte> b(values.size() * 4);
      std::memcpy(b.data(), values.begin(), b.size());
      return b;
    };
    const fs::path path = dir() / "reference.safetensors";
    qread::model::write_safetensors(
        path, {{"b", DType::F32, {}, f32({3.f})}, {"a", DType::F32, {2}, f32({1.f, 2.f})}},
        {{"format", "pt"}});
    QCOMPARE(read_bytes(path), expected);
  }

  void handBuiltFileParses() {
    // Pretty-printed JSON, keys in no particular order, an unpadded header (so the F32 data is
    // not aligned), an extra unknown key, and a 2-byte gap between tensors: all legal.
    const std::string header =
        "{\n  \"b\": {\"data_offsets\": [0, 6], \"shape\": [3], \"dtype\": \"I16\", \"extra\": "
        "1},\n"
        "  \"__metadata__\": {\"format\": \"pt\", \"name\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\"},\n"
        "  \"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [8, 24]}\n}";
    const std::int16_t i16[] = {1, -2, 300};
    const float f32[] = {1.5f, -2.f, 0.25f, 1e10f};
    std::string data(24, '\xAB');
    std::memcpy(data.data(), i16, 6);
    std::memcpy(data.data() + 8, f32, 16);
    const fs::path path = dir() / "hand.safetensors";
    write_bytes(path, le64(header.size()) + header + data);

    auto file = SafetensorsFile::open(path);
    QCOMPARE(file->tensors().size(), std::size_t(2));
    QCOMPARE(file->metadata().size(), std::size_t(2));
    QCOMPARE(file->metadata().at("name"), std::string("caf\xC3\xA9 \xF0\x9F\x98\x80"));
    const TensorView& b = file->tensors().at("b");
    QVERIFY(b.dtype == DType::I16);
    QCOMPARE(b.shape, (std::vector<std::int64_t>{3}));
    std::int16_t got16[3];
    std::memcpy(got16, b.bytes.data(), 6);
    QCOMPARE(got16[2], std::int16_t(300));
    QCOMPARE(got16[1], std::int16_t(-2));
    const TensorView& a = file->tensors().at("a");
    QCOMPARE(a.shape, (std::vector<std::int64_t>{2, 2}));
    QCOMPARE(a.numel(), std::int64_t(4));
    float got32[4];
    std::memcpy(got32, a.bytes.data(), 16);
    QCOMPARE(got32[3], 1e10f);
    QCOMPARE(got32[0], 1.5f);
    QCOMPARE(a.bytes.data() - b.bytes.data(), std::ptrdiff_t(8));
    QVERIFY(check_views(*file, 8 + header.size() + data.size()).empty());
  }

  void truncatedFilesAlwaysThrow() {
    std::mt19937_64 rng(qread::test::random_seed() + 1);
    const fs::path written = dir() / "full.safetensors";
    auto tensors = random_tensors(rng, 6);
    tensors.push_back(
        {"z.nonempty", DType::F32, {3}, random_bytes(12, rng)});  // some tensor has bytes
    qread::model::write_safetensors(written, tensors, {{"format", "pt"}});
    RawFile hand = random_raw_file(rng);
    hand.pad = false;
    for (const std::string& full : {read_bytes(written), hand.bytes()}) {
      const fs::path path = dir() / "truncated.safetensors";
      write_bytes(path, full);
      QVERIFY(SafetensorsFile::open(path) != nullptr);
      for (std::size_t len = 0; len < full.size(); ++len) {
        write_bytes(path, full.substr(0, len));
        const std::string message = input_error_of([&] { SafetensorsFile::open(path); });
        QVERIFY2(
            contains_all(message, {"truncated.safetensors"}),
            qPrintable(
                QString("length %1 of %2: %3").arg(len).arg(full.size()).arg(message.c_str())));
      }
    }
  }

  void errorsNameTheFieldAtFault_data() {
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<QStringList>("expected");
    auto entry = [](std::string dtype, std::string shape, std::string offsets) {
      RawEntry e;
      e.name = "model.layers.0.mlp.up_proj.weight";
      e.dtype = dtype;
      e.shape = shape;
      e.offsets = offsets;
      return e;
    };
    auto file = [](std::vector<RawEntry> entries, std::size_t data_size,
                   std::optional<std::string> metadata = std::nullopt) {
      RawFile f;
      f.entries = std::move(entries);
      f.metadata = std::move(metadata);
      f.data.assign(data_size, '\0');
      return QByteArray::fromStdString(f.bytes());
    };
    auto raw = [](const std::string& header, std::size_t data_size = 0) {
      return QByteArray::fromStdString(le64(header.size()) + header + std::string(data_size, '\0'));
    };
    const QString tensor = "tensor 'model.layers.0.mlp.up_proj.weight'";
    auto row = [](const char* name, const QByteArray& bytes, QStringList expected) {
      QTest::newRow(name) << bytes << expected;
    };

    row("too short", QByteArray("\x08\0\0", 3), {"3 bytes", "8-byte header length"});
    row("header length beyond file", QByteArray::fromStdString(le64(64) + "{}      "),
        {"header length 64", "8 bytes after"});
    row("header length absurd", QByteArray::fromStdString(le64(100'000'001) + "{}      "),
        {"header length 100000001", "100000000"});
    row("header length 2^64-1", QByteArray::fromStdString(le64(~0ull) + "{}      "),
        {"header length"});
    row("not UTF-8", raw("{\"a\xFF\":1}"), {"header", "UTF-8", "byte 3"});
    row("overlong UTF-8", raw("{\"\xC0\xAF\":1}"), {"header", "UTF-8"});
    row("surrogate in UTF-8", raw("{\"\xED\xA0\x80\":1}"), {"header", "UTF-8", "byte 2"});
    row("beyond U+10FFFF", raw("{\"\xF4\x90\x80\x80\":1}"), {"header", "UTF-8"});
    row("cut UTF-8 sequence", raw("{\"\xF0\x9F\x98"), {"header", "UTF-8", "byte 2"});
    row("not JSON", raw("{\"a\": "), {"header", "not valid JSON"});
    row("empty header", raw(""), {"header", "not valid JSON"});
    row("trailing garbage", raw("{} x"), {"header", "not valid JSON"});
    row("not an object", raw("[1, 2]"), {"header must be a JSON object", "[1,2]"});
    row("entry not an object", raw("{\"model.layers.0.mlp.up_proj.weight\": [1]}"),
        {tensor, "expected an object"});
    {
      RawEntry e = entry("\"F32\"", "[2]", "[0,8]");
      e.dtype.reset();
      row("missing dtype", file({e}, 8), {tensor, "missing 'dtype'"});
      e = entry("\"F32\"", "[2]", "[0,8]");
      e.shape.reset();
      row("missing shape", file({e}, 8), {tensor, "missing 'shape'"});
      e = entry("\"F32\"", "[2]", "[0,8]");
      e.offsets.reset();
      row("missing data_offsets", file({e}, 8), {tensor, "missing 'data_offsets'"});
    }
    row("dtype not a string", file({entry("4", "[2]", "[0,8]")}, 8),
        {tensor, "'dtype' must be a string", "4"});
    row("unknown dtype", file({entry("\"F33\"", "[2]", "[0,8]")}, 8),
        {tensor, "'dtype' \"F33\" is not supported"});
    row("shape not a list", file({entry("\"F32\"", "2", "[0,8]")}, 8),
        {tensor, "'shape' must be a list"});
    row("shape of floats", file({entry("\"F32\"", "[2.5]", "[0,10]")}, 10),
        {tensor, "'shape' must hold non-negative integers", "2.5"});
    row("shape of strings", file({entry("\"F32\"", "[\"2\"]", "[0,8]")}, 8),
        {tensor, "'shape'", "integers"});
    row("negative dimension", file({entry("\"F32\"", "[4,-2]", "[0,8]")}, 8),
        {tensor, "'shape' has a negative value -2"});
    row("dimension above int64", file({entry("\"U8\"", "[18446744073709551615]", "[0,8]")}, 8),
        {tensor, "'shape'", "too large"});
    row("numel overflow", file({entry("\"F32\"", "[4294967296,4294967296]", "[0,8]")}, 8),
        {tensor, "'shape' [4294967296, 4294967296] x dtype F32 is too large"});
    row("bytes overflow", file({entry("\"F64\"", "[4611686018427387904]", "[0,8]")}, 8),
        {tensor, "'shape'", "too large"});
    row("offsets not a list", file({entry("\"F32\"", "[2]", "8")}, 8),
        {tensor, "'data_offsets' must be a list of two integers"});
    row("three offsets", file({entry("\"F32\"", "[2]", "[0,4,8]")}, 8),
        {tensor, "'data_offsets' must be a list of two integers"});
    row("negative offset", file({entry("\"F32\"", "[2]", "[-8,0]")}, 8),
        {tensor, "'data_offsets' has a negative value -8"});
    row("float offset", file({entry("\"F32\"", "[2]", "[0,8.0]")}, 8),
        {tensor, "'data_offsets' must hold non-negative integers"});
    row("reversed offsets", file({entry("\"F32\"", "[2]", "[8,0]")}, 8),
        {tensor, "data_offsets [8, 0) are reversed"});
    row("offsets disagree with shape", file({entry("\"F32\"", "[4,8]", "[0,96]")}, 128),
        {tensor + ": data_offsets [0, 96) do not match dtype F32 x shape [4, 8] (128 bytes)"});
    row("offsets past the data", file({entry("\"F32\"", "[4]", "[8,24]")}, 20),
        {tensor, "data_offsets [8, 24) extend past the end of the data (20 bytes"});
    {
      RawEntry a = entry("\"F32\"", "[2]", "[0,8]"), b = entry("\"I8\"", "[4]", "[6,10]");
      a.name = "a";
      row("overlapping tensors", file({a, b}, 10),
          {tensor, "data_offsets [6, 10) overlap tensor 'a' [0, 8)"});
    }
    row("metadata not an object", file({}, 0, "[\"pt\"]"),
        {"'__metadata__' must be an object of strings"});
    row("metadata null", file({}, 0, "null"), {"'__metadata__' must be an object of strings"});
    row("metadata value not a string", file({}, 0, "{\"format\":\"pt\",\"total_size\":12}"),
        {"'__metadata__' entry 'total_size' must be a string", "12"});
  }

  void errorsNameTheFieldAtFault() {
    QFETCH(QByteArray, file);
    QFETCH(QStringList, expected);
    const fs::path path = dir() / "model.safetensors";
    write_bytes(path, file.toStdString());
    const std::string message = input_error_of([&] { SafetensorsFile::open(path); });
    QVERIFY2(contains_all(message, {path.string()}), message.c_str());
    for (const QString& part : expected)
      QVERIFY2(
          contains_all(message, {part.toStdString()}),
          qPrintable(QString("expected '%1' in: %2").arg(part, QString::fromStdString(message))));
  }

  void unreadableFiles() {
    EXPECT_INPUT_ERROR(SafetensorsFile::open(dir() / "nope.safetensors"), "nope.safetensors",
                       "no such file");
    const fs::path d = folder("folder.safetensors");
    EXPECT_INPUT_ERROR(SafetensorsFile::open(d), "folder.safetensors", "is a directory");
    const fs::path empty = dir() / "empty.safetensors";
    write_bytes(empty, "");
    EXPECT_INPUT_ERROR(SafetensorsFile::open(empty), "empty.safetensors", "0 bytes");
  }

  void writerRejectsBadInput() {
    const fs::path path = dir() / "guarded.safetensors";
    qread::model::write_safetensors(path, {{"kept", DType::U8, {2}, std::vector<std::byte>(2)}});
    const std::string before = read_bytes(path);
    using qread::model::write_safetensors;
    EXPECT_INPUT_ERROR(
        write_safetensors(path, {{"w", DType::F32, {4, 8}, std::vector<std::byte>(96)}}),
        "guarded.safetensors", "tensor 'w'", "96 bytes given", "F32", "[4, 8]", "128 bytes");
    EXPECT_INPUT_ERROR(write_safetensors(path, {{"w", DType::U8, {1}, std::vector<std::byte>(1)},
                                                {"w", DType::U8, {1}, std::vector<std::byte>(1)}}),
                       "tensor 'w'", "twice");
    EXPECT_INPUT_ERROR(write_safetensors(path, {{"w", DType::U8, {-1}, {}}}), "tensor 'w'",
                       "'shape'", "negative");
    EXPECT_INPUT_ERROR(
        write_safetensors(path, {{"__metadata__", DType::U8, {}, std::vector<std::byte>(1)}}),
        "reserved");
    EXPECT_INPUT_ERROR(
        write_safetensors(path, {{"bad\xFF", DType::U8, {}, std::vector<std::byte>(1)}}), "UTF-8");
    EXPECT_INPUT_ERROR(write_safetensors(path, {}, {{"k", "\xC3"}}), "'__metadata__' entry 'k'",
                       "UTF-8");
    QCOMPARE(read_bytes(path), before);  // a rejected write leaves the old file alone

    // I/O failure: a qread::Error, not an InputError (the data was fine).
    const fs::path unwritable = dir() / "no-such-folder" / "model.safetensors";
    bool io_error = false;
    try {
      write_safetensors(unwritable, {{"kept", DType::U8, {2}, std::vector<std::byte>(2)}});
    } catch (const InputError&) {
      QFAIL("an I/O failure must not be an InputError");
    } catch (const qread::Error& e) {
      io_error = std::string(e.what()).find("no-such-folder") != std::string::npos;
    }
    QVERIFY(io_error);
  }

  void weightStoreSingleFile() {
    std::mt19937_64 rng(qread::test::random_seed() + 2);
    const fs::path d = folder("single");
    const auto tensors = random_tensors(rng, 5);
    qread::model::write_safetensors(d / "model.safetensors", tensors);
    WeightStore moved = WeightStore::open(d);
    const WeightStore store = std::move(moved);  // views stay valid when the store moves
    std::size_t total = 0;
    std::vector<std::string> names;
    for (const auto& t : tensors) {
      QCOMPARE(as_string(store.get(t.name).bytes), as_string(t.bytes));
      total += t.bytes.size();
      names.push_back(t.name);
    }
    std::sort(names.begin(), names.end());
    QCOMPARE(store.names(), names);
    QCOMPARE(store.total_bytes(), total);
    QVERIFY(store.find("nope") == nullptr);
    EXPECT_INPUT_ERROR(store.get("nope"), d.string() + ": tensor 'nope' not found");
  }

  void weightStoreShards() {
    std::mt19937_64 rng(qread::test::random_seed() + 3);
    const fs::path d = folder("sharded");
    auto tensors = random_tensors(rng, 9);
    const std::vector<TensorData> shard1(tensors.begin(), tensors.begin() + 4),
        shard2(tensors.begin() + 4, tensors.end());
    qread::model::write_safetensors(d / "model-00001-of-00002.safetensors", shard1);
    // A tensor that the index does not list is not part of the model.
    auto shard2_plus = shard2;
    shard2_plus.push_back({"unlisted", DType::U8, {1}, std::vector<std::byte>(1)});
    qread::model::write_safetensors(d / "model-00002-of-00002.safetensors", shard2_plus);
    std::string index = R"({"metadata": {"total_size": 1}, "weight_map": {)";
    for (std::size_t i = 0; i < tensors.size(); ++i)
      index += (i ? ", \"" : "\"") + tensors[i].name + "\": \"model-0000" + (i < 4 ? "1" : "2") +
               "-of-00002.safetensors\"";
    index += "}}";
    write_bytes(d / "model.safetensors.index.json", index);

    {
      const WeightStore store = WeightStore::open(d);
      QCOMPARE(store.names().size(), tensors.size());
      std::size_t total = 0;
      for (const auto& t : tensors) {
        const TensorView& v = store.get(t.name);
        QCOMPARE(as_string(v.bytes), as_string(t.bytes));
        QCOMPARE(v.shape, t.shape);
        QCOMPARE(v.file.filename().string(), std::string("model-0000") +
                                                 (&t - tensors.data() < 4 ? "1" : "2") +
                                                 "-of-00002.safetensors");
        total += t.bytes.size();
      }
      QCOMPARE(store.total_bytes(), total);
      QVERIFY(store.find("unlisted") == nullptr);
      // Each shard is mapped once however many tensors it holds.
      QCOMPARE(mapping_of(d / "model-00001-of-00002.safetensors").count, 1);
      QCOMPARE(mapping_of(d / "model-00002-of-00002.safetensors").count, 1);
    }
    QCOMPARE(mapping_of(d / "model-00001-of-00002.safetensors").count,
             0);  // unmapped with the store

    const std::string index_name = (d / "model.safetensors.index.json").string();
    // A tensor the index names but its shard lacks.
    write_bytes(d / "model.safetensors.index.json",
                index.substr(0, index.size() - 2) +
                    R"(, "lm_head.weight": "model-00001-of-00002.safetensors"}})");
    EXPECT_INPUT_ERROR(WeightStore::open(d), index_name, "tensor 'lm_head.weight'",
                       "model-00001-of-00002.safetensors");
    // A shard that does not exist.
    write_bytes(d / "model.safetensors.index.json",
                index.substr(0, index.size() - 2) +
                    R"(, "lm_head.weight": "model-00003-of-00002.safetensors"}})");
    EXPECT_INPUT_ERROR(WeightStore::open(d), index_name, "shard 'model-00003-of-00002.safetensors'",
                       "does not exist");
    // A corrupt shard: the error names the shard file itself.
    write_bytes(d / "model.safetensors.index.json", index);
    write_bytes(d / "model-00002-of-00002.safetensors", le64(1000));
    EXPECT_INPUT_ERROR(WeightStore::open(d), "model-00002-of-00002.safetensors", "header length");
    // Malformed indexes.
    const std::vector<std::vector<std::string>> bad_indexes = {
        {"{\"weight_map\": ", "not valid JSON"},
        {"[]", "expected a JSON object"},
        {"{\"metadata\": {}}", "missing 'weight_map'"},
        {"{\"weight_map\": []}", "'weight_map' must be an object"},
        {"{\"weight_map\": {}}", "'weight_map' is empty"},
        {"{\"weight_map\": {\"w\": 3}}",
         "'weight_map' entry for tensor 'w' must be a shard file name"},
        {"{\"weight_map\": {\"w\": \"../model.safetensors\"}}",
         "shard '../model.safetensors' (for tensor 'w') is not a file inside"},
        {"{\"weight_map\": {\"w\": \"/etc/passwd\"}}",
         "shard '/etc/passwd' (for tensor 'w') is not a file inside"},
    };
    for (const auto& bad : bad_indexes) {
      write_bytes(d / "model.safetensors.index.json", bad[0]);
      EXPECT_INPUT_ERROR(WeightStore::open(d), index_name, bad[1]);
    }
  }

  void weightStoreMissingFiles() {
    const fs::path d = folder("nothing");
    EXPECT_INPUT_ERROR(WeightStore::open(d),
                       d.string() + ": no model.safetensors or model.safetensors.index.json");
    EXPECT_INPUT_ERROR(WeightStore::open(dir() / "absent-model"), "absent-model",
                       "no such model folder");
    write_bytes(d / "config.json", "{}");
    EXPECT_INPUT_ERROR(WeightStore::open(d / "config.json"), "config.json", "not a folder");
  }

  // Random corruptions of valid files: each must parse into views inside the file, or throw an
  // InputError that names the file. Anything else (another exception, a crash) fails the test.
  void fuzzCorruptions() {
    const std::uint64_t seed = qread::test::random_seed() + 4;
    std::mt19937_64 rng(seed);
    const fs::path path = dir() / "fuzz.safetensors";
    auto pick = [&](std::initializer_list<const char*> options) {
      return std::string(options.begin()[rng() % options.size()]);
    };
    const auto weird_numbers = {"-1",
                                "-0",
                                "0",
                                "1.5",
                                "1e3",
                                "2e400",
                                "9223372036854775807",
                                "9223372036854775808",
                                "18446744073709551615",
                                "18446744073709551616",
                                "\"3\"",
                                "null",
                                "true",
                                "[1]",
                                "{}"};
    int parsed = 0, rejected = 0;
    const int iterations = 3000;
    RawFile base;
    for (int it = 0; it < iterations; ++it) {
      if (it % 50 == 0) base = random_raw_file(rng);
      RawFile f = base;
      RawEntry& e = f.entries[rng() % f.entries.size()];
      const RawEntry& other = f.entries[rng() % f.entries.size()];
      // 1. A structured edit of the JSON (some keep the file valid).
      switch (rng() % 16) {
        case 0: {  // swapped offsets
          const auto comma = e.offsets->find(',');
          e.offsets = "[" + e.offsets->substr(comma + 1, e.offsets->size() - comma - 2) + "," +
                      e.offsets->substr(1, comma - 1) + "]";
          break;
        }
        case 1:
          e.shape = e.shape->size() > 2 ? "[-" + e.shape->substr(1) : "[-1]";
          break;  // negative dim
        case 2:
          e.dtype = pick({"\"F33\"", "\"\"", "\"f32\"", "\"F8_E4M3\"", "5", "null", "[\"F32\"]"});
          break;
        case 3:
          e.shape = "[" + pick(weird_numbers) + "]";
          break;
        case 4:
          e.offsets = "[" + pick(weird_numbers) + "," + pick(weird_numbers) + "]";
          break;
        case 5:
          e.offsets = other.offsets;
          break;  // overlap (or a size mismatch)
        case 6:
          (rng() % 3 == 0 ? e.dtype : rng() % 2 ? e.shape : e.offsets).reset();
          break;  // missing field
        case 7:
          e.whole = pick({"5", "\"x\"", "[]", "null", "{}", "true"});
          break;
        case 8:
          f.metadata = pick({"[]", "null", "5", "{\"a\":1}", "{\"a\":{}}", "{\"a\":\"b\"}", "{}"});
          break;
        case 9:
          e.offsets = pick({"[0]", "[]", "[0,4,8]", "{}", "\"0,4\""});
          break;
        case 10: {  // shift the offsets by a small amount
          const auto comma = e.offsets->find(',');
          const long long b = std::atoll(e.offsets->c_str() + 1),
                          en = std::atoll(e.offsets->c_str() + comma + 1);
          const long long delta = (long long)(rng() % 17) - 8;
          e.offsets = "[" + std::to_string(b + delta) + "," +
                      std::to_string(en + (rng() % 2 ? delta : 0)) + "]";
          break;
        }
        case 11:
          e.shape = pick(
              {"[4294967296,4294967296]", "[3037000500,3037000500]", "[1,1,1,1,1,1,1,1]", "[0]"});
          break;
        case 12:
          e.name = pick(
              {"__metadata__", "", "t0.weight", "\\u0000", "caf\xC3\xA9", "\xC3\x28", "\\ud800"});
          break;
        case 13:
          f.data.resize(f.data.size() + rng() % 9);
          break;  // trailing bytes (allowed)
        case 14:
          f.pad = !f.pad;
          break;
        default:
          break;  // unchanged
      }
      std::string bytes = f.bytes();
      // 2. Sometimes raw damage on top: byte flips in the length field and header, a random
      //    header length, or a cut.
      switch (rng() % 4) {
        case 0: {
          const std::size_t region = std::min<std::size_t>(bytes.size(), 8 + f.header().size());
          for (int flips = 1 + int(rng() % 3); flips > 0; --flips) {
            const std::size_t at = rng() % region;
            bytes[at] = rng() % 2 ? char(rng() & 0xFF) : char(bytes[at] ^ (1 << (rng() % 8)));
          }
          break;
        }
        case 1: {
          const std::uint64_t real = f.header().size();
          const std::uint64_t choices[] = {0,
                                           1,
                                           2,
                                           real - 1,
                                           real + 1,
                                           real + rng() % 64,
                                           rng() % (real + 1),
                                           bytes.size() - 8,
                                           bytes.size() - 7,
                                           100'000'000,
                                           100'000'001,
                                           1ull << 63,
                                           ~0ull,
                                           rng()};
          bytes.replace(0, 8, le64(choices[rng() % std::size(choices)]));
          break;
        }
        case 2:
          bytes.resize(rng() % bytes.size());
          break;
        default:
          break;
      }
      write_bytes(path, bytes);

      std::unique_ptr<SafetensorsFile> file;
      try {
        file = SafetensorsFile::open(path);
      } catch (const InputError& err) {
        ++rejected;
        QVERIFY2(std::string(err.what()).find("fuzz.safetensors") != std::string::npos, err.what());
        continue;
      } catch (const std::exception& err) {
        QFAIL(qPrintable(QString("iteration %1 (seed %2): not an InputError: %3")
                             .arg(it)
                             .arg(seed)
                             .arg(err.what())));
      }
      ++parsed;
      const std::string problem = check_views(*file, bytes.size());
      QVERIFY2(
          problem.empty(),
          qPrintable(QString("iteration %1 (seed %2): %3").arg(it).arg(seed).arg(problem.c_str())));
    }
    qInfo("%d corrupted files: %d parsed, %d rejected with InputError", iterations, parsed,
          rejected);
    QVERIFY(parsed > 100 && rejected > 1000);
  }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
