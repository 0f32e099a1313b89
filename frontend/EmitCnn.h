// Graph -> .cnn source: a program the front end lowers back to the same graph.
#pragma once
#include <string>

#include "ir/Graph.h"

namespace cnnc {

// One statement per node, every argument written out by keyword and every
// parameterized node named, so `cnnc out.cnn --emit=ir` prints the graph's IR.
// Throws std::runtime_error for what source cannot state: arguments only
// passes set (print the graph before passes).
std::string emitCnn(const Graph &g);

} // namespace cnnc
