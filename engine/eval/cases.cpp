// The three synthetic tasks of `qread eval`: documents sized in tokens with one fact at a depth.
//
// A document is a run of filler units (sentences, or the entries of a JSON object) with the fact
// between two of them. Units are counted one by one with the tokenizer, the fact goes at the
// unit boundary closest to the requested depth, and the whole text is measured again and the
// number of units corrected until it is within 1% of the target (joining units can merge a
// token or two at each boundary, so the sum of the parts is only an estimate).
#include "qread/eval.hpp"

#include "qread/error.hpp"
#include "qread/tokenizer.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>
#include <unordered_map>

namespace qread::eval {
namespace {

// Seeded randomness that gives the same values with every standard library (the standard
// distributions do not promise that; mt19937_64 itself does).
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() { return engine_(); }
  // Uniform in [0, n), n > 0; the modulo bias is far below anything a test could see.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  template <class T, std::size_t N>
  const T& pick(const std::array<T, N>& items) {
    return items[below(N)];
  }

 private:
  std::mt19937_64 engine_;
};

std::string random_uuid(Random& random) {
  const std::uint64_t hi = random.next(), lo = random.next();
  // Version 4 layout: xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx.
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xfff,
                     0x8000 | (lo >> 48 & 0x3fff), lo & 0xffffffffffffULL);
}

constexpr std::array<std::string_view, 24> kCities = {
    "Paris",  "Lisbon", "Nairobi", "Osaka",    "Lima",     "Oslo",   "Cairo",  "Quito",
    "Hanoi",  "Dublin", "Accra",   "Santiago", "Krakow",   "Tbilisi", "Manila", "Perth",
    "Bergen", "Porto",  "Dakar",   "Havana",   "Montreal", "Seoul",  "Vienna", "Muscat"};

// The needle task's generated haystack: plain sentences from a small grammar.
constexpr std::array<std::string_view, 12> kWhen = {
    "In the early morning", "After the long winter", "On a quiet afternoon", "Before the harvest",
    "Late in the evening", "During the spring fair", "At the turn of the year", "Once the rain had stopped",
    "Every other week", "In the dry season", "Long before the railway came", "When the bells rang"};
constexpr std::array<std::string_view, 16> kWho = {
    "the old ferryman", "a young carpenter", "the village teacher", "two travelling musicians",
    "the miller's daughter", "a tired merchant", "the lighthouse keeper", "a group of children",
    "the town clerk", "an elderly weaver", "the new baker", "a shepherd from the hills",
    "the harbour master", "a quiet scholar", "the blacksmith", "a family of farmers"};
constexpr std::array<std::string_view, 16> kDid = {
    "carried a basket of apples", "mended the fishing nets", "painted the wooden gate",
    "wrote a long letter", "counted the sheep", "planted a row of beans", "repaired the old clock",
    "sang a song about the sea", "cleaned the copper pots", "read an almanac aloud",
    "walked along the stone wall", "baked bread for the neighbours", "tied up the small boat",
    "swept the dusty floor", "collected firewood", "watched the clouds drift"};
constexpr std::array<std::string_view, 14> kWhere = {
    "across the river", "near the market square", "behind the chapel", "by the northern gate",
    "at the edge of the forest", "under the tall elm", "along the canal", "beside the mill pond",
    "on the windy hill", "inside the granary", "in the courtyard", "down by the harbour",
    "past the orchard", "at the crossroads"};
constexpr std::array<std::string_view, 10> kAfter = {
    "and nobody said a word about it", "while the dogs slept in the sun",
    "as the wind turned cold", "and then went home for supper", "because it had always been done that way",
    "though the roads were muddy", "and the whole street noticed", "without asking anyone for help",
    "as the church clock struck four", "and smiled at the passers-by"};

constexpr std::string_view kPasskeyHead =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.";
constexpr std::array<std::string_view, 5> kPasskeyFiller = {
    " The grass is green.", " The sky is blue.", " The sun is yellow.", " Here we go.", " There and back again."};

constexpr std::string_view kKvHead =
    "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n{";
constexpr std::string_view kKvTail = "\n}";

// Cuts text into sentence units, each starting with the whitespace that preceded it, so that
// joining units gives the text back. Long runs without a sentence end are cut at a space.
std::vector<std::string> split_units(std::string_view text) {
  std::vector<std::string> units;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool sentence_end = (c == '.' || c == '!' || c == '?') && i + 1 < text.size() &&
                              (text[i + 1] == ' ' || text[i + 1] == '\n');
    const bool too_long = i - begin >= 300 && c == ' ';
    if (sentence_end || too_long) {
      const std::size_t end = sentence_end ? i + 1 : i;
      if (end > begin) units.emplace_back(text.substr(begin, end - begin));
      begin = end;
    }
  }
  if (begin < text.size()) units.emplace_back(text.substr(begin));
  return units;
}

// A haystack of units: generated (kv: one entry each) or cycled from a pool, with the token
// count of each unit cached.
class Filler {
 public:
  Filler(const model::Tokenizer& tokenizer, std::vector<std::string> pool)
      : tokenizer_(tokenizer), pool_(std::move(pool)) {}
  Filler(const model::Tokenizer& tokenizer, std::function<std::string()> generate)
      : tokenizer_(tokenizer), generate_(std::move(generate)) {}

  const std::string& unit(std::size_t i) {
    if (generate_) {
      while (generated_.size() <= i) generated_.push_back(generate_());
      return generated_[i];
    }
    return pool_[i % pool_.size()];
  }
  std::int64_t tokens(std::size_t i) {
    const std::size_t key = generate_ ? i : i % pool_.size();
    auto it = counts_.find(key);
    if (it == counts_.end()) it = counts_.emplace(key, count(unit(i))).first;
    return it->second;
  }
  std::int64_t count(std::string_view text) const {
    return std::int64_t(tokenizer_.encode(text, false).size());
  }

 private:
  const model::Tokenizer& tokenizer_;
  std::vector<std::string> pool_;
  std::function<std::string()> generate_;
  std::vector<std::string> generated_;
  std::unordered_map<std::size_t, std::int64_t> counts_;
};

struct Fact {
  std::string head, tail;  // around the units (kv: the braces)
  std::string needle;      // the fact, placed between two units
  std::string question, expected;
};

// The longest prefix of `unit` ending at a word boundary that has at most `tokens` tokens.
std::string word_prefix(const Filler& filler, const std::string& unit, std::int64_t tokens) {
  std::vector<std::size_t> ends;  // before each space after the first character
  for (std::size_t i = 1; i < unit.size(); ++i)
    if (unit[i] == ' ') ends.push_back(i);
  std::size_t lo = 0, hi = ends.size();  // ends[0, lo) fit
  while (lo < hi) {
    const auto mid = (lo + hi) / 2;
    if (filler.count(std::string_view(unit).substr(0, ends[mid])) <= tokens)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? unit.substr(0, ends[lo - 1]) : std::string();
}

EvalCase assemble(const CaseRequest& request, Filler& filler, const Fact& fact, std::int64_t target,
                  bool allow_partial_unit) {
  const std::int64_t fixed = filler.count(fact.head) + filler.count(fact.needle) + filler.count(fact.tail);
  const std::int64_t tolerance = std::max<std::int64_t>(2, target / 100);
  EvalCase c;
  c.task = request.task;
  c.length = request.length;
  c.depth = request.depth;
  c.question = fact.question;
  c.expected = fact.expected;
  std::string partial;  // a cut unit that fills the last gap smaller than a unit
  std::int64_t partial_tokens = 0;
  std::size_t n = 0, at = 0;
  auto build = [&] {
    std::vector<std::int64_t> before(n + 1, 0);  // tokens of units [0, i)
    for (std::size_t i = 0; i < n; ++i) before[i + 1] = before[i] + filler.tokens(i);
    const double wanted = request.depth * double(before[n] + partial_tokens);
    at = 0;
    for (std::size_t i = 1; i <= n; ++i)
      if (std::abs(double(before[i]) - wanted) < std::abs(double(before[at]) - wanted)) at = i;
    // The cut unit goes at the end of the filler, or at its start when the fact is last.
    const bool partial_first = at == n && n > 0;
    std::string text = fact.head;
    if (partial_first) text += partial;
    for (std::size_t i = 0; i < at; ++i) text += filler.unit(i);
    c.needle_offset = text.size();
    text += fact.needle;
    c.needle_size = fact.needle.size();
    for (std::size_t i = at; i < n; ++i) text += filler.unit(i);
    if (!partial_first) text += partial;
    text += fact.tail;
    c.text = std::move(text);
    c.document_tokens = filler.count(c.text);
    return before[n];
  };
  // First estimate: whole units while the parts stay within the target (or half a unit over it).
  for (std::int64_t sum = fixed;; ++n) {
    const auto next = filler.tokens(n);
    if (sum + (allow_partial_unit ? next : next / 2) > target) break;
    sum += next;
  }
  // Then the measured text corrects it (units merge a token or two at their joins).
  std::size_t built = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const auto filler_tokens = build();
    built = n;
    const std::int64_t error = target - c.document_tokens;
    if (std::abs(error) <= tolerance || n == 0) break;
    const double per_unit = double(filler_tokens) / double(n);
    // With a cut unit to fill the rest, stay at or under the target; else as close as whole
    // units get.
    const double units = double(error) / per_unit;
    const auto step = std::int64_t(allow_partial_unit ? std::floor(units) : std::round(units));
    if (step == 0) break;
    n = std::size_t(std::max<std::int64_t>(1, std::int64_t(n) + step));
  }
  if (built != n) build();
  // A unit much longer than the average can make the estimate swing around the target (5 units
  // under it, 6 over it, and back): where a cut unit fills the rest, drop whole units until the
  // text is not over.
  while (allow_partial_unit && n > 1 && c.document_tokens > target + tolerance) {
    --n;
    build();
  }
  // Less than a unit left: part of the next unit, cut at a word.
  if (allow_partial_unit && c.document_tokens < target - tolerance) {
    partial = word_prefix(filler, filler.unit(n), target - c.document_tokens);
    if (!partial.empty()) {
      partial_tokens = filler.count(partial);
      build();
    }
  }
  c.body_offset = fact.head.size();
  c.body_tokens = filler.count(std::string_view(c.text).substr(c.body_offset));
  c.needle_token = filler.count(std::string_view(c.text).substr(c.body_offset, c.needle_offset - c.body_offset));
  c.needle_tokens = filler.count(fact.needle);
  return c;
}

}  // namespace

double EvalCase::measured_depth() const {
  const auto rest = std::max<std::int64_t>(1, body_tokens - needle_tokens);
  return std::clamp(double(needle_token) / double(rest), 0.0, 1.0);
}

std::string generated_haystack(std::uint64_t seed, std::size_t sentences) {
  Random random(seed ^ 0x5eed'4a7e'0000'0001ULL);
  std::string text;
  for (std::size_t i = 0; i < sentences; ++i) {
    std::string s = fmt::format("{}, {} {} {}", random.pick(kWhen), random.pick(kWho), random.pick(kDid),
                                random.pick(kWhere));
    if (random.below(3) == 0) s += fmt::format(" {}", random.pick(kAfter));
    text += (i ? " " : "") + s + ".";
    if (random.below(8) == 0) text += "\n";
  }
  return text;
}

EvalCase make_case(const CaseRequest& request, const model::Tokenizer& tokenizer, const PromptOverhead& overhead) {
  if (!(request.depth >= 0 && request.depth <= 1))
    throw InputError(fmt::format("depth {} is outside [0, 1]", request.depth));
  Random random(request.seed);
  Fact fact;
  std::unique_ptr<Filler> filler;
  switch (request.task) {
    case Task::needle: {
      const auto city = random.pick(kCities);
      const auto number = 1'000'000 + random.below(9'000'000);
      fact.needle = fmt::format(" The special magic number for {} is {}.", city, number);
      fact.question = fmt::format("What is the special magic number for {} mentioned in the text?", city);
      fact.expected = std::to_string(number);
      auto units = split_units(request.haystack.empty() ? generated_haystack(request.haystack_seed)
                                                        : std::string(request.haystack));
      // A haystack that already holds the needle's number would make every answer look right.
      std::erase_if(units, [&](const std::string& u) { return u.find(fact.expected) != std::string::npos; });
      if (units.empty()) throw InputError("the haystack text has no sentences");
      filler = std::make_unique<Filler>(tokenizer, std::move(units));
      break;
    }
    case Task::passkey: {
      const auto key = 10'000 + random.below(90'000);
      fact.head = std::string(kPasskeyHead);
      fact.needle = fmt::format(" The pass key is {0}. Remember it. {0} is the pass key.", key);
      fact.question = "What is the pass key?";
      fact.expected = std::to_string(key);
      filler = std::make_unique<Filler>(tokenizer,
                                        std::vector<std::string>(kPasskeyFiller.begin(), kPasskeyFiller.end()));
      break;
    }
    case Task::kv: {
      const auto key = random_uuid(random), value = random_uuid(random);
      fact.head = std::string(kKvHead);
      fact.tail = std::string(kKvTail);
      fact.needle = fmt::format("\n  \"{}\": \"{}\",", key, value);
      fact.question = fmt::format("What is the value associated with the key \"{}\" in the JSON object?", key);
      fact.expected = value;
      // Other entries: fresh UUIDs, never the asked key.
      auto keys = std::make_shared<std::set<std::string>>();
      keys->insert(key);
      auto entries = std::make_shared<Random>(request.seed ^ 0x6b76'0000'0000'0001ULL);
      filler = std::make_unique<Filler>(tokenizer, [keys, entries] {
        std::string k;
        do k = random_uuid(*entries);
        while (!keys->insert(k).second);
        return fmt::format("\n  \"{}\": \"{}\",", k, random_uuid(*entries));
      });
      break;
    }
  }
  const std::int64_t around = overhead ? overhead(fact.question) : 0;
  const std::int64_t target = request.length - around;
  const std::int64_t minimum = filler->count(fact.head) + filler->count(fact.needle) + filler->count(fact.tail);
  if (target < minimum)
    throw InputError(fmt::format("length {} is too short for the {} task: the prompt around the document takes "
                                 "{} tokens and the fact {}",
                                 request.length, task_name(request.task), around, minimum));
  // A JSON entry cut in half would break the object: kv sizes in whole entries.
  auto c = assemble(request, *filler, fact, target, request.task != Task::kv);
  if (request.task == Task::kv) {
    // JSON has no comma after the last entry.
    const auto last_comma = c.text.rfind(',');
    if (last_comma != std::string::npos && last_comma + kKvTail.size() + 1 == c.text.size()) {
      c.text.erase(last_comma, 1);
      if (c.needle_offset + c.needle_size > last_comma) --c.needle_size;
    }
  }
  return c;
}

bool is_correct(std::string_view answer, std::string_view expected) {
  return !expected.empty() && answer.find(expected) != std::string_view::npos;
}

Document make_document(const std::string& text, const std::string& name) {
  return Document(name, DocumentKind::text, text, {Page{1, "", 0, text.size()}});
}

}  // namespace qread::eval
