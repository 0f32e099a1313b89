// dce: keeps what the result (and, when training, the aux heads) depend on.
#include <algorithm>

#include "passes/Passes.h"

namespace cnnc {

void eliminateDeadNodes(Graph &g, const PassOptions &options, PassReport &report) {
    if (options.inference) {
        report.count("aux heads dropped", int64_t(g.aux.size()));
        g.aux.clear();
    }
    std::vector<int> roots = {0, g.result}; // the input stays: it is the network's signature
    for (auto &a : g.aux) roots.push_back(a.node);
    std::vector<bool> live = g.liveFrom(roots);
    report.count("nodes removed", int64_t(std::count(live.begin(), live.end(), false)));
    g.retain(live);
}

} // namespace cnnc
