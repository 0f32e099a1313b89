#include "codegen/KernelBuilder.h"

#include <map>

#include "codegen/LowerCtx.h"

using namespace Halide;

namespace cnnc {

// Dense, fixed-stride NCHW buffer with a symbolic batch extent.
void constrainActivation(OutputImageParam p, const TensorType &t, int64_t sampleStride) {
    int W = int(t.width()), H = int(t.height()), C = int(t.channels());
    p.dim(0).set_bounds(0, W).set_stride(1);
    p.dim(1).set_bounds(0, H).set_stride(W);
    p.dim(2).set_bounds(0, C).set_stride(W * H);
    p.dim(3).set_min(0).set_stride(sampleStride ? int(sampleStride) : W * H * C);
}

void constrainParam(OutputImageParam p, const std::vector<int64_t> &shape) {
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
        for (const Param &p : n.params)
            if (p.decl.kernelArg) ctx->params.push_back(paramImages.at(&p));
        value[id] = n.def->lower(*ctx);
        contexts.push_back(std::move(ctx));
    }

    // A fresh pure Func as the output, so any schedule may tile it.
    const Node &last = graph.node(spec.nodes.back());
    Var x("x"), y("y"), c("c"), n("n");
    Func output("output");
    output(x, y, c, n) = value.at(last.id)(x, y, c, n);
    constrainActivation(output.output_buffer(), last.type, spec.outputSampleStride);

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
