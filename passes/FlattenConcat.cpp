// flatten-concat: concat(a, concat(b, c), d) is concat(a, b, c, d) when the
// inner concat has no other user (Inception-v3's InceptionE blocks nest them).
// The flat concat's operands are then kernel outputs, which eliminate-concat
// writes in place; the inner concat would be a copy of its own.
#include "passes/Passes.h"

namespace cnnc {

void flattenConcat(Graph &g, const PassOptions &, PassReport &report) {
    std::vector<int> uses = g.useCounts();
    std::vector<bool> keep(g.nodes.size(), true);
    auto isConcat = [](const Node &n) { return !n.isInput() && n.def->traits.concatenates; };
    // In topological order, so an inner concat is already flat when spliced.
    for (auto &n : g.nodes) {
        if (!isConcat(n)) continue;
        std::vector<int> flat;
        for (int op : n.operands) {
            const Node &inner = g.node(op);
            if (isConcat(inner) && uses[size_t(op)] == 1) {
                flat.insert(flat.end(), inner.operands.begin(), inner.operands.end());
                keep[size_t(op)] = false;
                report.count("concats spliced");
            } else {
                flat.push_back(op);
            }
        }
        n.operands = flat;
    }
    g.retain(keep);
}

} // namespace cnnc
