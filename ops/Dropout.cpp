// dropout(p=0.5): identity at inference; training (a later issue) draws masks.
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    double p = call.attrs.getFloat("p");
    if (!(p >= 0.0 && p < 1.0)) throw OpError("dropout probability must be in [0, 1), got " + formatAttr(p));
    return call.inputs.at(0);
}

// Training keeps each element with probability 1 - p and scales it by
// 1 / (1 - p); the mask is a hash of (seed, position), so the backward kernel
// recomputes exactly the same one.
Func lower(LowerCtx &ctx) {
    Func f(ctx.fname("dropout"));
    Expr v = ctx.inputs[0](ctx.x, ctx.y, ctx.c, ctx.n);
    if (ctx.training) {
        float p = float(ctx.attrs().getFloat("p"));
        Expr keep = uniformHash(ctx.training->seed + ctx.node.id * 7919, ctx.x, ctx.y, ctx.c, ctx.n) >= p;
        v = select(keep, v * (1.0f / (1.0f - p)), 0.0f);
    }
    f(ctx.x, ctx.y, ctx.c, ctx.n) = v;
    return f;
}

} // namespace

void defineDropout() {
    OpDef d;
    d.name = "dropout";
    d.summary = "zeroes elements with probability p while training; identity at inference";
    d.args = {{"p", AttrKind::Float, 0.5}};
    d.traits.elementwise = true;
    d.traits.identityAtInference = true;
    d.traits.stochastic = true;
    d.inferType = inferType;
    d.flops = noFlops;
    d.lower = lower;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
