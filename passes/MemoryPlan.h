// Places activations in one arena, reusing memory whose value is dead.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "ir/Kernels.h"
#include "passes/Pass.h"

namespace cnnc {

struct MemoryPlan {
    std::map<int, int64_t> offset;   // storage-root node -> offset in floats per sample
    int64_t arenaFloats = 0;         // planned arena size per sample
    int64_t unplannedFloats = 0;     // sum of all activation sizes (no reuse)
};

// An arena value's lifetime: the kernels (indices in run order) from its first
// writer to its last reader, both included.
struct Lifetime {
    size_t first, last;
};

// Kernels run in the given order; a kernel's output may not share memory with
// anything it reads. Nodes in `external` (input, output) take no arena space.
MemoryPlan planMemory(const Graph &graph, const std::vector<KernelSpec> &kernels, const std::vector<bool> &external);

// Nodes whose memory is the caller's (input, and the result's storage).
std::vector<bool> arenaExempt(const Graph &graph);

// Checks the plan a graph carries (Node::arenaOffset, Graph::arenaFloats: read
// from IR text, or left by plan-memory before later passes regrouped kernels):
// every stored value has an offset inside the arena, and no two values live at
// the same time share memory. Throws CompileError naming the value.
void verifyMemoryPlan(const Graph &graph);

// The plan-memory pass: records the plan in Node::arenaOffset and Graph::arenaFloats.
void planMemoryPass(Graph &graph, const PassOptions &options, PassReport &report);

} // namespace cnnc
