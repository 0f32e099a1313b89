// AST -> Graph: inlines blocks, binds op arguments, infers types, names parameters.
#pragma once
#include "frontend/AST.h"
#include "ir/Graph.h"

namespace cnnc {

// Largest graph the frontend builds (guards against exponential block
// inlining): Inception-v3 has about 500 ops; a graph of this size takes
// seconds to build and check, and its kernels far longer to compile.
constexpr size_t kMaxGraphNodes = 100000;
// Deepest chain of block instances inside block instances.
constexpr int kMaxBlockDepth = 100;

// Lowers a parsed program using the ops in OpRegistry::get() (the caller must have
// registered them, e.g. with registerAllOps()). Throws CompileError.
// Nodes are appended in evaluation order; nodes not reachable from the result or
// an aux head are dropped.
Graph lowerToIR(const ast::Program &program);

} // namespace cnnc
