#include "codegen/KernelBuilder.h"

#include <map>
#include <set>

#include "codegen/LowerCtx.h"

using namespace Halide;

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

// Dense, fixed-stride NCHW buffer with a symbolic batch extent.
static void constrainActivation(OutputImageParam p, const TensorType &t) {
    int W = int(t.width()), H = int(t.height()), C = int(t.channels());
    p.dim(0).set_bounds(0, W).set_stride(1);
    p.dim(1).set_bounds(0, H).set_stride(W);
    p.dim(2).set_bounds(0, C).set_stride(W * H);
    p.dim(3).set_min(0).set_stride(W * H * C);
}

static void constrainParam(ImageParam p, const std::vector<int64_t> &shape) {
    int stride = 1;
    for (int d = 0; d < int(shape.size()); ++d) {
        int extent = int(shape[shape.size() - 1 - size_t(d)]);
        p.dim(d).set_bounds(0, extent).set_stride(stride);
        stride *= extent;
    }
}

BuiltKernel buildKernel(const Graph &graph, const KernelSpec &spec, const Target &target) {
    BuiltKernel built;
    std::map<int, Func> value;
    std::vector<ImageParam> externals;
    for (size_t i = 0; i < spec.externals.size(); ++i) {
        const TensorType &t = graph.node(spec.externals[i]).type;
        ImageParam p(Float(32), 4, "in" + std::to_string(i));
        constrainActivation(p, t);
        value[spec.externals[i]] = p;
        built.arguments.push_back(p);
    }
    std::map<const Param *, ImageParam> paramImages;
    for (size_t i = 0; i < spec.params.size(); ++i) {
        ImageParam p(Float(32), int(spec.params[i]->decl.shape.size()), "p" + std::to_string(i));
        constrainParam(p, spec.params[i]->decl.shape);
        paramImages.emplace(spec.params[i], p);
        built.arguments.push_back(p);
    }

    std::vector<std::unique_ptr<LowerCtx>> contexts;
    for (int id : spec.nodes) {
        const Node &n = graph.node(id);
        auto ctx = std::make_unique<LowerCtx>(LowerCtx{n, graph.operandTypes(n), {}, {}});
        for (int op : n.operands) ctx->inputs.push_back(value.at(op));
        for (const Param &p : n.params) ctx->params.push_back(paramImages.at(&p));
        value[id] = n.def->lower(*ctx);
        contexts.push_back(std::move(ctx));
    }

    // A fresh pure Func as the output, so any schedule may tile it.
    const Node &last = graph.node(spec.nodes.back());
    Var x("x"), y("y"), c("c"), n("n");
    Func output("output");
    output(x, y, c, n) = value.at(last.id)(x, y, c, n);
    constrainActivation(output.output_buffer(), last.type);

    ScheduleCtx *anchor = nullptr;
    std::unique_ptr<ScheduleCtx> sctx;
    for (size_t i = 0; i < spec.nodes.size() && !anchor; ++i) {
        const Node &nd = graph.node(spec.nodes[i]);
        if (!nd.def->schedule) continue;
        sctx = std::make_unique<ScheduleCtx>(
            ScheduleCtx{*contexts[i], value.at(nd.id), output, last.type, target, target.natural_vector_size<float>(), x, y, c, n});
        anchor = sctx.get();
        nd.def->schedule(*anchor);
    }
    if (!anchor) scheduleElementwiseOutput(output, last.type, target.natural_vector_size<float>(), x, y, c, n);
    built.pipeline = Pipeline(output);
    return built;
}

} // namespace cnnc
