#ifndef TPC_FRONTEND_MODEL_LOADER_H_
#define TPC_FRONTEND_MODEL_LOADER_H_

#include <optional>
#include <string>

#include "frontend/arch_template.h"
#include "ir/model_graph.h"
#include "support/diagnostics.h"

namespace tpc {

/// Loads a Hugging Face config.json (or a checkpoint directory holding one) and expands it with its
/// architecture template into a ModelGraph. Reports a fatal diagnostic and returns nullopt when the
/// file is unreadable, malformed, of an unknown model_type, or lacks a field the template needs.
std::optional<ModelGraph> LoadModel(const std::string& path, const ArchRegistry& registry,
                                    Diagnostics& diags);
/// The same, for config text already in memory and reported as `path`.
std::optional<ModelGraph> ParseModel(const std::string& path, std::string text, const ArchRegistry& registry,
                                     Diagnostics& diags);

}  // namespace tpc

#endif  // TPC_FRONTEND_MODEL_LOADER_H_
