// One place that maps a configured mode to its ContextMemory class.
#pragma once

#include "memory/block_memory.hpp"
#include "memory/context_memory.hpp"
#include "qread/config.hpp"

#include <memory>
#include <optional>

namespace qread::memory {

std::unique_ptr<ContextMemory> make_memory(const AttentionConfig& config, std::int64_t layer,
                                           const model::Rope& rope, std::optional<QuestionSpan> question,
                                           const at::Device& device);

}  // namespace qread::memory
