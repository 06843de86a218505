#include "support/source_manager.h"

namespace tpc {

int SourceManager::AddFile(std::string path, std::string text) {
  File f{std::move(path), std::move(text), {0}};
  for (size_t i = 0; i < f.text.size(); ++i)
    if (f.text[i] == '\n') f.line_starts.push_back(i + 1);
  files_.push_back(std::move(f));
  return static_cast<int>(files_.size()) - 1;
}

int SourceManager::AddPath(std::string path) { return AddFile(std::move(path), ""); }

std::string_view SourceManager::Line(int file, int line) const {
  if (file < 0 || file >= static_cast<int>(files_.size()) || line < 1) return {};
  const File& f = files_[file];
  if (line > static_cast<int>(f.line_starts.size())) return {};
  size_t begin = f.line_starts[line - 1];
  size_t end = f.text.find('\n', begin);
  if (end == std::string::npos) end = f.text.size();
  if (end > begin && f.text[end - 1] == '\r') --end;
  return std::string_view(f.text).substr(begin, end - begin);
}

}  // namespace tpc
