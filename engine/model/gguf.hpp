// Reading GGUF files (the llama.cpp model format, versions 2 and 3): a little-endian header
// ("GGUF", version, tensor count, metadata count), typed metadata key/values, tensor infos (name,
// dims, ggml type, offset), then the tensor data aligned to `general.alignment` (default 32).
// Files are memory-mapped; tensors are views into the map and can be dequantized to float32.
// No LibTorch here: the model loader turns the floats into tensors.
//
// Note for loaders: llama.cpp's converter permutes the rows of the Q and K projection weights of
// the `llama` architecture (its RoPE rotates neighbouring pairs); this reader returns the bytes as
// stored, so undoing that permutation is the loader's job.
#pragma once

#include "common/mapped_file.hpp"
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qread::model {

// Metadata value types, numbered as in the file.
enum class GgufType : std::uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* gguf_type_name(GgufType type);

// One metadata value. Scalars: unsigned integers and bools in `uint_value`, signed integers in
// `int_value`, floats in `float_value`, strings in `string_value`. Arrays (type ARRAY, element
// type in `array_type`; arrays of arrays are refused on open) fill the matching *_array member:
// unsigned integers and bools -> uint_array, signed -> int_array, floats -> float_array, strings
// -> string_array. Keeping arrays packed bounds memory to a few times the file size.
struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType array_type = GgufType::U8;
  std::uint64_t uint_value = 0;
  std::int64_t int_value = 0;
  double float_value = 0;
  std::string string_value;
  std::vector<std::uint64_t> uint_array;
  std::vector<std::int64_t> int_array;
  std::vector<double> float_array;
  std::vector<std::string> string_array;

  bool is_array() const { return type == GgufType::ARRAY; }
  std::size_t array_size() const;
};

// ggml tensor types, numbered as in ggml.h. Ids that ggml has retired are not listed; opening a
// file with an id not listed here throws InputError.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};
const char* ggml_type_name(GgmlType type);
// Elements per block and bytes per block (1 and the element size for plain types).
std::size_t ggml_block_size(GgmlType type);
std::size_t ggml_type_size(GgmlType type);
// Whether GgufFile::dequantize handles the type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K.
bool ggml_can_dequantize(GgmlType type);

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<std::uint64_t> dims;  // ggml's ne as stored: innermost (contiguous) first
  std::uint64_t offset = 0;         // from the start of the data section
  std::uint64_t n_elements = 0;
  std::span<const std::byte> bytes;  // inside the mapped file; bytes.size() is the byte size

  // Row-major shape as PyTorch / Hugging Face write it: dims reversed. A 0-dim tensor gives {}.
  std::vector<std::int64_t> shape() const;
  std::size_t byte_size() const { return bytes.size(); }
};

// One mapped .gguf file. Opening validates everything a reader relies on and throws
// qread::InputError naming the file (and key or tensor) when: the file is missing or unreadable,
// the magic or version is wrong, anything is truncated, a count or length cannot fit in the file,
// a value or ggml type is unknown, a key or tensor name repeats, dims overflow or do not fill
// whole blocks, or tensor data is misaligned, out of the file or overlapping another tensor.
class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::filesystem::path& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // start of the data section

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  // nullptr when absent.
  const GgufValue* find(const std::string& key) const;

  // Typed getters. Each throws InputError "<file>: metadata key '<key>' ..." when the key is
  // missing or holds another type. Integer getters accept any integer type whose value fits.
  const std::string& get_string(const std::string& key) const;
  std::uint64_t get_uint(const std::string& key) const;
  std::uint32_t get_u32(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  float get_f32(const std::string& key) const;  // F32 or F64
  bool get_bool(const std::string& key) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  std::vector<std::int64_t> get_int_array(const std::string& key) const;  // any integer array
  std::vector<float> get_float_array(const std::string& key) const;       // F32 or F64 array

  // In file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensorInfo* find_tensor(const std::string& name) const;

  // Writes tensor.n_elements floats to `out`, in storage order (row-major in shape()). Throws
  // InputError naming the tensor and type when the type is not supported, and when `tensor` is
  // not one of this file's tensors.
  void dequantize(const GgufTensorInfo& tensor, float* out) const;
  std::vector<float> dequantize(const GgufTensorInfo& tensor) const;

 private:
  GgufFile() = default;
  const GgufValue& require(const std::string& key) const;

  std::filesystem::path path_;
  MappedFile map_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

}  // namespace qread::model
