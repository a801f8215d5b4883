// qread-bench-tokenizer MODEL_DIR [TEXT_FILE] [REPEATS]: encoding speed on one core.
// Without TEXT_FILE it encodes 1 MiB of generated English-like text (words of the test corpus
// and invented words). Prints the best of REPEATS (default 3) runs. Not a test.
#include "qread/tokenizer.hpp"

#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [TEXT_FILE] [REPEATS]\n", argv[0]);
    return 2;
  }
  try {
    const auto tokenizer = qread::model::load_tokenizer(argv[1]);
    std::string text;
    if (argc >= 3 && std::string(argv[2]) != "-") {
      std::ifstream in(argv[2], std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      text = s.str();
    } else {
      std::ifstream in(std::string(QREAD_TEST_SOURCE_DIR) + "/tests/tokenizer/data/corpus.txt");
      std::vector<std::string> words;
      for (std::string w; in >> w;) words.push_back(w);
      std::mt19937_64 rng(7);
      while (text.size() < (1u << 20)) {
        if (rng() % 5 == 0)
          for (int k = 2 + int(rng() % 9); k > 0; --k) text += char('a' + rng() % 26);
        else
          text += words[rng() % words.size()];
        text += rng() % 13 == 0 ? "\n" : " ";
      }
    }
    const int repeats = argc >= 4 ? std::stoi(argv[3]) : 3;
    // Wall time and CPU time (the latter is what counts on a busy machine: encoding is one thread).
    double best = 1e9, best_cpu = 1e9;
    std::size_t tokens = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      const std::clock_t cpu_start = std::clock();
      tokens = tokenizer->encode(text, false).size();
      best_cpu = std::min(best_cpu, double(std::clock() - cpu_start) / CLOCKS_PER_SEC);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("%s tokenizer, vocab %zu: %zu bytes -> %zu tokens in %.3f s wall, %.3f s CPU (%.2f MB/s of CPU; best of %d)\n",
                std::string(tokenizer->kind()).c_str(), tokenizer->vocab_size(), text.size(), tokens, best, best_cpu,
                double(text.size()) / 1e6 / best_cpu, repeats);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
