// drop-dropout: at inference dropout is the identity, so its users read its input.
#include "passes/Passes.h"

namespace cnnc {

void dropDropout(Graph &g, const PassOptions &options) {
    if (!options.inference) return;
    std::vector<int> replacement(g.nodes.size());
    std::vector<bool> keep(g.nodes.size(), true);
    for (auto &n : g.nodes) {
        replacement[size_t(n.id)] = n.id;
        for (int &op : n.operands) op = replacement[size_t(op)];
        if (!n.isInput() && n.def->traits.identityAtInference) {
            replacement[size_t(n.id)] = n.operands[0];
            keep[size_t(n.id)] = false;
        }
    }
    g.result = replacement[size_t(g.result)];
    for (auto &a : g.aux) a.node = replacement[size_t(a.node)];
    g.retain(keep);
}

} // namespace cnnc
