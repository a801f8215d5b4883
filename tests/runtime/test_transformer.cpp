// The transformer against a naive reference written here in double precision (separate q/k/v
// products, RoPE angles from scalar formulas, explicit causal softmax per head), on random tiny
// models of each architecture; chunked prefill against one-shot; cached decode against
// recomputation; the shared oracle models in dense mode; clear errors on bad weights and ids.
#include "memory/memory_factory.hpp"
#include "model/fused_ops.hpp"
#include "model/model_config.hpp"
#include "model/safetensors.hpp"
#include "model/transformer.hpp"
#include "qread/error.hpp"
#include "qread/language_model.hpp"
#include "qread/model_maker.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using qread::model::ModelConfig;
using qread::model::RopeScaling;

namespace {

// ---- the naive reference -------------------------------------------------------------------

std::vector<double> inv_freq_reference(const ModelConfig& c, std::int64_t seq_len) {
  const int half = int(c.head_dim / 2);
  double base = c.rope_theta;
  const auto& s = c.rope_scaling;
  if (s.kind == RopeScaling::Kind::dynamic && seq_len > c.max_position_embeddings)
    base *= std::pow(s.factor * double(seq_len) / double(c.max_position_embeddings) - (s.factor - 1),
                     double(c.head_dim) / double(c.head_dim - 2));
  std::vector<double> f(half);
  for (int i = 0; i < half; ++i) {
    double freq = 1.0 / std::pow(base, 2.0 * i / double(c.head_dim));
    if (s.kind == RopeScaling::Kind::linear) freq /= s.factor;
    if (s.kind == RopeScaling::Kind::llama3) {
      const double wavelen = 2 * M_PI / freq;
      const double old_len = double(s.original_max_position_embeddings);
      if (wavelen > old_len / s.low_freq_factor) {
        freq /= s.factor;
      } else if (wavelen >= old_len / s.high_freq_factor) {
        const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        freq = (1 - smooth) * freq / s.factor + smooth * freq;
      }
    }
    f[i] = freq;
  }
  return f;
}

struct Reference {
  ModelConfig c;
  qread::model::WeightStore store;
  explicit Reference(const fs::path& dir) : c(ModelConfig::load(dir)), store(qread::model::WeightStore::open(dir)) {}

  at::Tensor w(const std::string& name) const {
    const auto& t = store.get(name);
    const auto type = t.dtype == qread::model::DType::F32 ? at::kFloat
                      : t.dtype == qread::model::DType::BF16 ? at::kBFloat16 : at::kHalf;
    return at::from_blob(const_cast<std::byte*>(t.bytes.data()), t.shape, at::TensorOptions().dtype(type))
        .to(at::kDouble);
  }
  at::Tensor norm(const at::Tensor& x, const std::string& name) const {
    return x / at::sqrt(x.pow(2).mean(-1, true) + c.rms_norm_eps) * w(name);
  }
  at::Tensor linear(const at::Tensor& x, const std::string& name, bool bias) const {
    auto y = at::matmul(x, w(name + ".weight").t());
    return bias ? y + w(name + ".bias") : y;
  }
  at::Tensor rotate(const at::Tensor& x /*[T, D]*/, const std::vector<double>& inv_freq) const {
    auto out = x.clone();
    const auto T = x.size(0), half = x.size(1) / 2;
    auto xa = x.accessor<double, 2>();
    auto oa = out.accessor<double, 2>();
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t i = 0; i < half; ++i) {
        const double angle = double(t) * inv_freq[i], cs = std::cos(angle), sn = std::sin(angle);
        oa[t][i] = xa[t][i] * cs - xa[t][i + half] * sn;
        oa[t][i + half] = xa[t][i + half] * cs + xa[t][i] * sn;
      }
    return out;
  }

  // Logits for every position, [T, vocab], in double.
  at::Tensor forward(const std::vector<std::int64_t>& ids) const {
    const auto T = std::int64_t(ids.size()), D = c.head_dim;
    const auto inv_freq = inv_freq_reference(c, T);
    auto x = w("model.embed_tokens.weight").index_select(0, at::tensor(ids, at::kLong));
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto h = norm(x, p + "input_layernorm.weight");
      auto q = linear(h, p + "self_attn.q_proj", c.qkv_bias);
      auto k = linear(h, p + "self_attn.k_proj", c.qkv_bias);
      auto v = linear(h, p + "self_attn.v_proj", c.qkv_bias);
      auto out = at::zeros({T, c.num_heads * D}, at::kDouble);
      for (std::int64_t head = 0; head < c.num_heads; ++head) {
        const auto kv_head = head / (c.num_heads / c.num_kv_heads);
        auto qh = rotate(q.narrow(1, head * D, D), inv_freq);
        auto kh = rotate(k.narrow(1, kv_head * D, D), inv_freq);
        auto vh = v.narrow(1, kv_head * D, D);
        auto scores = at::matmul(qh, kh.t()) / std::sqrt(double(D));
        auto causal = at::ones({T, T}, at::kBool).triu(1);
        auto probs = at::softmax(scores.masked_fill(causal, -INFINITY), -1);
        out.narrow(1, head * D, D).copy_(at::matmul(probs, vh));
      }
      x = x + linear(out, p + "self_attn.o_proj", c.o_bias);
      h = norm(x, p + "post_attention_layernorm.weight");
      auto gate = linear(h, p + "mlp.gate_proj", false), up = linear(h, p + "mlp.up_proj", false);
      x = x + linear(gate * at::sigmoid(gate) * up, p + "mlp.down_proj", false);
    }
    const auto head = c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    return at::matmul(norm(x, "model.norm.weight"), w(head).t());
  }
};

// ---- helpers -----------------------------------------------------------------------------------

std::vector<std::int64_t> random_ids(std::int64_t n, std::int64_t vocab, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> dist(0, vocab - 1);
  std::vector<std::int64_t> ids(n);
  for (auto& id : ids) id = dist(rng);
  return ids;
}

std::unique_ptr<qread::model::Transformer> load_transformer(const fs::path& dir, at::Device device = at::kCPU,
                                                            at::ScalarType dtype = at::kFloat) {
  auto c = ModelConfig::load(dir);
  auto store = qread::model::WeightStore::open(dir);
  auto weights = qread::model::load_weights(store, c, device, dtype);
  auto rope = std::make_unique<qread::model::Rope>(c, std::nullopt, std::nullopt, device);
  return std::make_unique<qread::model::Transformer>(c, std::move(weights), std::move(rope));
}

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

at::Tensor ids_tensor(const std::vector<std::int64_t>& ids) { return at::tensor(ids, at::kLong); }

#ifdef QREAD_WITH_CUDA
// One model loaded twice on CUDA, one decoding eagerly and one through CUDA graphs.
struct EagerAndGraphed {
  at::ScalarType type;
  double limit;  // the largest logit difference allowed in that type
  std::unique_ptr<qread::model::Transformer> eager, graphed;
  // dtype: a row of add_dtype_rows().
  EagerAndGraphed(const fs::path& dir, const QString& dtype)
      : type(dtype == "float32" ? at::kFloat : at::kBFloat16),
        limit(type == at::kFloat ? 1e-4 : 5e-2),
        eager(load_transformer(dir, at::kCUDA, type)),
        graphed(load_transformer(dir, at::kCUDA, type)) {
    eager->set_decode_graphs(false);
    graphed->set_decode_graphs(true);
  }
  // Ids [begin, end) to both as one chunk.
  void feed(const std::vector<std::int64_t>& ids, std::size_t begin, std::size_t end) {
    const std::vector<std::int64_t> chunk(ids.begin() + std::ptrdiff_t(begin), ids.begin() + std::ptrdiff_t(end));
    eager->forward(ids_tensor(chunk));
    graphed->forward(ids_tensor(chunk));
  }
  // Ids [begin, end) to both one at a time; the largest logit difference.
  double decode(const std::vector<std::int64_t>& ids, std::size_t begin, std::size_t end) {
    double worst = 0;
    for (std::size_t i = begin; i < end; ++i)
      worst = std::max(worst, max_abs(eager->forward(ids_tensor({ids[i]})).cpu(),
                                      graphed->forward(ids_tensor({ids[i]})).cpu()));
    return worst;
  }
  void reset() {
    eager->reset();
    graphed->reset();
  }
};
#endif

void add_dtype_rows() {
  QTest::addColumn<QString>("dtype");
  QTest::addRow("float32") << "float32";
  QTest::addRow("bfloat16") << "bfloat16";
}


}  // namespace

class TestTransformer : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::mt19937_64 rng_{qread::test::random_seed()};

  fs::path make(const QString& name, qread::MakeModelOptions o) {
    o.seed = rng_();
    const fs::path dir = fs::path(tmp_.path().toStdString()) / name.toStdString();
    qread::make_model(dir, o);
    return dir;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    at::manual_seed(qread::test::random_seed());
  }

  void matchesNaiveReference_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("rope");
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("kv_heads");
    QTest::addColumn<bool>("tied");
    QTest::addColumn<int>("length");
    QTest::addColumn<int>("max_positions");
    QTest::addRow("llama MHA") << "llama" << "none" << 4 << 4 << false << 37 << 4096;
    QTest::addRow("llama GQA llama3 rope") << "llama" << "llama3" << 4 << 2 << false << 45 << 4096;
    QTest::addRow("llama linear rope tied") << "llama" << "linear" << 4 << 1 << true << 30 << 4096;
    QTest::addRow("mistral GQA") << "mistral" << "none" << 6 << 2 << false << 41 << 4096;
    QTest::addRow("qwen2 bias GQA tied") << "qwen2" << "none" << 4 << 2 << true << 33 << 4096;
    QTest::addRow("llama dynamic beyond window") << "llama" << "dynamic" << 4 << 2 << false << 50 << 32;
  }
  void matchesNaiveReference() {
    QFETCH(QString, arch);
    QFETCH(QString, rope);
    QFETCH(int, heads);
    QFETCH(int, kv_heads);
    QFETCH(bool, tied);
    QFETCH(int, length);
    QFETCH(int, max_positions);
    qread::MakeModelOptions o;
    o.architecture = arch.toStdString();
    o.rope_scaling = rope.toStdString();
    o.heads = heads;
    o.kv_heads = kv_heads;
    o.hidden_size = 16 * heads;
    o.tie_word_embeddings = tied;
    o.vocab_size = 97;
    o.max_position_embeddings = max_positions;
    o.rope_theta = 500.0;  // low base: many wavelengths inside the test's length
    const auto dir = make(QTest::currentDataTag(), o);
    const auto ids = random_ids(length, o.vocab_size, rng_);
    auto model = load_transformer(dir);
    c10::NoGradGuard no_grad;
    const auto got = model->forward(ids_tensor(ids), /*all_logits=*/true);
    const auto expected = Reference(dir).forward(ids);
    const double err = max_abs(got, expected), scale = expected.abs().max().item<double>();
    qInfo("max |logit diff| %.3g (logits up to %.3g)", err, scale);
    QVERIFY2(err <= 1e-4 * std::max(1.0, scale), qPrintable(QString::number(err)));
  }

  void chunkedPrefillEqualsOneShot_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("rope");
    QTest::addRow("llama GQA llama3") << "llama" << "llama3";
    QTest::addRow("mistral") << "mistral" << "none";
    QTest::addRow("qwen2 linear") << "qwen2" << "linear";
  }
  void chunkedPrefillEqualsOneShot() {
    QFETCH(QString, arch);
    QFETCH(QString, rope);
    qread::MakeModelOptions o;
    o.architecture = arch.toStdString();
    o.rope_scaling = rope.toStdString();
    o.vocab_size = 113;
    const auto dir = make(QString("chunk-") + QTest::currentDataTag(), o);
    const auto ids64 = random_ids(90, o.vocab_size, rng_);
    const std::vector<qread::TokenId> ids(ids64.begin(), ids64.end());
    auto model = qread::LanguageModel::load(dir);
    const auto one_shot = model->feed(ids, 1000);
    for (std::int64_t chunk : {1, 7, 32, 89}) {
      model->reset();
      std::vector<std::int64_t> progress;
      const auto chunked = model->feed(ids, chunk, [&](std::int64_t done, std::int64_t) { progress.push_back(done); });
      QCOMPARE(model->context_length(), 90);
      // Progress after every layer: never backwards, through every chunk's end, ending at 90.
      QCOMPARE(progress.back(), 90);
      QVERIFY(std::is_sorted(progress.begin(), progress.end()));
      for (std::int64_t end = chunk; end < 90; end += chunk)
        QVERIFY2(std::find(progress.begin(), progress.end(), end) != progress.end(), qPrintable(QString::number(end)));
      double err = 0;
      for (std::size_t i = 0; i < one_shot.size(); ++i) err = std::max(err, double(std::abs(one_shot[i] - chunked[i])));
      QVERIFY2(err < 1e-4, qPrintable(QString("chunk %1: %2").arg(chunk).arg(err)));
    }
  }

  void cachedDecodeEqualsRecomputation() {
    qread::MakeModelOptions o;
    o.kv_heads = 1;
    o.rope_scaling = "llama3";
    o.vocab_size = 89;
    const auto dir = make("decode", o);
    auto model = load_transformer(dir);
    c10::NoGradGuard no_grad;
    const auto ids = random_ids(40, o.vocab_size, rng_);
    const auto full = model->forward(ids_tensor(ids), true);
    model->reset();
    model->forward(ids_tensor(std::vector<std::int64_t>(ids.begin(), ids.begin() + 25)));
    for (std::size_t i = 25; i < ids.size(); ++i) {
      const auto step = model->forward(ids_tensor({ids[i]}));
      const double err = max_abs(step, full[std::int64_t(i)]);
      QVERIFY2(err < 1e-4, qPrintable(QString("position %1: %2").arg(i).arg(err)));
    }
  }

  void cudaGraphDecodeEqualsEager_data() { add_dtype_rows(); }
  void cudaGraphDecodeEqualsEager() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    QFETCH(QString, dtype);
    qread::MakeModelOptions o;
    o.kv_heads = 2;
    o.rope_scaling = "llama3";
    o.vocab_size = 97;
    EagerAndGraphed m(make(QString("graph-") + dtype, o), dtype);
    c10::NoGradGuard no_grad;
    const double limit = m.limit;
    // A prompt, then enough steps to outgrow the first capture (1024 tokens of room), with an
    // eager chunk of 300 tokens in the middle (the cache moves: the graph must be captured again).
    const auto ids = random_ids(1300, o.vocab_size, rng_);
    m.feed(ids, 0, 37);
    double worst = m.decode(ids, 37, 700);
    m.feed(ids, 700, 1000);
    worst = std::max(worst, m.decode(ids, 1000, ids.size()));
    QCOMPARE(m.graphed->length(), std::int64_t(ids.size()));
    qInfo("%s: max |logit diff| graph vs eager over %zu steps: %.3g", qPrintable(dtype), ids.size() - 337, worst);
    QVERIFY2(worst <= limit, qPrintable(QString::number(worst)));
    // After reset the graph is dropped with the cache: a fresh prompt gives the eager logits.
    m.reset();
    m.feed(ids, 0, 37);
    QVERIFY(m.decode(ids, 40, 41) <= limit);

    // A prompt read in chunks leaves a cache larger than the room a capture asks for (3000,
    // then 1100 tokens: 6000 rows against 5376): decoding must serve every row it holds.
    m.reset();
    const auto long_ids = random_ids(5600, o.vocab_size, rng_);
    m.feed(long_ids, 0, 3000);
    m.feed(long_ids, 3000, 4100);
    worst = m.decode(long_ids, 4100, long_ids.size());
    qInfo("%s: after a chunked prompt, max |logit diff| over 1500 steps: %.3g", qPrintable(dtype), worst);
    QVERIFY2(worst <= limit, qPrintable(QString::number(worst)));
#else
    QSKIP("CPU build: CUDA graphs are checked on the device (tools/device)");
#endif
  }

  void fusedSiluMulEqualsAtenOps() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    // The MLP's activation kernel against ATen's silu_ then mul_ on the two halves of random
    // [T, 2I] products: 16-byte rows (I a multiple of 8) and rows that are not (odd I, a start
    // one element off), the three types. The kernel rounds as ATen does (the SiLU to the type,
    // then the product): at most one unit in the last place apart; columns past the halves untouched.
    for (auto dtype : {at::kBFloat16, at::kHalf, at::kFloat})
      for (auto [rows, inner, shift] : {std::tuple{37, 64, 0}, std::tuple{300, 1000, 0}, std::tuple{5, 77, 1}}) {
        auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
        auto buffer = (at::randn({rows, 2 * inner + 3}, opts.dtype(at::kFloat)) * 4).to(dtype);
        auto expected = buffer.clone();
        auto gate = buffer.narrow(1, shift, inner), up = buffer.narrow(1, shift + inner, inner);
        QCOMPARE(qread::model::fused_silu_mul(gate, up).data_ptr(), gate.data_ptr());
        auto want = expected.narrow(1, shift, inner);
        at::silu_(want).mul_(expected.narrow(1, shift + inner, inner));
        const auto diff = (buffer.to(at::kFloat) - expected.to(at::kFloat)).abs();
        const double ulp = dtype == at::kBFloat16 ? 1.0 / 128 : dtype == at::kHalf ? 1.0 / 1024 : 1.0 / (1 << 23);
        // Relative to the value, or to the smallest normal number below it (f16's subnormals).
        const double tiny = dtype == at::kHalf ? 6.2e-5 : 1.2e-38;
        const double worst = (diff / expected.to(at::kFloat).abs().clamp_min(tiny)).max().item<double>();
        const double exact = (diff == 0).to(at::kDouble).mean().item<double>();
        qInfo("%s, %d x %d (start +%d): %.4f of elements identical, max relative diff %.3g", c10::toString(dtype), rows,
              inner, shift, exact, worst);
        QVERIFY2(worst <= ulp, qPrintable(QString::number(worst)));
        QVERIFY(exact > 0.99);
      }
#else
    QSKIP("CPU build: the kernel is checked on the device (tools/device)");
#endif
  }

  void cudaLayerGraphsEqualEager_data() { add_dtype_rows(); }
  void cudaLayerGraphsEqualEager() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    // Q-LLM decoding through the per-layer graphs (before and after attention) against eager
    // decoding, over enough tokens that blocks leave the window and are retrieved.
    QFETCH(QString, dtype);
    qread::MakeModelOptions o;
    o.kv_heads = 2;
    o.vocab_size = 97;
    EagerAndGraphed m(make(QString("layer-graphs-") + dtype, o), dtype);
    auto config = qread::default_config(qread::MemoryMode::qllm).attention;
    config.n_local = 64;
    config.n_init = 8;
    config.block_size = 16;
    config.exc_block_size = 32;
    config.topk = 3;
    config.max_cached_block = 4;
    for (auto* model : {m.eager.get(), m.graphed.get()})
      model->set_memories(std::make_unique<qread::model::Rope>(model->config(), config.base, config.distance_scale,
                                                               at::Device(at::kCUDA), false),
                          [&](std::int64_t layer, const qread::model::Rope& rope) {
                            return qread::memory::make_memory(config, layer, rope,
                                                              qread::memory::QuestionSpan{5, 15}, at::kCUDA);
                          });
    c10::InferenceMode inference;
    const auto ids = random_ids(600, o.vocab_size, rng_);
    m.feed(ids, 0, 200);
    const double worst = m.decode(ids, 200, ids.size());
    qInfo("%s: max |logit diff| layer graphs vs eager, Q-LLM, over 400 steps: %.3g", qPrintable(dtype), worst);
    QVERIFY2(worst <= m.limit, qPrintable(QString::number(worst)));
#else
    QSKIP("CPU build: CUDA graphs are checked on the device (tools/device)");
#endif
  }

  void generationStopsAsAsked() {
    qread::MakeModelOptions o;
    o.vocab_size = 64;
    const auto dir = make("generate", o);
    auto model = qread::LanguageModel::load(dir);
    const std::vector<qread::TokenId> prompt{1, 5, 9, 33, 2, 7};
    qread::GenerationOptions g;
    g.max_new_tokens = 6;
    g.stop_at_eos = false;
    const auto free_run = model->generate(prompt, g);
    QCOMPARE(free_run.tokens.size(), std::size_t(6));
    QCOMPARE(free_run.stop_reason, std::string("max_new_tokens"));
    QCOMPARE(free_run.prompt_tokens, 6);
    // Greedy: the first token is the argmax of the last prompt logits.
    QCOMPARE(free_run.tokens[0], qread::TokenId(std::max_element(free_run.last_logits.begin(), free_run.last_logits.end()) -
                                                free_run.last_logits.begin()));
    // Deterministic, and stop ids end the answer without being part of it.
    g.stop_ids = {free_run.tokens[2]};
    const auto stopped = model->generate(prompt, g);
    const auto first_stop = std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[2]) - free_run.tokens.begin();
    QCOMPARE(std::int64_t(stopped.tokens.size()), first_stop);
    QCOMPARE(stopped.stop_reason, std::string("eos"));
    // The callback can stop it.
    g.stop_ids.clear();
    int seen = 0;
    const auto by_callback = model->generate(prompt, g, [&](qread::TokenId) { return ++seen < 2; });
    QCOMPARE(by_callback.tokens.size(), std::size_t(2));
    QCOMPARE(by_callback.stop_reason, std::string("callback"));
    // Cancel before the first chunk.
    std::atomic<bool> cancel{true};
    QVERIFY_THROWS_EXCEPTION(qread::Cancelled, model->feed(prompt, 2, {}, &cancel));
  }

  void storedBfloat16RunsInFloat32() {
    qread::MakeModelOptions o;
    o.dtype = "bfloat16";
    o.vocab_size = 71;
    const auto dir = make("bf16", o);
    const auto ids = random_ids(20, o.vocab_size, rng_);
    auto model = load_transformer(dir);
    QCOMPARE(model->dtype(), at::kFloat);
    c10::NoGradGuard no_grad;
    const double err = max_abs(model->forward(ids_tensor(ids), true), Reference(dir).forward(ids));
    QVERIFY2(err < 1e-3, qPrintable(QString::number(err)));
  }

  void oracleModelsRunDense() {
    const fs::path oracles = QREAD_ORACLES_DIR;
    if (!fs::exists(oracles / "qllm" / "model.safetensors"))
      QSKIP(qPrintable(QString("shared oracles not found at %1").arg(QString::fromStdString(oracles.string()))));
    const auto dir = oracles / "qllm";
    std::ifstream in(dir / "oracle.json");
    std::stringstream text;
    text << in.rdbuf();
    // The first ids of the oracle prompt (a light JSON scan: the test does not need a parser).
    const std::string s = text.str();
    auto pos = s.find("\"input_ids\"");
    QVERIFY(pos != std::string::npos);
    pos = s.find('[', pos);
    std::vector<std::int64_t> ids;
    while (ids.size() < 300) {
      std::size_t end = 0;
      ids.push_back(std::stoll(s.substr(pos + 1, 12), &end));
      pos = s.find(',', pos + 1);
    }
    auto model = qread::LanguageModel::load(dir);
    QCOMPARE(model->summary().vocab_size, 512);
    QCOMPARE(model->summary().kv_heads, 2);
    qread::GenerationOptions g;
    g.max_new_tokens = 8;
    g.chunk_size = 128;
    const std::vector<qread::TokenId> prompt(ids.begin(), ids.end());
    const auto result = model->generate(prompt, g);
    QCOMPARE(result.tokens.size(), std::size_t(8));
    const auto expected = Reference(dir).forward(ids)[299];
    const auto got = at::tensor(result.last_logits);
    const double err = max_abs(got, expected);
    qInfo("oracle model, dense, 300 ids: max |logit diff| vs double reference %.3g", err);
    QVERIFY2(err < 1e-3, qPrintable(QString::number(err)));
  }

  void badWeightsAndIdsAreInputErrors() {
    qread::MakeModelOptions o;
    o.vocab_size = 50;
    const auto dir = make("broken", o);
    auto model = qread::LanguageModel::load(dir);
    const std::vector<qread::TokenId> bad{1, 2, 50};
    try {
      model->feed(bad, 8);
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      QVERIFY2(QString(e.what()).contains("50") && QString(e.what()).contains("position 2"), e.what());
    }
    // A config that disagrees with the weights names the tensor.
    {
      auto c = ModelConfig::load(dir);
      c.intermediate_size += 1;
      std::ofstream(dir / "config.json") << c.to_json();
    }
    try {
      qread::LanguageModel::load(dir);
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      QVERIFY2(QString(e.what()).contains("mlp.gate_proj.weight"), e.what());
    }
    fs::remove(dir / "model.safetensors");
    try {
      qread::LanguageModel::load(dir);
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      QVERIFY2(QString(e.what()).contains("model.safetensors"), e.what());
    }
    QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::LanguageModel::load(dir.parent_path() / "nothing-here"));
    QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::LanguageModel::load(dir, {"tpu", "auto", {}, {}}));
  }
};

QTEST_APPLESS_MAIN(TestTransformer)
#include "test_transformer.moc"
