#ifndef TPC_SUPPORT_STRINGS_H_
#define TPC_SUPPORT_STRINGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tpc {

/// Joins `parts` with `sep`.
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
/// Splits `s` on every `sep`.
std::vector<std::string_view> Split(std::string_view s, char sep);
/// Levenshtein distance, for did-you-mean suggestions.
int EditDistance(std::string_view a, std::string_view b);
/// Returns the candidate closest to `word` if it is close enough to be a likely typo, else "".
/// Words and candidates longer than limits::kMaxSuggestLength are not compared.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);
/// Formats an integer list as "1, 2, 4".
std::string JoinInts(const std::vector<int64_t>& values);
/// Formats a tensor shape as "[4096, 128]".
std::string ShapeText(const std::vector<int64_t>& shape);
/// The positive divisors of `n` up to `limit`, ascending: the tp sizes that split `n` evenly.
std::vector<int64_t> Divisors(int64_t n, int64_t limit = 1 << 20);
/// Formats a byte count in binary units: "1 GiB", "3.5 MiB".
std::string HumanBytes(double bytes);
/// True when `s` begins with `prefix`.
inline bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
/// True when `s` ends with `suffix`.
inline bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
/// `s` itself when it has at most `max` bytes, else its first and last max/2 bytes joined by "...".
std::string Shorten(std::string_view s, size_t max);
/// `s` with every `from` replaced by `to`.
std::string ReplaceAll(std::string s, std::string_view from, std::string_view to);
/// Quotes a name the way messages do: 'name'.
std::string Quote(std::string_view s);

}  // namespace tpc

#endif  // TPC_SUPPORT_STRINGS_H_
