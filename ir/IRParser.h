// Reads the textual IR written by printGraph (ir/Printer.h).
#pragma once
#include <string>

#include "ir/Graph.h"

namespace cnnc {

// Parses one network. Comments (`#` or `//` to end of line) may appear anywhere
// between tokens. Each op is looked up in OpRegistry (ops must be registered),
// its attributes are re-bound with bindArguments (missing ones get defaults), its
// type is re-inferred and must equal the printed type, and its parameters are
// re-attached from its name. Node ids must be 0, 1, 2, ... in order.
// Throws CompileError with line:col in `text`.
Graph parseIR(const std::string &text);

} // namespace cnnc
