// Reading and writing safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {..}}, then the raw tensor bytes. Files are memory-mapped; tensors are views into the map.
// No LibTorch here: the model loader turns views into tensors.
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

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// "F32", "BF16", ... as safetensors spells them; parse throws InputError on an unknown name.
const char* dtype_name(DType dtype);
DType parse_dtype(const std::string& name);
std::size_t dtype_size(DType dtype);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;  // inside the mapped file
  std::filesystem::path file;        // for error messages
  std::int64_t numel() const;
};

// One mapped .safetensors file. Opening validates everything a reader relies on and throws
// qread::InputError naming the file (and tensor) when: the file is missing or unreadable, shorter
// than its header, the header is not JSON or not an object, a dtype is unknown, a shape has a
// negative dimension, offsets are reversed, out of the data area, overlapping, or disagree with
// dtype x shape.
class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorView* find(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  MappedFile map_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a Hugging Face model folder: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` (`weight_map`: tensor name -> shard file). Throws InputError
// naming the folder/index/shard when neither exists, a listed shard is missing, or a tensor the
// index names is not in its shard.
class WeightStore {
 public:
  static WeightStore open(const std::filesystem::path& model_dir);

  // Throws InputError "<dir>: tensor '<name>' not found" when absent.
  const TensorView& get(const std::string& name) const;
  const TensorView* find(const std::string& name) const;
  std::vector<std::string> names() const;
  std::size_t total_bytes() const;

 private:
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// A tensor to write: bytes must hold exactly numel(shape) * dtype_size(dtype).
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

// Writes a safetensors file (header entries sorted by name, header padded to 8 bytes as the
// reference implementation does; data ordered by element size, then name, so every tensor is
// aligned to its element size). Writes a temporary file beside `path`, then renames it into place.
// Throws qread::Error on I/O failure, InputError on inconsistent data.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace qread::model
