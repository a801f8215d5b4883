// Token ids from a JSON file: an array of ids, or an object with an "input_ids" array (an
// oracle.json works as is). Throws qread::InputError naming the file and the entry at fault.
#pragma once

#include "qread/language_model.hpp"

#include <filesystem>
#include <vector>

namespace qread::cli {

std::vector<TokenId> read_input_ids(const std::filesystem::path& path);

}  // namespace qread::cli
