#include "support/strings.h"

#include <cstdio>

#include <algorithm>
#include <cstdlib>

#include "support/limits.h"

namespace tpc {

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

int EditDistance(std::string_view a, std::string_view b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diag = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  // Allow about one edit per three characters, like ninja's SpellcheckString.
  // The distance is quadratic in length: a 200 MB word would take minutes, and a typo of a real
  // name is never that long.
  if (word.size() > limits::kMaxSuggestLength) return "";
  int best = static_cast<int>(word.size()) / 3 + 1;
  std::string found;
  for (const std::string& c : candidates) {
    if (c.size() > limits::kMaxSuggestLength) continue;
    // The distance is at least the difference in length.
    if (std::abs(static_cast<int>(c.size()) - static_cast<int>(word.size())) >= best) continue;
    int d = EditDistance(word, c);
    if (d < best) {
      best = d;
      found = c;
    }
  }
  return found;
}

std::string JoinInts(const std::vector<int64_t>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(values[i]);
  }
  return out;
}

std::string ShapeText(const std::vector<int64_t>& shape) { return "[" + JoinInts(shape) + "]"; }

std::vector<int64_t> Divisors(int64_t n, int64_t limit) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d <= n && d <= limit; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

std::string Shorten(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max / 2)) + "..." + std::string(s.substr(s.size() - max / 2));
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  char buf[32];
  if (bytes == static_cast<int64_t>(bytes)) std::snprintf(buf, sizeof buf, "%lld %s", static_cast<long long>(bytes), units[u]);
  else std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace tpc
