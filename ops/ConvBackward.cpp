// conv's adjoint: weight, bias and input gradients, with specialised input
// gradients (Winograd, per phase for strides, channel-vectorized on small maps).
#include "codegen/LowerCtx.h"
#include "codegen/TrainingMode.h"
#include "ops/Conv.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

// d input of a strided (undilated, ungrouped) conv, without testing every tap:
// in padded coordinates X = x + pad = stride * xq + p, only the taps
// kx = p + stride * j read X, from output column xq - j. So per phase (p, q)
// the gradient is a small dense correlation of dy, computed with the phase
// loops outermost (the weight index is then constant along the x vectors),
// and dx reads it back interleaved.
Func stridedInputGradient(LowerCtx &ctx, const ConvGeometry &g, Func dyp) {
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, xq("xq"), yq("yq"), p("p"), q("q"), kx("kx"), ky("ky"), co("co");
    int sx = int(g.stride.w), sy = int(g.stride.h), K = int(g.size.w), KY = int(g.size.h);
    int px = int(g.pad.w), py = int(g.pad.h);
    Func weight = ctx.params[0];
    Func wpad(ctx.fname("d_input_weights"));
    wpad(kx, ky, c, co) = select(kx < K && ky < KY, weight(min(kx, K - 1), min(ky, KY - 1), c, co), 0.0f);
    wpad.compute_root();
    RDom t(0, (K + sx - 1) / sx, 0, (KY + sy - 1) / sy, 0, int(g.filters), ctx.fname("r_phase_taps"));
    Func phased(ctx.fname("d_input_phases"));
    phased(xq, p, yq, q, c, n) = 0.0f;
    phased(xq, p, yq, q, c, n) += wpad(p + sx * t.x, q + sy * t.y, c, t.z) * dyp(xq - t.x, yq - t.y, t.z, n);
    int lanes = tileFactor(ctx.inputTypes[0].width() / sx + 1, 8);
    int cTile = g.cin >= 4 ? 4 : 1;
    Var xo("xo"), xi("xi"), cb("cb"), cq("cq"), task("task");
    phased.compute_root().vectorize(xq, lanes, TailStrategy::RoundUp).parallel(n);
    int xqExtent = int(ctx.inputTypes[0].width() + 2 * g.pad.w + sx - 1) / sx;
    phased.update()
        .split(xq, xo, xi, lanes * (xqExtent > lanes ? 2 : 1), TailStrategy::RoundUp)
        .split(c, cb, cq, cTile, TailStrategy::GuardWithIf)
        .reorder({xi, cq, t.x, t.y, t.z, xo, yq, p, q, cb, n})
        .vectorize(xi, lanes)
        .unroll(xi)
        .unroll(cq)
        .unroll(t.x)
        .unroll(t.y)
        .fuse(cb, n, task)
        .parallel(task);
    Func dx(ctx.fname("d_input"));
    Expr X = x + px, Y = y + py;
    dx(x, y, c, n) = phased(X / sx, X % sx, Y / sy, Y % sy, c, n);
    dx.compute_root().parallel(n).vectorize(x, tileFactor(ctx.inputTypes[0].width(), 8), TailStrategy::RoundUp);
    return dx;
}

// d input of a stride-1 ungrouped conv on a small map (ResNet's 14x14 and 7x7,
// many channels): vectors along x would be half empty, so vectorize over input
// channels instead. The filters are transposed to channel-inner once per call;
// the register tile is 2 channel vectors x a row piece of up to 7 positions
// (14 accumulators); the result is stored channel-inner and the gradient
// output reads it back (one gather per element, against ~2 x 9 x filters FLOPs).
Func smallMapInputGradient(LowerCtx &ctx, const ConvGeometry &g, Func dyp) {
    int W = int(g.w);
    if (W >= 16 || g.stride.w != 1 || g.stride.h != 1 || g.groups != 1 || g.cin < 16) return Func();
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, kx("kx"), ky("ky"), co("co");
    Func filters(ctx.fname("d_input_filters_channel_inner"));
    filters(c, kx, ky, co) = ctx.params[0](kx, ky, min(c, int(g.cin) - 1), co); // rounded-up tiles read past cin
    filters.compute_root().vectorize(c, 8, TailStrategy::RoundUp).parallel(co);
    RDom t(0, int(g.size.w), 0, int(g.size.h), 0, int(g.filters), ctx.fname("r_taps"));
    Expr nx = x + int(g.pad.w) - t.x * int(g.dilation.w), ny = y + int(g.pad.h) - t.y * int(g.dilation.h);
    Func dxc(ctx.fname("d_input_channel_inner"));
    dxc(x, y, c, n) = 0.0f;
    dxc(x, y, c, n) += filters(c, t.x, t.y, t.z) * dyp(nx, ny, t.z, n);
    int xTile = 7;
    while (xTile > 1 && W % xTile != 0) --xTile;
    Var xo("xo"), xi("xi"), cb("cb"), cv("cv"), task("task");
    dxc.compute_root().reorder_storage(c, x, y, n).vectorize(c, 8, TailStrategy::RoundUp);
    dxc.update()
        .split(c, cb, cv, 16, TailStrategy::RoundUp)
        .split(x, xo, xi, xTile)
        .reorder({cv, xi, t.x, t.y, t.z, xo, y, cb, n})
        .vectorize(cv, 8)
        .unroll(cv)
        .unroll(xi)
        .fuse(cb, n, task)
        .parallel(task);
    Func dx(ctx.fname("d_input"));
    dx(x, y, c, n) = dxc(x, y, c, n);
    return dx;
}

// d input of a 3x3 stride-1 conv is a 3x3 conv of dy with the filters flipped
// and input/output channels swapped (padding 2 - pad): computed with Winograd
// F(2x2, 3x3) like the forward. Undefined where that does not apply.
Func winogradInputGradient(LowerCtx &ctx, const ConvGeometry &g, Func dyp) {
    ConvGeometry t = g;
    t.cin = g.filters, t.filters = g.cin, t.h = g.oh, t.w = g.ow, t.oh = g.h, t.ow = g.w, t.bias = false;
    t.pad = Pair{2 - g.pad.h, 2 - g.pad.w};
    TensorType dyType = mapType(g.filters, g.oh, g.ow), dxType = mapType(g.cin, g.h, g.w);
    // On small maps (ResNet's 14x14 and 7x7) the per-call filter transform and
    // the short tile rows cost more than Winograd saves (measured).
    bool large = g.h >= 28 && g.w >= 28;
    if (!large || g.pad.h > 2 || g.pad.w > 2 || !winogradApplies(g, ctx.outType()) || !winogradApplies(t, dxType))
        return Func();
    Var kx("kx"), ky("ky"), ci("ci"), co("co");
    Func flipped(ctx.fname("d_input_filters"));
    flipped(kx, ky, co, ci) = ctx.params[0](2 - kx, 2 - ky, ci, co);
    WinogradInputs in{dyp, dyType, flipped, Expr(), t, ctx.fname("d_input_"), ctx.x, ctx.y, ctx.c, ctx.n};
    WinogradStages stages;
    Func conv = winogradConv(in, stages);
    Func dx(ctx.fname("d_input"));
    dx(ctx.x, ctx.y, ctx.c, ctx.n) = conv(ctx.x, ctx.y, ctx.c, ctx.n);
    dx.compute_root();
    scheduleWinogradStages(stages, dx, ctx.x, ctx.y, ctx.c, ctx.n, t, ScheduleChoice{}, 8);
    return dx;
}

} // namespace

// The adjoint, written out (Halide 14's autodiff gets the weight gradient of
// this scatter wrong): with dy = d loss / d output,
//   d weight(kx, ky, ci, co) = sum over n, y, x of dy(x, y, co, n) * input at the tap,
//   d bias(co) = sum of dy(., ., co, .),
//   d input(ix, iy, ci, n) = sum over the taps and the group's filters that
//     read (ix, iy), i.e. where ix + pad - kx * dilation is a multiple of stride.
void convBackward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    ConvGeometry g = convGeometry(OpCall{ctx.inputTypes, ctx.attrs()});
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, kx("kx"), ky("ky"), ci("ci"), co("co");
    int cinPerGroup = int(g.cin / g.groups), coutPerGroup = int(g.filters / g.groups);
    int sx = int(g.stride.w), sy = int(g.stride.h), dx = int(g.dilation.w), dy = int(g.dilation.h);
    int px = int(g.pad.w), py = int(g.pad.h), OW = int(g.ow), OH = int(g.oh);
    // Zero-bordered copies of the input and of dy, so the loops below read
    // them densely instead of testing every tap against the borders.
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("grad_padded"));
    Func dyp(ctx.fname("dy_padded"));
    dyp(x, y, c, n) = b.dy(x, y, c, n);
    in.compute_root().parallel(n);
    dyp.compute_root().parallel(n);

    // d weight: a sum over output positions and the batch, vectorized over the
    // output channels: dy is first transposed to channel-innermost, so each
    // step loads one vector of dy and broadcasts one input value.
    RDom o(0, OW, 0, OH, 0, b.batch, ctx.fname("r_out"));
    Expr groupOf = co / coutPerGroup;
    Func dyT(ctx.fname("dy_channels_inner"));
    dyT(co, x, y, n) = dyp(x, y, co, n);
    dyT.compute_root().parallel(n);
    // Accumulate with the output channel innermost (contiguous vectors, and
    // each parallel task owns a contiguous slab), then transpose back.
    Func dwT(ctx.fname("d_weight_channels_inner"));
    dwT(co, kx, ky, ci) = 0.0f;
    dwT(co, kx, ky, ci) += dyT(co, o.x, o.y, o.z) *
                           in(o.x * sx + kx * dx - px, o.y * sy + ky * dy - py, groupOf * cinPerGroup + ci, o.z);
    // Register tile: (2 vectors of output channels) x kx x (1 to 4 input
    // channels), up to 14 accumulators (12 for 3x3 kernels), so each dy vector
    // loaded feeds several taps and each input value broadcast feeds both
    // channel vectors.
    int coLanes = g.filters >= 8 ? 8 : 4;
    int coTile = g.filters >= 16 ? 2 * coLanes : coLanes;
    int kxTile = int(g.size.w) <= 7 ? int(g.size.w) : 1;
    int ciTile = 4;
    while (ciTile > 1 && (ciTile > cinPerGroup || (coTile / coLanes) * kxTile * ciTile > 14)) ciTile /= 2;
    Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), kyci("kyci");
    dwT.compute_root().vectorize(co, coLanes, TailStrategy::RoundUp).parallel(ci);
    auto dwUpdate = dwT.update();
    if (g.filters < 8) {
        // Too few output channels to tile (LeNet's first conv: measured 2.6x
        // faster this way): one vector of channels per step.
        dwUpdate.reorder({co, o.x, o.y, o.z, kx, ky, ci})
            .vectorize(co, coLanes, TailStrategy::RoundUp)
            .fuse(ky, ci, kyci)
            .parallel(kyci);
    } else {
        dwUpdate.split(co, coo, coi, coTile, TailStrategy::RoundUp)
            .split(ci, cio, cii, ciTile, TailStrategy::GuardWithIf)
            .reorder({coi, kx, cii, o.x, o.y, o.z, ky, cio, coo})
            .vectorize(coi, coLanes)
            .unroll(coi)
            .unroll(cii);
        if (kxTile > 1) dwUpdate.unroll(kx);
        // Rows x input channels: work for both cores even with one channel.
        dwUpdate.fuse(ky, cio, kyci).parallel(kyci);
    }
    Func dw(ctx.fname("d_weight"));
    dw(kx, ky, ci, co) = dwT(co, kx, ky, ci);
    dw.compute_root().parallel(co);
    b.paramGrads[0] = dw;
    if (kernelHasBias(ctx.attrs()) && ctx.params.size() > 1) {
        Func db(ctx.fname("d_bias"));
        db(co) = sum(dyp(o.x, o.y, co, o.z));
        db.compute_root();
        b.paramGrads[1] = db;
    }

    if (Func dxw = winogradInputGradient(ctx, g, dyp); dxw.defined()) {
        b.inputGrads[0] = dxw;
        return;
    }
    if ((sx > 1 || sy > 1) && dx == 1 && dy == 1 && g.groups == 1) {
        b.inputGrads[0] = stridedInputGradient(ctx, g, dyp);
        return;
    }

    if (Func small = smallMapInputGradient(ctx, g, dyp); small.defined()) {
        b.inputGrads[0] = small;
        return;
    }

    // d input: each input position gathers the taps whose window reads it.
    RDom t(0, int(g.size.w), 0, int(g.size.h), 0, coutPerGroup, ctx.fname("r_taps"));
    Expr group = c / cinPerGroup, filter = group * coutPerGroup + t.z;
    Expr nx = x + px - t.x * dx, ny = y + py - t.y * dy;
    Expr w = ctx.params[0](t.x, t.y, c - group * cinPerGroup, filter);
    Expr tap = sx == 1 && sy == 1
                   ? dyp(nx, ny, filter, n) * w
                   : select(nx % sx == 0 && ny % sy == 0, dyp(nx / sx, ny / sy, filter, n) * w, 0.0f);
    // An explicit update (not sum()) so the taps loop outside a register tile
    // of (2 vectors along x) x (4 input channels), as in the forward conv.
    Func dxf(ctx.fname("d_input"));
    int lanes = tileFactor(ctx.inputTypes[0].width(), 8);
    int cTile = cinPerGroup >= 4 ? 4 : 1;
    dxf(x, y, c, n) = 0.0f;
    dxf(x, y, c, n) += tap;
    Var xo("xo"), xi("xi"), cb("cb"), cq("cq");
    dxf.compute_root().parallel(n).vectorize(x, lanes, TailStrategy::RoundUp);
    dxf.update()
        .split(x, xo, xi, lanes * 2, TailStrategy::RoundUp)
        .split(c, cb, cq, cTile, TailStrategy::GuardWithIf)
        .reorder({xi, cq, t.x, t.y, t.z, xo, y, cb, n})
        .vectorize(xi, lanes)
        .unroll(xi)
        .unroll(cq)
        .parallel(n);
    b.inputGrads[0] = dxf;
}


} // namespace cnnc::ops
