// flatten: [C, H, W] -> [C*H*W]. A view: the memory layout is unchanged, so
// codegen aliases the buffer instead of emitting a kernel.
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    const TensorType &in = call.inputs.at(0);
    int64_t k = in.elementsPerSample();
    if (k < 0) throw OpError("flattened size of " + in.shapeStr() + " is too large");
    return TensorType{{k}};
}

// Used only when a flatten sits inside a fused kernel.
Func lower(LowerCtx &ctx) {
    const TensorType &in = ctx.inputTypes[0];
    int H = int(in.height()), W = int(in.width());
    Func f(ctx.fname("flatten"));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = ctx.inputs[0](ctx.c % W, (ctx.c / W) % H, ctx.c / (W * H), ctx.n);
    return f;
}

// The gradient is the same memory read the other way round. (Written out:
// Halide 14's autodiff scatters this div/mod indexing incorrectly.)
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    const TensorType &in = ctx.inputTypes[0];
    int H = int(in.height()), W = int(in.width());
    Func d(ctx.fname("d_flatten"));
    d(ctx.x, ctx.y, ctx.c, ctx.n) = b.dy(0, 0, (ctx.c * H + ctx.y) * W + ctx.x, ctx.n);
    b.inputGrads[0] = d;
}

} // namespace

void defineFlatten() {
    OpDef d;
    d.name = "flatten";
    d.summary = "[N, C, H, W] -> [N, C*H*W] (a free view)";
    d.traits.view = true;
    d.inferType = inferType;
    d.flops = noFlops;
    d.lower = lower;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
