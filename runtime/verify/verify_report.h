// tpc verify's verdict: the sharded run against the reference forward, module by module, and the
// report of it (text or JSON), the same whichever way the ranks ran.
#ifndef TPC_RUNTIME_VERIFY_VERIFY_REPORT_H_
#define TPC_RUNTIME_VERIFY_VERIFY_REPORT_H_

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "ir/program.h"
#include "runtime/verify/reference_forward.h"
#include "runtime/verify/sharded_forward.h"
#include "runtime/verify/verify_command.h"

namespace tpc::verify {

/// One row of the report: a part of the model and its largest relative error.
struct Row {
  std::string what;  // "embedding", "layer 3", "logits"
  double error = NAN;  // NaN when no module of it ran on every rank
};

/// What the comparison found.
struct Outcome {
  std::vector<Row> rows;
  double max_error = 0;
  int first = -1;  // module id of the first divergence
  double first_error = 0;
  std::string first_why;  // when its error is no number: a shape that differs, or where a rank stopped
  std::string stopped;    // the error of the rank that stopped the sharded forward, "" when it ran through
  double logits_error = 0;
  int check_errors = 0;  // what tpc check reported for the plan
};

/// Compares every module every rank computed with the reference's output (max |a - b| / max |b|):
/// per part, the first module past `tol`, or the module where the first rank to fail stopped.
Outcome Compare(const ReferenceModel& model, const ForwardOutput& ref, const ShardedRun& run, double tol);

/// Writes the report of `o` as text or JSON (`req.json`); `ok` is the verdict.
void Render(const VerifyRequest& req, const ReferenceModel& model, const Program& p, const Outcome& o, bool ok,
            std::ostream& out);

}  // namespace tpc::verify

#endif  // TPC_RUNTIME_VERIFY_VERIFY_REPORT_H_
