// A whole file mapped read-only (MAP_PRIVATE + PROT_READ: the weights are never written through
// the map, and a private map keeps our view stable should someone write the file later). The
// model readers (safetensors, GGUF) parse and view their tensors in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>

namespace qread {

class MappedFile {
 public:
  // Throws InputError naming the file when it is missing, a directory (`kind` says what was
  // expected, e.g. ".gguf file"), not a regular file or unreadable; `check_size` runs before
  // mapping (mmap refuses an empty file) and throws for a file too short to be one. Throws Error
  // when the map itself fails. Starts the kernel's read-ahead: loaders read nearly every byte.
  static MappedFile open(const std::filesystem::path& path, const char* kind,
                         const std::function<void(std::uint64_t size)>& check_size);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::byte* data() const { return static_cast<const std::byte*>(map_); }
  std::size_t size() const { return size_; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace qread
