// Choosing the next token from logits: greedy, or temperature + top-k + top-p sampling.
#pragma once

#include "qread/language_model.hpp"

#include <random>
#include <span>

namespace qread::model {

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {}
  TokenId next(std::span<const float> logits);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

// Index of the largest logit (the first one on ties, as torch.argmax).
TokenId argmax(std::span<const float> logits);

}  // namespace qread::model
