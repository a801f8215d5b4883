// Will a prompt fit in this machine's memory? The keys and values a context-memory mode cannot
// do without, against the memory qread may use, checked before a document is read: a document
// too long for the machine then gets an error that says what fits, instead of the system
// killing qread (or the GPU running out) partway through.
#pragma once

#include "qread/config.hpp"
#include "qread/language_model.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace qread {

// The least the context memories of `model` hold after `tokens` tokens in `config`'s mode, by
// where: full attention and Quest keep every token's keys and values on the model's device;
// StreamingLLM and LM-Infinite the sinks and the window; InfLLM and Q-LLM the window (and one
// representative row per block) on the device and the blocks in host memory. The working
// buffers and the rounding up of allocations come on top.
ContextBytes context_memory_floor(const ModelSummary& model, const AttentionConfig& config, std::int64_t tokens);

struct MemoryRoom {
  // Host RAM qread may use in all: QREAD_HOST_MEMORY (bytes, or with a K, M, G or T suffix) when
  // set, else MemTotal, or the memory limit of qread's control group where that is lower.
  std::int64_t host_total = 0;
  std::int64_t host_used = 0;       // by qread now (its resident set, less the page-locked memory
                                    // kept for the next block stores)
  std::int64_t host_available = 0;  // MemAvailable now (what the system can give without swapping)
  std::int64_t device_total = 0;    // the model's GPU (0 for the CPU)
  std::int64_t device_used = 0;     // LibTorch's allocations on it now
  std::int64_t device_available = 0;  // free on it now, with what LibTorch's allocator holds unused
};

// The room on this machine for a model on `device` ("cpu", "cuda", "cuda:N"). Throws InputError
// when QREAD_HOST_MEMORY is set but not a size.
MemoryRoom memory_room(const std::string& device);

// Throws InputError, beginning with `subject` (the document, say), when the context memory's
// floor for `tokens` tokens (prompt and answer) cannot fit in what `room` leaves on the host or
// the device; the message says how much is needed and left, the most tokens that fit (as a
// max_len to set, with `suggest_max_len`), and the modes that need less. Otherwise returns notes for the user where it needs more than is free
// now (the system may swap, or the GPU's other users may have to give memory back).
std::vector<std::string> check_memory_room(const ModelSummary& model, const AttentionConfig& config,
                                           std::int64_t tokens, const MemoryRoom& room,
                                           const std::string& subject, bool suggest_max_len = true);

}  // namespace qread
