// YAML -> RunConfig, with messages that name the file, the line, the key and the value at fault.
//
// The format is the Q-LLM reference's `config/*.yaml` (read there by OmegaConf and passed, key by
// key, to the attention functions of `benchmark/qllm/attention/`): a `model:` section with the
// memory parameters, and `max_len`, `truncation`, `chunk_size`, `conv_type` at the top level.
// Each key has one entry in kKeys below: its place, and how its value is read. Checks that need
// several values (exc_block_size <= n_local, ...) are in check_values(), shared by validate().
#include "qread/config.hpp"

#include "config/config_text.hpp"
#include "qread/error.hpp"

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

namespace qread {

namespace {

constexpr std::array<std::pair<MemoryMode, const char*>, 6> kModes{{
    {MemoryMode::origin, "origin"},
    {MemoryMode::stream_llm, "stream-llm"},
    {MemoryMode::infinite_lm, "infinite-lm"},
    {MemoryMode::inf_llm, "inf-llm"},
    {MemoryMode::qllm, "qllm"},
    {MemoryMode::quest, "quest"},
}};

// The reference's ContextManager asserts cache_strategy in ["lru", "lru-s"] (its README also
// names FIFO, which the code does not have).
constexpr std::array<std::pair<CacheStrategy, const char*>, 2> kStrategies{{
    {CacheStrategy::lru, "lru"},
    {CacheStrategy::lru_s, "lru-s"},
}};

// A key's value as written: enough to type-check it and to quote it in a message.
struct RawValue {
  enum class Form { null, plain, quoted, list, mapping };
  Form form = Form::null;
  std::string text;
};

RawValue raw_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return {RawValue::Form::list, {}};
    case YAML::NodeType::Map: return {RawValue::Form::mapping, {}};
    case YAML::NodeType::Scalar: {
      // yaml-cpp tags a quoted scalar "!" and an explicit !!str with its full name; a plain
      // scalar is "?" (its type left to the reader).
      const std::string& tag = node.Tag();
      const bool quoted = tag == "!" || tag == "tag:yaml.org,2002:str";
      return {quoted ? RawValue::Form::quoted : RawValue::Form::plain, node.Scalar()};
    }
    default: return {RawValue::Form::null, {}};
  }
}

// "file:line" when the line is known (1-based), else "file".
std::string where(const std::string& source, int line) {
  return line > 0 ? fmt::format("{}:{}", source, line) : source;
}

int line_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.line + 1; }

std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) return fmt::format("'{}...'", text.substr(0, kMax));
  return fmt::format("'{}'", text);
}

std::string describe(const RawValue& value) {
  switch (value.form) {
    case RawValue::Form::null: return "no value";
    case RawValue::Form::list: return "a list";
    case RawValue::Form::mapping: return "a mapping";
    case RawValue::Form::quoted: return fmt::format("the quoted string {}", quote(value.text));
    case RawValue::Form::plain: break;
  }
  return quote(value.text);
}

// Replaces the note about `key` (notes start with "key:"), or drops it when `text` is empty, so
// that a later --set of the same key leaves one up-to-date note.
void set_note(RunConfig& config, std::string_view key, const std::string& text) {
  auto& notes = config.notes;
  const std::string prefix = fmt::format("{}:", key);
  notes.erase(std::remove_if(notes.begin(), notes.end(),
                             [&](const std::string& n) { return n.rfind(prefix, 0) == 0; }),
              notes.end());
  if (!text.empty()) notes.push_back(text);
}

// The key being read, for typed reading with messages that say where it was.
class KeyReader {
 public:
  KeyReader(const std::string& source, std::string key, int line)
      : source_(source), key_(std::move(key)), line_(line) {}

  [[noreturn]] void fail(std::string_view what) const {
    throw InputError(fmt::format("{}: {}: {}", where(source_, line_), key_, what));
  }

  std::int64_t integer(const RawValue& v) const {
    if (v.form == RawValue::Form::plain) {
      if (const auto i = config::parse_integer(v.text)) return *i;
    }
    fail(fmt::format("expected an integer, got {}", describe(v)));
  }
  std::optional<std::int64_t> optional_integer(const RawValue& v) const {
    if (v.form == RawValue::Form::null) return std::nullopt;
    return integer(v);
  }
  double number(const RawValue& v) const {
    if (v.form == RawValue::Form::plain) {
      if (const auto d = config::parse_number(v.text)) return *d;
    }
    fail(fmt::format("expected a number, got {}", describe(v)));
  }
  std::optional<double> optional_number(const RawValue& v) const {
    if (v.form == RawValue::Form::null) return std::nullopt;
    return number(v);
  }
  bool boolean(const RawValue& v) const {
    if (v.form == RawValue::Form::plain) {
      if (const auto b = config::parse_boolean(v.text)) return *b;
    }
    fail(fmt::format("expected true or false, got {}", describe(v)));
  }
  // Any scalar; no value reads as "".
  std::string text(const RawValue& v) const {
    if (v.form == RawValue::Form::list || v.form == RawValue::Form::mapping) {
      fail(fmt::format("expected a string, got {}", describe(v)));
    }
    return v.text;
  }
  MemoryMode mode(const RawValue& v) const {
    if (v.form == RawValue::Form::null) {
      fail("has no value; use one of origin, stream-llm, infinite-lm, inf-llm, qllm, quest");
    }
    const std::string name = text(v);
    if (const auto m = parse_mode(name)) return *m;
    std::vector<std::string_view> names;
    for (const auto& [m, n] : kModes) names.emplace_back(n);
    const auto near = config::closest_name(name, names);
    fail(fmt::format("unknown type {}{}; known types: origin, stream-llm, infinite-lm, inf-llm, "
                     "qllm, quest",
                     describe(v), near ? fmt::format(" (did you mean '{}'?)", *near) : ""));
  }
  CacheStrategy strategy(const RawValue& v) const {
    const std::string name = text(v);
    for (const auto& [s, n] : kStrategies) {
      if (name == n) return s;
    }
    fail(fmt::format("{} is not a cache strategy; use lru or lru-s", describe(v)));
  }

 private:
  const std::string& source_;
  std::string key_;
  int line_;
};

enum class Section { top, model };

struct KeySpec {
  const char* name;
  Section section;
  // The value is a free string: --set takes it verbatim instead of reading it as YAML (a path
  // such as "~/models" or "a: b" stays a path).
  bool verbatim;
  void (*set)(RunConfig&, const RawValue&, const KeyReader&);
};

using Reader = const KeyReader&;
using Raw = const RawValue&;

// Every key qread reads, in the order to_yaml writes them. Keys of the reference that qread does
// not use (faiss, chunk_topk_calc, pin_memory, tokenizer_path) are read, checked and noted.
const KeySpec kKeys[] = {
    {"type", Section::model, true, [](RunConfig& c, Raw v, Reader r) { c.attention.mode = r.mode(v); }},
    {"path", Section::model, true, [](RunConfig& c, Raw v, Reader r) { c.attention.path = r.text(v); }},
    {"fattn", Section::model, false, [](RunConfig& c, Raw v, Reader r) { c.attention.fattn = r.boolean(v); }},
    {"base", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.base = r.optional_number(v); }},
    {"distance_scale", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.distance_scale = r.optional_number(v); }},
    {"n_init", Section::model, false, [](RunConfig& c, Raw v, Reader r) { c.attention.n_init = r.integer(v); }},
    {"n_local", Section::model, false, [](RunConfig& c, Raw v, Reader r) { c.attention.n_local = r.integer(v); }},
    {"block_size", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.block_size = r.integer(v); }},
    {"topk", Section::model, false, [](RunConfig& c, Raw v, Reader r) { c.attention.topk = r.integer(v); }},
    {"repr_topk", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.repr_topk = r.integer(v); }},
    {"max_cached_block", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.max_cached_block = r.integer(v); }},
    {"exc_block_size", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.exc_block_size = r.integer(v); }},
    {"cache_strategy", Section::model, true,
     [](RunConfig& c, Raw v, Reader r) { c.attention.cache_strategy = r.strategy(v); }},
    {"score_decay", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.score_decay = r.optional_number(v); }},
    {"async_global_stream", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.async_global_stream = r.boolean(v); }},
    {"faiss", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) {
       c.attention.faiss = r.boolean(v);
       set_note(c, "faiss",
                c.attention.faiss ? "faiss: ignored; qread retrieves blocks on the GPU by inner product" : "");
     }},
    {"perhead", Section::model, false, [](RunConfig& c, Raw v, Reader r) { c.attention.perhead = r.boolean(v); }},
    {"question_weight", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.question_weight = r.number(v); }},
    {"page_size", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.page_size = r.integer(v); }},
    {"token_budget", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.token_budget = r.integer(v); }},
    {"dense_layers", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) { c.attention.dense_layers = r.integer(v); }},
    // The reference's inf_llm_forward/qllm_forward take these too (none of its config files sets
    // them). chunk_topk_calc batches the top-k of several execution blocks into one call.
    {"chunk_topk_calc", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) {
       const auto n = r.optional_integer(v);
       if (n && *n < 1) r.fail(fmt::format("must be at least 1 (or null), got {}", *n));
       set_note(c, "chunk_topk_calc",
                n ? "chunk_topk_calc: ignored; qread selects the blocks of each execution block as "
                    "it reaches it (the reference uses this only to batch that selection)"
                  : "");
     }},
    {"pin_memory", Section::model, false,
     [](RunConfig& c, Raw v, Reader r) {
       set_note(c, "pin_memory",
                r.boolean(v) ? "pin_memory: ignored; qread's block store chooses itself where "
                               "memory blocks live (pinned CPU memory when a GPU is used)"
                             : "");
     }},
    // benchmark/pred.py reads model.tokenizer_path (default: model.path).
    {"tokenizer_path", Section::model, true,
     [](RunConfig& c, Raw v, Reader r) {
       const std::string p = r.text(v);
       set_note(c, "tokenizer_path",
                p.empty() ? "" : "tokenizer_path: ignored; qread loads the tokenizer from the model folder (path)");
     }},
    {"max_len", Section::top, false, [](RunConfig& c, Raw v, Reader r) { c.max_len = r.integer(v); }},
    // pred.py's default is None (over-long inputs are not cut); a YAML null reads as "none".
    {"truncation", Section::top, true,
     [](RunConfig& c, Raw v, Reader r) { c.truncation = v.form == RawValue::Form::null ? "none" : r.text(v); }},
    {"chunk_size", Section::top, false, [](RunConfig& c, Raw v, Reader r) { c.chunk_size = r.integer(v); }},
    {"conv_type", Section::top, true, [](RunConfig& c, Raw v, Reader r) { c.conv_type = r.text(v); }},
    {"model", Section::top, false, nullptr},  // the section itself: handled by parse_config
};

std::string full_name(const KeySpec& spec) {
  return spec.section == Section::model ? fmt::format("model.{}", spec.name) : spec.name;
}

const KeySpec* find_key(std::string_view name, Section section) {
  for (const auto& spec : kKeys) {
    if (spec.section == section && name == spec.name) return &spec;
  }
  return nullptr;
}

std::vector<std::string_view> key_names(Section section) {
  std::vector<std::string_view> names;
  for (const auto& spec : kKeys) {
    if (spec.section == section) names.emplace_back(spec.name);
  }
  return names;
}

// "unknown key 'model.n_locl' (did you mean 'n_local'?)", or where the key belongs if it is in
// the other section, or the keys there are.
[[noreturn]] void unknown_key(const std::string& source, int line, std::string_view name, Section section) {
  const bool in_model = section == Section::model;
  const std::string shown = in_model ? fmt::format("model.{}", name) : std::string(name);
  std::string hint;
  const Section other = in_model ? Section::top : Section::model;
  if (find_key(name, other) && name != "model") {
    hint = in_model ? fmt::format(" ('{}' belongs at the top level, not under 'model:')", name)
                    : fmt::format(" ('{}' belongs under 'model:')", name);
  } else if (const auto near = config::closest_name(name, key_names(section))) {
    hint = fmt::format(" (did you mean '{}'?)", *near);
  } else if (const auto near_other = config::closest_name(name, key_names(other))) {
    hint = fmt::format(" (did you mean '{}'{}?)", *near_other, in_model ? " at the top level" : " under 'model:'");
  } else {
    std::string known;
    for (const auto n : key_names(section)) known += fmt::format("{}{}", known.empty() ? "" : ", ", n);
    hint = fmt::format("; the keys {} are: {}", in_model ? "under 'model:'" : "at the top level", known);
  }
  throw InputError(fmt::format("{}: unknown key '{}'{}", where(source, line), shown, hint));
}

// Lines of the keys of a parsed file ("model.topk" -> 7), so that checks of several values can
// point at a line too.
using LineMap = std::map<std::string, int, std::less<>>;

// The checks of validate(): single values first, then values that must fit together.
class ValueChecks {
 public:
  ValueChecks(const std::string& source, const LineMap* lines) : source_(source), lines_(lines) {}

  [[noreturn]] void fail(std::string_view key, std::string_view what) const {
    int line = 0;
    if (lines_) {
      if (const auto it = lines_->find(key); it != lines_->end()) line = it->second;
    }
    throw InputError(fmt::format("{}: {}: {}", where(source_, line), key, what));
  }
  void at_least(std::string_view key, std::int64_t value, std::int64_t min) const {
    if (value < min) fail(key, fmt::format("must be at least {}, got {}", min, value));
  }
  void positive(std::string_view key, const std::optional<double>& value) const {
    if (value && !(std::isfinite(*value) && *value > 0)) fail(key, fmt::format("must be positive, got {}", *value));
  }

 private:
  const std::string& source_;
  const LineMap* lines_;
};

void check_values(const RunConfig& config, const std::string& source, const LineMap* lines) {
  const ValueChecks c(source, lines);
  const AttentionConfig& a = config.attention;
  c.at_least("model.n_init", a.n_init, 0);
  c.at_least("model.n_local", a.n_local, 1);
  c.at_least("model.block_size", a.block_size, 1);
  c.at_least("model.topk", a.topk, 1);
  c.at_least("model.repr_topk", a.repr_topk, 1);
  c.at_least("model.max_cached_block", a.max_cached_block, 1);
  c.at_least("model.exc_block_size", a.exc_block_size, 1);
  c.positive("model.base", a.base);
  c.positive("model.distance_scale", a.distance_scale);
  if (a.score_decay && !(*a.score_decay > 0 && *a.score_decay <= 1)) {
    c.fail("model.score_decay", fmt::format("must be in (0, 1], got {}", *a.score_decay));
  }
  if (!(std::isfinite(a.question_weight) && a.question_weight >= 0)) {
    c.fail("model.question_weight", fmt::format("must be at least 0, got {}", a.question_weight));
  }
  c.at_least("model.page_size", a.page_size, 1);
  c.at_least("model.token_budget", a.token_budget, 1);
  c.at_least("model.dense_layers", a.dense_layers, 0);
  c.at_least("max_len", config.max_len, 1);
  c.at_least("chunk_size", config.chunk_size, 1);
  if (config.truncation != "suffix" && config.truncation != "none") {
    c.fail("truncation", fmt::format("{} is not supported; use suffix or none", quote(config.truncation)));
  }

  // Values that must fit together, for the modes that use them: a stream-llm file with
  // n_local: 256 and no exc_block_size loads in the reference, so it loads here too.
  if (a.mode == MemoryMode::inf_llm || a.mode == MemoryMode::qllm) {
    if (a.repr_topk > a.block_size) {
      c.fail("model.repr_topk", fmt::format("{} is more than model.block_size ({}): a block has no more "
                                            "representative keys than tokens",
                                            a.repr_topk, a.block_size));
    }
    if (a.exc_block_size > a.n_local) {
      c.fail("model.exc_block_size",
             fmt::format("{} is more than model.n_local ({}): the queries of an execution block must "
                         "fit in the local window (the reference asserts exc_block_size <= n_local)",
                         a.exc_block_size, a.n_local));
    }
    if (a.max_cached_block < a.topk) {
      c.fail("model.max_cached_block",
             fmt::format("{} is less than model.topk ({}): the GPU cache must hold the blocks "
                         "retrieved for one execution block",
                         a.max_cached_block, a.topk));
    }
    if (a.cache_strategy == CacheStrategy::lru_s && !a.score_decay) {
      c.fail("model.cache_strategy", "lru-s needs model.score_decay (a value in (0, 1])");
    }
  }
  if (a.mode == MemoryMode::quest && a.token_budget < a.page_size) {
    c.fail("model.token_budget", fmt::format("{} is less than model.page_size ({}): the budget must "
                                             "hold at least one page",
                                             a.token_budget, a.page_size));
  }
}

// Notes that depend on several values; refreshed after each file or --set.
void refresh_notes(RunConfig& config) {
  const AttentionConfig& a = config.attention;
  set_note(config, "score_decay",
           a.score_decay && a.cache_strategy == CacheStrategy::lru
               ? "score_decay: no effect with cache_strategy lru (lru-s uses it)"
               : "");
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(fmt::format("{}: is a folder, not a config file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(fmt::format("{}: cannot open{}", path.string(),
                                 std::filesystem::exists(path, ec) ? "" : " (no such file)"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: read error", path.string()));
  return text.str();
}

// Reads the keys of one mapping (the top level or `model:`) into `config`.
void read_section(RunConfig& config, const YAML::Node& map, Section section, const std::string& source,
                  LineMap& lines, std::optional<YAML::Node>* model_node) {
  std::map<std::string, int> seen;
  for (const auto& entry : map) {
    // Copies: a Node is a handle, and the iterator's pair is a temporary.
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    const int line = line_of(key.Mark());
    if (!key.IsScalar()) {
      throw InputError(fmt::format("{}: a key must be a plain name, got {}", where(source, line),
                                   describe(raw_of(key))));
    }
    const std::string& name = key.Scalar();
    const std::string shown = section == Section::model ? "model." + name : name;
    if (const auto [prev, inserted] = seen.emplace(name, line); !inserted) {
      throw InputError(fmt::format("{}: duplicate key '{}' (first on line {})", where(source, line), shown,
                                   prev->second));
    }
    const KeySpec* spec = find_key(name, section);
    if (!spec) unknown_key(source, line, name, section);
    lines[shown] = line;
    if (!spec->set) {
      model_node->emplace(value);
      continue;
    }
    spec->set(config, raw_of(value), KeyReader(source, shown, line));
  }
}

}  // namespace

const char* mode_name(MemoryMode mode) {
  for (const auto& [m, name] : kModes) {
    if (m == mode) return name;
  }
  return "?";
}

std::optional<MemoryMode> parse_mode(const std::string& name) {
  for (const auto& [m, n] : kModes) {
    if (name == n) return m;
  }
  return std::nullopt;
}

RunConfig load_config(const std::filesystem::path& path) {
  RunConfig config = parse_config(read_file(path), path.string());
  config.source = path;
  return config;
}

RunConfig parse_config(const std::string& yaml_text, const std::string& source) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: not valid YAML: {}", where(source, line_of(e.mark)), e.msg));
  }
  if (documents.size() > 1) {
    throw InputError(fmt::format("{}: {} YAML documents (separated by ---); a config is one", source,
                                 documents.size()));
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  if (root.IsNull()) {
    throw InputError(fmt::format("{}: empty; a config needs at least 'model:' with a 'type:'", source));
  }
  if (!root.IsMap()) {
    throw InputError(fmt::format("{}: expected keys (model:, max_len:, chunk_size:, ...), got {}",
                                 where(source, line_of(root.Mark())), describe(raw_of(root))));
  }

  RunConfig config;
  config.source = source;
  LineMap lines;
  std::optional<YAML::Node> model;
  read_section(config, root, Section::top, source, lines, &model);
  if (model && !model->IsNull()) {
    if (!model->IsMap()) {
      throw InputError(fmt::format("{}: model: expected keys (type:, n_local:, ...), got {}",
                                   where(source, lines["model"]), describe(raw_of(*model))));
    }
    read_section(config, *model, Section::model, source, lines, nullptr);
  }
  // The reference needs it too (its loader picks the attention function by model.type).
  if (!lines.contains("model.type")) {
    throw InputError(fmt::format("{}: model.type is missing; use one of origin, stream-llm, infinite-lm, "
                                 "inf-llm, qllm, quest",
                                 where(source, model ? lines["model"] : 0)));
  }
  refresh_notes(config);
  check_values(config, source, &lines);
  return config;
}

RunConfig default_config(MemoryMode mode) {
  // The reference's Llama-3 "1K" settings (config/llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml), the
  // same for every mode so that presets differ in type only (config/default.yaml is the qllm
  // one). Quest keeps the struct's page 16, budget 1024, two dense layers: the defaults of Quest's
  // own evaluation code (evaluation/passkey/passkey.py, pg19/ppl_eval.py, quest_attention.py).
  RunConfig config;
  AttentionConfig& a = config.attention;
  a.mode = mode;
  a.n_init = 128;
  a.n_local = 1024;
  a.block_size = 128;
  a.topk = 8;
  a.repr_topk = 4;
  a.max_cached_block = 32;
  a.exc_block_size = 512;
  a.question_weight = 4;
  config.chunk_size = 8192;
  return config;
}

namespace {

// One `key=value` into `config`, typed but without the checks across keys.
void set_override(RunConfig& config, const std::string& assignment) {
  const std::string source = fmt::format("--set {}", assignment);
  const auto trim = [](std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string();
    return std::string(s.substr(first, s.find_last_not_of(" \t") - first + 1));
  };
  const auto equals = assignment.find('=');
  if (equals == std::string::npos) {
    throw InputError(fmt::format("{}: expected key=value, e.g. topk=8 or model.n_local=2048", source));
  }
  std::string name = trim(std::string_view(assignment).substr(0, equals));
  const std::string value = trim(std::string_view(assignment).substr(equals + 1));

  const KeySpec* spec = nullptr;
  if (name.rfind("model.", 0) == 0) {
    name.erase(0, 6);
    spec = find_key(name, Section::model);
    if (!spec) unknown_key(source, 0, name, Section::model);
  } else {
    spec = find_key(name, Section::model);
    if (!spec) spec = find_key(name, Section::top);
    if (!spec) {
      // Either section's keys go without a prefix here.
      std::vector<std::string_view> names = key_names(Section::model);
      const auto top = key_names(Section::top);
      names.insert(names.end(), top.begin(), top.end());
      const auto near = config::closest_name(name, names);
      throw InputError(fmt::format("{}: unknown key '{}'{}", source, name,
                                   near ? fmt::format(" (did you mean '{}'?)", *near)
                                        : std::string("; see config/README.md for the keys")));
    }
  }
  if (!spec->set) throw InputError(fmt::format("{}: set the keys of model one by one, e.g. model.topk=8", source));

  RawValue raw;
  if (value.empty()) {
    raw = {RawValue::Form::null, {}};
  } else if (spec->verbatim) {
    raw = {RawValue::Form::plain, value};
  } else {
    // Read like a value in a file, so that "8", "true", "null", "'8'" mean the same in both.
    try {
      raw = raw_of(YAML::Load(value));
    } catch (const YAML::Exception&) {
      raw = {RawValue::Form::plain, value};  // not YAML: the typed reading below says why
    }
  }
  spec->set(config, raw, KeyReader(source, full_name(*spec), 0));
}

}  // namespace

void apply_override(RunConfig& config, const std::string& assignment) { apply_overrides(config, {assignment}); }

void apply_overrides(RunConfig& config, const std::vector<std::string>& assignments) {
  // All of them first, then the checks: "n_local=256 exc_block_size=128" is valid together
  // though not one by one.
  RunConfig changed = config;
  std::string source = "--set";
  for (const auto& a : assignments) {
    set_override(changed, a);
    source += " " + a;
  }
  refresh_notes(changed);
  check_values(changed, source, nullptr);
  config = std::move(changed);
}

void validate(const RunConfig& config, const std::string& source) { check_values(config, source, nullptr); }

namespace {

// A string every YAML reader (yaml-cpp, the reference's PyYAML) reads back as that string when
// written plain: a name or a path of letters, digits, '_', '-', '.', '/', that starts with a
// letter, '/', "./" or "../" and is not a boolean or null word.
bool plain_is_safe(const std::string& s) {
  if (s.empty() || s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./") !=
                       std::string::npos) {
    return false;
  }
  const char first = s.front();
  const bool letter = (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z');
  if (!letter && first != '/' && s.rfind("./", 0) != 0 && s.rfind("../", 0) != 0) return false;
  return !config::parse_boolean(s) && s != "null" && s != "Null" && s != "NULL";
}

}  // namespace

std::string to_yaml(const RunConfig& config) {
  const AttentionConfig& a = config.attention;
  YAML::Emitter out;
  // Numbers go out as the shortest text that reads back to the same value; strings plain when
  // that is safe, else double-quoted (a path may look like a number, a boolean or null).
  const auto number = [](auto v) { return fmt::format("{}", v); };
  const auto text = [](YAML::Emitter& e, const std::string& s) -> YAML::Emitter& {
    return plain_is_safe(s) ? e << s : e << YAML::DoubleQuoted << s;
  };
  const auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
  const auto key = [&](const char* k) -> YAML::Emitter& { return out << YAML::Key << k << YAML::Value; };

  out << YAML::BeginMap;
  key("model") << YAML::BeginMap;
  key("type") << mode_name(a.mode);
  if (!a.path.empty()) text(key("path"), a.path);
  key("fattn") << boolean(a.fattn);
  if (a.base) key("base") << number(*a.base);
  if (a.distance_scale) key("distance_scale") << number(*a.distance_scale);
  key("n_init") << number(a.n_init);
  key("n_local") << number(a.n_local);
  key("block_size") << number(a.block_size);
  key("topk") << number(a.topk);
  key("repr_topk") << number(a.repr_topk);
  key("max_cached_block") << number(a.max_cached_block);
  key("exc_block_size") << number(a.exc_block_size);
  key("cache_strategy") << (a.cache_strategy == CacheStrategy::lru ? "lru" : "lru-s");
  if (a.score_decay) key("score_decay") << number(*a.score_decay);
  key("async_global_stream") << boolean(a.async_global_stream);
  key("faiss") << boolean(a.faiss);
  key("perhead") << boolean(a.perhead);
  key("question_weight") << number(a.question_weight);
  key("page_size") << number(a.page_size);
  key("token_budget") << number(a.token_budget);
  key("dense_layers") << number(a.dense_layers);
  out << YAML::EndMap;
  key("max_len") << number(config.max_len);
  text(key("truncation"), config.truncation);
  key("chunk_size") << number(config.chunk_size);
  if (!config.conv_type.empty()) text(key("conv_type"), config.conv_type);
  out << YAML::EndMap;
  return fmt::format("# qread run configuration (keys as in the Q-LLM reference's config/*.yaml)\n{}\n",
                     out.c_str());
}

}  // namespace qread
