#ifndef TPC_SUPPORT_SOURCE_MANAGER_H_
#define TPC_SUPPORT_SOURCE_MANAGER_H_

#include <string>
#include <string_view>
#include <vector>

namespace tpc {

/// A position in an input file; line and column are 1-based, 0 means "whole file".
struct SourceLoc {
  int file = -1;
  int line = 0;
  int column = 0;
  int length = 1;  ///< Characters the caret underline covers.

  bool valid() const { return file >= 0; }
};

/// Owns the text of every input file so diagnostics can quote source lines.
class SourceManager {
 public:
  /// Registers a file's text and returns its id.
  int AddFile(std::string path, std::string text);
  /// Registers a file known only by name (unreadable, or not worth quoting).
  int AddPath(std::string path);
  const std::string& path(int file) const { return files_[file].path; }
  const std::string& text(int file) const { return files_[file].text; }
  /// Returns the 1-based line of a file, without its newline, or "" when out of range.
  std::string_view Line(int file, int line) const;

 private:
  struct File {
    std::string path;
    std::string text;
    std::vector<size_t> line_starts;
  };
  std::vector<File> files_;
};

}  // namespace tpc

#endif  // TPC_SUPPORT_SOURCE_MANAGER_H_
