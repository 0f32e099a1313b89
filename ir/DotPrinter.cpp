#include "ir/DotPrinter.h"

#include <cstdio>
#include <map>

namespace cnnc {

static std::string escape(const std::string &s) {
    std::string out;
    for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out;
}

static std::string humanBytes(int64_t bytes) {
    char buf[32];
    if (bytes >= 1 << 20) std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1 << 20));
    else if (bytes >= 1 << 10) std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / (1 << 10));
    else std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
    return buf;
}

static std::string nodeLine(const Node &n) {
    std::string label = n.opName();
    if (!n.name.empty()) label += "\\n" + escape(n.name);
    label += "\\n" + n.type.shapeStr();
    const char *style = n.isInput() ? "shape=oval" : n.def->traits.view ? "shape=box, style=dashed" : "shape=box";
    return "  n" + std::to_string(n.id) + " [label=\"" + label + "\", " + style + "];\n";
}

std::string printDot(const Graph &g) {
    std::string out = "digraph \"" + escape(g.name) + "\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
                      "  edge [fontname=\"Helvetica\", fontsize=9];\n";
    std::map<int, std::vector<const Node *>> clusters;
    for (auto &n : g.nodes) {
        if (n.kernel >= 0) clusters[n.kernel].push_back(&n);
        else out += nodeLine(n);
    }
    for (auto &[k, nodes] : clusters) {
        out += "  subgraph cluster_k" + std::to_string(k) + " {\n    label=\"kernel " + std::to_string(k) +
               "\";\n    style=rounded; color=\"#4a7ab0\";\n";
        for (const Node *n : nodes) out += "  " + nodeLine(*n);
        out += "  }\n";
    }
    for (auto &n : g.nodes)
        for (int op : n.operands)
            out += "  n" + std::to_string(op) + " -> n" + std::to_string(n.id) + " [label=\"" +
                   humanBytes(g.node(op).type.elementsPerSample() * 4) + "/sample\"];\n";
    out += "  result [shape=plaintext, label=\"return\"];\n  n" + std::to_string(g.result) + " -> result;\n";
    for (auto &a : g.aux)
        out += "  aux" + std::to_string(a.node) + " [shape=plaintext, label=\"aux x" + std::to_string(a.weight) +
               "\"];\n  n" + std::to_string(a.node) + " -> aux" + std::to_string(a.node) + ";\n";
    return out + "}\n";
}

} // namespace cnnc
