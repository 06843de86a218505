// ConnectGloo without LibTorch in the process until it is needed: opens libtpc_gloo.so, beside the
// running executable first, then wherever the dynamic loader finds it.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>

#include "runtime/gloo_communicator.h"

namespace tpc {
namespace {

constexpr const char* kModule = "libtpc_gloo.so";
constexpr const char* kGlooEntry = "tpc_connect_gloo";
using Entry = Communicator* (*)(const GlooConfig*, std::string*);

std::string BesideExecutable() {
  char path[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  std::string exe(path, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/') + 1) + kModule;
}

}  // namespace

std::unique_ptr<Communicator> ConnectGloo(const GlooConfig& config, std::string* error) {
  // Kept open for the life of the process: the communicator's code lives in it.
  static void* module = nullptr;
  static std::string open_error;
  if (!module && open_error.empty()) {
    std::string beside = BesideExecutable();
    if (!beside.empty()) module = ::dlopen(beside.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!module) module = ::dlopen(kModule, RTLD_NOW | RTLD_LOCAL);
    if (!module) open_error = std::string("cannot open ") + kModule + " (the Gloo communicator): " + ::dlerror();
  }
  auto entry = module ? reinterpret_cast<Entry>(::dlsym(module, kGlooEntry)) : nullptr;
  if (!entry) {
    *error = module ? std::string(kModule) + " has no " + kGlooEntry : open_error;
    return nullptr;
  }
  return std::unique_ptr<Communicator>(entry(&config, error));
}

}  // namespace tpc
