// The SentencePiece shim (libqread_spm.so, see spm_shim/qread_spm.h), loaded at run time.
//
// qread never links sentencepiece into a binary that links LibTorch (their protobufs collide).
// SpmLibrary::instance() dlopen()s the shim once per process with RTLD_NOW | RTLD_LOCAL |
// RTLD_DEEPBIND (no DEEPBIND under AddressSanitizer, which refuses it), looking in order at:
//   $QREAD_SPM_LIBRARY, <exe dir>/../lib/libqread_spm.so (build tree),
//   <exe dir>/../lib/qread/libqread_spm.so, <install libdir>/qread/libqread_spm.so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

struct qread_spm_model;

namespace qread::model {

struct SpmFunctions;  // the resolved entry points (spm_library.cpp)

class SpmLibrary {
 public:
  // Loads the shim on first use. Throws qread::Error listing every place it looked.
  static const SpmLibrary& instance();

  const std::string& path() const { return path_; }
  const SpmFunctions& functions() const { return *functions_; }

 private:
  SpmLibrary();
  std::string path_;
  const SpmFunctions* functions_ = nullptr;
};

// Where the loader looks for the shim, in order (for messages and tests).
std::vector<std::filesystem::path> spm_library_candidates();

// One loaded tokenizer.model. Move-only; frees the model on destruction.
class SpmModel {
 public:
  // Throws InputError naming `path` when sentencepiece cannot load it.
  explicit SpmModel(const std::filesystem::path& path);
  SpmModel(SpmModel&& other) noexcept;
  SpmModel& operator=(SpmModel&& other) noexcept;
  SpmModel(const SpmModel&) = delete;
  SpmModel& operator=(const SpmModel&) = delete;
  ~SpmModel();

  std::int32_t vocab_size() const;
  std::int32_t bos_id() const;  // -1 when none
  std::int32_t eos_id() const;
  std::int32_t unk_id() const;
  std::int32_t piece_flags(std::int32_t id) const;  // QREAD_SPM_PIECE_* bits
  std::string_view piece(std::int32_t id) const;
  std::vector<std::int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<std::int32_t>& ids) const;

 private:
  const SpmFunctions* fn_;
  qread_spm_model* model_ = nullptr;
};

// Trains a SentencePiece model through the shim: writes <model_prefix>.model and .vocab.
// `extra_options`: "key=value" words for the sentencepiece trainer. Throws qread::Error.
void spm_train(const std::filesystem::path& input_text_file, const std::filesystem::path& model_prefix,
               int vocab_size, std::string_view model_type, std::string_view extra_options);

}  // namespace qread::model
