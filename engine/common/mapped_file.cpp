#include "common/mapped_file.hpp"

#include "qread/error.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace qread {

MappedFile MappedFile::open(const std::filesystem::path& path, const char* kind,
                            const std::function<void(std::uint64_t)>& check_size) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw InputError(fmt::format("{}: no such file", name));
    throw InputError(fmt::format("{}: cannot open: {}", name, std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};  // the map outlives the descriptor
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(fmt::format("{}: cannot stat: {}", name, std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw InputError(fmt::format("{}: is a directory, not a {}", name, kind));
  if (!S_ISREG(st.st_mode)) throw InputError(fmt::format("{}: not a regular file", name));
  const auto size = std::uint64_t(st.st_size);
  check_size(size);
  void* map = ::mmap(nullptr, std::size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) throw Error(fmt::format("{}: cannot map {} bytes: {}", name, size, std::strerror(errno)));
  ::madvise(map, std::size_t(size), MADV_WILLNEED);  // a hint: its failure does not matter
  MappedFile file;
  file.map_ = map;
  file.size_ = std::size_t(size);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (map_) ::munmap(map_, size_);
    map_ = std::exchange(other.map_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, size_);
}

}  // namespace qread
