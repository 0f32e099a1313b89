// Recursive-descent parser for the network language. Expression nesting is
// limited (kMaxNesting) so hostile input cannot overflow the stack; chains and
// sums are parsed iteratively.
#pragma once
#include <string>

#include "frontend/AST.h"

namespace cnnc {

constexpr int kMaxNesting = 200;

// Parses a whole file. Throws CompileError (syntax errors, missing or multiple
// networks, bad input shapes, nesting deeper than kMaxNesting).
ast::Program parseProgram(const std::string &source);

} // namespace cnnc
