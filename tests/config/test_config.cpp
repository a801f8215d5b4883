// Run configurations: every preset in config/ loads and says what its file says; each kind of
// error names the file, the key (and the line and value where there is one); --set overrides;
// to_yaml reads back to the same config for random valid configs.
#include "config/config_text.hpp"
#include "qread/config.hpp"
#include "qread/error.hpp"
#include "test_support.hpp"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>
#include <map>
#include <random>

using qread::AttentionConfig;
using qread::CacheStrategy;
using qread::MemoryMode;
using qread::RunConfig;

namespace {

constexpr std::array kAllModes{MemoryMode::origin, MemoryMode::stream_llm, MemoryMode::infinite_lm,
                               MemoryMode::inf_llm, MemoryMode::qllm, MemoryMode::quest};

QString config_dir() {
  const QByteArray env = qgetenv("QREAD_SOURCE_DIR");
  return QString::fromUtf8(env.isEmpty() ? QByteArray(QREAD_SOURCE_DIR) : env) + "/config";
}

RunConfig load_preset(const char* name) {
  return qread::load_config((config_dir() + "/" + name).toStdString());
}

template <class F>
QString error_of(F&& f) {
  try {
    f();
  } catch (const qread::InputError& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

// "key: value" pairs of a config file, as "model.key" / "key" -> value text (quotes removed).
std::map<QString, QString> flat_keys(const QString& text) {
  std::map<QString, QString> keys;
  static const QRegularExpression pair(R"(^(\s*)([A-Za-z_]+):\s*(.*?)\s*$)");
  for (const QString& line : text.split('\n')) {
    if (line.trimmed().startsWith('#')) continue;
    const auto m = pair.match(line);
    if (!m.hasMatch() || m.captured(2) == "model") continue;
    QString value = m.captured(3);
    if (value.size() >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.mid(1, value.size() - 2);
    keys[(m.captured(1).isEmpty() ? "" : "model.") + m.captured(2)] = value;
  }
  return keys;
}

QString read_text(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QString::fromUtf8(f.readAll());
}

void check_reference_qllm_1k(const RunConfig& c) {
  const AttentionConfig& a = c.attention;
  QVERIFY(a.mode == MemoryMode::qllm);
  QCOMPARE(a.block_size, 128);
  QCOMPARE(a.n_init, 128);
  QCOMPARE(a.n_local, 1024);
  QCOMPARE(a.topk, 8);
  QCOMPARE(a.repr_topk, 4);
  QCOMPARE(a.max_cached_block, 32);
  QCOMPARE(a.exc_block_size, 512);
  QCOMPARE(a.fattn, false);
}

// A reference-like qllm file with some lines replaced or added ("  topk: 0" replaces the topk
// line; a key that is not there is added at the end of its section). Returns the text and the
// 1-based line of the first given line.
std::pair<QString, int> qllm_file_with(const QStringList& changes) {
  QStringList model{"  type: qllm",      "  path: ./models/Meta-Llama-3-8B-Instruct",
                    "  block_size: 128", "  n_init: 128",
                    "  n_local: 1024",   "  topk: 8",
                    "  repr_topk: 4",    "  max_cached_block: 32",
                    "  exc_block_size: 512", "  question_weight: 4"};
  QStringList top{"max_len: 2147483647", "chunk_size: 8192", "conv_type: llama-3-inst"};
  for (const QString& change : changes) {
    QStringList& lines = change.startsWith(' ') ? model : top;
    const QString key = change.section(':', 0, 0) + ":";
    auto it = std::find_if(lines.begin(), lines.end(), [&](const QString& l) { return l.startsWith(key); });
    if (it != lines.end()) {
      *it = change;
    } else {
      lines.push_back(change);
    }
  }
  const QStringList all = QStringList{"model:"} + model + top;
  int line = 0;
  if (!changes.isEmpty()) line = static_cast<int>(all.indexOf(changes.front())) + 1;
  return {all.join('\n') + '\n', line};
}

// Random text that YAML must carry through to_yaml: specials, quotes, escapes, UTF-8.
std::string random_text(std::mt19937_64& rng) {
  static const std::array<std::string, 18> special{
      "",     "chatml", "llama-3-inst", "null", "~",    "true",   "123", "1.5",      "a: b",
      "# x",  "'q'",    "\"dq\"",       "b\\s", "ünï", "t\tab", "n\nl", " lead", "trail "};
  std::uniform_int_distribution<int> pick(0, 2);
  if (pick(rng) == 0) return special[std::uniform_int_distribution<std::size_t>(0, special.size() - 1)(rng)];
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 40)(rng);
  std::uniform_int_distribution<int> ch(0x20, 0x7e);
  for (int i = 0; i < n; ++i) s += static_cast<char>(ch(rng));
  if (pick(rng) == 0) s += "é/路径";
  return s;
}

// A random config that validate() accepts: every field, within its range.
RunConfig random_valid_config(std::mt19937_64& rng) {
  const auto in = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  const auto coin = [&] { return in(0, 1) == 1; };
  const auto real = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  RunConfig c;
  AttentionConfig& a = c.attention;
  a.mode = kAllModes[static_cast<std::size_t>(in(0, kAllModes.size() - 1))];
  const bool retrieval = a.mode == MemoryMode::inf_llm || a.mode == MemoryMode::qllm;
  a.path = random_text(rng);
  a.fattn = coin();
  if (coin()) a.base = coin() ? static_cast<double>(in(1, 10000000)) : std::exp(real(-20, 20));
  if (coin()) a.distance_scale = real(1e-3, 16);
  a.n_init = in(0, 4096);
  a.n_local = in(1, 1 << 20);
  a.block_size = in(1, 4096);
  a.topk = in(1, 256);
  a.repr_topk = retrieval ? in(1, a.block_size) : in(1, 10000);
  a.max_cached_block = retrieval ? in(a.topk, a.topk + 512) : in(1, 10000);
  a.exc_block_size = retrieval ? in(1, a.n_local) : in(1, 1 << 20);
  a.cache_strategy = coin() ? CacheStrategy::lru : CacheStrategy::lru_s;
  if ((retrieval && a.cache_strategy == CacheStrategy::lru_s) || coin()) {
    a.score_decay = coin() ? 1.0 : real(std::numeric_limits<double>::min(), 1.0);
  }
  a.async_global_stream = coin();
  a.faiss = coin();
  a.perhead = coin();
  a.question_weight = in(0, 3) == 0 ? 0.0 : real(0, 100);
  a.page_size = in(1, 1024);
  a.token_budget = a.mode == MemoryMode::quest ? in(a.page_size, 1 << 20) : in(1, 1 << 20);
  a.dense_layers = in(0, 128);
  c.max_len = in(1, std::numeric_limits<std::int64_t>::max());
  c.truncation = coin() ? "suffix" : "none";
  c.chunk_size = in(1, 1 << 20);
  c.conv_type = random_text(rng);
  return c;
}

}  // namespace

class TestConfig : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void modeNames() {
    for (const MemoryMode m : kAllModes) {
      const auto back = qread::parse_mode(qread::mode_name(m));
      QVERIFY(back && *back == m);
    }
    QCOMPARE(std::string(qread::mode_name(MemoryMode::stream_llm)), std::string("stream-llm"));
    QCOMPARE(std::string(qread::mode_name(MemoryMode::inf_llm)), std::string("inf-llm"));
    QVERIFY(!qread::parse_mode("qlm"));
    QVERIFY(!qread::parse_mode("QLLM"));
  }

  void valueText() {
    using namespace qread::config;
    QCOMPARE(parse_integer("128"), std::optional<std::int64_t>(128));
    QCOMPARE(parse_integer("-1"), std::optional<std::int64_t>(-1));
    QCOMPARE(parse_integer("+7"), std::optional<std::int64_t>(7));
    QCOMPARE(parse_integer("0"), std::optional<std::int64_t>(0));
    QCOMPARE(parse_integer("9223372036854775807"), std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
    for (const char* bad : {"", "1.5", "1e3", "0x10", "010", "eight", "9223372036854775808", "+-1", " 1", "1 "}) {
      QVERIFY2(!parse_integer(bad), bad);
    }
    QCOMPARE(parse_number("4"), std::optional<double>(4.0));
    QCOMPARE(parse_number("1e6"), std::optional<double>(1e6));
    QCOMPARE(parse_number("+0.25"), std::optional<double>(0.25));
    QCOMPARE(parse_number("-.5"), std::optional<double>(-0.5));
    for (const char* bad : {"", ".inf", ".nan", "inf", "nan", "1e999", "1_000", "four", "1.5x"}) {
      QVERIFY2(!parse_number(bad), bad);
    }
    QCOMPARE(parse_boolean("true"), std::optional<bool>(true));
    QCOMPARE(parse_boolean("False"), std::optional<bool>(false));
    QCOMPARE(parse_boolean("yes"), std::optional<bool>(true));
    QVERIFY(!parse_boolean("maybe"));
    QVERIFY(!parse_boolean("1"));
    const std::array<std::string_view, 4> names{"n_local", "n_init", "topk", "repr_topk"};
    QCOMPARE(closest_name("n_locl", names), std::optional<std::string>("n_local"));
    QCOMPARE(closest_name("top_k", names), std::optional<std::string>("topk"));
    QCOMPARE(closest_name("TOPK", names), std::optional<std::string>("topk"));
    QVERIFY(!closest_name("ab", names));
    QVERIFY(!closest_name("completely_else", names));
  }

  // Every file in config/ (and its folders) loads, its values are the file's, and README.md lists it.
  void everyPresetLoads() {
    const QDir dir(config_dir());
    QStringList files;
    QDirIterator it(dir.path(), {"*.yaml", "*.yml"}, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) files << dir.relativeFilePath(it.next());
    files.sort();
    QVERIFY2(files.size() >= 32, qPrintable(QString("only %1 presets in %2").arg(files.size()).arg(dir.path())));
    const QString readme = read_text(dir.filePath("README.md"));
    for (const QString& name : files) {
      const QString path = dir.filePath(name);
      RunConfig c;
      try {
        c = qread::load_config(path.toStdString());
      } catch (const std::exception& e) {
        QFAIL(qPrintable(name + ": " + e.what()));
      }
      QCOMPARE(QString::fromStdString(c.source.string()), path);
      QVERIFY2(c.notes.empty(), qPrintable(name));
      QVERIFY2(readme.contains("`" + name + "`"), qPrintable(name + " is not in config/README.md"));
      // Each key of the file reads back, through to_yaml, with the value the file gives it.
      const auto written = flat_keys(read_text(path));
      const auto read = flat_keys(QString::fromStdString(qread::to_yaml(c)));
      QVERIFY(written.size() >= 4);
      for (const auto& [key, value] : written) {
        const auto it = read.find(key);
        QVERIFY2(it != read.end(), qPrintable(name + ": " + key + " lost"));
        bool a_ok = false, b_ok = false;
        const double a = value.toDouble(&a_ok), b = it->second.toDouble(&b_ok);
        if (a_ok && b_ok) {
          QVERIFY2(a == b, qPrintable(name + ": " + key + " " + value + " != " + it->second));
        } else {
          QVERIFY2(value == it->second, qPrintable(name + ": " + key + " " + value + " != " + it->second));
        }
      }
    }
    // ... and every file README.md names is there.
    static const QRegularExpression listed(R"(`([A-Za-z0-9_.-]+\.yaml)`)");
    for (auto it = listed.globalMatch(readme); it.hasNext();) {
      const QString name = it.next().captured(1);
      QVERIFY2(files.contains(name), qPrintable("README.md lists missing " + name));
    }
  }

  void referenceValues() {
    {
      const RunConfig c = load_preset("mistral-qllm-repr4-l1k-bs128-topk8-w1.yaml");
      check_reference_qllm_1k(c);
      const AttentionConfig& a = c.attention;
      QCOMPARE(a.path, std::string("./models/Mistral-7B-Instruct-v0.2"));
      QCOMPARE(*a.base, 1000000.0);
      QCOMPARE(*a.distance_scale, 1.0);
      QCOMPARE(a.question_weight, 1.0);
      QVERIFY(a.cache_strategy == CacheStrategy::lru);  // the reference's defaults
      QVERIFY(!a.score_decay);
      QVERIFY(!a.faiss && !a.perhead && !a.async_global_stream);
      QCOMPARE(c.max_len, 2147483647);
      QCOMPARE(c.chunk_size, 8192);
      QCOMPARE(c.conv_type, std::string("mistral-inst"));
      QCOMPARE(c.truncation, std::string("suffix"));
    }
    {
      const RunConfig c = load_preset("llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml");
      check_reference_qllm_1k(c);
      QCOMPARE(*c.attention.base, 500000.0);
      QCOMPARE(c.attention.question_weight, 4.0);
      QCOMPARE(c.conv_type, std::string("llama-3-inst"));
    }
    {
      const RunConfig c = load_preset("llama3-qllm-repr4-l256-bs64-topk4-w4.yaml");
      QCOMPARE(c.attention.block_size, 64);
      QCOMPARE(c.attention.n_local, 256);
      QCOMPARE(c.attention.topk, 4);
      QCOMPARE(c.attention.exc_block_size, 256);
      QCOMPARE(c.attention.question_weight, 4.0);
    }
    {
      const RunConfig c = load_preset("llama3-inf-llm-repr4-l512-bs64-topk8.yaml");
      QVERIFY(c.attention.mode == MemoryMode::inf_llm);
      QCOMPARE(c.attention.block_size, 64);
      QCOMPARE(c.attention.n_local, 512);
      QCOMPARE(c.attention.topk, 8);
      QCOMPARE(c.attention.repr_topk, 4);
      QCOMPARE(c.attention.exc_block_size, 512);
      QCOMPARE(c.attention.question_weight, AttentionConfig{}.question_weight);  // not in the file
    }
    {
      const RunConfig c = load_preset("mistral-stream-llm-512.yaml");
      QVERIFY(c.attention.mode == MemoryMode::stream_llm);
      QCOMPARE(c.attention.n_init, 128);
      QCOMPARE(c.attention.n_local, 512);
      QCOMPARE(c.attention.fattn, true);
      QCOMPARE(c.attention.exc_block_size, AttentionConfig{}.exc_block_size);
      QCOMPARE(c.attention.topk, AttentionConfig{}.topk);
    }
    {
      const RunConfig c = load_preset("llama3-infinite-lm-2k.yaml");
      QVERIFY(c.attention.mode == MemoryMode::infinite_lm);
      QCOMPARE(c.attention.n_local, 2048);
      QCOMPARE(c.attention.exc_block_size, 512);
      QCOMPARE(c.attention.fattn, false);
    }
    {
      const RunConfig c = load_preset("llama3-quest-budget4096.yaml");
      QVERIFY(c.attention.mode == MemoryMode::quest);
      QCOMPARE(c.attention.page_size, 16);
      QCOMPARE(c.attention.token_budget, 4096);
      QCOMPARE(c.attention.dense_layers, 2);
      QCOMPARE(c.attention.path, std::string("./models/Meta-Llama-3-8B-Instruct"));
      QCOMPARE(c.conv_type, std::string("llama-3-inst"));
    }
    {
      const RunConfig c = load_preset("mistral-quest-budget1024.yaml");
      QCOMPARE(c.attention.token_budget, 1024);
      QCOMPARE(*c.attention.base, 1000000.0);
    }
    {
      const RunConfig c = load_preset("smollm2-qllm.yaml");
      const AttentionConfig& a = c.attention;
      QVERIFY(a.mode == MemoryMode::qllm);
      QVERIFY(a.path.empty());
      QCOMPARE(a.n_init, 64);
      QCOMPARE(a.n_local, 1024);
      QCOMPARE(a.block_size, 64);
      QCOMPARE(a.topk, 8);
      QCOMPARE(a.repr_topk, 4);
      QCOMPARE(a.exc_block_size, 256);
      QCOMPARE(c.chunk_size, 2048);
      QCOMPARE(c.conv_type, std::string("chatml"));
    }
  }

  void defaults() {
    RunConfig file = load_preset("default.yaml");
    QVERIFY(file.attention.path.empty() && file.conv_type.empty() && !file.attention.base);
    file.source.clear();
    QVERIFY(file == qread::default_config(MemoryMode::qllm));
    for (const MemoryMode m : kAllModes) {
      const RunConfig c = qread::default_config(m);
      QVERIFY(c.attention.mode == m);
      check_reference_qllm_1k([&] { RunConfig q = c; q.attention.mode = MemoryMode::qllm; return q; }());
      QCOMPARE(c.attention.question_weight, 4.0);
      QCOMPARE(c.chunk_size, 8192);
      QCOMPARE(c.attention.page_size, 16);
      QCOMPARE(c.attention.token_budget, 1024);
      QCOMPARE(c.attention.dense_layers, 2);
      qread::validate(c, "default");
      RunConfig back = qread::parse_config(qread::to_yaml(c), "back");
      back.source.clear();
      QVERIFY(back == c);
    }
  }

  void errorsNameFileAndKey_data() {
    QTest::addColumn<QStringList>("changes");  // lines for qllm_file_with(); or
    QTest::addColumn<QString>("raw");          // the whole file
    QTest::addColumn<QStringList>("expected");
    QTest::addColumn<bool>("with_line");  // the message has "bad.yaml:<line of the first change>"
    const auto row = [](const char* name, QStringList changes, QStringList expected, bool with_line = true) {
      QTest::addRow("%s", name) << changes << QString() << expected << with_line;
    };
    const auto raw = [](const char* name, QString text, QStringList expected) {
      QTest::addRow("%s", name) << QStringList{} << text << expected << false;
    };
    // Unknown keys.
    row("misspelt", {"  n_locl: 1024"}, {"unknown key 'model.n_locl'", "did you mean 'n_local'?"});
    row("misspelt top", {"chunk_sise: 4096"}, {"'chunk_sise'", "did you mean 'chunk_size'?"});
    row("misplaced in model", {"  chunk_size: 4096"}, {"model.chunk_size", "top level"});
    row("misplaced at top", {"topk: 8"}, {"'topk'", "belongs under 'model:'"});
    row("far off", {"  zzz_unheard_of: 1"}, {"model.zzz_unheard_of", "n_local"});
    row("model_center", {"  model_center: false"}, {"model.model_center"});
    // Wrong types.
    row("topk eight", {"  topk: eight"}, {"model.topk", "integer", "'eight'"});
    row("n_local 1.5", {"  n_local: 1.5"}, {"model.n_local", "integer", "'1.5'"});
    row("fattn maybe", {"  fattn: maybe"}, {"model.fattn", "true or false", "'maybe'"});
    row("quoted number", {"  topk: '8'"}, {"model.topk", "quoted", "'8'"});
    row("list", {"  topk: [8]"}, {"model.topk", "a list"});
    row("mapping", {"  topk: {a: 1}"}, {"model.topk", "a mapping"});
    row("no value", {"  n_init:"}, {"model.n_init", "no value"});
    row("octal-looking", {"  n_init: 0128"}, {"model.n_init", "'0128'"});
    row("weight text", {"  question_weight: heavy"}, {"model.question_weight", "number", "'heavy'"});
    row("base inf", {"  base: .inf"}, {"model.base", "number", "'.inf'"});
    row("chunk_size text", {"chunk_size: big"}, {"chunk_size", "'big'"});
    row("path list", {"  path: [a, b]"}, {"model.path", "a list"});
    row("unknown type", {"  type: qlm"}, {"model.type", "'qlm'", "did you mean 'qllm'?"});
    row("unknown type far", {"  type: h2o"}, {"model.type", "'h2o'", "quest"});
    row("strategy", {"  cache_strategy: fifo"}, {"model.cache_strategy", "'fifo'", "lru-s"});
    // Impossible values.
    row("topk 0", {"  topk: 0"}, {"model.topk", "at least 1", "got 0"});
    row("n_local 0", {"  n_local: 0"}, {"model.n_local", "at least 1"});
    row("n_init -1", {"  n_init: -1"}, {"model.n_init", "at least 0", "-1"});
    row("block 0", {"  block_size: 0"}, {"model.block_size", "at least 1"});
    row("repr 0", {"  repr_topk: 0"}, {"model.repr_topk", "at least 1"});
    row("repr > block", {"  repr_topk: 129"}, {"model.repr_topk", "129", "block_size (128)"});
    row("exc 0", {"  exc_block_size: 0"}, {"model.exc_block_size", "at least 1"});
    row("exc > n_local", {"  exc_block_size: 2048"}, {"model.exc_block_size", "2048", "n_local (1024)"});
    row("cache < topk", {"  max_cached_block: 4"}, {"model.max_cached_block", "4", "topk (8)"});
    row("lru-s alone", {"  cache_strategy: lru-s"}, {"model.cache_strategy", "score_decay"});
    row("decay 0", {"  score_decay: 0", "  cache_strategy: lru-s"}, {"model.score_decay", "(0, 1]"});
    row("decay 1.5", {"  score_decay: 1.5", "  cache_strategy: lru-s"}, {"model.score_decay", "1.5"});
    row("weight < 0", {"  question_weight: -1"}, {"model.question_weight", "-1"});
    row("base 0", {"  base: 0"}, {"model.base", "positive"});
    row("scale < 0", {"  distance_scale: -1.0"}, {"model.distance_scale", "positive"});
    row("chunk_size 0", {"chunk_size: 0"}, {"chunk_size", "at least 1"});
    row("max_len 0", {"max_len: 0"}, {"max_len", "at least 1"});
    row("truncation", {"truncation: prefix"}, {"truncation", "'prefix'", "suffix"});
    row("page 0", {"  page_size: 0", "  type: quest"}, {"model.page_size", "at least 1"});
    row("budget < page", {"  token_budget: 8", "  type: quest"}, {"model.token_budget", "page_size (16)"});
    row("dense < 0", {"  dense_layers: -1"}, {"model.dense_layers", "at least 0"});
    row("chunk_topk_calc 0", {"  chunk_topk_calc: 0"}, {"model.chunk_topk_calc", "at least 1"});
    // The file as a whole.
    raw("empty", "", {"empty"});
    raw("comment only", "# nothing\n", {"empty"});
    raw("list", "- model\n", {"got a list"});
    raw("scalar", "qllm\n", {"'qllm'"});
    raw("no type", "model:\n  topk: 8\n", {"model.type is missing"});
    raw("no model", "chunk_size: 4096\n", {"model.type is missing"});
    raw("model scalar", "model: qllm\n", {"model:", "'qllm'"});
    raw("syntax", "model:\n  type: [qllm\n", {"not valid YAML"});
    raw("two documents", "model:\n  type: qllm\n---\nmodel:\n  type: origin\n", {"documents"});
    raw("duplicate", "model:\n  type: qllm\n  topk: 8\n  topk: 9\n", {"bad.yaml:4:", "duplicate", "model.topk", "line 3"});
    raw("key is a list", "model:\n  type: qllm\n  [a]: 1\n", {"key"});
  }
  void errorsNameFileAndKey() {
    QFETCH(QStringList, changes);
    QFETCH(QString, raw);
    QFETCH(QStringList, expected);
    QFETCH(bool, with_line);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath("bad.yaml");
    auto [text, line] = changes.isEmpty() ? std::pair<QString, int>{raw, 0} : qllm_file_with(changes);
    {
      QFile f(path);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(text.toUtf8());
    }
    const QString message = error_of([&] { qread::load_config(path.toStdString()); });
    QVERIFY2(!message.isEmpty(), qPrintable("no InputError for:\n" + text));
    QVERIFY2(message.contains(path), qPrintable(message + " lacks the file"));
    for (const auto& part : expected) QVERIFY2(message.contains(part), qPrintable(message + " lacks " + part));
    if (with_line) {
      const QString at = QString("%1:%2:").arg(path).arg(line);
      QVERIFY2(message.contains(at), qPrintable(message + " lacks " + at));
    }
  }

  void loadErrors() {
    QString m = error_of([] { qread::load_config("/nonexistent/qread.yaml"); });
    QVERIFY2(m.contains("/nonexistent/qread.yaml") && m.contains("no such file"), qPrintable(m));
    QTemporaryDir dir;
    m = error_of([&] { qread::load_config(dir.path().toStdString()); });
    QVERIFY2(m.contains(dir.path()) && m.contains("folder"), qPrintable(m));
    // parse_config names its source.
    m = error_of([] { qread::parse_config("model:\n  type: qllm\n  topk: x\n", "from-the-ui"); });
    QVERIFY2(m.startsWith("from-the-ui:3:"), qPrintable(m));
  }

  void keysWithoutEffectAreNoted() {
    const auto [text, line] = qllm_file_with({"  faiss: true", "  chunk_topk_calc: 4096", "  pin_memory: true",
                                              "  tokenizer_path: ./tok", "  score_decay: 0.1"});
    Q_UNUSED(line);
    const RunConfig c = qread::parse_config(text.toStdString(), "notes.yaml");
    QVERIFY(c.attention.faiss);
    QCOMPARE(c.attention.score_decay, std::optional<double>(0.1));
    QCOMPARE(c.notes.size(), std::size_t{5});
    QCOMPARE(c.notes[0], std::string("faiss: ignored; qread retrieves blocks on the GPU by inner product"));
    const auto has = [&](const char* prefix) {
      return std::any_of(c.notes.begin(), c.notes.end(), [&](const std::string& n) { return n.rfind(prefix, 0) == 0; });
    };
    QVERIFY(has("chunk_topk_calc: ignored"));
    QVERIFY(has("pin_memory: ignored"));
    QVERIFY(has("tokenizer_path: ignored"));
    QVERIFY(has("score_decay: no effect"));
    // Reference defaults are no news.
    const auto [quiet, l2] = qllm_file_with({"  faiss: false", "  pin_memory: false", "  chunk_topk_calc: null",
                                             "  async_global_stream: true", "  perhead: false"});
    Q_UNUSED(l2);
    QVERIFY(qread::parse_config(quiet.toStdString(), "quiet.yaml").notes.empty());
    // --set replaces a note instead of piling them up.
    RunConfig o = c;
    qread::apply_override(o, "faiss=false");
    QCOMPARE(o.notes.size(), std::size_t{4});
    qread::apply_override(o, "cache_strategy=lru-s");
    QVERIFY(!std::any_of(o.notes.begin(), o.notes.end(), [](const std::string& n) { return n.rfind("score_decay", 0) == 0; }));
    qread::apply_override(o, "faiss=true");
    qread::apply_override(o, "faiss=yes");
    QCOMPARE(std::count(o.notes.begin(), o.notes.end(), c.notes[0]), 1);
  }

  void overrides() {
    RunConfig c = load_preset("llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml");
    qread::apply_override(c, "model.topk=4");
    QCOMPARE(c.attention.topk, 4);
    qread::apply_override(c, "topk=16");
    QCOMPARE(c.attention.topk, 16);
    qread::apply_override(c, "chunk_size=4096");
    QCOMPARE(c.chunk_size, 4096);
    qread::apply_override(c, "model.n_local=2048");
    QCOMPARE(c.attention.n_local, 2048);
    qread::apply_override(c, "type=inf-llm");
    QVERIFY(c.attention.mode == MemoryMode::inf_llm);
    qread::apply_override(c, "type=qllm");
    QVERIFY(c.attention.mode == MemoryMode::qllm);
    qread::apply_override(c, " question_weight = 2.5 ");
    QCOMPARE(c.attention.question_weight, 2.5);
    qread::apply_override(c, "fattn=true");
    QVERIFY(c.attention.fattn);
    qread::apply_override(c, "conv_type=chatml");
    QCOMPARE(c.conv_type, std::string("chatml"));
    qread::apply_override(c, "path=~/models/my model: v2 # 1");  // verbatim, not YAML
    QCOMPARE(c.attention.path, std::string("~/models/my model: v2 # 1"));
    qread::apply_override(c, "base=10000");
    QCOMPARE(c.attention.base, std::optional<double>(10000.0));
    qread::apply_override(c, "base=");
    QVERIFY(!c.attention.base);
    qread::apply_override(c, "model.distance_scale=null");
    QVERIFY(!c.attention.distance_scale);
    qread::apply_override(c, "truncation=none");
    QCOMPARE(c.truncation, std::string("none"));
    qread::apply_override(c, "max_len=100000");
    QCOMPARE(c.max_len, 100000);
    qread::apply_override(c, "type=quest");
    qread::apply_override(c, "token_budget=4096");
    QCOMPARE(c.attention.token_budget, 4096);

    // Errors name the assignment and the key, and leave the config as it was.
    c = load_preset("llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml");
    const RunConfig before = c;
    const auto fails = [&](const char* assignment, QStringList expected) {
      const QString m = error_of([&] { qread::apply_override(c, assignment); });
      QVERIFY2(!m.isEmpty(), assignment);
      expected << QString("--set ") + assignment;
      for (const auto& part : expected) QVERIFY2(m.contains(part), qPrintable(m + " lacks " + part));
      QVERIFY2(c == before, assignment);
    };
    fails("topk=eight", {"model.topk", "'eight'", "integer"});
    fails("topk='8'", {"model.topk", "quoted"});
    fails("topk=0", {"model.topk", "at least 1"});
    fails("n_locl=5", {"did you mean 'n_local'?"});
    fails("model.chunk_size=5", {"chunk_size", "top level"});
    fails("model.topkk=5", {"did you mean 'topk'?"});
    fails("topk", {"key=value"});
    fails("=8", {"unknown key"});
    fails("model=qllm", {"model"});
    fails("n_local=256", {"model.exc_block_size", "n_local (256)"});
    fails("type=qlm", {"did you mean 'qllm'?"});
    fails("type=", {"model.type", "no value"});
    fails("fattn=maybe", {"model.fattn", "'maybe'"});
    fails("cache_strategy=lru-s", {"score_decay"});
    fails("truncation=prefix", {"truncation", "'prefix'"});
    fails("max_len=[1", {"max_len", "'[1'"});
  }

  void validateNamesSourceAndKey() {
    RunConfig c = qread::default_config(MemoryMode::qllm);
    qread::validate(c, "ui");
    c.attention.exc_block_size = 4096;
    QString m = error_of([&] { qread::validate(c, "ui"); });
    QVERIFY2(m.startsWith("ui: model.exc_block_size"), qPrintable(m));
    // The relations bind only the modes that use them: the reference loads such a stream-llm file.
    c.attention.mode = MemoryMode::stream_llm;
    qread::validate(c, "ui");
    c.attention.n_local = 0;
    m = error_of([&] { qread::validate(c, "ui"); });
    QVERIFY2(m.contains("model.n_local"), qPrintable(m));
    RunConfig q = qread::default_config(MemoryMode::quest);
    q.attention.token_budget = 15;
    QVERIFY(!error_of([&] { qread::validate(q, "ui"); }).isEmpty());
    q.attention.mode = MemoryMode::qllm;
    qread::validate(q, "ui");
    q.attention.question_weight = std::nan("");
    QVERIFY(error_of([&] { qread::validate(q, "ui"); }).contains("question_weight"));
  }

  void roundTripRandomConfigs() {
    std::mt19937_64 rng(qread::test::random_seed());
    for (int trial = 0; trial < 2000; ++trial) {
      const RunConfig c = random_valid_config(rng);
      qread::validate(c, "random");
      const std::string text = qread::to_yaml(c);
      RunConfig back;
      try {
        back = qread::parse_config(text, "random");
      } catch (const std::exception& e) {
        QFAIL(qPrintable(QString("trial %1: %2\n%3").arg(trial).arg(e.what()).arg(QString::fromStdString(text))));
      }
      const bool same = back.attention == c.attention && back.max_len == c.max_len &&
                        back.truncation == c.truncation && back.chunk_size == c.chunk_size &&
                        back.conv_type == c.conv_type;
      QVERIFY2(same, qPrintable(QString("trial %1 differs after:\n%2").arg(trial).arg(QString::fromStdString(text))));
      const std::size_t notes = (c.attention.faiss ? 1 : 0) +
                                (c.attention.score_decay && c.attention.cache_strategy == CacheStrategy::lru ? 1 : 0);
      QCOMPARE(back.notes.size(), notes);
      // Written again, it is the same text.
      QCOMPARE(qread::to_yaml(back), text);
    }
  }
};

QTEST_APPLESS_MAIN(TestConfig)
#include "test_config.moc"
