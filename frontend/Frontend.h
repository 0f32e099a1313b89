// The frontend's entry points.
#pragma once
#include <string>

#include "frontend/Diagnostics.h"
#include "ir/Graph.h"

namespace cnnc {

// Source text -> verified-shape Graph. Ops must already be registered
// (registerAllOps()). Throws CompileError; render it with formatDiagnostic().
Graph compileSource(const std::string &source);

} // namespace cnnc
