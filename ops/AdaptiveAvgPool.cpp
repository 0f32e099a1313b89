// adaptive_avgpool(size): PyTorch's AdaptiveAvgPool2d. Output cell i averages
// input rows [floor(i*H/OH), ceil((i+1)*H/OH)).
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    const TensorType &in = requireMap(call, "adaptive_avgpool");
    Pair out = requirePair(call.attrs, "size", 1);
    return mapType(in.channels(), out.h, out.w);
}

int64_t start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
int64_t end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// The widest window any output cell uses, which bounds the reduction.
int widestWindow(int64_t in, int64_t out) {
    int64_t widest = 1;
    for (int64_t i = 0; i < out; ++i) widest = std::max(widest, end(i, in, out) - start(i, in, out));
    return int(widest);
}

int64_t flops(const OpCall &call, const TensorType &out) {
    const TensorType &in = call.inputs.at(0);
    return out.elementsPerSample() * widestWindow(in.height(), out.height()) * widestWindow(in.width(), out.width());
}

Func lower(LowerCtx &ctx) {
    const TensorType &in = ctx.inputTypes[0], &out = ctx.outType();
    int H = int(in.height()), W = int(in.width()), OH = int(out.height()), OW = int(out.width());
    Expr x0 = (ctx.x * W) / OW, x1 = ((ctx.x + 1) * W + OW - 1) / OW;
    Expr y0 = (ctx.y * H) / OH, y1 = ((ctx.y + 1) * H + OH - 1) / OH;
    RDom r(0, widestWindow(W, OW), 0, widestWindow(H, OH), ctx.fname("r"));
    Expr inside = x0 + r.x < x1 && y0 + r.y < y1;
    Expr v = ctx.inputs[0](min(x0 + r.x, W - 1), min(y0 + r.y, H - 1), ctx.c, ctx.n);
    Func pool(ctx.fname("adaptive_avgpool"));
    pool(ctx.x, ctx.y, ctx.c, ctx.n) = sum(select(inside, v, 0.0f)) / cast<float>((x1 - x0) * (y1 - y0));
    return pool;
}

// Output cell i covers input column x exactly when
// floor(x * OW / W) <= i <= ceil((x + 1) * OW / W) - 1: a range of at most
// ceil(OW / W) + 1 cells, so each input gathers from a few cells (Halide's
// autodiff of the forward tests every cell against every input instead).
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    const TensorType &in = ctx.inputTypes[0], &out = ctx.outType();
    int H = int(in.height()), W = int(in.width()), OH = int(out.height()), OW = int(out.width());
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    RDom r(0, (OW + W - 1) / W + 1, 0, (OH + H - 1) / H + 1, ctx.fname("cells"));
    Expr i = (x * OW) / W + r.x, j = (y * OH) / H + r.y;
    Expr covers = i <= ((x + 1) * OW + W - 1) / W - 1 && j <= ((y + 1) * OH + H - 1) / H - 1;
    Expr ci = min(i, OW - 1), cj = min(j, OH - 1);
    Expr area = ((ci + 1) * W + OW - 1) / OW - (ci * W) / OW;
    area *= ((cj + 1) * H + OH - 1) / OH - (cj * H) / OH;
    Func d(ctx.fname("d_adaptive_avgpool"));
    d(x, y, c, n) = sum(select(covers, b.dy(ci, cj, c, n) / cast<float>(area), 0.0f));
    b.inputGrads[0] = d;
}

} // namespace

void defineAdaptiveAvgPool() {
    OpDef d;
    d.name = "adaptive_avgpool";
    d.summary = "average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)";
    d.args = {{"size", AttrKind::IntOrPair, std::nullopt}};
    d.traits.pool = true;
    d.inferType = inferType;
    d.flops = flops;
    d.lower = lower;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
