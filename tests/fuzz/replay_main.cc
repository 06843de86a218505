// Replays fuzz inputs through a target built without libFuzzer: every file named on the command
// line, or found under a named directory, once. A crash or an escaped exception fails the run
// (ctest shows which input); a line per slow input shows what a timeout would have been.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path arg = argv[i];
    if (fs::is_directory(arg)) {
      for (const auto& e : fs::recursive_directory_iterator(arg))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else {
      inputs.push_back(arg);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  double total = 0;
  for (const fs::path& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
      return 1;
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string bytes = text.str();
    auto start = std::chrono::steady_clock::now();
    try {
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "replay: %s: escaped exception: %s\n", p.c_str(), e.what());
      return 1;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    total += s;
    if (s > 1.0) std::printf("replay: %s took %.2f s\n", p.c_str(), s);
  }
  std::printf("replay: %zu inputs in %.2f s\n", inputs.size(), total);
  return inputs.empty() ? 1 : 0;
}
