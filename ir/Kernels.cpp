#include "ir/Kernels.h"

#include <algorithm>
#include <map>
#include <set>

namespace cnnc {

int storageRoot(const Graph &graph, int node) {
    while (!graph.node(node).isInput() && graph.node(node).def->traits.view) node = graph.node(node).operands[0];
    return node;
}

static bool computesSomething(const Node &n) { return !n.isInput() && !n.def->traits.view; }

// Bumped whenever lowering or scheduling changes, so cached objects go stale.
static const char *kCodegenVersion = "cnnc-codegen-1";

static std::string describe(const Graph &graph, const KernelSpec &spec) {
    std::map<int, std::string> ref;
    for (size_t i = 0; i < spec.externals.size(); ++i) ref[spec.externals[i]] = "e" + std::to_string(i);
    for (size_t i = 0; i < spec.nodes.size(); ++i) ref[spec.nodes[i]] = "i" + std::to_string(i);
    std::string s = kCodegenVersion;
    for (size_t i = 0; i < spec.externals.size(); ++i)
        s += ";e" + std::to_string(i) + ":" + graph.node(spec.externals[i]).type.str();
    for (int id : spec.nodes) {
        const Node &n = graph.node(id);
        s += ";" + n.opName() + "(";
        for (int op : n.operands) s += ref.at(op) + ",";
        s += "){";
        for (auto &[k, v] : n.attrs.items()) s += k + "=" + formatAttr(v) + ",";
        s += "}:" + n.type.str() + " p" + std::to_string(n.params.size());
    }
    return s;
}

std::vector<KernelSpec> partitionKernels(const Graph &graph) {
    std::vector<KernelSpec> kernels;
    std::map<int, size_t> groupIndex; // Node::kernel -> index in kernels
    for (const Node &n : graph.nodes) {
        if (!computesSomething(n)) continue;
        if (n.kernel >= 0) {
            auto [it, fresh] = groupIndex.emplace(n.kernel, kernels.size());
            if (fresh) kernels.emplace_back();
            kernels[it->second].nodes.push_back(n.id);
        } else {
            kernels.emplace_back();
            kernels.back().nodes.push_back(n.id);
        }
    }
    for (KernelSpec &k : kernels) {
        std::set<int> inside(k.nodes.begin(), k.nodes.end());
        for (int id : k.nodes) {
            const Node &n = graph.node(id);
            for (int op : n.operands)
                if (!inside.count(op) &&
                    std::find(k.externals.begin(), k.externals.end(), op) == k.externals.end())
                    k.externals.push_back(op);
            for (const Param &p : n.params) k.params.push_back(&p);
        }
        k.signature = describe(graph, k);
    }
    return kernels;
}

} // namespace cnnc
