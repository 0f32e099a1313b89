// Textual IR. One node per line:
//   network lenet5(%0: f32[N,1,28,28]) input="image" {
//     %1 = conv(%0) {filters=6, size=[5, 5], ...} name="conv1" : f32[N,6,28,28] kernel=0
//     ...
//     return %12
//     aux %20 weight=0.3
//   }
// parseIR(printGraph(g)) rebuilds g, and printing that again gives the same bytes.
#pragma once
#include <string>

#include "ir/Graph.h"

namespace cnnc {

// The whole graph, ending with "}\n".
std::string printGraph(const Graph &g);
// One node's line without indentation or newline ("%1 = relu(%0) : f32[N,6]").
std::string printNode(const Node &n);

} // namespace cnnc
