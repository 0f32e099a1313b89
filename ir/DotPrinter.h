// `cnnc --emit=dot`: the graph as Graphviz, fused kernels drawn as clusters.
#pragma once
#include <string>

#include "ir/Graph.h"

namespace cnnc {

std::string printDot(const Graph &graph);

} // namespace cnnc
