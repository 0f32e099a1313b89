// dropout(p=0.5): identity at inference; training (a later issue) draws masks.
#include "codegen/LowerCtx.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    double p = call.attrs.getFloat("p");
    if (!(p >= 0.0 && p < 1.0)) throw OpError("dropout probability must be in [0, 1), got " + formatAttr(p));
    return call.inputs.at(0);
}

int64_t noFlops(const OpCall &, const TensorType &) { return 0; }

Func lower(LowerCtx &ctx) {
    Func f(ctx.fname("dropout"));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = ctx.inputs[0](ctx.x, ctx.y, ctx.c, ctx.n);
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
    d.inferType = inferType;
    d.flops = noFlops;
    d.lower = lower;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
