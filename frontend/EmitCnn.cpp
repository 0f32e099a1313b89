#include "frontend/EmitCnn.h"

#include <stdexcept>

namespace cnnc {

namespace {

// Variables are `<prefix><node id>`, with a prefix the input's name does not start with.
std::string variablePrefix(const std::string &inputName) {
    for (const char *p : {"t", "v", "x", "y_"})
        if (inputName.rfind(p, 0) != 0) return p;
    return "z_";
}

} // namespace

std::string emitCnn(const Graph &g) {
    const Node &in = g.input();
    std::string prefix = variablePrefix(in.name);
    auto var = [&](int id) { return id == 0 ? in.name : prefix + std::to_string(id); };
    std::string s = "network " + g.name + "(" + in.name + ": " + in.type.shapeStr() +
                    (g.fixedBatch > 0 ? ", batch=" + std::to_string(g.fixedBatch) : "") + ") {\n";
    for (size_t i = 1; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        std::string args;
        for (int op : n.operands) args += (args.empty() ? "" : ", ") + var(op);
        for (auto &[key, value] : n.attrs.items()) {
            const ArgSpec *spec = n.def->findArg(key);
            if (spec && spec->internal)
                throw std::runtime_error("node %" + std::to_string(n.id) + " (" + n.opName() + ") has the pass-internal argument '" +
                                         key + "', which source cannot state");
            args += ", " + key + "=" + formatAttr(value);
        }
        if (!n.name.empty()) args += ", name=" + formatAttr(AttrValue(n.name));
        s += "    " + var(n.id) + " = " + n.opName() + "(" + args + ")\n";
    }
    for (auto &a : g.aux) s += "    aux " + var(a.node) + " weight=" + formatAttr(AttrValue(a.weight)) + "\n";
    s += "    return " + var(g.result) + "\n}\n";
    return s;
}

} // namespace cnnc
