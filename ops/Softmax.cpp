// softmax: over channels (the class dimension of [N, K], or C at each pixel),
// computed stably by subtracting the maximum.
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) { return call.inputs.at(0); }
int64_t flops(const OpCall &, const TensorType &out) { return 4 * out.elementsPerSample(); }

Func lower(LowerCtx &ctx) {
    int C = int(ctx.inputTypes[0].channels());
    Func in = ctx.inputs[0];
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    RDom r(0, C, ctx.fname("r"));
    Func peak(ctx.fname("max")), e(ctx.fname("exp")), total(ctx.fname("sum")), out(ctx.fname("softmax"));
    peak(x, y, n) = maximum(in(x, y, r, n));
    e(x, y, c, n) = exp(in(x, y, c, n) - peak(x, y, n));
    total(x, y, n) = sum(e(x, y, r, n));
    out(x, y, c, n) = e(x, y, c, n) / total(x, y, n);
    ctx.stages["max"] = peak;
    ctx.stages["exp"] = e;
    ctx.stages["sum"] = total;
    return out;
}

// Row statistics once per sample, then a vectorized normalise.
void schedule(ScheduleCtx &s) {
    scheduleElementwiseOutput(s.output, s.outputType, s.vectorWidth, s.x, s.y, s.c, s.n);
    for (const char *stage : {"max", "exp", "sum"}) s.op.stages.at(stage).compute_root();
}

// d in = s * (dy - sum over channels of dy * s), s = softmax(in). (Written
// out: the stabilising maximum() is not differentiable by Halide's autodiff.)
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    Func s = lower(ctx);
    s.compute_root();
    int C = int(ctx.inputTypes[0].channels());
    RDom r(0, C, ctx.fname("r_grad"));
    Func dot(ctx.fname("dot"));
    dot(ctx.x, ctx.y, ctx.n) = sum(b.dy(ctx.x, ctx.y, r, ctx.n) * s(ctx.x, ctx.y, r, ctx.n));
    dot.compute_root();
    Func d(ctx.fname("d_softmax"));
    d(ctx.x, ctx.y, ctx.c, ctx.n) = s(ctx.x, ctx.y, ctx.c, ctx.n) * (b.dy(ctx.x, ctx.y, ctx.c, ctx.n) - dot(ctx.x, ctx.y, ctx.n));
    b.inputGrads[0] = d;
}

} // namespace

void defineSoftmax() {
    OpDef d;
    d.name = "softmax";
    d.traits.normalizesToProbabilities = true;
    d.traits.positionwise = true;
    d.summary = "exp(x) / sum(exp(x)) over channels";
    d.inferType = inferType;
    d.flops = flops;
    d.lower = lower;
    d.schedule = schedule;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
