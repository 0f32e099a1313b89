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
// The layer table and parameter totals come from `source` (the network as
// written, aux heads included); kernel count and planned memory from `compiled`
// (after the pass pipeline).
std::string formatSummary(const Graph &source, const Graph &compiled);

} // namespace cnnc
