#include "ir/Printer.h"

namespace cnnc {

std::string printNode(const Node &n) {
    std::string s = "%" + std::to_string(n.id) + " = " + n.opName() + "(";
    for (size_t i = 0; i < n.operands.size(); ++i) s += (i ? ", %" : "%") + std::to_string(n.operands[i]);
    s += ")";
    if (!n.attrs.items().empty()) {
        s += " {";
        bool first = true;
        for (auto &[k, v] : n.attrs.items()) {
            s += (first ? "" : ", ") + k + "=" + formatAttr(v);
            first = false;
        }
        s += "}";
    }
    if (!n.name.empty()) s += " name=" + formatAttr(AttrValue(n.name));
    s += " : " + n.type.str();
    if (n.kernel >= 0) s += " kernel=" + std::to_string(n.kernel);
    if (n.arenaOffset >= 0) s += " offset=" + std::to_string(n.arenaOffset);
    return s;
}

std::string printGraph(const Graph &g) {
    std::string s = "network " + g.name + "(";
    if (!g.nodes.empty()) {
        const Node &in = g.nodes.front();
        s += "%" + std::to_string(in.id) + ": " + in.type.str() + ") input=" + formatAttr(AttrValue(in.name));
        if (g.fixedBatch > 0) s += " batch=" + std::to_string(g.fixedBatch);
        if (g.arenaFloats >= 0) s += " arena=" + std::to_string(g.arenaFloats);
    } else {
        s += ")";
    }
    s += " {\n";
    for (size_t i = 1; i < g.nodes.size(); ++i) s += "  " + printNode(g.nodes[i]) + "\n";
    s += "  return %" + std::to_string(g.result) + "\n";
    for (auto &a : g.aux) s += "  aux %" + std::to_string(a.node) + " weight=" + formatAttr(AttrValue(a.weight)) + "\n";
    s += "}\n";
    return s;
}

} // namespace cnnc
