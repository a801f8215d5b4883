// InfLLM and Q-LLM (seeds 000, 001): the context is split into init tokens (n_init), a local window
// (n_local) and memory blocks of block_size tokens offloaded to host RAM, each with a
// representative key (the mean of its repr_topk keys that received the most local attention).
// Queries are processed in execution blocks of exc_block_size; each retrieves the topk blocks
// whose representative keys best match the execution block's mean query, and attends to the local
// window plus the init tokens, the retrieved blocks and the not-yet-blocked remainder with one
// softmax. Q-LLM adds question_weight times the question vector (from the question's tokens) to
// the retrieval score. Positions follow the reference: the window by relative position, memory
// keys unrotated, global queries at the one angle of position n_local - 1.
#pragma once

#include "memory/block_store.hpp"
#include "memory/context_memory.hpp"
#include "model/rope.hpp"
#include "qread/config.hpp"

#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace qread::memory {

// Token span [begin, end) of the question inside the prompt.
struct QuestionSpan {
  std::int64_t begin = 0, end = 0;
};

// Which blocks one execution block retrieved.
struct Retrieval {
  std::int64_t query_start = 0;  // absolute position of the execution block's first query
  std::vector<std::int64_t> blocks;
};

// Representative keys of n consecutive blocks: for each block and query head, the mean of the
// r keys (of the head's KV head) whose scores are highest. keys: [1, Hkv, n * block, D]; scores:
// float [Hq, n * block]; returns [n, Hq * D], written into `out` when given (contiguous, keys'
// type and device). On CUDA one kernel; kernel = false forces the tensor-op form, which the
// kernel is tested against.
at::Tensor block_representatives(const at::Tensor& keys, const at::Tensor& scores, std::int64_t n, std::int64_t r,
                                 bool kernel = true, const at::Tensor& out = {});

// dst.copy_(src), moved as 8-byte words where both tensors (of one type and shape) allow it:
// last dimension contiguous, every stride, the last size and the storage offset a whole number
// of words. ATen copies a strided view an element at a time, each with its own index arithmetic
// (in a trace of the 100K prefill on the H200, its strided copy kernel took 0.50 s over 29,632
// calls, about 17 us each). Other tensors take dst.copy_(src).
void copy_rows(at::Tensor dst, const at::Tensor& src);

// The mean query of each execution block of exc queries (the last one may be shorter), in
// float: queries [1, H, T, D] -> [ceil(T / exc), H, D].
at::Tensor execution_block_means(const at::Tensor& queries, std::int64_t exc);

// The blocks an execution block retrieves: the ids of the min(k, n) rows of repr ([n, Hq * D])
// that score highest against the execution block's mean query (float [Hq, D], one row of
// execution_block_means) plus `weight` times the question vector ([Hq * D]; undefined for
// InfLLM), ascending, int64 on repr's device. On CUDA two kernels (scores in float, ties to the
// lower id); kernel = false forces the reference's tensor ops (scores in repr's type).
at::Tensor select_blocks(const at::Tensor& repr, const at::Tensor& query, const at::Tensor& question, double weight,
                         std::int64_t k, bool kernel = true);

class BlockMemory : public ContextMemory {
 public:
  // `question` is used only when `question_weight` applies (Q-LLM); InfLLM passes none.
  BlockMemory(const model::Rope& rope, const AttentionConfig& config, std::optional<QuestionSpan> question,
              const at::Device& device);

  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) override;
  void reset() override;
  std::int64_t length() const override { return length_; }
  bool keeps_input_views() const override { return false; }  // the chunk is concatenated (copied)
  ContextBytes held_bytes() const override;

  const BlockStore& store() const { return store_; }
  // Reads the block ids back from the device (waits for it).
  const std::vector<Retrieval>& retrievals();
  void clear_retrievals() {
    retrievals_.clear();
    pending_.clear();
  }
  // Execution blocks attended by flash attention (fused_execution_block) since the last reset.
  std::int64_t fused_blocks() const { return fused_blocks_; }
  // The question vector, [Hq * D], once set; undefined before.
  const at::Tensor& question_vector() const { return question_; }
  // Representative keys of all blocks, [blocks, Hq * D].
  at::Tensor representative_keys() const;
  // Bytes of memory held for the window, the remainder and the init tokens (their storages,
  // whole): bounded by the window and block sizes, whatever the chunk size.
  std::int64_t window_bytes() const;

 private:
  // Writes one execution block's output into `into` ([1, Hq, len_q, D]) and returns the local
  // attention its window keys received (undefined where it added that to their running scores
  // itself); mean_query: the execution block's row of execution_block_means; next_mean_query:
  // the next one's in this chunk (undefined for the last).
  at::Tensor attend_execution_block(const at::Tensor& q, const at::Tensor& local_k, const at::Tensor& local_v,
                                    const at::Tensor& global_q, const at::Tensor& mean_query,
                                    const at::Tensor& next_mean_query, const at::Tensor& into);
  // The same by flash attention (CUDA), when it applies (then true, the window sums added). global_kv
  // makes the global stage's `keys` keys and values (waiting for the retrieval); it is called
  // only once the local window's work is queued.
  bool fused_execution_block(const at::Tensor& local_q, const at::Tensor& local_k, const at::Tensor& local_v,
                             const at::Tensor& global_q, std::int64_t keys,
                             const std::function<std::pair<at::Tensor, at::Tensor>()>& global_kv,
                             std::int64_t visible_shift, const at::Tensor& into);
  // The running scores ([Hq, n], a view of rest_score_) of the last n of an execution block's
  // window_keys window keys that it scores: n = min(window_keys, exec_length + n_local).
  at::Tensor window_scores(std::int64_t exec_length, std::int64_t window_keys);
  // local_score: the window keys' attention to add to their scores, or undefined where the
  // execution block added it itself.
  void absorb(std::int64_t exec_length, const at::Tensor& local_score, const at::Tensor& chunk_global_q);
  void set_question(const at::Tensor& chunk_global_q);

  const model::Rope& rope_;
  AttentionConfig config_;
  std::optional<QuestionSpan> question_span_;
  bool query_aware_;
  at::Device device_;
  BlockStore store_;

  // Rows along dimension `dim` of `buffer`, [start, start + length), with room after them: an
  // append copies only the new rows (decoding used to copy the whole window at every token)
  // until the room runs out, then the rows move to a new buffer with room again.
  struct GrowingRows {
    explicit GrowingRows(std::int64_t along) : dim(along) {}
    std::int64_t dim;
    at::Tensor buffer;
    std::int64_t start = 0, length = 0;
    at::Tensor rows() const { return buffer.narrow(dim, start, length); }
    // Makes room for t more rows (keeping `room` spare when it moves them) and returns their slot.
    at::Tensor extend(std::int64_t t, std::int64_t room);
    void keep(std::int64_t first, std::int64_t n) { start += first, length = n; }
    // Moves the rows to a buffer of length + room when the buffer is more than twice that.
    void fit(std::int64_t room);
    std::int64_t bytes() const { return buffer.defined() ? std::int64_t(buffer.storage().nbytes()) : 0; }
    // Copies the rows to the start of a new buffer of `capacity` rows.
    void move_to_buffer(std::int64_t capacity);
  };

  std::int64_t heads_ = 0, kv_heads_ = 0, dim_ = 0;
  // The remainder: tokens not yet in init or a block, [1, Hkv, rows, D], unrotated; its last
  // min(n_local, length) rows are the local window.
  GrowingRows rest_k_{2}, rest_v_{2};
  GrowingRows rest_score_{1};            // [Hq, remainder], accumulated local attention
  std::int64_t rest_begin_ = 0, rest_end_ = 0;  // the live part of the remainder during a chunk
  std::int64_t rest_origin_ = 0;         // absolute position of remainder index 0
  at::Tensor init_k_, init_v_;
  bool init_full_ = false;
  // The global stage's keys and values, [1, Hkv, rows, D] each: the retrieved blocks end at row
  // topk * block_size, where the init tokens (the first global_init_ of them copied) and then
  // the remainder follow: one copy of the remainder per execution block instead of a
  // concatenation of all three.
  at::Tensor global_k_, global_v_;
  std::int64_t global_init_ = 0;
  at::Tensor repr_;                      // [capacity, Hq * D]; rows [0, blocks) valid
  at::Tensor question_;                  // [Hq * D]
  at::Tensor local_mask_;                // the last local window mask (it depends on the shape only)
  std::int64_t length_ = 0, fused_blocks_ = 0;
  std::vector<Retrieval> retrievals_;
  std::vector<at::Tensor> pending_;  // ids not read back yet, for the last retrievals' -1 entries
};

}  // namespace qread::memory
