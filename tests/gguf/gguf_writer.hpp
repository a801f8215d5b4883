// A small GGUF writer for tests, independent of the reader in engine/model/gguf.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qread::test {

inline void put(std::string& s, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += char((v >> (8 * i)) & 0xFF);
}
inline void put_string(std::string& s, const std::string& v) {
  put(s, v.size(), 8);
  s += v;
}


// ---- a small GGUF writer -------------------------------------------------------------------

// A metadata entry as the test knows it: integers and floats as raw bit patterns (`raw`, one per
// element), strings in `strs`.
struct Meta {
  std::string key;
  std::uint32_t type = 0;
  std::uint32_t elem = 0;  // for arrays
  std::vector<std::uint64_t> raw;
  std::vector<std::string> strs;
};

inline int width_of(std::uint32_t type) {
  switch (type) {
    case 0:
    case 1:
    case 7:
      return 1;
    case 2:
    case 3:
      return 2;
    case 4:
    case 5:
    case 6:
      return 4;
    default:
      return 8;
  }
}

struct TensorSpec {
  std::string name;
  std::uint32_t type = 0;
  std::vector<std::uint64_t> ne;
  std::string bytes;
  std::uint64_t offset = 0;  // filled by build()
};

struct Writer {
  std::uint32_t version = 3;
  std::vector<Meta> meta;
  std::vector<TensorSpec> tensors;
  std::uint64_t alignment = 32;  // must match general.alignment when the test sets it

  std::string build() {
    std::string s = "GGUF";
    put(s, version, 4);
    put(s, tensors.size(), 8);
    put(s, meta.size(), 8);
    for (const Meta& m : meta) {
      put_string(s, m.key);
      put(s, m.type, 4);
      if (m.type == 9) {
        put(s, m.elem, 4);
        put(s, m.elem == 8 ? m.strs.size() : m.raw.size(), 8);
      }
      const std::uint32_t t = m.type == 9 ? m.elem : m.type;
      if (t == 8)
        for (const auto& str : m.strs) put_string(s, str);
      else
        for (auto r : m.raw) put(s, r, width_of(t));
    }
    std::uint64_t offset = 0;
    for (TensorSpec& t : tensors) {
      t.offset = offset;
      offset += (t.bytes.size() + alignment - 1) / alignment * alignment;
      put_string(s, t.name);
      put(s, t.ne.size(), 4);
      for (auto d : t.ne) put(s, d, 8);
      put(s, t.type, 4);
      put(s, t.offset, 8);
    }
    while (s.size() % alignment) s += '\0';
    for (const TensorSpec& t : tensors) {
      s += t.bytes;
      while ((s.size()) % alignment) s += '\0';
    }
    return s;
  }
};


}  // namespace qread::test
