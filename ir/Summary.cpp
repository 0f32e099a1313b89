#include "ir/Summary.h"

#include <cstdio>

#include "ir/Kernels.h"
#include "ir/LayerNames.h"

namespace cnnc {

static int64_t paramCount(const Node &n) {
    int64_t total = 0;
    for (const Param &p : n.params) {
        // Like PyTorch: derived tensors and buffers (running statistics) are not parameters.
        if (p.decl.derived() || p.decl.buffer) continue;
        int64_t e = 1;
        for (int64_t d : p.decl.shape) e *= d;
        total += e;
    }
    return total;
}

int64_t nodeFlops(const Graph &g, const Node &n) {
    if (n.isInput() || !n.def->flops) return 0;
    auto types = g.operandTypes(n);
    return n.def->flops(OpCall{types, n.attrs}, n.type);
}

GraphTotals computeTotals(const Graph &g) {
    GraphTotals t;
    std::vector<bool> main = g.liveFrom({g.result}); // the rest exist only for aux heads
    for (auto &n : g.nodes) {
        int64_t p = paramCount(n);
        t.parameters += p;
        if (!main[size_t(n.id)]) t.auxParameters += p;
        else t.flops += nodeFlops(g, n);
    }
    return t;
}

static std::string withCommas(int64_t v) {
    std::string s = std::to_string(v);
    for (int i = int(s.size()) - 3; i > (s[0] == '-' ? 1 : 0); i -= 3) s.insert(size_t(i), ",");
    return s;
}

std::string formatSummary(const Graph &g, const Graph &compiled) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "%-28s %-16s %-20s %14s %10s\n", "name", "op", "output shape", "parameters", "MFLOPs");
    out += line;
    out += std::string(92, '-') + "\n";
    const std::vector<std::string> names = layerNames(g);
    for (auto &n : g.nodes) {
        const std::string &name = names[size_t(n.id)];
        std::string batch = g.fixedBatch > 0 ? std::to_string(g.fixedBatch) : "N";
        std::string shape = "[" + batch + (n.type.dims.empty() ? "" : ", " + n.type.shapeStr().substr(1));
        if (shape.back() != ']') shape += "]";
        std::snprintf(line, sizeof line, "%-28s %-16s %-20s %14s %10.3f\n", name.c_str(), n.opName().c_str(),
                      shape.c_str(), withCommas(paramCount(n)).c_str(), double(nodeFlops(g, n)) / 1e6);
        out += line;
    }
    GraphTotals t = computeTotals(g);
    const std::vector<bool> main = g.liveFrom({g.result});
    out += std::string(92, '-') + "\n";
    std::snprintf(line, sizeof line, "forward MFLOPs per sample: %.3f\n", double(t.flops) / 1e6);
    out += line;
    if (!g.aux.empty() || t.auxParameters)
        out += "parameters in auxiliary heads (training only): " + withCommas(t.auxParameters) + "\n";
    if (g.fixedBatch > 0)
        out += "batch: fixed at " + std::to_string(g.fixedBatch) + " (the library refuses other sizes)\n";
    out += "kernels: " + std::to_string(partitionKernels(compiled).size()) + "\n";
    // The library's layer plan (codegen/LayerPlan.h): an unfused kernel per op the result needs.
    int layerKernels = 0;
    for (auto &n : g.nodes)
        if (main[size_t(n.id)] && !n.isInput() && !n.def->traits.view) ++layerKernels;
    out += "layer kernels (infer_layer, one per op): " + std::to_string(layerKernels) + "\n";
    if (compiled.arenaFloats >= 0) {
        int64_t unplanned = 0;
        for (auto &n : compiled.nodes)
            if (n.arenaOffset >= 0) unplanned += n.type.elementsPerSample();
        std::snprintf(line, sizeof line,
                      "planned activation memory per sample: %.1f KiB (%.1f KiB without reuse)\n",
                      double(compiled.arenaFloats) * 4 / 1024, double(unplanned) * 4 / 1024);
        out += line;
    }
    // The network's own parameters: aux heads exist only while training.
    out += "total parameters: " + withCommas(t.parameters - t.auxParameters);
    if (t.auxParameters) out += " (" + withCommas(t.parameters) + " with auxiliary heads)";
    out += "\n";
    return out;
}

} // namespace cnnc
