#include "model/sampling.hpp"

#include "qread/error.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace qread::model {

TokenId argmax(std::span<const float> logits) {
  if (logits.empty()) throw Error("sampling: empty logits");
  return TokenId(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TokenId Sampler::next(std::span<const float> logits) {
  if (options_.temperature <= 0.0) return argmax(logits);
  // Candidates sorted by logit, cut to top-k, softmax at the temperature, cut to the smallest
  // prefix whose probability reaches top-p, then one draw.
  std::vector<TokenId> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::size_t k = options_.top_k > 0 ? std::min<std::size_t>(options_.top_k, order.size()) : order.size();
  auto by_logit = [&](TokenId a, TokenId b) { return logits[a] > logits[b]; };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), by_logit);
  order.resize(k);
  std::vector<double> probs(k);
  const double top = logits[order[0]];
  double total = 0;
  for (std::size_t i = 0; i < k; ++i) total += probs[i] = std::exp((logits[order[i]] - top) / options_.temperature);
  std::size_t keep = k;
  if (options_.top_p < 1.0) {
    double cumulative = 0;
    for (std::size_t i = 0; i < k; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  std::discrete_distribution<std::size_t> draw(probs.begin(), probs.begin() + keep);
  return order[draw(rng_)];
}

}  // namespace qread::model
