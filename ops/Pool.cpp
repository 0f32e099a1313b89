// maxpool(size, stride=size, pad=0, ceil=false)
// avgpool(size, stride=size, pad=0, ceil=false, count_pad=true)
// PyTorch's MaxPool2d (pads with -inf) and AvgPool2d (count_include_pad).
#include <functional>
#include <limits>

#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

struct PoolGeometry {
    int64_t c, h, w;
    Pair size, stride, pad;
    int64_t oh, ow;
};

PoolGeometry geometry(const OpCall &call, const char *op) {
    const TensorType &in = requireMap(call, op);
    PoolGeometry g;
    g.c = in.channels(), g.h = in.height(), g.w = in.width();
    g.size = requirePair(call.attrs, "size", 1);
    g.stride = requirePair(call.attrs, "stride", 1);
    g.pad = requirePair(call.attrs, "pad", 0);
    if (2 * g.pad.h > g.size.h || 2 * g.pad.w > g.size.w)
        throw OpError("'pad' " + formatAttr(g.pad) + " must be at most half of the window size " + formatAttr(g.size));
    bool ceil = call.attrs.getBool("ceil");
    g.oh = windowOutput(g.h, g.size.h, g.stride.h, g.pad.h, 1, ceil, "height");
    g.ow = windowOutput(g.w, g.size.w, g.stride.w, g.pad.w, 1, ceil, "width");
    return g;
}

TensorType maxType(const OpCall &call) {
    PoolGeometry g = geometry(call, "maxpool");
    return mapType(g.c, g.oh, g.ow);
}
TensorType avgType(const OpCall &call) {
    PoolGeometry g = geometry(call, "avgpool");
    return mapType(g.c, g.oh, g.ow);
}

int64_t flops(const OpCall &call, const TensorType &out) {
    Pair k = call.attrs.getPair("size");
    return out.elementsPerSample() * k.h * k.w;
}

// The window's maximum, NaN where the window holds one (as in PyTorch: a
// float max() drops a NaN operand or keeps it, depending on its side). Small
// windows are written out tap by tap, one expression whose loads Halide
// shares between the two reductions: as inline reductions they were two loops
// a vector, each loading every tap (GoogLeNet's standalone 3x3 pools).
Expr windowMax(const std::function<Expr(Expr, Expr)> &tap, const PoolGeometry &g, const std::string &rname) {
    // The taps' bits with the sign cleared: their maximum is a NaN's where one is.
    auto magnitude = [](Expr v) { return reinterpret<uint32_t>(v) & Expr(0x7fffffffu); };
    Expr best, largestBits;
    if (g.size.w * g.size.h <= 64) {
        for (int ky = 0; ky < g.size.h; ++ky)
            for (int kx = 0; kx < g.size.w; ++kx) {
                Expr v = tap(kx, ky);
                best = best.defined() ? max(best, v) : v;
                largestBits = largestBits.defined() ? max(largestBits, magnitude(v)) : magnitude(v);
            }
    } else {
        RDom r(0, int(g.size.w), 0, int(g.size.h), rname);
        best = maximum(tap(r.x, r.y));
        largestBits = maximum(magnitude(tap(r.x, r.y)));
    }
    return reinterpret<float>(select(isNaN(reinterpret<float>(largestBits)), Expr(0x7fc00000u), reinterpret<uint32_t>(best)));
}

Func lowerMax(LowerCtx &ctx) {
    PoolGeometry g = geometry(OpCall{ctx.inputTypes, ctx.attrs()}, "maxpool");
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], Expr(-std::numeric_limits<float>::infinity()),
                         ctx.fname("padded"));
    Func pool(ctx.fname("maxpool"));
    auto tap = [&](Expr kx, Expr ky) {
        return in(ctx.x * int(g.stride.w) - int(g.pad.w) + kx, ctx.y * int(g.stride.h) - int(g.pad.h) + ky, ctx.c,
                  ctx.n);
    };
    pool(ctx.x, ctx.y, ctx.c, ctx.n) = windowMax(tap, g, ctx.fname("r"));
    ctx.stages["padded"] = in;
    return pool;
}

// PyTorch's divisor of output window (ox, oy): the window clipped to the
// padded input (count_pad=true) or to the input itself (count_pad=false). At
// least 1, so a window outside the output (which the backward may read, with
// a zero gradient) divides safely.
Expr windowCount(const PoolGeometry &g, bool countPad, Expr ox, Expr oy) {
    Expr x0 = ox * int(g.stride.w) - int(g.pad.w), y0 = oy * int(g.stride.h) - int(g.pad.h);
    Expr x1 = min(x0 + int(g.size.w), int(g.w + g.pad.w)), y1 = min(y0 + int(g.size.h), int(g.h + g.pad.h));
    Expr count = countPad ? (x1 - x0) * (y1 - y0)
                          : (min(x1, int(g.w)) - max(x0, 0)) * (min(y1, int(g.h)) - max(y0, 0));
    return max(count, 1);
}

Func lowerAvg(LowerCtx &ctx) {
    PoolGeometry g = geometry(OpCall{ctx.inputTypes, ctx.attrs()}, "avgpool");
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("padded"));
    RDom r(0, int(g.size.w), 0, int(g.size.h), ctx.fname("r"));
    Expr x0 = ctx.x * int(g.stride.w) - int(g.pad.w), y0 = ctx.y * int(g.stride.h) - int(g.pad.h);
    Func pool(ctx.fname("avgpool"));
    pool(ctx.x, ctx.y, ctx.c, ctx.n) = sum(in(x0 + r.x, y0 + r.y, ctx.c, ctx.n)) /
                                       cast<float>(windowCount(g, ctx.attrs().getBool("count_pad"), ctx.x, ctx.y));
    ctx.stages["padded"] = in;
    return pool;
}

// Per axis, output window o covers input i when o*s - p <= i < o*s - p + k:
// o = (i + p) / s - t for t = 0 .. ceil(k/s) - 1, where o*s - p + k > i, which
// always holds when s divides k. So each input gathers a few dy / count terms,
// written out as one sum that vectorizes along x (Halide's autodiff of the
// forward scattered every tap instead: Inception-v3's 5x5/3 pool on 8x768x17x17
// took 10.8 s per call). Windows past the output's edges read a zero dy.
void backwardAvg(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    PoolGeometry g = geometry(OpCall{ctx.inputTypes, ctx.attrs()}, "avgpool");
    int sx = int(g.stride.w), sy = int(g.stride.h), px = int(g.pad.w), py = int(g.pad.h);
    int kx = int(g.size.w), ky = int(g.size.h);
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    Func scaled(ctx.fname("dy_over_count"));
    scaled(x, y, c, n) = b.dy(x, y, c, n) / cast<float>(windowCount(g, ctx.attrs().getBool("count_pad"), x, y));
    Expr total = 0.0f;
    for (int ty = 0; ty < (ky + sy - 1) / sy; ++ty) {
        for (int tx = 0; tx < (kx + sx - 1) / sx; ++tx) {
            Expr ox = (x + px) / sx - tx, oy = (y + py) / sy - ty;
            Expr term = scaled(ox, oy, c, n);
            if (kx % sx) term = select(x < ox * sx - px + kx, term, 0.0f);
            if (ky % sy) term = select(y < oy * sy - py + ky, term, 0.0f);
            total += term;
        }
    }
    Func d(ctx.fname("d_avgpool"));
    d(x, y, c, n) = total;
    // A plane of dy / count at a time, inside the output's loop, while in cache.
    scaled.compute_at(b.operandPlane);
    if (int lanes = fittingLanes(g.ow, ctx.vectorWidth)) scaled.vectorize(x, lanes);
    b.inputGrads[0] = d;
}

// The gradient goes to the first maximum of each window in scan order, as in
// PyTorch (Halide's autodiff cannot differentiate maximum()).
void backwardMax(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    PoolGeometry g = geometry(OpCall{ctx.inputTypes, ctx.attrs()}, "maxpool");
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], Expr(-std::numeric_limits<float>::infinity()),
                         ctx.fname("grad_padded"));
    int sx = int(g.stride.w), sy = int(g.stride.h), px = int(g.pad.w), py = int(g.pad.h);
    int OW = int(g.ow), OH = int(g.oh);
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    RDom r(0, int(g.size.w), 0, int(g.size.h), ctx.fname("r"));
    Func winner(ctx.fname("argmax"));
    winner(x, y, c, n) = argmax(in(x * sx - px + r.x, y * sy - py + r.y, c, n));
    // Scatter each output's gradient to its window's winner: one add per
    // output instead of testing every tap of every input position.
    RDom o(0, OW, 0, OH, ctx.fname("outputs"));
    Expr wx = o.x * sx - px + winner(o.x, o.y, c, n)[0], wy = o.y * sy - py + winner(o.x, o.y, c, n)[1];
    int W = int(ctx.inputTypes[0].width()), H = int(ctx.inputTypes[0].height());
    Func d(ctx.fname("d_maxpool"));
    d(x, y, c, n) = 0.0f;
    // A window always holds an input element (the output size rule), so the
    // winner is inside; the clamp only tells Halide the bounds.
    d(clamp(wx, 0, W - 1), clamp(wy, 0, H - 1), c, n) += b.dy(o.x, o.y, c, n);
    // A plane at a time inside the output's loop: computed whole beforehand
    // (zeroed, scattered, then copied out), ResNet-18's 112x112x64 took 8.8 ms
    // per step at batch 8, each pass over 26 MB from memory.
    d.compute_at(b.operandPlane).vectorize(x, tileFactor(W, 8));
    d.update().unscheduled(); // a scatter: one output at a time
    winner.compute_at(b.operandPlane);
    if (OW >= 8) winner.vectorize(x, 8);
    b.inputGrads[0] = d;
}

// Pools that start a kernel (those after a conv are scheduled with it):
// parallel over planes (channel x sample), a few per task, each plane's
// padded input staged first so the windows read it as dense vectors. Inline,
// every tap of every window loaded its input through a clamped index, as a
// gather: GoogLeNet's eleven standalone pools took 2.3-5.5 ms each at batch 8.
void schedulePool(ScheduleCtx &s) {
    PoolGeometry g = geometry(OpCall{s.op.inputTypes, s.op.attrs()}, s.op.node.opName().c_str());
    Func padded = s.op.stages.at("padded");
    Var plane = parallelOverPlanes(s.output, s.c, s.n, g.oh * g.ow);
    int vw = tileFactor(g.ow, s.vectorWidth);
    if (vw > 1) s.output.vectorize(s.x, vw);
    padded.compute_at(s.output, plane);
    int paddedWidth = int(g.w + 2 * g.pad.w);
    if (int lanes = fittingLanes(paddedWidth, s.vectorWidth)) padded.vectorize(s.op.x, lanes);
}

std::vector<ArgSpec> args(bool avg) {
    std::vector<ArgSpec> a = {{"size", AttrKind::IntOrPair, std::nullopt},
                              {"stride", AttrKind::IntOrPair, std::nullopt, "size"},
                              {"pad", AttrKind::IntOrPair, int64_t(0)},
                              {"ceil", AttrKind::Bool, false}};
    if (avg) a.push_back({"count_pad", AttrKind::Bool, true});
    return a;
}

void define(const char *name, const char *summary, bool avg) {
    OpDef d;
    d.name = name;
    d.summary = summary;
    d.args = args(avg);
    d.traits.pool = true;
    d.traits.slidingWindow = true;
    d.inferType = avg ? avgType : maxType;
    d.flops = flops;
    d.lower = avg ? lowerAvg : lowerMax;
    d.schedule = schedulePool;
    d.backward = avg ? backwardAvg : backwardMax;
    OpRegistry::get().add(std::move(d));
}

} // namespace

void definePools() {
    define("maxpool", "max over sliding windows (torch.nn.MaxPool2d)", false);
    define("avgpool", "mean over sliding windows (torch.nn.AvgPool2d)", true);
}

} // namespace cnnc::ops
