// Kernels: the groups of nodes that run as one compiled function. Fusion
// decides the groups (Node::kernel); this file turns them into kernel specs.
#pragma once
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace cnnc {

struct KernelSpec {
    std::vector<int> nodes;     // node ids in the group, topological order; the last is the output
    std::vector<int> externals; // node ids read from outside the group, in argument order
    std::vector<const Param *> params; // in argument order, after the externals
    // Canonical text of everything that determines the generated code; equal
    // signatures mean interchangeable kernels (the cache key).
    std::string signature;
};

// Splits the graph into kernels: nodes sharing Node::kernel form one group, and
// every other computing node (not the input, not a view) is its own kernel.
std::vector<KernelSpec> partitionKernels(const Graph &graph);

// The node whose memory a node's value lives in: views alias their operand.
int storageRoot(const Graph &graph, int node);

} // namespace cnnc
