#include "ir/Kernels.h"

#include <algorithm>
#include <map>
#include <set>

namespace cnnc {

bool needsKernel(const Node &n) {
    if (n.isInput() || n.def->traits.view) return false;
    const AttrValue *inplace = n.attrs.find("inplace");
    return !(inplace && std::get<bool>(*inplace));
}

bool StorageRef::dense(const Graph &g, int node) const {
    return offset == 0 && sampleFloats == g.node(node).type.elementsPerSample();
}

std::vector<StorageRef> resolveStorage(const Graph &g) {
    std::vector<StorageRef> storage(g.nodes.size());
    for (auto &n : g.nodes) storage[size_t(n.id)] = {n.id, 0, n.type.elementsPerSample()};
    // In-place concats, last first, so a concat nested in another already knows its place.
    for (size_t i = g.nodes.size(); i-- > 0;) {
        const Node &n = g.nodes[i];
        if (n.isInput() || n.def->traits.view || needsKernel(n)) continue;
        int64_t spatial = n.type.height() * n.type.width(), channel = 0;
        for (int op : n.operands) {
            StorageRef ref = storage[i];
            ref.offset += channel * spatial;
            storage[size_t(op)] = ref;
            channel += g.node(op).type.channels();
        }
    }
    for (auto &n : g.nodes)
        if (!n.isInput() && n.def->traits.view) storage[size_t(n.id)] = storage[size_t(n.operands[0])];
    return storage;
}

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
        // String attributes are names (e.g. of a folded batchnorm): they never
        // change the generated code, and leaving them out lets layers share kernels.
        for (auto &[k, v] : n.attrs.items())
            s += k + "=" + (std::holds_alternative<std::string>(v) ? std::string("s") : formatAttr(v)) + ",";
        s += "}:" + n.type.str();
    }
    if (spec.outputSampleStride) s += ";out-sample-stride=" + std::to_string(spec.outputSampleStride);
    return s;
}

std::vector<KernelSpec> partitionKernels(const Graph &graph) {
    std::vector<KernelSpec> kernels;
    std::map<int, size_t> groupIndex; // Node::kernel -> index in kernels
    for (const Node &n : graph.nodes) {
        if (!needsKernel(n)) continue;
        if (n.kernel >= 0) {
            auto [it, fresh] = groupIndex.emplace(n.kernel, kernels.size());
            if (fresh) kernels.emplace_back();
            kernels[it->second].nodes.push_back(n.id);
        } else {
            kernels.emplace_back();
            kernels.back().nodes.push_back(n.id);
        }
    }
    std::vector<StorageRef> storage = resolveStorage(graph);
    for (KernelSpec &k : kernels) {
        const StorageRef &out = storage[size_t(k.nodes.back())];
        if (!out.dense(graph, k.nodes.back())) k.outputSampleStride = out.sampleFloats;
        std::set<int> inside(k.nodes.begin(), k.nodes.end());
        for (int id : k.nodes) {
            const Node &n = graph.node(id);
            for (int op : n.operands)
                if (!inside.count(op) &&
                    std::find(k.externals.begin(), k.externals.end(), op) == k.externals.end())
                    k.externals.push_back(op);
            for (const Param &p : n.params)
                if (p.decl.kernelArg) k.params.push_back(&p);
        }
        k.signature = describe(graph, k);
    }
    return kernels;
}

} // namespace cnnc
