// `cnnc --summary`: per-node parameters, output shapes and FLOPs.
#pragma once
#include <string>

#include "ir/Graph.h"

namespace cnnc {

struct GraphTotals {
    int64_t parameters = 0;
    int64_t auxParameters = 0; // owned by nodes only aux heads use
    int64_t flops = 0;         // per sample, forward
};

GraphTotals computeTotals(const Graph &graph);
int64_t nodeFlops(const Graph &graph, const Node &node);
std::string formatSummary(const Graph &graph);

} // namespace cnnc
