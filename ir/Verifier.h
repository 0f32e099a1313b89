// Structural and type checks of a Graph; run after every pass in debug builds.
#pragma once
#include <string>

#include "ir/Graph.h"
#include "ir/SourceLoc.h"

namespace cnnc {

// Checks: nodes[0] is the only input node; ids equal positions; operands refer to
// earlier nodes and their count fits the op; attributes re-bind cleanly; each
// node's type equals what its op's inferType gives; element counts fit
// kMaxElements; parameters match the op's declaration and names are unique and
// nonempty; result and aux heads refer to existing nodes; kernel groups can
// each run as one function at one point.
// Throws CompileError (at the offending node's loc, message starting
// "invalid IR: %K (op): ...") on the first problem.
void verify(const Graph &g);

// The error the checks of a graph throw for node `n`: "invalid IR: %K (op): msg".
CompileError invalidNode(const Node &n, const std::string &msg);

} // namespace cnnc
