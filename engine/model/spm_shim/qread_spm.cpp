// The C-ABI shim over libsentencepiece (see qread_spm.h for why it exists). Every entry point
// catches everything: no C++ exception may cross the C boundary.
#define QREAD_SPM_BUILDING 1
#include "qread_spm.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

struct qread_spm_model {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

thread_local std::string last_error;

void set_error(std::string message) { last_error = std::move(message); }

template <typename F>
auto guarded(F&& body, decltype(body()) on_failure) noexcept -> decltype(body()) {
  try {
    last_error.clear();
    return body();
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown error in sentencepiece");
  }
  return on_failure;
}

bool valid_id(const qread_spm_model* model, int32_t id) {
  return model != nullptr && id >= 0 && id < model->processor.GetPieceSize();
}

// "key=value key2=value2" (spaces or newlines between words) into the trainer's kwargs.
bool parse_options(const char* text, std::unordered_map<std::string, std::string>& kwargs) {
  if (text == nullptr) return true;
  std::string word;
  auto flush = [&]() -> bool {
    if (word.empty()) return true;
    std::string key = word;
    while (!key.empty() && key.front() == '-') key.erase(key.begin());  // tolerate "--key=v"
    const auto eq = key.find('=');
    if (eq == std::string::npos || eq == 0) {
      set_error("trainer option '" + word + "' is not of the form key=value");
      return false;
    }
    kwargs[key.substr(0, eq)] = key.substr(eq + 1);
    word.clear();
    return true;
  };
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
      if (!flush()) return false;
    } else {
      word += *p;
    }
  }
  return flush();
}

}  // namespace

extern "C" {

int qread_spm_abi_version(void) { return QREAD_SPM_ABI_VERSION; }

const char* qread_spm_last_error(void) { return last_error.c_str(); }

qread_spm_model* qread_spm_load(const char* path) {
  return guarded(
      [&]() -> qread_spm_model* {
        auto* model = new qread_spm_model;
        const auto status = model->processor.Load(path);
        if (!status.ok()) {
          set_error(status.ToString());
          delete model;
          return nullptr;
        }
        return model;
      },
      nullptr);
}

void qread_spm_free(qread_spm_model* model) { delete model; }

int32_t qread_spm_vocab_size(const qread_spm_model* model) {
  return model ? model->processor.GetPieceSize() : -1;
}
int32_t qread_spm_bos_id(const qread_spm_model* model) { return model ? model->processor.bos_id() : -1; }
int32_t qread_spm_eos_id(const qread_spm_model* model) { return model ? model->processor.eos_id() : -1; }
int32_t qread_spm_unk_id(const qread_spm_model* model) { return model ? model->processor.unk_id() : -1; }

int32_t qread_spm_piece_flags(const qread_spm_model* model, int32_t id) {
  if (!valid_id(model, id)) return -1;
  const auto& p = model->processor;
  return (p.IsControl(id) ? QREAD_SPM_PIECE_CONTROL : 0) | (p.IsByte(id) ? QREAD_SPM_PIECE_BYTE : 0) |
         (p.IsUnknown(id) ? QREAD_SPM_PIECE_UNKNOWN : 0) | (p.IsUnused(id) ? QREAD_SPM_PIECE_UNUSED : 0);
}

const char* qread_spm_id_to_piece(const qread_spm_model* model, int32_t id, size_t* length) {
  if (!valid_id(model, id)) {
    set_error("piece id " + std::to_string(id) + " out of range");
    return nullptr;
  }
  const std::string& piece = model->processor.IdToPiece(id);
  if (length) *length = piece.size();
  return piece.c_str();
}

ptrdiff_t qread_spm_encode(const qread_spm_model* model, const char* text, size_t length,
                           int32_t** ids) {
  return guarded(
      [&]() -> ptrdiff_t {
        std::vector<int> out;
        const auto status = model->processor.Encode(std::string_view(text, length), &out);
        if (!status.ok()) {
          set_error(status.ToString());
          return -1;
        }
        auto* buffer = static_cast<int32_t*>(std::malloc(sizeof(int32_t) * (out.size() + 1)));
        if (buffer == nullptr) throw std::bad_alloc();
        for (size_t i = 0; i < out.size(); ++i) buffer[i] = static_cast<int32_t>(out[i]);
        *ids = buffer;
        return static_cast<ptrdiff_t>(out.size());
      },
      -1);
}

ptrdiff_t qread_spm_decode(const qread_spm_model* model, const int32_t* ids, size_t count,
                           char** text) {
  return guarded(
      [&]() -> ptrdiff_t {
        std::vector<int> in(ids, ids + count);
        for (int id : in)
          if (!valid_id(model, id)) {
            set_error("piece id " + std::to_string(id) + " out of range");
            return -1;
          }
        std::string out;
        const auto status = model->processor.Decode(in, &out);
        if (!status.ok()) {
          set_error(status.ToString());
          return -1;
        }
        auto* buffer = static_cast<char*>(std::malloc(out.size() + 1));
        if (buffer == nullptr) throw std::bad_alloc();
        std::memcpy(buffer, out.data(), out.size());
        buffer[out.size()] = '\0';
        *text = buffer;
        return static_cast<ptrdiff_t>(out.size());
      },
      -1);
}

void qread_spm_free_buffer(void* buffer) { std::free(buffer); }

int qread_spm_train(const char* input_path, const char* model_prefix, int32_t vocab_size,
                    const char* model_type, const char* extra_options) {
  return guarded(
      [&]() -> int {
        std::unordered_map<std::string, std::string> kwargs;
        if (!parse_options(extra_options, kwargs)) return -1;
        // The named arguments win over the same keys in extra_options.
        kwargs["input"] = input_path;
        kwargs["model_prefix"] = model_prefix;
        kwargs["vocab_size"] = std::to_string(vocab_size);
        kwargs["model_type"] = model_type ? model_type : "bpe";
        const auto status = sentencepiece::SentencePieceTrainer::Train(kwargs);
        if (!status.ok()) {
          set_error(status.ToString());
          return -1;
        }
        return 0;
      },
      -1);
}

}  // extern "C"
