// lrn(size=5, alpha=1e-4, beta=0.75, k=1.0): torch.nn.LocalResponseNorm,
// y = x / (k + alpha/size * sum of x^2 over `size` neighbouring channels)^beta.
#include "lowering/LowerCtx.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    requireMap(call, "lrn");
    requirePositive(call.attrs, "size");
    return call.inputs.at(0);
}

int64_t flops(const OpCall &call, const TensorType &out) {
    return out.elementsPerSample() * (call.attrs.getInt("size") + 3);
}

Func lower(LowerCtx &ctx) {
    const TensorType &in = ctx.inputTypes[0];
    int size = int(ctx.attrs().getInt("size"));
    float alpha = float(ctx.attrs().getFloat("alpha")), beta = float(ctx.attrs().getFloat("beta"));
    float k = float(ctx.attrs().getFloat("k"));
    int C = int(in.channels());
    Func x = ctx.inputs[0];
    Func square(ctx.fname("square"));
    square(ctx.x, ctx.y, ctx.c, ctx.n) = x(ctx.x, ctx.y, ctx.c, ctx.n) * x(ctx.x, ctx.y, ctx.c, ctx.n);
    RDom r(-(size / 2), size, ctx.fname("r"));
    Expr cc = ctx.c + r;
    Expr inside = cc >= 0 && cc < C;
    Expr window = sum(select(inside, square(ctx.x, ctx.y, clamp(cc, 0, C - 1), ctx.n), 0.0f));
    Func f(ctx.fname("lrn"));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = x(ctx.x, ctx.y, ctx.c, ctx.n) / pow(k + (alpha / float(size)) * window, beta);
    return f;
}

} // namespace

void defineLRN() {
    OpDef d;
    d.name = "lrn";
    d.traits.positionwise = true;
    d.summary = "local response normalisation across channels (torch.nn.LocalResponseNorm)";
    d.args = {{"size", AttrKind::Int, int64_t(5)},
              {"alpha", AttrKind::Float, 1e-4},
              {"beta", AttrKind::Float, 0.75},
              {"k", AttrKind::Float, 1.0}};
    d.inferType = inferType;
    d.flops = flops;
    d.lower = lower;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
