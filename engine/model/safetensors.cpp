// safetensors reader (mmap + validation) and writer. The format is untrusted input: a model
// folder may come from anywhere, so every number in the header is checked before it is used to
// form a pointer, and every failure becomes an InputError that names the file, the tensor and the
// field at fault.
#include "model/safetensors.hpp"
#include "common/mapped_file.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

namespace qread::model {
namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB; a real header is a few hundred KB
// at most, so a larger value means a corrupt length field, not a big model.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 10> kDTypes{{
    {DType::F64, "F64", 8},
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
}};

std::optional<DType> find_dtype(std::string_view name) {
  for (const auto& info : kDTypes)
    if (name == info.name) return info.dtype;
  return std::nullopt;
}

std::string supported_dtypes() {
  std::vector<std::string> names;
  for (const auto& info : kDTypes) names.emplace_back(info.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// Checked multiplication: header numbers are attacker-controlled and a wrapped product would
// let a tiny byte range pass for a huge tensor.
std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Number of bytes of dtype x shape; nullopt when it does not fit in 63 bits (so that numel()
// and byte counts stay representable as int64 for the tensor library).
std::optional<std::uint64_t> byte_size(DType dtype, const std::vector<std::int64_t>& shape) {
  // Also bound the product of the non-zero dimensions: a tensor library computes strides from
  // them even when another dimension is 0.
  std::uint64_t numel = 1, strides = 1;
  for (std::int64_t d : shape) {
    auto s = checked_mul(strides, std::uint64_t(std::max<std::int64_t>(d, 1)));
    if (!s || *s > std::uint64_t(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    strides = *s;
    numel = d == 0 ? 0 : numel * std::uint64_t(d);  // numel <= strides, cannot overflow
  }
  auto bytes = checked_mul(numel, dtype_size(dtype));
  if (!bytes || *bytes > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    return std::nullopt;
  return bytes;
}

// Length of the UTF-8 sequence that starts with byte `c` and the allowed range of its second
// byte (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); length 0 when `c`
// cannot start a sequence.
struct Utf8Lead {
  std::size_t length;
  unsigned second_min, second_max;
};
Utf8Lead utf8_lead(unsigned c) {
  if (c < 0x80) return {1, 0, 0};
  if (c >= 0xC2 && c <= 0xDF) return {2, 0x80, 0xBF};
  if (c == 0xE0) return {3, 0xA0, 0xBF};  // excludes overlong forms (< U+0800)
  if (c == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates (U+D800..DFFF)
  if (c >= 0xE1 && c <= 0xEF) return {3, 0x80, 0xBF};
  if (c == 0xF0) return {4, 0x90, 0xBF};  // excludes overlong forms (< U+10000)
  if (c >= 0xF1 && c <= 0xF3) return {4, 0x80, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};  // excludes > U+10FFFF
  return {0, 0, 0};
}

// Position of the first byte that is not part of well-formed UTF-8, or nullopt. The format
// requires a UTF-8 header, and checking up front gives a clearer message than the JSON parser's.
std::optional<std::size_t> invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Lead lead = utf8_lead(p[i]);
    if (lead.length == 0 || i + lead.length > s.size()) return i;
    if (lead.length > 1) {
      if (p[i + 1] < lead.second_min || p[i + 1] > lead.second_max) return i;
      for (std::size_t k = 2; k < lead.length; ++k)
        if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += lead.length;
  }
  return std::nullopt;
}

// A JSON value for an error message: short, so that a corrupt header cannot flood the message.
std::string brief(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Closes a file descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the result: for written files, close() can be where an error shows.
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// ---- reading -------------------------------------------------------------------------------

struct ParsedHeader {
  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;
};

// Reads a JSON integer that must be >= 0 and fit in int64.
std::int64_t non_negative_integer(const json& v, const std::string& where, const char* field,
                                  const json& whole) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      throw InputError(fmt::format("{}: '{}' value {} is too large", where, field, brief(v)));
    return v.get<std::int64_t>();
  }
  if (v.is_number_integer())  // signed and not unsigned: negative
    throw InputError(fmt::format("{}: '{}' has a negative value {} in {}", where, field, brief(v),
                                 brief(whole)));
  throw InputError(fmt::format("{}: '{}' must hold non-negative integers, got {} in {}", where,
                               field, brief(v), brief(whole)));
}

const json& required(const json& entry, const char* field, const std::string& where) {
  auto it = entry.find(field);
  if (it == entry.end()) throw InputError(fmt::format("{}: missing '{}'", where, field));
  return *it;
}

TensorView parse_entry(const std::string& name, const json& entry,
                       const std::filesystem::path& path, const std::byte* data,
                       std::uint64_t data_size) {
  const std::string where = fmt::format("{}: tensor '{}'", path.string(), name);
  if (!entry.is_object())
    throw InputError(
        fmt::format("{}: expected an object with 'dtype', 'shape' and 'data_offsets', got {}",
                    where, brief(entry)));
  TensorView view;
  view.name = name;
  view.file = path;

  const json& dtype = required(entry, "dtype", where);
  if (!dtype.is_string())
    throw InputError(fmt::format("{}: 'dtype' must be a string, got {}", where, brief(dtype)));
  auto found = find_dtype(dtype.get_ref<const std::string&>());
  if (!found)
    throw InputError(fmt::format("{}: 'dtype' {} is not supported (supported: {})", where,
                                 brief(dtype), supported_dtypes()));
  view.dtype = *found;

  const json& shape = required(entry, "shape", where);
  if (!shape.is_array())
    throw InputError(
        fmt::format("{}: 'shape' must be a list of integers, got {}", where, brief(shape)));
  for (const json& d : shape) view.shape.push_back(non_negative_integer(d, where, "shape", shape));
  const auto nbytes = byte_size(view.dtype, view.shape);
  if (!nbytes)
    throw InputError(fmt::format("{}: 'shape' {} x dtype {} is too large (size overflows)", where,
                                 shape_text(view.shape), dtype_name(view.dtype)));

  const json& offsets = required(entry, "data_offsets", where);
  if (!offsets.is_array() || offsets.size() != 2)
    throw InputError(
        fmt::format("{}: 'data_offsets' must be a list of two integers [begin, end], got {}", where,
                    brief(offsets)));
  const auto begin =
      std::uint64_t(non_negative_integer(offsets[0], where, "data_offsets", offsets));
  const auto end = std::uint64_t(non_negative_integer(offsets[1], where, "data_offsets", offsets));
  if (begin > end)
    throw InputError(
        fmt::format("{}: data_offsets [{}, {}) are reversed (begin > end)", where, begin, end));
  if (end - begin != *nbytes)
    throw InputError(
        fmt::format("{}: data_offsets [{}, {}) do not match dtype {} x shape {} ({} bytes)", where,
                    begin, end, dtype_name(view.dtype), shape_text(view.shape), *nbytes));
  if (end > data_size)
    throw InputError(
        fmt::format("{}: data_offsets [{}, {}) extend past the end of the data ({} bytes; "
                    "truncated file?)",
                    where, begin, end, data_size));
  view.bytes = std::span<const std::byte>(data + begin, std::size_t(end - begin));
  return view;
}

std::map<std::string, std::string> parse_metadata(const json& v,
                                                  const std::filesystem::path& path) {
  if (!v.is_object())
    throw InputError(fmt::format("{}: '__metadata__' must be an object of strings, got {}",
                                 path.string(), brief(v)));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      throw InputError(fmt::format("{}: '__metadata__' entry '{}' must be a string, got {}",
                                   path.string(), key, brief(value)));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// No two tensors may share bytes: a writer never produces that, and a reader that trusts such a
// file could see one tensor change when another is written through a copy-on-write view.
void check_no_overlap(const std::map<std::string, TensorView>& tensors, const std::byte* data,
                      const std::filesystem::path& path) {
  struct Range {
    std::uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, view] : tensors) {
    if (view.bytes.empty()) continue;  // an empty range shares no bytes with anything
    const auto begin = std::uint64_t(view.bytes.data() - data);
    ranges.push_back({begin, begin + view.bytes.size(), &name});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  // Sorted by begin and disjoint so far, the previous range has the largest end.
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    const Range& prev = ranges[i - 1];
    const Range& cur = ranges[i];
    if (cur.begin < prev.end)
      throw InputError(fmt::format(
          "{}: tensor '{}': data_offsets [{}, {}) overlap tensor '{}' [{}, {})", path.string(),
          *cur.name, cur.begin, cur.end, *prev.name, prev.begin, prev.end));
  }
}

InputError too_short(const std::filesystem::path& path, std::uint64_t size) {
  return InputError(
      fmt::format("{}: file is {} bytes, too short for the 8-byte header length (truncated?)",
                  path.string(), size));
}

// Validates the whole file image and returns views into it.
ParsedHeader parse_file(const std::byte* file, std::uint64_t size,
                        const std::filesystem::path& path) {
  const std::string name = path.string();
  if (size < 8) throw too_short(path, size);
  std::uint64_t header_len = 0;  // little-endian whatever the host's byte order
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::uint64_t(file[i]);
  if (header_len > kMaxHeaderBytes)
    throw InputError(
        fmt::format("{}: header length {} is larger than the {} bytes allowed (corrupt file?)",
                    name, header_len, kMaxHeaderBytes));
  if (header_len > size - 8)
    throw InputError(
        fmt::format("{}: header length {} exceeds the {} bytes after the length field "
                    "(truncated file?)",
                    name, header_len, size - 8));

  const std::string_view text(reinterpret_cast<const char*>(file + 8), std::size_t(header_len));
  if (auto bad = invalid_utf8_at(text))
    throw InputError(
        fmt::format("{}: header is not valid UTF-8 (byte {} of the header)", name, *bad));
  json header;
  try {
    header = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    throw InputError(
        fmt::format("{}: header is not valid JSON (error at byte {} of the header)", name, e.byte));
  } catch (const json::exception&) {
    throw InputError(fmt::format("{}: header is not valid JSON", name));
  }
  if (!header.is_object())
    throw InputError(fmt::format("{}: header must be a JSON object, got {}", name, brief(header)));

  const std::byte* data = file + 8 + header_len;
  const std::uint64_t data_size = size - 8 - header_len;
  ParsedHeader out;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__")
      out.metadata = parse_metadata(value, path);
    else
      out.tensors.emplace(key, parse_entry(key, value, path, data, data_size));
  }
  check_no_overlap(out.tensors, data, path);
  return out;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A shard name from an index must stay inside the model folder: an index is input like any
// other, and "../../somewhere" or an absolute path would make us map files the user never chose.
bool is_inside_folder(const std::filesystem::path& relative) {
  if (relative.empty() || relative.is_absolute() || relative.has_root_name()) return false;
  for (const auto& part : relative)
    if (part == "..") return false;
  return true;
}

// ---- writing -------------------------------------------------------------------------------

void write_all(int fd, const void* data, std::size_t n, const std::string& where) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t written = ::write(fd, p, std::min<std::size_t>(n, std::size_t(1) << 30));
    if (written < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("{}: cannot write: {}", where, std::strerror(errno)));
    }
    p += written;
    n -= std::size_t(written);
  }
}

}  // namespace

const char* dtype_name(DType dtype) {
  for (const auto& info : kDTypes)
    if (info.dtype == dtype) return info.name;
  return "?";
}

DType parse_dtype(const std::string& name) {
  if (auto d = find_dtype(name)) return *d;
  throw InputError(
      fmt::format("dtype '{}' is not supported (supported: {})", name, supported_dtypes()));
}

std::size_t dtype_size(DType dtype) {
  for (const auto& info : kDTypes)
    if (info.dtype == dtype) return info.size;
  return 0;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;  // validated on open: cannot overflow
  return n;
}

// ---- SafetensorsFile -----------------------------------------------------------------------

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = MappedFile::open(path, ".safetensors file", [&](std::uint64_t size) {
    if (size < 8) throw too_short(path, size);
  });
  const auto size = std::uint64_t(file->map_.size());
  auto parsed = parse_file(file->map_.data(), size, path);
  file->tensors_ = std::move(parsed.tensors);
  file->metadata_ = std::move(parsed.metadata);
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

// ---- WeightStore ---------------------------------------------------------------------------

WeightStore WeightStore::open(const std::filesystem::path& model_dir) {
  const std::string dir_name = model_dir.string();
  std::error_code ec;
  const auto status = std::filesystem::status(model_dir, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw InputError(fmt::format("{}: no such model folder", dir_name));
  if (ec)
    throw InputError(fmt::format("{}: cannot access the model folder: {}", dir_name, ec.message()));
  if (!std::filesystem::is_directory(status))
    throw InputError(
        fmt::format("{}: not a folder (expected a model folder with model.safetensors)", dir_name));

  WeightStore store;
  store.dir_ = model_dir;
  const auto single = model_dir / "model.safetensors";
  const auto index_path = model_dir / "model.safetensors.index.json";
  // Like transformers, prefer the single file when both are present.
  if (std::filesystem::exists(single)) {
    store.files_.push_back(SafetensorsFile::open(single));
    for (const auto& [name, view] : store.files_.back()->tensors())
      store.index_.emplace(name, &view);
    return store;
  }
  if (!std::filesystem::exists(index_path))
    throw InputError(
        fmt::format("{}: no model.safetensors or model.safetensors.index.json", dir_name));

  const std::string index_name = index_path.string();
  json index;
  try {
    index = json::parse(read_text_file(index_path));
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON (error at byte {})", index_name, e.byte));
  }
  if (!index.is_object()) throw InputError(fmt::format("{}: expected a JSON object", index_name));
  auto weight_map = index.find("weight_map");
  if (weight_map == index.end())
    throw InputError(fmt::format("{}: missing 'weight_map'", index_name));
  if (!weight_map->is_object())
    throw InputError(
        fmt::format("{}: 'weight_map' must be an object (tensor name -> shard file), got {}",
                    index_name, brief(*weight_map)));
  if (weight_map->empty()) throw InputError(fmt::format("{}: 'weight_map' is empty", index_name));

  // Each shard is mapped once, however many tensors it holds.
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [tensor, shard_value] : weight_map->items()) {
    if (!shard_value.is_string())
      throw InputError(
          fmt::format("{}: 'weight_map' entry for tensor '{}' must be a shard file name, got {}",
                      index_name, tensor, brief(shard_value)));
    const std::string& shard = shard_value.get_ref<const std::string&>();
    auto it = shards.find(shard);
    if (it == shards.end()) {
      if (!is_inside_folder(shard))
        throw InputError(
            fmt::format("{}: shard '{}' (for tensor '{}') is not a file inside the model folder",
                        index_name, shard, tensor));
      const auto shard_path = model_dir / shard;
      if (!std::filesystem::exists(shard_path))
        throw InputError(fmt::format("{}: shard '{}' (listed for tensor '{}') does not exist: {}",
                                     index_name, shard, tensor, shard_path.string()));
      it =
          shards.emplace(shard, std::shared_ptr<SafetensorsFile>(SafetensorsFile::open(shard_path)))
              .first;
      store.files_.push_back(it->second);
    }
    const TensorView* view = it->second->find(tensor);
    if (!view)
      throw InputError(
          fmt::format("{}: tensor '{}' is listed in shard '{}', but {} has no such tensor",
                      index_name, tensor, shard, it->second->path().string()));
    store.index_.emplace(tensor, view);
  }
  return store;
}

const TensorView* WeightStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& WeightStore::get(const std::string& name) const {
  if (const TensorView* view = find(name)) return *view;
  throw InputError(fmt::format("{}: tensor '{}' not found", dir_.string(), name));
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

std::size_t WeightStore::total_bytes() const {
  std::size_t total = 0;
  for (const auto& [name, view] : index_) total += view->bytes.size();
  return total;
}

// ---- writer --------------------------------------------------------------------------------

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string file_name = path.string();

  // Validate everything before touching the disk, so a bad call leaves no file behind.
  std::set<std::string_view> seen;
  for (const auto& t : tensors) {
    const std::string where = fmt::format("{}: tensor '{}'", file_name, t.name);
    if (t.name == "__metadata__")
      throw InputError(fmt::format("{}: the name '__metadata__' is reserved for metadata", where));
    if (invalid_utf8_at(t.name))
      throw InputError(fmt::format("{}: name is not valid UTF-8", where));
    if (!seen.insert(t.name).second) throw InputError(fmt::format("{}: name appears twice", where));
    if (dtype_size(t.dtype) == 0)
      throw InputError(fmt::format("{}: 'dtype' is not a known dtype", where));
    for (std::int64_t d : t.shape)
      if (d < 0)
        throw InputError(
            fmt::format("{}: 'shape' {} has a negative dimension", where, shape_text(t.shape)));
    const auto nbytes = byte_size(t.dtype, t.shape);
    if (!nbytes)
      throw InputError(fmt::format("{}: 'shape' {} x dtype {} is too large", where,
                                   shape_text(t.shape), dtype_name(t.dtype)));
    if (t.bytes.size() != *nbytes)
      throw InputError(fmt::format("{}: {} bytes given, but dtype {} x shape {} needs {} bytes",
                                   where, t.bytes.size(), dtype_name(t.dtype), shape_text(t.shape),
                                   *nbytes));
  }
  for (const auto& [key, value] : metadata)
    if (invalid_utf8_at(key) || invalid_utf8_at(value))
      throw InputError(
          fmt::format("{}: '__metadata__' entry '{}' is not valid UTF-8", file_name, key));

  // Data order: larger elements first, then by name. The data area starts 8-aligned, so this
  // keeps every tensor aligned to its element size (the reference implementation does the same),
  // which lets a reader use the mapped bytes in place.
  std::vector<std::size_t> data_order(tensors.size());
  for (std::size_t i = 0; i < data_order.size(); ++i) data_order[i] = i;
  std::sort(data_order.begin(), data_order.end(), [&](std::size_t a, std::size_t b) {
    const std::size_t size_a = dtype_size(tensors[a].dtype), size_b = dtype_size(tensors[b].dtype);
    return size_a != size_b ? size_a > size_b : tensors[a].name < tensors[b].name;
  });
  std::vector<std::uint64_t> begin(tensors.size());
  std::uint64_t at = 0;
  for (std::size_t i : data_order) {
    begin[i] = at;
    at += tensors[i].bytes.size();
  }

  // Header: "__metadata__" first when present, then the tensors sorted by name.
  std::vector<std::size_t> name_order(data_order);
  std::sort(name_order.begin(), name_order.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].name < tensors[b].name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
  }
  for (std::size_t i : name_order) {
    const TensorData& t = tensors[i];
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {begin[i], begin[i] + t.bytes.size()}}};
  }
  std::string text = header.dump();
  // Pad with spaces (JSON whitespace) so the data area starts at a multiple of 8.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::array<unsigned char, 8> length{};
  for (std::size_t i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));

  // Write beside the target, then rename: a reader never sees a half-written file, and a failed
  // write leaves the previous file in place.
  static std::atomic<unsigned> counter{0};
  const std::string temp_name = fmt::format("{}.tmp.{}.{}", file_name, ::getpid(), counter++);
  FileDescriptor fd(::open(temp_name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0)
    throw Error(
        fmt::format("{}: cannot create {}: {}", file_name, temp_name, std::strerror(errno)));
  try {
    write_all(fd.get(), length.data(), length.size(), file_name);
    write_all(fd.get(), text.data(), text.size(), file_name);
    for (std::size_t i : data_order)
      write_all(fd.get(), tensors[i].bytes.data(), tensors[i].bytes.size(), file_name);
    if (fd.close() != 0)
      throw Error(fmt::format("{}: cannot write: {}", file_name, std::strerror(errno)));
    if (::rename(temp_name.c_str(), file_name.c_str()) != 0)
      throw Error(fmt::format("{}: cannot rename {} into place: {}", file_name, temp_name,
                              std::strerror(errno)));
  } catch (...) {
    ::unlink(temp_name.c_str());
    throw;
  }
}

}  // namespace qread::model
