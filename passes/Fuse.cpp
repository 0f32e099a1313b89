// fuse: assigns every computing node a kernel. A node joins its first
// operand's kernel when that operand has no other user and
//  - the node is elementwise (bias-free activations, batchnorm, residual add), or
//  - the node is a pool and the kernel is anchored by a conv with no pool yet,
// so conv+bias+relu+pool (and dense+relu) run as one kernel and the unpooled
// activation is consumed tile by tile instead of being written to memory.
#include "ir/Kernels.h"
#include "passes/Passes.h"

namespace cnnc {

namespace {
constexpr int kMaxNodesPerKernel = 16; // bounds Halide compile time of long chains

struct KernelInfo {
    int size = 0;
    bool hasAnchor = false;
    bool hasPool = false;
    int last = -1; // the kernel's current output node
};
} // namespace

void fuseKernels(Graph &g, const PassOptions &, PassReport &report) {
    std::vector<int> uses = g.useCounts();
    std::vector<int> storageRoots;
    for (const StorageRef &ref : resolveStorage(g)) storageRoots.push_back(ref.root);
    std::vector<KernelInfo> kernels;
    for (auto &n : g.nodes) {
        n.kernel = -1;
        if (!needsKernel(n)) continue;
        const OpTraits &t = n.def->traits;
        // Join the kernel of an operand whose only user this node is, if that
        // operand is the kernel's current output. Any operand may serve (a residual
        // add can join its main path or its shortcut); the others must come from
        // kernels that run earlier, i.e. were started before it.
        int joined = -1;
        for (size_t cand = 0; cand < n.operands.size() && joined < 0; ++cand) {
            int producer = n.operands[cand];
            const Node &p = g.node(producer);
            if (uses[size_t(producer)] != 1 || p.kernel < 0 || kernels[size_t(p.kernel)].last != producer ||
                kernels[size_t(p.kernel)].size >= kMaxNodesPerKernel)
                continue;
            const KernelInfo &k = kernels[size_t(p.kernel)];
            // Pools only consume a map-producing anchor (conv), once; ops with
            // their own schedule hook start a kernel of their own.
            bool poolAfterAnchor = t.pool && k.hasAnchor && !k.hasPool;
            bool fits = (t.elementwise && !n.def->schedule) || poolAfterAnchor;
            for (size_t i = 0; i < n.operands.size() && fits; ++i) {
                if (i == cand) continue;
                int other = storageRoots[size_t(n.operands[i])];
                fits = g.node(other).isInput() || g.node(other).kernel < p.kernel;
            }
            if (fits) joined = p.kernel;
        }
        if (joined < 0) {
            joined = int(kernels.size());
            kernels.emplace_back();
            kernels.back().hasAnchor = t.anchor;
        } else {
            report.count("ops fused into their producer's kernel");
        }
        KernelInfo &k = kernels[size_t(joined)];
        k.size++;
        k.hasPool |= t.pool;
        k.last = n.id;
        n.kernel = joined;
    }
    report.count("kernels", int64_t(kernels.size()));
}

} // namespace cnnc
