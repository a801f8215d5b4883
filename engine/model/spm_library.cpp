// dlopen() of the SentencePiece shim; see spm_library.hpp.
#include "model/spm_library.hpp"

#include "model/spm_shim/qread_spm.h"
#include "qread/error.hpp"

#include <dlfcn.h>
#include <fmt/core.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <system_error>

#ifndef QREAD_SPM_INSTALLED_PATH
#define QREAD_SPM_INSTALLED_PATH "/usr/local/lib/qread/libqread_spm.so"
#endif

// ASan cannot intercept calls in a library loaded with RTLD_DEEPBIND (it aborts at dlopen).
#if defined(__SANITIZE_ADDRESS__)
#define QREAD_SPM_NO_DEEPBIND 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QREAD_SPM_NO_DEEPBIND 1
#endif
#endif

namespace qread::model {

struct SpmFunctions {
  decltype(&qread_spm_abi_version) abi_version;
  decltype(&qread_spm_last_error) last_error;
  decltype(&qread_spm_load) load;
  decltype(&qread_spm_free) free;
  decltype(&qread_spm_vocab_size) vocab_size;
  decltype(&qread_spm_bos_id) bos_id;
  decltype(&qread_spm_eos_id) eos_id;
  decltype(&qread_spm_unk_id) unk_id;
  decltype(&qread_spm_piece_flags) piece_flags;
  decltype(&qread_spm_id_to_piece) id_to_piece;
  decltype(&qread_spm_encode) encode;
  decltype(&qread_spm_decode) decode;
  decltype(&qread_spm_free_buffer) free_buffer;
  decltype(&qread_spm_train) train;
};

namespace {

std::filesystem::path executable_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

template <typename T>
void resolve(void* handle, const char* name, T& slot, const std::string& path) {
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr)
    throw Error(fmt::format("SentencePiece shim {} lacks the symbol {}", path, name));
  slot = reinterpret_cast<T>(symbol);
}

std::string last_error(const SpmFunctions& fn) {
  const char* message = fn.last_error();
  return message && *message ? message : "unknown sentencepiece error";
}

}  // namespace

std::vector<std::filesystem::path> spm_library_candidates() {
  std::vector<std::filesystem::path> out;
  if (const char* env = std::getenv("QREAD_SPM_LIBRARY"); env && *env) out.emplace_back(env);
  if (const auto dir = executable_dir(); !dir.empty()) {
    out.push_back((dir / ".." / "lib" / "libqread_spm.so").lexically_normal());
    out.push_back((dir / ".." / "lib" / "qread" / "libqread_spm.so").lexically_normal());
  }
  out.emplace_back(QREAD_SPM_INSTALLED_PATH);
  return out;
}

const SpmLibrary& SpmLibrary::instance() {
  // A function-local static: initialised once, thread-safe; a failed load throws and is retried
  // by the next call. The library is never unloaded.
  static const SpmLibrary library;
  return library;
}

SpmLibrary::SpmLibrary() {
  int flags = RTLD_NOW | RTLD_LOCAL;
#ifndef QREAD_SPM_NO_DEEPBIND
  flags |= RTLD_DEEPBIND;  // sentencepiece's protobuf symbols bind inside the shim, not to LibTorch's
#endif
  std::string tried;
  void* handle = nullptr;
  for (const auto& candidate : spm_library_candidates()) {
    std::error_code ec;
    if (!std::filesystem::exists(candidate, ec)) {
      tried += fmt::format("\n  {} (not found)", candidate.string());
      continue;
    }
    handle = dlopen(candidate.c_str(), flags);
    if (handle != nullptr) {
      path_ = candidate.string();
      break;
    }
    const char* why = dlerror();
    tried += fmt::format("\n  {} ({})", candidate.string(), why ? why : "dlopen failed");
  }
  if (handle == nullptr)
    throw Error(fmt::format(
        "cannot load the SentencePiece library libqread_spm.so (needed for tokenizer.model); "
        "looked at:{}\nset QREAD_SPM_LIBRARY to its path",
        tried));

  auto fn = std::make_unique<SpmFunctions>();
  resolve(handle, "qread_spm_abi_version", fn->abi_version, path_);
  if (fn->abi_version() != QREAD_SPM_ABI_VERSION)
    throw Error(fmt::format("SentencePiece shim {} has ABI version {}, qread needs {}", path_,
                            fn->abi_version(), QREAD_SPM_ABI_VERSION));
  resolve(handle, "qread_spm_last_error", fn->last_error, path_);
  resolve(handle, "qread_spm_load", fn->load, path_);
  resolve(handle, "qread_spm_free", fn->free, path_);
  resolve(handle, "qread_spm_vocab_size", fn->vocab_size, path_);
  resolve(handle, "qread_spm_bos_id", fn->bos_id, path_);
  resolve(handle, "qread_spm_eos_id", fn->eos_id, path_);
  resolve(handle, "qread_spm_unk_id", fn->unk_id, path_);
  resolve(handle, "qread_spm_piece_flags", fn->piece_flags, path_);
  resolve(handle, "qread_spm_id_to_piece", fn->id_to_piece, path_);
  resolve(handle, "qread_spm_encode", fn->encode, path_);
  resolve(handle, "qread_spm_decode", fn->decode, path_);
  resolve(handle, "qread_spm_free_buffer", fn->free_buffer, path_);
  resolve(handle, "qread_spm_train", fn->train, path_);
  functions_ = fn.release();  // lives as long as the process, like the library
}

SpmModel::SpmModel(const std::filesystem::path& path) : fn_(&SpmLibrary::instance().functions()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(fmt::format("{}: no such file", path.string()));
  model_ = fn_->load(path.c_str());
  if (model_ == nullptr)
    throw InputError(fmt::format("{}: not a SentencePiece model ({})", path.string(), last_error(*fn_)));
}

SpmModel::SpmModel(SpmModel&& other) noexcept : fn_(other.fn_), model_(other.model_) {
  other.model_ = nullptr;
}

SpmModel& SpmModel::operator=(SpmModel&& other) noexcept {
  if (this != &other) {
    if (model_) fn_->free(model_);
    fn_ = other.fn_;
    model_ = other.model_;
    other.model_ = nullptr;
  }
  return *this;
}

SpmModel::~SpmModel() {
  if (model_) fn_->free(model_);
}

std::int32_t SpmModel::vocab_size() const { return fn_->vocab_size(model_); }
std::int32_t SpmModel::bos_id() const { return fn_->bos_id(model_); }
std::int32_t SpmModel::eos_id() const { return fn_->eos_id(model_); }
std::int32_t SpmModel::unk_id() const { return fn_->unk_id(model_); }
std::int32_t SpmModel::piece_flags(std::int32_t id) const { return fn_->piece_flags(model_, id); }

std::string_view SpmModel::piece(std::int32_t id) const {
  std::size_t length = 0;
  const char* text = fn_->id_to_piece(model_, id, &length);
  if (text == nullptr) throw Error(last_error(*fn_));
  return {text, length};
}

std::vector<std::int32_t> SpmModel::encode(std::string_view text) const {
  std::int32_t* buffer = nullptr;
  const std::ptrdiff_t n = fn_->encode(model_, text.data(), text.size(), &buffer);
  if (n < 0) throw Error(fmt::format("sentencepiece encode failed: {}", last_error(*fn_)));
  std::vector<std::int32_t> ids(buffer, buffer + n);
  fn_->free_buffer(buffer);
  return ids;
}

std::string SpmModel::decode(const std::vector<std::int32_t>& ids) const {
  char* buffer = nullptr;
  const std::ptrdiff_t n = fn_->decode(model_, ids.data(), ids.size(), &buffer);
  if (n < 0) throw InputError(fmt::format("sentencepiece decode failed: {}", last_error(*fn_)));
  std::string text(buffer, static_cast<std::size_t>(n));
  fn_->free_buffer(buffer);
  return text;
}

void spm_train(const std::filesystem::path& input_text_file, const std::filesystem::path& model_prefix,
               int vocab_size, std::string_view model_type, std::string_view extra_options) {
  const auto& fn = SpmLibrary::instance().functions();
  const std::string type(model_type), options(extra_options);
  if (fn.train(input_text_file.c_str(), model_prefix.c_str(), vocab_size, type.c_str(), options.c_str()) != 0)
    throw Error(fmt::format("sentencepiece training on {} failed: {}", input_text_file.string(),
                            last_error(fn)));
}

}  // namespace qread::model
