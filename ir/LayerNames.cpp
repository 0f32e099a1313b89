#include "ir/LayerNames.h"

#include <set>

namespace cnnc {

std::vector<std::string> layerNames(const Graph &g) {
    // The values the result depends on are named first, so that their names do
    // not depend on aux heads or dead nodes (which inference drops): --summary
    // and the library, compiled without them, agree.
    const std::vector<bool> main = g.liveFrom({g.result});
    std::set<std::string> taken;
    std::vector<std::string> names(g.nodes.size());
    std::vector<std::string> base(g.nodes.size()); // the nearest named ancestor along first operands
    for (const Node &n : g.nodes) {
        const size_t i = size_t(n.id);
        base[i] = !n.name.empty() ? n.name : n.operands.empty() ? g.name : base[size_t(n.operands[0])];
    }
    auto claim = [&](const std::string &stem) {
        std::string name = stem;
        for (int k = 2; taken.count(name); ++k) name = stem + "." + std::to_string(k);
        taken.insert(name);
        return name;
    };
    for (bool mainPass : {true, false}) {
        for (const Node &n : g.nodes) // named nodes keep their names where no earlier node has them
            if (main[size_t(n.id)] == mainPass && !n.name.empty()) names[size_t(n.id)] = claim(n.name);
        for (const Node &n : g.nodes)
            if (main[size_t(n.id)] == mainPass && n.name.empty())
                names[size_t(n.id)] = claim(base[size_t(n.operands.empty() ? n.id : n.operands[0])] + "." + n.opName());
    }
    return names;
}

} // namespace cnnc
