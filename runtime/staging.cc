#include "runtime/staging.h"

#include <algorithm>

#include "support/limits.h"

namespace tpc {
namespace {

// Runs [i, i + k) repeated `rows` times, each row `pitch` bytes further in the file and `row_bytes`
// further in the tensor.
struct Group {
  size_t k = 0;
  uint64_t rows = 0;
  uint64_t pitch = 0;
  uint64_t row_bytes = 0;
  uint64_t span = 0;  // from the first run's first byte to the last run's end, in one row
};

// The longest strided group that starts at run i, with the fewest runs per row; k 0 when none has
// two rows of short runs.
Group FindGroup(const std::vector<CopyRun>& runs, size_t i) {
  size_t n = runs.size();
  for (size_t k = 1; k <= limits::kLoadMaxCutsPerRow && i + 2 * k <= n; ++k) {
    const CopyRun& first = runs[i];
    Group g{k, 1, 0, 0, 0};
    bool row_ok = true;
    for (size_t j = 0; j < k && row_ok; ++j) {
      const CopyRun& r = runs[i + j];
      row_ok = r.file == first.file && r.length <= limits::kLoadCutMaxRunBytes && r.dst == first.dst + g.row_bytes &&
               r.src >= first.src + g.span;
      g.row_bytes += r.length;
      g.span = r.src + r.length - first.src;
    }
    if (!row_ok || runs[i + k].src <= first.src) continue;
    g.pitch = runs[i + k].src - first.src;
    if (g.pitch < g.span) continue;
    auto matches = [&](uint64_t row) {
      if (i + (row + 1) * k > n) return false;
      for (size_t j = 0; j < k; ++j) {
        const CopyRun& a = runs[i + j];
        const CopyRun& b = runs[i + row * k + j];
        if (b.file != a.file || b.length != a.length || b.src != a.src + row * g.pitch ||
            b.dst != a.dst + row * g.row_bytes)
          return false;
      }
      return true;
    };
    while (matches(g.rows)) ++g.rows;
    if (g.rows >= 2) return g;
  }
  return {};
}

}  // namespace

std::vector<StageWindow> PlanStaging(const OutTensor& t, uint64_t window, int first_buffer) {
  std::vector<StageWindow> out;
  auto add = [&](StageWindow w) {
    w.buffer = (first_buffer + static_cast<int>(out.size())) % 2;
    out.push_back(std::move(w));
  };
  const std::vector<CopyRun>& runs = t.runs;
  for (size_t i = 0; i < runs.size();) {
    Group g = FindGroup(runs, i);
    if (g.k > 0 && g.span <= window) {
      const CopyRun& first = runs[i];
      uint64_t per_window = (window - g.span) / g.pitch + 1;
      for (uint64_t r0 = 0; r0 < g.rows; r0 += per_window) {
        uint64_t rows = std::min(per_window, g.rows - r0);
        StageWindow w{first.file, first.src + r0 * g.pitch, (rows - 1) * g.pitch + g.span, 0,
                      first.dst - t.offset + r0 * g.row_bytes, {}};
        for (size_t j = 0; j < g.k; ++j) {
          const CopyRun& r = runs[i + j];
          w.cuts.push_back({r.src - first.src, g.pitch, r.dst - t.offset + r0 * g.row_bytes, g.row_bytes, r.length,
                            rows});
        }
        add(std::move(w));
      }
      i += g.k * g.rows;
      continue;
    }
    const CopyRun& r = runs[i++];
    for (uint64_t at = 0; at < r.length; at += window)
      add({r.file, r.src + at, std::min(window, r.length - at), 0, r.dst - t.offset + at, {}});
  }
  return out;
}

}  // namespace tpc
