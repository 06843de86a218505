// Fuzz target: a whole safetensors file held in memory, its header checked as a checkpoint's would be.
#include <string>

#include "fuzz/fuzz_pipeline.h"
#include "support/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tpc;
  SourceManager sm;
  Diagnostics diags(sm);
  SafetensorsHeader header;
  bool ok = CheckSafetensorsBytes("model.safetensors", std::string(reinterpret_cast<const char*>(data), size),
                                  &header, diags);
  if (ok == diags.has_fatal()) __builtin_trap();  // a rejected file has exactly its fatal diagnostic
  if (ok) {
    // The invariants a loader relies on: tensors tile the data in order, inside the file.
    uint64_t at = 0;
    for (const SafetensorsTensor& t : header.tensors) {
      if (t.begin != at || t.end < t.begin) __builtin_trap();
      at = t.end;
    }
    if (8 + header.header_bytes + at != header.file_bytes || header.file_bytes != size) __builtin_trap();
  }
  fuzz::RenderAll(diags);
  return 0;
}
