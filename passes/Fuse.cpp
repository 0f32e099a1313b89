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

void fuseKernels(Graph &g, const PassOptions &) {
    std::vector<int> uses = g.useCounts();
    std::vector<int> storageRoots;
    for (const StorageRef &ref : resolveStorage(g)) storageRoots.push_back(ref.root);
    std::vector<KernelInfo> kernels;
    for (auto &n : g.nodes) {
        n.kernel = -1;
        if (!needsKernel(n)) continue;
        const OpTraits &t = n.def->traits;
        int producer = n.operands.empty() ? -1 : n.operands[0];
        int joined = -1;
        if (producer >= 0 && uses[size_t(producer)] == 1) {
            const Node &p = g.node(producer);
            if (p.kernel >= 0 && kernels[size_t(p.kernel)].last == producer &&
                kernels[size_t(p.kernel)].size < kMaxNodesPerKernel) {
                KernelInfo &k = kernels[size_t(p.kernel)];
                // Pools only consume a map-producing anchor (conv), once; ops with
                // their own schedule hook start a kernel of their own.
                bool poolAfterAnchor = t.pool && k.hasAnchor && !k.hasPool;
                bool fits = (t.elementwise && !n.def->schedule) || poolAfterAnchor;
                // Other operands (a residual add's shortcut) must come from kernels that
                // run before this one, i.e. were started earlier.
                for (size_t i = 1; i < n.operands.size() && fits; ++i) {
                    int other = storageRoots[size_t(n.operands[i])];
                    fits = g.node(other).isInput() || g.node(other).kernel < p.kernel;
                }
                if (fits) joined = p.kernel;
            }
        }
        if (joined < 0) {
            joined = int(kernels.size());
            kernels.emplace_back();
            kernels.back().hasAnchor = t.anchor;
        }
        KernelInfo &k = kernels[size_t(joined)];
        k.size++;
        k.hasPool |= t.pool;
        k.last = n.id;
        n.kernel = joined;
    }
}

} // namespace cnnc
