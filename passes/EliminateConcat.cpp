// eliminate-concat: a concat whose operands are each a kernel's output used
// nowhere else needs no copy: every producer writes straight into its channel
// slice of the result (marked inplace=true; storage is resolved by
// resolveStorage). Runs after fuse, which decides what a kernel's output is.
#include <set>

#include "ir/Kernels.h"
#include "passes/Passes.h"

namespace cnnc {

void eliminateConcat(Graph &g, const PassOptions &, PassReport &report) {
    std::vector<int> uses = g.useCounts();
    std::vector<bool> kernelOutput(g.nodes.size(), false);
    for (const KernelSpec &k : partitionKernels(g)) kernelOutput[size_t(k.nodes.back())] = true;
    for (auto &n : g.nodes) {
        if (n.isInput() || !n.def->traits.concatenates || !needsKernel(n)) continue;
        std::set<int> distinct(n.operands.begin(), n.operands.end());
        bool slicesOnly = distinct.size() == n.operands.size();
        for (int op : n.operands)
            slicesOnly &= kernelOutput[size_t(op)] && uses[size_t(op)] == 1 && needsKernel(g.node(op));
        if (!slicesOnly) continue;
        n.attrs.set("inplace", true);
        n.kernel = -1;
        report.count("concats written in place");
        report.count("copied bytes per sample saved", 4 * n.type.elementsPerSample());
    }
}

} // namespace cnnc
