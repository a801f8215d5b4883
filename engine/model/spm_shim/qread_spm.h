/* qread_spm: the few SentencePiece calls qread needs, behind a plain C ABI.
 *
 * Why a separate shared library: Debian's libsentencepiece exports its own protobuf-lite,
 * which collides with the libprotobuf that LibTorch loads (SIGSEGV during static
 * initialisation). The engine never links sentencepiece; it dlopen()s this library with
 * RTLD_LOCAL | RTLD_DEEPBIND so that sentencepiece and its protobuf stay private to it.
 *
 * Conventions: functions that can fail return NULL or a negative number and leave a message
 * for qread_spm_last_error() (per thread). Buffers the library allocates are released with
 * qread_spm_free_buffer(). Ids are int32. Strings are UTF-8, passed with explicit lengths. */
#ifndef QREAD_SPM_H
#define QREAD_SPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(QREAD_SPM_BUILDING)
#define QREAD_SPM_API __attribute__((visibility("default")))
#else
#define QREAD_SPM_API
#endif

/* Bumped whenever a signature below changes; the loader refuses a library of another version. */
#define QREAD_SPM_ABI_VERSION 1

/* Piece type flags of qread_spm_piece_flags(). */
#define QREAD_SPM_PIECE_CONTROL 1
#define QREAD_SPM_PIECE_BYTE 2
#define QREAD_SPM_PIECE_UNKNOWN 4
#define QREAD_SPM_PIECE_UNUSED 8

typedef struct qread_spm_model qread_spm_model;

QREAD_SPM_API int qread_spm_abi_version(void);
/* Message of the last failure on this thread ("" when none). */
QREAD_SPM_API const char* qread_spm_last_error(void);

/* Loads a tokenizer.model; NULL on failure. */
QREAD_SPM_API qread_spm_model* qread_spm_load(const char* path);
QREAD_SPM_API void qread_spm_free(qread_spm_model* model);

QREAD_SPM_API int32_t qread_spm_vocab_size(const qread_spm_model* model);
/* -1 when the model defines none. */
QREAD_SPM_API int32_t qread_spm_bos_id(const qread_spm_model* model);
QREAD_SPM_API int32_t qread_spm_eos_id(const qread_spm_model* model);
QREAD_SPM_API int32_t qread_spm_unk_id(const qread_spm_model* model);
/* QREAD_SPM_PIECE_* bits; -1 for an id out of range. */
QREAD_SPM_API int32_t qread_spm_piece_flags(const qread_spm_model* model, int32_t id);
/* The piece text of `id` (e.g. "▁the", "<0x0A>", "<s>"); it lives as long as the model.
 * NULL for an id out of range. */
QREAD_SPM_API const char* qread_spm_id_to_piece(const qread_spm_model* model, int32_t id,
                                                size_t* length);

/* Encodes `length` bytes of `text` (no BOS/EOS). On success returns the number of ids and sets
 * *ids to a buffer to release with qread_spm_free_buffer(); -1 on failure. */
QREAD_SPM_API ptrdiff_t qread_spm_encode(const qread_spm_model* model, const char* text,
                                         size_t length, int32_t** ids);
/* Decodes ids as sentencepiece does. Returns the text length and sets *text (NUL-terminated,
 * release with qread_spm_free_buffer()); -1 on failure. */
QREAD_SPM_API ptrdiff_t qread_spm_decode(const qread_spm_model* model, const int32_t* ids,
                                         size_t count, char** text);
QREAD_SPM_API void qread_spm_free_buffer(void* buffer);

/* Trains a model from a UTF-8 text file (one sentence per line) and writes
 * `<model_prefix>.model` and `<model_prefix>.vocab`. `model_type`: "bpe", "unigram", "char" or
 * "word". `extra_options`: further trainer flags as "key=value" words separated by spaces or
 * newlines (e.g. "byte_fallback=true split_digits=true"); NULL or "" for none.
 * Returns 0 on success, -1 on failure. */
QREAD_SPM_API int qread_spm_train(const char* input_path, const char* model_prefix,
                                  int32_t vocab_size, const char* model_type,
                                  const char* extra_options);

#ifdef __cplusplus
}
#endif

#endif /* QREAD_SPM_H */
