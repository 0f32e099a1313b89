#include "codegen/KernelBuilder.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>
#include <map>
#include <thread>

#include "lowering/LowerCtx.h"

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

// The anchor: the first node with a schedule hook (conv, dense), if any.
static const Node *anchorNode(const Graph &graph, const KernelSpec &spec) {
    for (int id : spec.nodes)
        if (graph.node(id).def->schedule) return &graph.node(id);
    return nullptr;
}

// The anchor's schedule hook `hook` called on its operands and attributes, the
// kernel's output type (after fused consumers) and `extra`; `none` where the
// kernel has no anchor or the anchor's op no such hook.
template <typename Hook, typename Result, typename... Extra>
static Result callAnchorHook(const Graph &graph, const KernelSpec &spec, Hook OpDef::*hook, Result none,
                             const Extra &...extra) {
    const Node *anchor = anchorNode(graph, spec);
    if (!anchor || !(anchor->def->*hook)) return none;
    std::vector<TensorType> inputs = graph.operandTypes(*anchor);
    return (anchor->def->*hook)(OpCall{inputs, anchor->attrs}, graph.node(spec.nodes.back()).type, extra...);
}

std::vector<ScheduleChoice> scheduleSpace(const Graph &graph, const KernelSpec &spec) {
    return callAnchorHook(graph, spec, &OpDef::scheduleSpace, std::vector<ScheduleChoice>{});
}

ScheduleChoice defaultSchedule(const Graph &graph, const KernelSpec &spec, int vectorWidth) {
    return callAnchorHook(graph, spec, &OpDef::defaultSchedule, ScheduleChoice{}, vectorWidth);
}

std::vector<KernelParam> kernelParams(const Graph &graph, const KernelSpec &spec, const ScheduleChoice &choice) {
    std::vector<KernelParam> out;
    for (const Param *p : spec.params) out.push_back({p, std::nullopt});
    const Node *anchor = anchorNode(graph, spec);
    if (!anchor) return out;
    std::vector<const Param *> args; // the anchor's kernel arguments, as LowerCtx::params
    for (const Param &p : anchor->params)
        if (p.decl.kernelArg) args.push_back(&p);
    for (PreparedParam &pp : callAnchorHook(graph, spec, &OpDef::preparedParams, std::vector<PreparedParam>{}, choice))
        for (KernelParam &kp : out)
            if (kp.param == args.at(size_t(pp.arg))) kp.prepared = pp.decl;
    return out;
}

std::string kernelLabel(const Graph &graph, const KernelSpec &spec) {
    const Node &last = graph.node(spec.nodes.back());
    std::string label = "%" + std::to_string(last.id) + " " + last.opName();
    const Node *anchor = anchorNode(graph, spec);
    const Node &named = anchor ? *anchor : last;
    if (!named.name.empty()) label += " " + named.name;
    return label;
}

// Halide's autoschedulers need the extents of every input and of the output.
static void setEstimates(ImageParam p, const std::vector<int> &extents) {
    Region region;
    for (int e : extents) region.push_back(Range(0, e));
    p.set_estimates(region);
}

static std::vector<int> activationExtents(const TensorType &t, int batch) {
    return {int(t.width()), int(t.height()), int(t.channels()), batch};
}

BuiltKernel buildKernel(const Graph &graph, const KernelSpec &spec, const Target &target,
                        const KernelBuildOptions &options) {
    BuiltKernel built;
    std::map<int, Func> value;
    std::vector<ImageParam> externals;
    for (size_t i = 0; i < spec.externals.size(); ++i) {
        const TensorType &t = graph.node(spec.externals[i]).type;
        ImageParam p(Float(32), 4, "in" + std::to_string(i));
        constrainActivation(p, t);
        value[spec.externals[i]] = p;
        built.arguments.push_back(p);
        built.inputs.push_back(p);
        if (!options.autoscheduler.empty()) setEstimates(p, activationExtents(t, options.estimatedBatch));
    }
    // The autoschedulers schedule the whole conv, filter transforms included.
    built.params = kernelParams(graph, spec, options.autoscheduler.empty() ? options.choice : ScheduleChoice{});
    std::map<const Param *, ImageParam> paramImages;
    for (size_t i = 0; i < built.params.size(); ++i) {
        const std::vector<int64_t> &shape = built.params[i].shape();
        ImageParam p(Float(32), int(shape.size()), "p" + std::to_string(i));
        constrainParam(p, shape);
        paramImages.emplace(built.params[i].param, p);
        built.arguments.push_back(p);
        built.inputs.push_back(p);
        if (!options.autoscheduler.empty()) {
            std::vector<int> extents;
            for (auto d = shape.rbegin(); d != shape.rend(); ++d) extents.push_back(int(*d));
            setEstimates(p, extents);
        }
    }

    std::vector<std::unique_ptr<LowerCtx>> contexts;
    const Node *anchor = options.autoscheduler.empty() ? anchorNode(graph, spec) : nullptr;
    LowerCtx *anchorCtx = nullptr; // the anchor's, which schedules the kernel
    for (int id : spec.nodes) {
        const Node &n = graph.node(id);
        auto ctx = std::make_unique<LowerCtx>(LowerCtx{n, graph.operandTypes(n), {}, {}});
        ctx->forTarget(target);
        if (&n == anchor) ctx->choice = options.choice, anchorCtx = ctx.get();
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

    built.pipeline = Pipeline(output);
    if (!options.autoscheduler.empty()) {
        static const bool loaded = [] {
            // Adams2019's default beam search (32) took over 7 minutes and 8 GiB
            // for single zoo kernels on this machine; greedy search (beam 1)
            // takes seconds. HL_BEAM_SIZE set by the user wins.
            setenv("HL_BEAM_SIZE", "1", 0);
            for (const char *plugin : {"adams2019", "li2018", "mullapudi2016"})
                load_plugin(std::string(CNNC_AUTOSCHEDULER_DIR "/libautoschedule_") + plugin + ".so");
            return true;
        }();
        (void)loaded;
        output.set_estimates({{0, int(last.type.width())}, {0, int(last.type.height())},
                              {0, int(last.type.channels())}, {0, options.estimatedBatch}});
        MachineParams machine(int(std::max(1u, std::thread::hardware_concurrency())), 32 << 20, 40);
        // The autoschedulers log their search to stderr; keep the compiler's
        // output readable (failures still arrive as exceptions).
        std::fflush(stderr);
        int savedStderr = dup(2), devNull = open("/dev/null", O_WRONLY);
        if (devNull >= 0) dup2(devNull, 2);
        try {
            built.pipeline.auto_schedule(options.autoscheduler, target, machine);
        } catch (...) {
            if (savedStderr >= 0) dup2(savedStderr, 2);
            throw;
        }
        if (savedStderr >= 0) dup2(savedStderr, 2), close(savedStderr);
        if (devNull >= 0) close(devNull);
        return built;
    }
    if (anchorCtx) {
        ScheduleCtx sctx{*anchorCtx, value.at(anchor->id), output, last.type, target, anchorCtx->vectorWidth, x, y, c, n,
                          value.at(last.id)};
        anchor->def->schedule(sctx);
    } else {
        scheduleElementwiseOutput(output, last.type, target.natural_vector_size<float>(), x, y, c, n);
    }
    return built;
}

} // namespace cnnc
