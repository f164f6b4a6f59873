// Case-insensitive comparisons of protocol text (header names, tokens, host names): ASCII only,
// whatever the locale.
#pragma once

#include <string>
#include <string_view>

namespace weir {

/// `c` in lowercase when it is an ASCII capital letter; any other byte as it is.
constexpr char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

/// `s` with its ASCII capital letters in lowercase.
inline std::string asciiLowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = asciiLower(c);
  return out;
}

/// ASCII case-insensitive equality.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  return true;
}

/// `s` begins with `prefix`, in any ASCII case ("Bearer ", "http://").
inline bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace weir
