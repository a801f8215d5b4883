// qread mkmodel: a tiny random model folder in Hugging Face layout, for tests and benchmarks.
#include "command.hpp"
#include "qread/model_maker.hpp"

#include <fmt/core.h>

namespace {

qread::cli::Runner setup_mkmodel(CLI::App& app) {
  auto* cmd = app.add_subcommand("mkmodel", "Write a tiny random model folder (HF layout) for tests");
  auto o = std::make_shared<qread::MakeModelOptions>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "Folder to write")->required();
  cmd->add_option("--arch", o->architecture, "llama, mistral or qwen2")->capture_default_str();
  cmd->add_option("--layers", o->layers)->capture_default_str();
  cmd->add_option("--hidden", o->hidden_size)->capture_default_str();
  cmd->add_option("--intermediate", o->intermediate_size)->capture_default_str();
  cmd->add_option("--heads", o->heads)->capture_default_str();
  cmd->add_option("--kv-heads", o->kv_heads)->capture_default_str();
  cmd->add_option("--head-dim", o->head_dim, "0: hidden / heads")->capture_default_str();
  cmd->add_option("--vocab", o->vocab_size, "0: the tokenizer's size (512 without one)")->capture_default_str();
  cmd->add_option("--max-positions", o->max_position_embeddings)->capture_default_str();
  cmd->add_option("--rope-theta", o->rope_theta)->capture_default_str();
  cmd->add_option("--rope-scaling", o->rope_scaling, "none, linear, dynamic, llama3")->capture_default_str();
  cmd->add_option("--rope-factor", o->rope_factor)->capture_default_str();
  cmd->add_flag("--tie-embeddings", o->tie_word_embeddings);
  cmd->add_option("--dtype", o->dtype, "float32, bfloat16, float16")->capture_default_str();
  cmd->add_option("--seed", o->seed)->capture_default_str();
  cmd->add_option("--tokenizer", o->tokenizer, "none, spm, bpe, both")->capture_default_str();
  cmd->add_option("--corpus", o->corpus, "UTF-8 text to train the tokenizers on");
  cmd->add_option("--tokenizer-vocab", o->tokenizer_vocab)->capture_default_str();
  return [o, out] {
    qread::make_model(*out, *o);
    fmt::print("wrote {}\n", *out);
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("mkmodel", setup_mkmodel);
