#include "input_ids.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace qread::cli {

std::vector<TokenId> read_input_ids(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open the input ids file", path.string()));
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(fmt::format("{}: not valid JSON", path.string()));
  const nlohmann::json* ids = &j;
  if (j.is_object()) {
    auto it = j.find("input_ids");
    if (it == j.end()) throw InputError(fmt::format("{}: the object has no \"input_ids\" array", path.string()));
    ids = &*it;
  }
  if (!ids->is_array())
    throw InputError(fmt::format("{}: expected an array of token ids or an object with \"input_ids\"", path.string()));
  std::vector<TokenId> out;
  out.reserve(ids->size());
  for (std::size_t i = 0; i < ids->size(); ++i) {
    const auto& v = (*ids)[i];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > INT32_MAX)
      throw InputError(fmt::format("{}: input_ids[{}] is {}, not a token id", path.string(), i, v.dump()));
    out.push_back(v.get<TokenId>());
  }
  if (out.empty()) throw InputError(fmt::format("{}: input_ids is empty", path.string()));
  return out;
}

}  // namespace qread::cli
