// add(a, b), also written a + b: elementwise sum of two tensors of one shape.
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    const TensorType &a = call.inputs.at(0), &b = call.inputs.at(1);
    if (a != b) throw OpError("cannot add tensors of shapes " + a.shapeStr() + " and " + b.shapeStr());
    return a;
}

int64_t flops(const OpCall &, const TensorType &out) { return out.elementsPerSample(); }

Func lower(LowerCtx &ctx) {
    Func f(ctx.fname("add"));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = ctx.inputs[0](ctx.x, ctx.y, ctx.c, ctx.n) + ctx.inputs[1](ctx.x, ctx.y, ctx.c, ctx.n);
    return f;
}

// Both operands receive dy unchanged.
void backward(BackwardCtx &b) {
    for (size_t i = 0; i < b.inputGrads.size(); ++i) b.inputGrads[i] = b.dy;
}

} // namespace

void defineAdd() {
    OpDef d;
    d.name = "add";
    d.summary = "elementwise sum (a + b), e.g. residual connections";
    d.minInputs = 2;
    d.maxInputs = 2;
    d.traits.elementwise = true;
    d.inferType = inferType;
    d.flops = flops;
    d.lower = lower;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
