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
    int64_t outputSampleStride = 0;    // floats between samples of the output (0: dense)
    // Canonical text of everything that determines the generated code; equal
    // signatures mean interchangeable kernels (the cache key).
    std::string signature;
};

// Splits the graph into kernels: nodes sharing Node::kernel form one group, and
// every other computing node (not the input, not a view) is its own kernel.
std::vector<KernelSpec> partitionKernels(const Graph &graph);

// Whether a node runs code. The input, views (flatten) and concats assembled in
// place by their producers (attribute inplace=true) do not.
bool needsKernel(const Node &node);

// Where a node's value lives: inside the memory of `root`, starting `offset`
// floats into each sample, with samples `sampleFloats` apart. Views share their
// operand's storage; the operands of an in-place concat are channel slices of it.
struct StorageRef {
    int root = -1;
    int64_t offset = 0;
    int64_t sampleFloats = 0;
    bool dense(const Graph &g, int node) const;
};
std::vector<StorageRef> resolveStorage(const Graph &graph);

} // namespace cnnc
