// ConnectGloo without LibTorch in the process until it is needed, and the module opening it shares
// with cuda_plugin.cc.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <map>
#include <mutex>

#include "runtime/gloo_communicator.h"
#include "runtime/plugin.h"

namespace tpc {
namespace {

using Entry = Communicator* (*)(const GlooConfig*, std::string*);

std::string BesideExecutable(const std::string& name) {
  char path[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  std::string exe(path, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/') + 1) + name;
}

}  // namespace

void* FindInModule(const char* name, const char* what, const char* symbol, std::string* error) {
  // Kept open for the life of the process: the communicators' code lives in them.
  static std::mutex mu;
  static std::map<std::string, std::pair<void*, std::string>> opened;  // name: handle, or why not
  std::lock_guard lock(mu);
  auto [it, fresh] = opened.try_emplace(name);
  auto& [module, open_error] = it->second;
  if (fresh) {
    // A module beside the executable that fails to load says why (a missing or clashing library).
    std::string beside = BesideExecutable(name);
    bool there = !beside.empty() && ::access(beside.c_str(), F_OK) == 0;
    module = ::dlopen(there ? beside.c_str() : name, RTLD_NOW | RTLD_LOCAL);
    if (!module) open_error = std::string("cannot open ") + name + " (" + what + "): " + ::dlerror();
  }
  void* found = module ? ::dlsym(module, symbol) : nullptr;
  if (!found) *error = module ? std::string(name) + " has no " + symbol : open_error;
  return found;
}

std::unique_ptr<Communicator> ConnectGloo(const GlooConfig& config, std::string* error) {
  auto entry = reinterpret_cast<Entry>(FindInModule("libtpc_gloo.so", "the Gloo communicator", "tpc_connect_gloo", error));
  if (!entry) return nullptr;
  return std::unique_ptr<Communicator>(entry(&config, error));
}

}  // namespace tpc
