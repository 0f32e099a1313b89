#include "ir/LayerNames.h"

#include <set>

namespace cnnc {

std::vector<std::string> layerNames(const Graph &g) {
    std::set<std::string> taken;
    for (const Node &n : g.nodes)
        if (!n.name.empty()) taken.insert(n.name);
    std::vector<std::string> names(g.nodes.size());
    std::vector<std::string> base(g.nodes.size()); // the nearest named ancestor along first operands
    for (const Node &n : g.nodes) {
        const size_t i = size_t(n.id);
        if (!n.name.empty()) {
            names[i] = base[i] = n.name;
            continue;
        }
        base[i] = n.operands.empty() ? g.name : base[size_t(n.operands[0])];
        const std::string stem = base[i] + "." + n.opName();
        std::string name = stem;
        for (int k = 2; taken.count(name); ++k) name = stem + "." + std::to_string(k);
        taken.insert(name);
        names[i] = name;
    }
    return names;
}

} // namespace cnnc
