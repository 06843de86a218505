// End to end: what `-o`, `--dot` and standard output do to the files they name. Device nodes and
// FIFOs are made inside each test's TempDir (mknod needs root), never the system's /dev/null.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/atomic_file.h"
#include "test_util.h"

namespace tpc {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const std::string kModel = "--model tests/data/configs/meta-llama__Llama-3.1-8B";
const std::string kCompile = "compile " + kModel + " --plan plans/hf/llama.yaml --tp 8 --no-color";

// Runs tpc in the source tree, under a timeout so that a hang fails the test instead of stalling
// it; `redirect` says where its output goes (by default both streams are captured).
test::TpcRun Tpc(const std::string& args, const std::string& redirect = "2>&1") {
  test::TpcRun r;
  r.code = test::RunCommand(std::string("cd ") + TPC_SOURCE_DIR + " && timeout 20 " + TPC_BINARY + " " + args + " " + redirect,
                            &r.out);
  return r;
}

// Runs tpc with its standard output sent to `stdout_path`; the result holds its standard error.
test::TpcRun TpcToStdout(const std::string& args, const std::string& stdout_path) {
  return Tpc(args, "2>&1 >'" + stdout_path + "'");
}

// A character device node `major`,`minor` at `path` (1,3 is null, 1,7 is full), checked to open.
void MakeDevice(const std::string& path, unsigned major, unsigned minor) {
  REQUIRE_MESSAGE(mknod(path.c_str(), S_IFCHR | 0666, makedev(major, minor)) == 0,
                  "mknod " << path << ": " << std::strerror(errno) << " (these tests need root)");
  int fd = open(path.c_str(), O_WRONLY);
  REQUIRE_MESSAGE(fd >= 0, "open " << path << ": " << std::strerror(errno) << " (is the temp dir mounted nodev?)");
  close(fd);
}

bool IsCharDevice(const std::string& path, unsigned major, unsigned minor) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(major, minor);
}

bool IsFifo(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

// The names in `dir`, sorted: a leftover temporary file shows up here.
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool Has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A compiled Llama-3.1-8B tp-8 program: version 1, 291 parameters (32 x 9 + embed, norm, lm_head).
void CheckProgram(const std::string& text) {
  nlohmann::json p = nlohmann::json::parse(text, nullptr, false);
  REQUIRE_FALSE(p.is_discarded());
  CHECK(p["version"] == 2);
  CHECK(p["parameters"].size() == 291);
}

TEST_SUITE("output-safety") {
  TEST_CASE("-o a null device writes through it and leaves it a device") {
    TempDir dir;
    MakeDevice(dir / "null", 1, 3);
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "null"));
    CHECK(r.code == 0);
    CHECK(IsCharDevice(dir / "null", 1, 3));
    CHECK(Entries(dir.path) == std::vector<std::string>{"null"});
  }

  TEST_CASE("-o a full device is exit 2 with the reason, and it stays a device") {
    TempDir dir;
    MakeDevice(dir / "full", 1, 7);
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "full"));
    CHECK(r.code == 2);
    CHECK(Has(r.out, "cannot write '" + (dir / "full") + "': No space left on device [output-unwritable]"));
    CHECK(IsCharDevice(dir / "full", 1, 7));
    CHECK(Entries(dir.path) == std::vector<std::string>{"full"});
  }

  TEST_CASE("-o a FIFO with a reader sends the program through it") {
    TempDir dir;
    REQUIRE(mkfifo((dir / "fifo").c_str(), 0644) == 0);
    // Opened before tpc runs, so the FIFO has a reader; read on a thread, as the program is larger
    // than a pipe's buffer.
    int fd = open((dir / "fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // not inherited by tpc
    REQUIRE(fd >= 0);
    std::atomic<bool> tpc_done{false};
    std::string got;
    std::thread reader([&] {
      char buf[1 << 16];
      for (;;) {
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, 100);
        if (ready == 0 && tpc_done) break;  // no data and no writer coming
        if (ready <= 0) continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        else if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;  // the writer closed it
      }
    });
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "fifo"));
    tpc_done = true;
    reader.join();
    close(fd);
    CHECK(r.code == 0);
    CheckProgram(got);
    CHECK(IsFifo(dir / "fifo"));
    CHECK(Entries(dir.path) == std::vector<std::string>{"fifo"});
  }

  TEST_CASE("-o a FIFO whose reader leaves is exit 2 with the reason, not a silent death by SIGPIPE") {
    TempDir dir;
    REQUIRE(mkfifo((dir / "fifo").c_str(), 0644) == 0);
    int fd = open((dir / "fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // not inherited by tpc
    REQUIRE(fd >= 0);
    // The reader leaves when the first bytes arrive: the program is larger than a pipe's buffer, so
    // tpc is still writing.
    std::thread reader([&] {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, 20000);
      close(fd);
    });
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "fifo"));
    reader.join();
    CHECK(r.code == 2);
    CHECK(Has(r.out, "cannot write '" + (dir / "fifo") + "': Broken pipe [output-unwritable]"));
    CHECK(IsFifo(dir / "fifo"));
  }

  TEST_CASE("-o a FIFO nobody reads is exit 2 at once, not a hang") {
    TempDir dir;
    REQUIRE(mkfifo((dir / "fifo").c_str(), 0644) == 0);
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "fifo"));
    CHECK(r.code == 2);  // 124 when it hangs
    CHECK(Has(r.out, "cannot write '" + (dir / "fifo") + "': no process is reading the FIFO [output-unwritable]"));
    CHECK(IsFifo(dir / "fifo"));
    CHECK(Entries(dir.path) == std::vector<std::string>{"fifo"});
  }

  TEST_CASE("-o a directory is refused, saying it is one") {
    TempDir dir;
    fs::create_directory(dir / "out");
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "out"));
    CHECK(r.code == 2);
    CHECK(Has(r.out, "cannot write '" + (dir / "out") + "': it is a directory [output-unwritable]"));
    CHECK(Entries(dir.path) == std::vector<std::string>{"out"});
    CHECK(fs::is_empty(dir / "out"));
  }

  TEST_CASE("-o through a symlink replaces the file it points to and keeps the link") {
    TempDir dir;
    SUBCASE("to an existing file") { test::WriteFile(dir / "program.json", "old\n"); }
    SUBCASE("dangling") {}
    fs::create_symlink("program.json", dir / "link.json");
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "link.json"));
    CHECK(r.code == 0);
    CHECK(fs::is_symlink(dir / "link.json"));
    CHECK(fs::read_symlink(dir / "link.json") == "program.json");
    CheckProgram(test::ReadFile(dir / "program.json"));
    CHECK(Entries(dir.path) == std::vector<std::string>{"link.json", "program.json"});
  }

  TEST_CASE("-o naming the plan file read is refused and the plan is unchanged") {
    TempDir dir;
    std::string plan = test::ReadFile(test::SourcePath("plans/nemo/llama.yaml"));  // torch, for translate-lora
    test::WriteFile(dir / "plan.yaml", plan);
    SUBCASE("compile") {
      test::TpcRun r = Tpc("compile " + kModel + " --tp 8 --plan " + (dir / "plan.yaml") + " -o " + dir.path + "/./plan.yaml");
      CHECK(r.code == 2);
      CHECK(Has(r.out, "/./plan.yaml': it is the plan file, read as input [output-unwritable]"));
    }
    SUBCASE("compile, --dot") {
      test::TpcRun r = Tpc("compile " + kModel + " --tp 8 --plan " + (dir / "plan.yaml") + " -o " + (dir / "p.json") +
                           " --dot " + (dir / "plan.yaml"));
      CHECK(r.code == 2);
      CHECK(Has(r.out, "plan.yaml': it is the plan file, read as input [output-unwritable]"));
    }
    SUBCASE("translate-lora") {
      test::TpcRun r = Tpc("translate-lora --plan " + (dir / "plan.yaml") + " -o " + (dir / "plan.yaml"));
      CHECK(r.code == 2);
      CHECK(Has(r.out, "plan.yaml': it is the plan file, read as input [output-unwritable]"));
    }
    CHECK((test::ReadFile(dir / "plan.yaml") == plan));  // no dump of both texts on failure
    CHECK(Entries(dir.path) == std::vector<std::string>{"plan.yaml"});
  }

  TEST_CASE("-o naming the config.json read is refused and the config is unchanged") {
    TempDir dir;
    std::string config = test::ReadFile(test::SourcePath("tests/data/configs/meta-llama__Llama-3.1-8B/config.json"));
    fs::create_directory(dir / "m");
    test::WriteFile(dir / "m/config.json", config);
    std::string model;
    SUBCASE("--model names the directory") { model = dir / "m"; }
    SUBCASE("--model names the file") { model = dir / "m/config.json"; }
    test::TpcRun r = Tpc("compile --model " + model + " --plan plans/hf/llama.yaml --tp 8 -o " + dir.path + "/m/../m/config.json");
    CHECK(r.code == 2);
    CHECK(Has(r.out, "/m/../m/config.json': it is the model's config.json, read as input [output-unwritable]"));
    CHECK((test::ReadFile(dir / "m/config.json") == config));
    CHECK(Entries(dir / "m") == std::vector<std::string>{"config.json"});
  }

  TEST_CASE("-o and --dot naming one file are refused") {
    TempDir dir;
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / "a.json") + " --dot " + dir.path + "/./a.json");
    CHECK(r.code == 2);
    CHECK(Has(r.out, "/./a.json': it is '" + (dir / "a.json") + "', another output of this command [output-unwritable]"));
    CHECK(Entries(dir.path).empty());
  }

  TEST_CASE("a 255-byte file name is written: the temporary name does not grow it") {
    TempDir dir;
    std::string name = std::string(250, 'p') + ".json";
    test::TpcRun r = Tpc(kCompile + " -o " + (dir / name));
    CHECK(r.code == 0);
    CHECK(Entries(dir.path) == std::vector<std::string>{name});
    CheckProgram(test::ReadFile(dir / name));
  }

  TEST_CASE("a --dot that cannot be written leaves -o as it was") {
    TempDir dir;
    SUBCASE("no program before: none after") {
      test::TpcRun r = Tpc(kCompile + " -o " + (dir / "ok.json") + " --dot " + (dir / "nonexistent_dir/b.dot"));
      CHECK(r.code == 2);
      CHECK(Has(r.out, "cannot write '" + (dir / "nonexistent_dir/b.dot") + "': No such file or directory [output-unwritable]"));
      CHECK(Entries(dir.path).empty());
    }
    SUBCASE("a program before: byte-identical after") {
      test::WriteFile(dir / "ok.json", "previous program\n");
      test::TpcRun r = Tpc(kCompile + " -o " + (dir / "ok.json") + " --dot " + (dir / "nonexistent_dir/b.dot"));
      CHECK(r.code == 2);
      CHECK((test::ReadFile(dir / "ok.json") == "previous program\n"));
      CHECK(Entries(dir.path) == std::vector<std::string>{"ok.json"});
    }
  }

  TEST_CASE("a standard output that cannot be written is exit 2 with the reason") {
    TempDir dir;
    MakeDevice(dir / "full", 1, 7);
    std::string command;
    SUBCASE("plans") { command = "plans"; }
    SUBCASE("explain") { command = "explain " + kModel + " --plan plans/hf/llama.yaml --tp 8"; }
    SUBCASE("translate-lora without -o") { command = "translate-lora --plan nemo/llama"; }
    test::TpcRun r = TpcToStdout(command, dir / "full");
    CHECK(r.code == 2);
    CHECK(Has(r.out, "tpc: cannot write standard output: No space left on device\n"));
    CHECK(IsCharDevice(dir / "full", 1, 7));
  }
}

TEST_SUITE("atomic-file") {
  TEST_CASE("an output written in pieces appears whole at commit, and a failed sibling stages nothing") {
    TempDir dir;
    test::WriteFile(dir / "a.bin", "old\n");
    OutputError why;
    {
      OutputSet outputs;
      StagedOutput* a = outputs.Stage(dir / "a.bin", &why);
      REQUIRE(a);
      CHECK(a->Write("new ", &why));
      CHECK(a->Write("bytes\n", &why));
      CHECK(outputs.Stage(dir / "missing/b.bin", &why) == nullptr);
      CHECK(why.path == dir / "missing/b.bin");
      CHECK(why.reason == "No such file or directory");
      CHECK_FALSE(outputs.Commit(&why));
    }
    CHECK(test::ReadFile(dir / "a.bin") == "old\n");
    CHECK(Entries(dir.path) == std::vector<std::string>{"a.bin"});
    OutputSet outputs;
    StagedOutput* a = outputs.Stage(dir / "a.bin", &why);
    REQUIRE(a);
    CHECK(a->Write("new ", &why));
    CHECK(test::ReadFile(dir / "a.bin") == "old\n");  // nothing visible before the commit
    CHECK(a->Write("bytes\n", &why));
    CHECK(outputs.Commit(&why));
    CHECK(test::ReadFile(dir / "a.bin") == "new bytes\n");
    CHECK(Entries(dir.path) == std::vector<std::string>{"a.bin"});
  }
}

}  // namespace
}  // namespace tpc
