#include "memory/block_memory.hpp"

#include "common/torch_compat.hpp"
#include "memory/multi_stage_attention.hpp"
#include "memory/phase_profile.hpp"
#include "model/fused_ops.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <tuple>

namespace qread::memory {
namespace {
// fused_window_attention_received(..., add_into = scores): by the kernel on CUDA, by tensor ops
// on the CPU (where the fused path runs only in tests, with compat::set_reference_flash_on_cpu).
// False where neither applies.
bool add_window_attention(const at::Tensor& logits, const at::Tensor& lse, std::int64_t offset, std::int64_t window,
                          double scale, at::Tensor scores) {
  if (!logits.is_cpu())
    return model::fused_window_attention_received(logits, lse, offset, window, scale, scores).defined();
  const std::int64_t heads = logits.size(0), queries = logits.size(1), keys = logits.size(2);
  scores.add_(at::exp(logits.to(at::kFloat) * scale - lse.reshape({heads, queries, 1}))
                  .masked_fill(window_mask(queries, keys, offset, window, logits.device()).logical_not(), 0)
                  .sum(1));
  return true;
}

// QREAD_WINDOW_SUMS=logits: the window sums from the logits (a matmul, then a kernel reading them)
// even where the tensor-core kernel applies, to compare the two in one build.
bool window_sums_from_logits() {
  static const bool yes = [] {
    const char* v = std::getenv("QREAD_WINDOW_SUMS");
    return v && std::string_view(v) == "logits";
  }();
  return yes;
}
}  // namespace

void copy_rows(at::Tensor dst, const at::Tensor& src) {
  const std::int64_t ratio = 8 / std::int64_t(src.element_size());
  auto words = [&](const at::Tensor& t) {
    if (t.dim() == 0 || t.stride(-1) != 1 || t.size(-1) % ratio != 0 || t.storage_offset() % ratio != 0) return false;
    for (std::int64_t d = 0; d + 1 < t.dim(); ++d)
      if (t.stride(d) % ratio != 0) return false;
    return true;
  };
  if (ratio > 1 && dst.scalar_type() == src.scalar_type() &&
      dst.sizes() == src.sizes() && words(dst) && words(src)) {
    dst.view(at::kLong).copy_(src.view(at::kLong));
    return;
  }
  dst.copy_(src);
}

at::Tensor block_representatives(const at::Tensor& keys, const at::Tensor& scores, std::int64_t n, std::int64_t r,
                                 bool kernel, const at::Tensor& out) {
  const std::int64_t kv_heads = keys.size(1), heads = scores.size(0), dim = keys.size(3);
  const std::int64_t block = keys.size(2) / n, group = heads / kv_heads;
  if (kernel)
    if (auto fused = model::fused_block_representatives(keys, scores, n, r, out); fused.defined()) return fused;
  if (out.defined()) return out.copy_(block_representatives(keys, scores, n, r, false));
  // All n blocks at once, gathered straight from the KV heads (each serves `group` query heads;
  // a broadcast view, no copy): [Hkv, G, n, block, D].
  auto expanded = keys.squeeze(0).view({kv_heads, 1, n, block, dim}).expand({kv_heads, group, n, block, dim});
  auto best = std::get<1>(scores.reshape({heads, n, block}).topk(r, 2));
  auto index = best.view({kv_heads, group, n, r, 1}).expand({kv_heads, group, n, r, dim});
  return expanded.gather(3, index)
      .mean(3)                            // [Hkv, G, n, D]
      .view({heads, n, dim})
      .transpose(0, 1)                    // [n, Hq, D]
      .reshape({n, heads * dim});
}

at::Tensor execution_block_means(const at::Tensor& queries, std::int64_t exc) {
  const auto q = queries.squeeze(0);  // [H, T, D]
  const std::int64_t t = q.size(1), full = t / exc;
  std::vector<at::Tensor> parts;
  if (full > 0) parts.push_back(q.narrow(1, 0, full * exc).unflatten(1, {full, exc}).mean(2, false, at::kFloat));
  if (t > full * exc) parts.push_back(q.narrow(1, full * exc, t - full * exc).mean(1, true, at::kFloat));
  return (parts.size() == 1 ? parts.front() : at::cat(parts, 1)).transpose(0, 1);
}

at::Tensor select_blocks(const at::Tensor& repr, const at::Tensor& query, const at::Tensor& question, double weight,
                         std::int64_t k, bool kernel) {
  if (kernel)
    if (auto ids = model::fused_select_blocks(repr, query, question, weight, k); ids.defined()) return ids;
  auto scores = at::matmul(repr, query.reshape({-1}).to(repr.scalar_type()));
  if (question.defined()) scores = scores + weight * at::matmul(repr, question);
  // In ascending order, as the reference keeps them; they stay on the device (no waiting).
  return std::get<0>(at::sort(std::get<1>(scores.topk(std::min(k, repr.size(0))))));
}

BlockMemory::BlockMemory(const model::Rope& rope, const AttentionConfig& config,
                         std::optional<QuestionSpan> question, const at::Device& device)
    : rope_(rope),
      config_(config),
      question_span_(question),
      query_aware_(config.mode == MemoryMode::qllm),
      device_(device),
      store_(config.max_cached_block, config.cache_strategy, config.score_decay, device) {}

void BlockMemory::GrowingRows::move_to_buffer(std::int64_t capacity) {
  auto sizes = buffer.sizes().vec();
  sizes[std::size_t(dim)] = capacity;
  auto fresh = at::empty(sizes, buffer.options());
  if (length > 0) copy_rows(fresh.narrow(dim, 0, length), rows());
  buffer = fresh;
  start = 0;
}

at::Tensor BlockMemory::GrowingRows::extend(std::int64_t t, std::int64_t room) {
  if (start + length + t > buffer.size(dim)) move_to_buffer(length + t + room);
  length += t;
  return buffer.narrow(dim, start + length - t, t);
}

void BlockMemory::GrowingRows::fit(std::int64_t room) {
  if (buffer.size(dim) > 2 * (length + room)) move_to_buffer(length + room);
}

void BlockMemory::reset() {
  store_.clear();
  for (auto* rows : {&rest_k_, &rest_v_, &rest_score_}) *rows = GrowingRows(rows->dim);
  init_k_ = init_v_ = repr_ = question_ = local_mask_ = global_k_ = global_v_ = at::Tensor();
  rest_begin_ = rest_end_ = rest_origin_ = length_ = fused_blocks_ = global_init_ = 0;
  init_full_ = false;
  retrievals_.clear();
  pending_.clear();
}

ContextBytes BlockMemory::held_bytes() const {
  return storage_bytes({&rest_k_.buffer, &rest_v_.buffer, &rest_score_.buffer, &init_k_, &init_v_, &global_k_,
                        &global_v_, &repr_, &question_, &local_mask_},
                       store_.held_bytes());
}

at::Tensor BlockMemory::representative_keys() const {
  return repr_.defined() ? repr_.narrow(0, 0, store_.size()) : at::Tensor();
}

std::int64_t BlockMemory::window_bytes() const {
  std::int64_t bytes = 0;
  for (const auto* rows : {&rest_k_, &rest_v_, &rest_score_}) bytes += rows->bytes();
  for (const auto* t : {&init_k_, &init_v_})
    if (t->defined()) bytes += std::int64_t(t->storage().nbytes());
  return bytes;
}

at::Tensor BlockMemory::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = q.size(2), n_local = config_.n_local, exc = config_.exc_block_size;
  if (!rest_k_.buffer.defined()) {
    heads_ = q.size(1);
    kv_heads_ = k.size(1);
    dim_ = q.size(3);
    auto empty_kv = at::empty({1, kv_heads_, 0, dim_}, k.options());
    rest_k_.buffer = rest_v_.buffer = init_k_ = init_v_ = empty_kv;
    rest_score_.buffer = at::empty({heads_, 0}, k.options().dtype(at::kFloat));
  }
  // Blocks leave the window once it is full: host memory for them is made ahead, but not for a
  // prompt that never fills it.
  if (length_ + t > n_local) store_.prepare(k, config_.block_size);
  // Spare rows kept after the window and the remainder: they move once every `room` tokens of
  // decoding instead of at each one.
  const std::int64_t room = std::max<std::int64_t>(1, n_local / 16);
  std::optional<PhaseScope> setup_scope(std::in_place, "blocks: chunk setup");
  // The whole chunk joins the remainder; [rest_begin_, rest_end_) is what earlier execution
  // blocks have seen and not yet moved into init or a block.
  rest_begin_ = 0;
  rest_end_ = rest_k_.length;
  copy_rows(rest_k_.extend(t, room), k);
  copy_rows(rest_v_.extend(t, room), v);
  rest_score_.extend(t, room).zero_();
  // The local windows are rows of the remainder, which always holds the last min(n_local,
  // length) tokens: init takes tokens only beyond the window's n_local, and blocks leave at least
  // n_local behind (the rows an execution block moves out stay in the buffer until the chunk
  // ends). So the chunk's keys and values are copied once, not into a window of their own too.
  const std::int64_t window_before = std::min(n_local, length_);
  TORCH_CHECK(rest_end_ >= window_before, "block memory: the remainder (", rest_end_,
              " tokens) lost part of the window (", window_before, ")");
  const std::int64_t kv_length = window_before + t;
  const auto local_k = rest_k_.rows().narrow(2, rest_end_ - window_before, kv_length);
  const auto local_v = rest_v_.rows().narrow(2, rest_end_ - window_before, kv_length);
  // Global queries all sit at the one angle of position n_local - 1.
  const auto global_q = rope_.apply_one(q, n_local - 1);
  const auto mean_queries = execution_block_means(global_q, exc);
  setup_scope.reset();

  // The output in the layout the model reads next (rows of [T, H * D]): each execution block
  // writes its rows in place, with no concatenation here and no transposed copy in the model.
  const auto result = at::empty({1, t, heads_, dim_}, q.options()).transpose(1, 2);
  for (std::int64_t st = 0; st < t; st += exc) {
    const std::int64_t ed = std::min(st + exc, t);
    const std::int64_t kv_st = std::max<std::int64_t>(kv_length + st - t - n_local, 0);
    const std::int64_t kv_ed = kv_length + ed - t;
    retrievals_.push_back({length_ + st, {}});
    const auto local_score = attend_execution_block(
        q.narrow(2, st, ed - st), local_k.narrow(2, kv_st, kv_ed - kv_st), local_v.narrow(2, kv_st, kv_ed - kv_st),
        global_q.narrow(2, st, ed - st), mean_queries[st / exc],
        ed < t ? mean_queries[st / exc + 1] : at::Tensor(), result.narrow(2, st, ed - st));
    PhaseScope absorb_scope("blocks: absorb");
    absorb(ed - st, local_score, global_q);
  }
  length_ += t;
  PhaseScope end_scope("blocks: chunk end");
  // Not kept after a chunk of several tokens: held by every layer, they would add 0.2 GB to the
  // prefill's peak of GPU memory (Llama-3-8B shape); the next chunk takes the same memory back
  // from the allocator's cache. Decoding (a token at a time) keeps them, init tokens copied.
  if (t > 1) {
    global_k_ = global_v_ = at::Tensor();
    global_init_ = 0;
    store_.drop_stage();
  }
  const std::int64_t kept = rest_k_.length - rest_begin_;
  for (auto* rows : {&rest_k_, &rest_v_, &rest_score_}) rows->keep(rest_begin_, kept);
  // What stays is a small part of buffers that held the whole chunk: kept as it is, it would
  // hold all of it in every layer (2.4 GB of GPU memory for the Llama-3-8B shape in 8K chunks).
  for (auto* rows : {&rest_k_, &rest_v_, &rest_score_}) rows->fit(room);
  rest_origin_ += rest_begin_;
  rest_begin_ = 0;
  return result;
}

const std::vector<Retrieval>& BlockMemory::retrievals() {
  if (!pending_.empty()) {
    auto ids = at::cat(pending_).to(at::kCPU);
    const auto* id = ids.data_ptr<std::int64_t>();
    std::size_t next = 0;
    for (auto& r : retrievals_)
      for (auto& b : r.blocks)
        if (b < 0) b = id[next++];
    pending_.clear();
  }
  return retrievals_;
}

at::Tensor BlockMemory::attend_execution_block(const at::Tensor& q, const at::Tensor& local_k,
                                              const at::Tensor& local_v, const at::Tensor& global_q,
                                              const at::Tensor& mean_query, const at::Tensor& next_mean_query,
                                              const at::Tensor& into) {
  const std::int64_t len_q = q.size(2), len_k = local_k.size(2), n_local = config_.n_local;
  // The blocks to retrieve first: on CUDA their copies then run on the store's copy stream while
  // this stream does the local window's work.
  std::optional<PhaseScope> scope(std::in_place, "blocks: select");
  const auto ids = store_.size() == 0
                       ? at::Tensor()
                       : select_blocks(representative_keys(), mean_query,
                                       query_aware_ ? question_ : at::Tensor(), config_.question_weight, config_.topk);
  const std::int64_t chosen = ids.defined() ? ids.numel() : 0;
  if (chosen > 0) {
    // Ids are read back only when someone asks for the retrievals (no waiting per block).
    retrievals_.back().blocks.assign(std::size_t(chosen), -1);
    pending_.push_back(ids);
  }
  // Stage 2's keys: retrieved blocks, init tokens and the remainder outside the window, unrotated,
  // one after another in global_k_ / global_v_.
  scope.emplace("blocks: retrieve");
  const std::int64_t rest_taken = std::max<std::int64_t>(rest_end_ - rest_begin_ + len_q - n_local, 0);
  const std::int64_t block_rows = chosen * config_.block_size, init_rows = init_k_.size(2);
  const std::int64_t front = config_.topk * config_.block_size;  // where the blocks end
  if (!global_k_.defined() || global_k_.size(2) < front + init_rows + rest_taken) {
    // Room for the init tokens and the most of the remainder an execution block of len_q takes
    // (at most len_q + block_size: made once per chunk).
    const std::int64_t rows = front + config_.n_init + std::max(rest_taken, len_q + config_.block_size);
    global_k_ = at::empty({1, kv_heads_, rows, dim_}, local_k.options());
    global_v_ = at::empty_like(global_k_);
    global_init_ = 0;
  }
  store_.retrieve(ids, {global_k_.narrow(2, front - block_rows, block_rows),
                        global_v_.narrow(2, front - block_rows, block_rows)});
  // The next execution block's blocks, copied ahead on the copy stream beside this one's work (on
  // the H100 a retrieval's copies from host memory took 112 us that this stream waited for):
  // its choice among the blocks held now, by the same scores. Blocks that this execution block
  // adds may take some of its places; the store reads those from the device anyway.
  if (next_mean_query.defined() && store_.size() > 0) {
    scope.emplace("blocks: stage next");
    const auto question = query_aware_ ? question_ : at::Tensor();
    const auto repr = representative_keys();
    store_.stage(
        config_.topk,
        [&] { return select_blocks(repr, next_mean_query, question, config_.question_weight, config_.topk); },
        {repr, next_mean_query, question});
  }

  // Stage 1: the local window, rotated by relative position inside it. Execution blocks after
  // the first ones share one shape: its mask is made once per layer.
  scope.emplace("blocks: local stage");
  auto local_q = rope_.apply(q, len_k - len_q), local_kr = rope_.apply(local_k, 0);
  if (!local_mask_.defined() || local_mask_.size(0) != len_q || local_mask_.size(1) != len_k)
    local_mask_ = window_mask(len_q, len_k, len_k - len_q, n_local, q.device());

  const std::int64_t rest_offset = block_rows + init_rows;
  const std::int64_t global_keys = rest_offset + rest_taken;
  auto global_kv = [&] {
    PhaseScope global_scope("blocks: global keys");
    store_.retrieval_ready();
    // Init tokens are copied once they change (they only grow, in the first execution blocks).
    if (global_init_ != init_rows) {
      copy_rows(global_k_.narrow(2, front, init_rows), init_k_);
      copy_rows(global_v_.narrow(2, front, init_rows), init_v_);
      global_init_ = init_rows;
    }
    if (rest_taken > 0) {
      copy_rows(global_k_.narrow(2, front + init_rows, rest_taken), rest_k_.rows().narrow(2, rest_begin_, rest_taken));
      copy_rows(global_v_.narrow(2, front + init_rows, rest_taken), rest_v_.rows().narrow(2, rest_begin_, rest_taken));
    }
    return std::make_pair(global_k_.narrow(2, front - block_rows, global_keys),
                          global_v_.narrow(2, front - block_rows, global_keys));
  };
  // The reference's mask for this stage: dist = i - j + remainder length + rest_offset >= n_local,
  // that is, query i sees global key j when j <= i + visible_shift.
  const std::int64_t visible_shift = rest_k_.length + rest_offset - n_local;
  scope.emplace("blocks: fused stages");
  if (fused_execution_block(local_q, local_kr, local_v, global_q, global_keys, global_kv, visible_shift, into))
    return {};

  scope.emplace("blocks: explicit stages");
  const auto [global_k, global_v] = global_kv();
  MultiStageAttention attention;
  attention.add_stage(local_q, local_kr, local_v, local_mask_, /*want_score=*/true);
  attention.add_stage(global_q, global_k, global_v,
                      complement_window_mask(len_q, global_k.size(2), rest_k_.length + rest_offset, n_local,
                                             q.device()),
                      /*want_score=*/config_.cache_strategy == CacheStrategy::lru_s);
  scope.emplace("blocks: softmax and output");
  auto out = attention.finish();
  scope.emplace("blocks: lru-s scores");

  if (config_.cache_strategy == CacheStrategy::lru_s && chosen > 0) {
    auto per_block = attention.score(1)
                         .narrow(1, 0, chosen * config_.block_size)
                         .view({heads_, chosen, config_.block_size})
                         .sum(-1)
                         .sum(0);
    store_.add_scores(ids, per_block);
  }
  into.copy_(out);
  return attention.score(0);
}

bool BlockMemory::fused_execution_block(const at::Tensor& local_q, const at::Tensor& local_k,
                                        const at::Tensor& local_v, const at::Tensor& global_q, std::int64_t keys,
                                        const std::function<std::pair<at::Tensor, at::Tensor>()>& global_kv,
                                        std::int64_t visible_shift, const at::Tensor& into) {
  // Both stages by flash attention, merged by their log-sum-exps; the local window's attention
  // per key (for representative keys) from the merged normaliser. The global stage's mask
  // (j <= i + visible_shift) is flash's end-aligned causal mask when visible_shift = Tk - Tq,
  // and no mask when every query sees every key; anything else (the first execution blocks),
  // and lru-s (which needs the global stage's probabilities), take the explicit stages.
  const std::int64_t len_q = local_q.size(2), len_k = local_k.size(2);
  const bool unmasked = visible_shift >= keys - 1;
  if (!compat::fused_attention() || config_.cache_strategy == CacheStrategy::lru_s || visible_shift < 0 ||
      (!unmasked && visible_shift != keys - len_q))
    return false;
  // The local window's work first: on CUDA the retrieved blocks' copies run meanwhile. (The
  // global stage on a second stream beside the local flash was slower: 4.76-4.93 s at 100K on
  // the H200 against 4.52 s.)
  const double scale = 1.0 / std::sqrt(double(dim_));
  std::optional<PhaseScope> scope(std::in_place, "fused: local flash");
  auto local = compat::flash_attention(local_q, local_k, local_v, true, config_.n_local, scale);
  if (!local) return false;
  auto [out, lse] = *local;
  // The window logits (for the window sums) only where the sums do not come from the queries and
  // keys by the tensor-core kernel; then before the global stage, which may wait for the retrieval.
  const std::int64_t group = heads_ / kv_heads_;
  auto window_logits = [&] {
    return at::matmul(local_q.reshape({kv_heads_, group * len_q, dim_}),
                      local_k.reshape({kv_heads_, len_k, dim_}).transpose(1, 2))
        .view({heads_, len_q, len_k});
  };
  const bool from_logits = window_sums_from_logits();
  at::Tensor logits;
  if (from_logits) {
    scope.emplace("fused: window logits");
    logits = window_logits();
  }
  scope.reset();
  if (keys > 0) {
    const auto [global_k, global_v] = global_kv();
    std::optional<PhaseScope> global_scope(std::in_place, "fused: global flash");
    // Not cuDNN: the global key count changes from one execution block (or decoded token) to
    // the next, and cuDNN plans per shape (decode 23 -> 33-78 ms/token with it).
    auto global = compat::flash_attention(global_q, global_k, global_v, !unmasked, 0, scale, /*allow_cudnn=*/false);
    if (!global) return false;
    global_scope.emplace("fused: merge");
    std::tie(out, lse) = merge_attention(out, lse, global->first, global->second, into);
  } else {
    into.copy_(out);
  }
  // The window keys' attention: exp(scale * q.k - lse) over the queries whose window holds them,
  // added straight to their running scores (absorb then has nothing to add). On CUDA only as a
  // kernel: a build with flash attention but without our kernels (QREAD_CUDA off) takes the
  // explicit stages.
  scope.emplace("fused: window sums");
  const auto scores = window_scores(len_q, len_k);
  if (from_logits || !model::fused_window_sums(local_q, local_k, lse, len_k - len_q, config_.n_local, scale, scores)
                          .defined()) {
    if (!logits.defined()) logits = window_logits();
    if (!add_window_attention(logits, lse, len_k - len_q, config_.n_local, scale, scores)) return false;
  }
  ++fused_blocks_;
  return true;
}

at::Tensor BlockMemory::window_scores(std::int64_t exec_length, std::int64_t window_keys) {
  // The window's keys end where this execution block ends; at most exec_length + n_local of them.
  const std::int64_t scored = std::min(window_keys, exec_length + config_.n_local);
  return rest_score_.rows().narrow(1, rest_end_ + exec_length - scored, scored);
}

void BlockMemory::absorb(std::int64_t exec_length, const at::Tensor& local_score,
                         const at::Tensor& chunk_global_q) {
  const std::int64_t n_local = config_.n_local, block = config_.block_size;
  const std::int64_t end = rest_end_ + exec_length;
  std::int64_t begin = rest_begin_, live = end - begin;
  // The local attention the window's keys just received, unless already added (fused stages).
  std::optional<PhaseScope> scope(std::in_place, "absorb: scores");
  if (local_score.defined()) {
    auto scores = window_scores(exec_length, local_score.size(1));
    scores.add_(local_score.narrow(1, local_score.size(1) - scores.size(1), scores.size(1)));
  }

  scope.emplace("absorb: init");
  if (!init_full_ && live > n_local) {
    const std::int64_t take = std::min(config_.n_init - init_k_.size(2), live - n_local);
    init_k_ = at::cat({init_k_, rest_k_.rows().narrow(2, begin, take)}, 2);
    init_v_ = at::cat({init_v_, rest_v_.rows().narrow(2, begin, take)}, 2);
    begin += take;
    live -= take;
    init_full_ = init_k_.size(2) == config_.n_init;
    if (query_aware_ && !question_.defined() && question_span_ && question_span_->end > question_span_->begin)
      set_question(chunk_global_q);
  }

  const std::int64_t n = live >= n_local + block ? (live - n_local) / block : 0;  // blocks leaving the window
  if (n > 0) {
    scope.emplace("absorb: to host");
    const auto k = rest_k_.rows().narrow(2, begin, n * block), v = rest_v_.rows().narrow(2, begin, n * block);
    const std::int64_t first = store_.add_blocks(k, v, n, rest_origin_ + begin);
    scope.emplace("absorb: representatives");
    if (!repr_.defined() || first + n > repr_.size(0)) {
      const std::int64_t capacity = std::max<std::int64_t>(
          {16, 2 * (repr_.defined() ? repr_.size(0) : 0), first + n});
      auto grown = at::empty({capacity, heads_ * dim_}, k.options());
      if (first > 0) grown.narrow(0, 0, first).copy_(repr_.narrow(0, 0, first));
      repr_ = grown;
    }
    // Straight into their rows (on CUDA the kernel writes there: one operation less per block).
    block_representatives(k, rest_score_.rows().narrow(1, begin, n * block), n, config_.repr_topk, true,
                          repr_.narrow(0, first, n));
    begin += n * block;
  }
  rest_end_ = end;
  rest_begin_ = begin;
}

void BlockMemory::set_question(const at::Tensor& chunk_global_q) {
  // The question's tokens, by their index in this chunk and in the remainder (the reference's
  // convention; both are absolute positions when the question lies in the first chunk).
  auto clamp = [](std::int64_t x, std::int64_t n) { return std::clamp<std::int64_t>(x, 0, n); };
  const auto qb = clamp(question_span_->begin, chunk_global_q.size(2)), qe = clamp(question_span_->end, chunk_global_q.size(2));
  const auto sb = clamp(question_span_->begin, rest_score_.length), se = clamp(question_span_->end, rest_score_.length);
  const std::int64_t n = std::min(qe - qb, se - sb);
  if (n <= 0) return;
  auto queries = chunk_global_q.narrow(2, qb, n).squeeze(0);                 // [Hq, n, D]
  const std::int64_t r = std::min(config_.repr_topk, n);
  auto best = std::get<1>(rest_score_.rows().narrow(1, sb, n).topk(r, 1));             // [Hq, r]
  question_ = queries.gather(1, best.unsqueeze(-1).expand({heads_, r, dim_})).mean(1).reshape({heads_ * dim_});
}

}  // namespace qread::memory
