#ifndef TPC_IR_PROGRAM_JSON_H_
#define TPC_IR_PROGRAM_JSON_H_

#include <string>

#include "ir/program.h"

namespace tpc {

/// program.json: the artifact trainers and the runtime consume (schemas/program.schema.json).
std::string EmitProgramJson(const Program& p);

}  // namespace tpc

#endif  // TPC_IR_PROGRAM_JSON_H_
