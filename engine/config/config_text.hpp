// The typed reading of a config value's text, and the "did you mean" of a misspelt key.
// YAML-free: the same rules serve YAML files and `--set key=value`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qread::config {

// A decimal integer with an optional sign ("128", "-1", "+7"). Not "1.5", "1e3", "0x10", or
// "010" (an octal number to YAML 1.1 readers such as the reference's, so ambiguous); not a value
// outside int64.
std::optional<std::int64_t> parse_integer(std::string_view text);

// A finite decimal number ("4", "1.0", "1e6", "-0.5", "+2"). Not ".inf", ".nan", "1_000".
std::optional<double> parse_number(std::string_view text);

// YAML 1.1 booleans, as yaml-cpp and the reference's loader read them: true/false, yes/no,
// on/off, each lower case, Capitalised or UPPER case.
std::optional<bool> parse_boolean(std::string_view text);

// Levenshtein distance, case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The name among `names` closest to `word` when it is close enough to be a likely typo.
std::optional<std::string> closest_name(std::string_view word, std::span<const std::string_view> names);

}  // namespace qread::config
