// dce: keeps what the result (and, when training, the aux heads) depend on.
#include "passes/Passes.h"

namespace cnnc {

void eliminateDeadNodes(Graph &g, const PassOptions &options) {
    if (options.inference) g.aux.clear();
    std::vector<bool> live(g.nodes.size(), false);
    live[0] = true; // the input stays: it is the network's signature
    live[size_t(g.result)] = true;
    for (auto &a : g.aux) live[size_t(a.node)] = true;
    for (size_t i = g.nodes.size(); i-- > 0;)
        if (live[i])
            for (int op : g.nodes[i].operands) live[size_t(op)] = true;
    g.retain(live);
}

} // namespace cnnc
