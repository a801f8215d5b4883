// A GGUF model against the same model in Hugging Face layout: a tiny random HF folder is written
// as GGUF the way llama.cpp's converter lays it out (its tensor names, dims innermost first, Q/K
// rows reordered for interleaved-pair RoPE, the tokenizer in the metadata). Both must give the
// same logits and the same token ids.
#include "gguf_writer.hpp"
#include "model/safetensors.hpp"
#include "qread/language_model.hpp"
#include "qread/model_maker.hpp"
#include "qread/tokenizer.hpp"
#include "test_support.hpp"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;
using namespace qread::test;

namespace {

// GGUF value types.
constexpr std::uint32_t kU32 = 4, kI32 = 5, kF32 = 6, kString = 8, kArray = 9;

Meta string_meta(const std::string& key, const std::string& value) { return {key, kString, 0, {}, {value}}; }
Meta u32_meta(const std::string& key, std::uint64_t value) { return {key, kU32, 0, {value}, {}}; }
Meta f32_meta(const std::string& key, float value) { return {key, kF32, 0, {std::bit_cast<std::uint32_t>(value)}, {}}; }

// llama.cpp's converter names, written out independently of the engine's mapping.
std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::map<std::string, std::string> layer{
      {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},    {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  const auto rest = hf.substr(std::string("model.layers.").size());
  const auto dot = rest.find('.');
  return "blk." + rest.substr(0, dot) + "." + layer.at(rest.substr(dot + 1));
}

// The converter's permute(): rows of each head viewed as [2, D/2] are transposed to [D/2, 2].
std::string permuted_rows(const std::byte* data, std::int64_t rows, std::int64_t cols, std::int64_t heads) {
  std::string out(std::size_t(rows * cols * 4), '\0');
  const std::int64_t half = rows / heads / 2;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t part = 0; part < 2; ++part)
      for (std::int64_t i = 0; i < half; ++i) {
        const std::int64_t from = h * 2 * half + part * half + i, to = h * 2 * half + 2 * i + part;
        std::memcpy(out.data() + to * cols * 4, data + from * cols * 4, std::size_t(cols * 4));
      }
  return out;
}

}  // namespace

class TestGgufModel : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

 private Q_SLOTS:
  void ggufAndHfFoldersAgree() {
    QVERIFY(tmp_.isValid());
    const fs::path hf = fs::path(tmp_.path().toStdString()) / "hf";
    qread::MakeModelOptions o;
    o.heads = 4;
    o.kv_heads = 2;
    o.hidden_size = 64;
    o.layers = 2;
    o.seed = qread::test::random_seed();
    o.tokenizer = "bpe";
    o.corpus = fs::path(QREAD_SOURCE_DIR) / "tests/tokenizer/data/corpus.txt";
    o.tokenizer_vocab = 400;
    qread::make_model(hf, o);

    nlohmann::json config, tok;
    std::ifstream(hf / "config.json") >> config;
    std::ifstream(hf / "tokenizer.json") >> tok;
    Writer w;
    const std::int64_t heads = config["num_attention_heads"], kv_heads = config["num_key_value_heads"];
    w.meta = {string_meta("general.architecture", "llama"),
              u32_meta("llama.embedding_length", config["hidden_size"]),
              u32_meta("llama.feed_forward_length", config["intermediate_size"]),
              u32_meta("llama.block_count", config["num_hidden_layers"]),
              u32_meta("llama.attention.head_count", std::uint64_t(heads)),
              u32_meta("llama.attention.head_count_kv", std::uint64_t(kv_heads)),
              u32_meta("llama.rope.dimension_count", config["head_dim"]),
              u32_meta("llama.context_length", config["max_position_embeddings"]),
              f32_meta("llama.attention.layer_norm_rms_epsilon", float(config["rms_norm_eps"])),
              f32_meta("llama.rope.freq_base", float(config["rope_theta"])),
              string_meta("tokenizer.ggml.model", "gpt2"),
              string_meta("tokenizer.ggml.pre", "llama-bpe")};
    // Tokens by id, their types (3: control) and the merges, from tokenizer.json.
    std::vector<std::string> tokens(config["vocab_size"].get<std::size_t>());
    std::vector<std::uint64_t> types(tokens.size(), 1);
    for (const auto& [text, id] : tok["model"]["vocab"].items()) tokens[id.get<std::size_t>()] = text;
    for (const auto& added : tok["added_tokens"]) {
      tokens[added["id"].get<std::size_t>()] = added["content"];
      types[added["id"].get<std::size_t>()] = added["special"].get<bool>() ? 3 : 4;
    }
    std::vector<std::string> merges;
    for (const auto& m : tok["model"]["merges"])
      merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
    w.meta.push_back({"tokenizer.ggml.tokens", kArray, kString, {}, tokens});
    w.meta.push_back({"tokenizer.ggml.merges", kArray, kString, {}, merges});
    w.meta.push_back({"tokenizer.ggml.token_type", kArray, kI32, types, {}});
    if (config.contains("bos_token_id")) w.meta.push_back(u32_meta("tokenizer.ggml.bos_token_id", config["bos_token_id"]));
    if (config.contains("eos_token_id")) w.meta.push_back(u32_meta("tokenizer.ggml.eos_token_id", config["eos_token_id"]));

    const auto store = qread::model::WeightStore::open(hf);
    for (const auto& name : store.names()) {
      const auto& t = store.get(name);
      QCOMPARE(int(t.dtype), int(qread::model::DType::F32));
      TensorSpec spec;
      spec.name = gguf_name(name);
      spec.type = 0;  // F32
      for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) spec.ne.push_back(std::uint64_t(*it));
      const bool q = name.find("q_proj") != std::string::npos, k = name.find("k_proj") != std::string::npos;
      spec.bytes = (q || k) ? permuted_rows(t.bytes.data(), t.shape[0], t.shape[1], q ? heads : kv_heads)
                            : std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
      w.tensors.push_back(std::move(spec));
    }
    const fs::path gguf = fs::path(tmp_.path().toStdString()) / "model.gguf";
    std::ofstream(gguf, std::ios::binary) << w.build();

    // Same logits.
    auto from_hf = qread::LanguageModel::load(hf), from_gguf = qread::LanguageModel::load(gguf);
    QCOMPARE(from_gguf->summary().layers, from_hf->summary().layers);
    QCOMPARE(from_gguf->summary().vocab_size, from_hf->summary().vocab_size);
    std::mt19937_64 rng(qread::test::random_seed());
    std::vector<qread::TokenId> ids(50);
    for (auto& id : ids) id = qread::TokenId(rng() % std::uint64_t(from_hf->summary().vocab_size));
    const auto a = from_hf->feed(ids, 16), b = from_gguf->feed(ids, 16);
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
    qInfo("max |logit diff| HF vs GGUF: %.3g", worst);
    QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));

    // Same token ids, special tokens included.
    const auto tok_hf = qread::model::load_tokenizer(hf), tok_gguf = qread::model::load_tokenizer(gguf);
    for (const std::string text : {"Hello world, it's 2024!  Numbers 1234567 and CAPS.", "<|begin_of_text|>one two",
                                   "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC"})
      QCOMPARE(tok_gguf->encode(text, false), tok_hf->encode(text, false));
  }
};

QTEST_APPLESS_MAIN(TestGgufModel)
#include "test_gguf_model.moc"
