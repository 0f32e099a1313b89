// conv(filters, size, stride=1, pad=0, bias=true, groups=1, dilation=1)
// PyTorch's Conv2d: weight [filters, C/groups, kh, kw], zero padding.
#include <algorithm>

#include "codegen/LowerCtx.h"
#include "codegen/TrainingMode.h"
#include "ops/Conv.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    ConvGeometry g = convGeometry(call);
    return mapType(g.filters, g.oh, g.ow);
}

std::vector<ParamDecl> params(const OpCall &call) {
    ConvGeometry g = convGeometry(call);
    int64_t fanIn = checkedMul(checkedMul(g.cin / g.groups, g.size.h), g.size.w);
    std::vector<int64_t> wshape{g.filters, g.cin / g.groups, g.size.h, g.size.w};
    if (fanIn < 0 || checkedMul(fanIn, g.filters) < 0) throw OpError("weight tensor is too large");
    return weightAndBias(call.attrs, wshape, fanIn, g.bias);
}

int64_t flops(const OpCall &call, const TensorType &out) {
    ConvGeometry g = convGeometry(call);
    return 2 * out.elementsPerSample() * (g.cin / g.groups) * g.size.h * g.size.w;
}

// Strided convs read the input at x * stride + kx: vectors of such loads are
// gathers. With the "phases" knob the padded input is staged deinterleaved,
// phased(x, p) = padded(x * stride + p), so that each unrolled tap kx reads a
// contiguous vector: phased(x + kx / stride, kx % stride).
bool usesPhases(const ConvGeometry &g, const ScheduleChoice &choice) {
    return g.stride.w > 1 && choice.get("phases", 0) == 1;
}

Func lower(LowerCtx &ctx) {
    ConvGeometry g = convGeometry(OpCall{ctx.inputTypes, ctx.attrs()});
    if (ctx.choice.get("winograd", 0) == 1 && winogradApplies(g, ctx.outType())) return lowerWinograd(ctx, g);
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    // Always stage the input through an explicitly padded Func: the schedule
    // computes it once per sample (so the select/clamp is paid per element, not
    // per tap) and the conv's register tiles may round up past the edges.
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("padded"));
    Func weight = ctx.params[0];
    int cinPerGroup = int(g.cin / g.groups), coutPerGroup = int(g.filters / g.groups);
    RDom r(0, int(g.size.w), 0, int(g.size.h), 0, cinPerGroup, ctx.fname("r"));
    Expr group = g.groups == 1 ? Expr(0) : c / coutPerGroup;
    Expr iy = y * int(g.stride.h) + r.y * int(g.dilation.h) - int(g.pad.h);
    Expr ci = group * cinPerGroup + r.z;
    Expr tap;
    if (usesPhases(g, ctx.choice)) {
        int sx = int(g.stride.w);
        Var p("p");
        Func phased(ctx.fname("phased"));
        phased(x, p, y, c, n) = in(x * sx + p - int(g.pad.w), y, c, n);
        Expr kx = r.x * int(g.dilation.w);
        tap = phased(x + kx / sx, kx % sx, iy, ci, n);
        ctx.stages["padded"] = phased;
    } else {
        Expr ix = x * int(g.stride.w) + r.x * int(g.dilation.w) - int(g.pad.w);
        tap = in(ix, iy, ci, n);
        ctx.stages["padded"] = in;
    }
    Func acc(ctx.fname("acc"));
    acc(x, y, c, n) = kernelHasBias(ctx.attrs()) ? ctx.params[1](c) : Expr(0.0f);
    acc(x, y, c, n) += weight(r.x, r.y, r.z, c) * tap;
    ctx.stages["acc"] = acc;
    return acc;
}

// Register-blocked direct convolution. The output is tiled into (a few conv rows
// x a block of channels); the conv is computed per tile into a small buffer
// whose update runs the reduction over input channels outside a register tile
// of (vector of x) x (rows) x (channels), with (kx, ky) unrolled for small
// kernels: each step loads a few input vectors, broadcasts a few weights and
// issues rows x channels FMAs into 12 accumulators (AVX2 has 16 ymm registers).
// The padded input is staged once per sample, in parallel.
// The register tile and loop blocking of one conv kernel: knobs of its schedule
// space, or the heuristic default.
struct ConvTiling {
    int tileX;   // vectors of x per register tile
    int tileC;   // output channels per register tile
    int chunk;   // input channels per block of the reduction (0: all)
    int rows;    // output rows per task (with a fused pool: pooled rows)
};

ConvTiling defaultTiling(const ConvGeometry &g, const TensorType &out, int vw) {
    // One row with 2 vectors x 6 channels runs 108 FMAs per input channel from
    // 18 vector loads and 60 broadcasts, no spills (taller tiles let LLVM share
    // input vectors between rows, but it then keeps too many live and spills).
    // The acc buffer is rounded up to whole tiles, so pick the tile that
    // wastes least on this layer's width and channel count.
    auto waste = [](int64_t extent, int64_t tile) { return double((extent + tile - 1) / tile * tile) / double(extent); };
    ConvTiling t;
    t.tileX = waste(g.ow, 2 * vw) <= waste(g.ow, vw) + 0.05 ? 2 : 1;
    t.tileC = t.tileX == 2 ? (waste(out.channels(), 6) <= waste(out.channels(), 4) + 0.05 ? 6 : 4) : 8;
    // Input channels in chunks: each x tile then sweeps a few channel planes
    // (rows x chunk cache lines, few pages) before moving on, instead of every
    // plane of a large map (measured on VGG's 224x224 layer: ~2x).
    t.chunk = 8;
    // With a fused pool, a few pooled rows per task (their conv windows
    // overlap, so bigger tiles recompute less).
    bool pooled = out.height() != g.oh || out.width() != g.ow;
    t.rows = 1;
    if (pooled && out.height() > 1) t.rows = int(std::min<int64_t>(g.oh == 2 * out.height() ? 1 : 4, out.height()));
    return t;
}

ConvTiling tilingFor(const ConvGeometry &g, const TensorType &out, int vw, const ScheduleChoice &choice) {
    ConvTiling t = defaultTiling(g, out, vw);
    t.tileX = choice.get("tile_x", t.tileX);
    t.tileC = choice.get("tile_c", t.tileC);
    t.chunk = choice.get("chunk", t.chunk);
    t.rows = choice.get("rows", t.rows);
    return t;
}

// What `cnnc tune` tries: register tiles of 8 to 12 accumulators, two input
// channel blockings, a few pooled rows per task, and deinterleaved input for
// strided convs. Each must still fit the layer.
std::vector<ScheduleChoice> scheduleSpace(const OpCall &call, const TensorType &out) {
    ConvGeometry g = convGeometry(call);
    const int vw = 8;
    std::vector<ScheduleChoice> space{ScheduleChoice{}};
    ConvTiling fallback = defaultTiling(g, out, vw);
    auto add = [&](ScheduleChoice c) {
        ConvTiling t = tilingFor(g, out, vw, c);
        bool sameAsDefault = t.tileX == fallback.tileX && t.tileC == fallback.tileC && t.chunk == fallback.chunk &&
                             t.rows == fallback.rows && !usesPhases(g, c);
        if (!sameAsDefault && std::find(space.begin(), space.end(), c) == space.end()) space.push_back(std::move(c));
    };
    int64_t cinPerGroup = g.cin / g.groups;
    std::vector<int> chunks{8};
    if (cinPerGroup > 16) chunks.push_back(32);
    std::vector<int> phases{0};
    if (g.stride.w > 1) phases.push_back(1);
    for (auto [tx, tc] : {std::pair{2, 6}, {2, 4}, {1, 8}, {3, 4}}) {
        if (tc > out.channels() || (tx - 1) * vw >= g.ow) continue;
        for (int chunk : chunks)
            for (int ph : phases) {
                ScheduleChoice c;
                c.knobs = {{"tile_x", tx}, {"tile_c", tc}, {"chunk", chunk}};
                if (ph) c.knobs["phases"] = 1;
                add(c);
            }
    }
    bool pooled = out.height() != g.oh || out.width() != g.ow;
    if (pooled)
        for (int rows : {1, 2, 4})
            for (int ph : phases)
                if (rows <= out.height()) {
                    ScheduleChoice c{{{"rows", rows}}};
                    if (ph) c.knobs["phases"] = 1;
                    add(c);
                }
    if (winogradApplies(g, out)) {
        for (int par : {0, 1}) {
            space.push_back(ScheduleChoice{{{"winograd", 1}, {"wino_par", par}}});
            space.push_back(ScheduleChoice{{{"winograd", 1}, {"wino_par", par}, {"tile_x", 1}, {"tile_c", 8}}});
        }
        space.push_back(ScheduleChoice{{{"winograd", 1}, {"wino_par", 0}, {"rows", 2}}});
    }
    return space;
}

void schedule(ScheduleCtx &s) {
    if (s.op.stages.count("wino_m")) return scheduleWinograd(s, convGeometry(OpCall{s.op.inputTypes, s.op.attrs()}));
    Func acc = s.op.stages.at("acc");
    Func padded = s.op.stages.at("padded");
    ConvGeometry g = convGeometry(OpCall{s.op.inputTypes, s.op.attrs()});
    const TensorType &t = s.outputType;
    Var x = s.x, y = s.y, c = s.c, n = s.n;
    const int vw = s.vectorWidth;
    ConvTiling tiling = tilingFor(g, t, vw, s.op.choice);
    int NX = tiling.tileX, TC = int(std::min<int64_t>(tiling.tileC, t.channels()));
    int outRows = std::max(1, std::min(tiling.rows, int(t.height())));

    Var yo("yo"), yi("yi"), co("co"), ci("ci"), tile("tile");
    int ow = int(t.width());
    s.output.split(y, yo, yi, outRows).split(c, co, ci, TC);
    if (ow >= vw) s.output.vectorize(x, vw);
    s.output.reorder(x, yi, ci, yo, co, n).fuse(yo, co, tile).parallel(tile);

    // The staged input: once per sample, parallel over channels x rows.
    Var yc("yc");
    padded.compute_at(s.output, n).fuse(s.op.y, s.op.c, yc).parallel(yc);
    int stagedWidth = int(usesPhases(g, s.op.choice) ? (g.w + 2 * g.pad.w) / g.stride.w : g.w + 2 * g.pad.w);
    if (stagedWidth >= vw) padded.vectorize(s.op.x, vw);

    acc.compute_at(s.output, tile);
    Var xo("xo"), xi("xi");
    acc.vectorize(s.op.x, vw, TailStrategy::RoundUp);
    std::vector<RVar> r = acc.rvars(0);
    auto update = acc.update();
    int cinPerGroup = int(g.cin / g.groups);
    const int chunk = tiling.chunk;
    update.split(s.op.x, xo, xi, vw * NX, TailStrategy::RoundUp);
    if (chunk > 0 && cinPerGroup > chunk) {
        RVar rzo("rzo"), rzi("rzi");
        update.split(r[2], rzo, rzi, chunk, TailStrategy::GuardWithIf)
            .reorder({xi, s.op.c, r[0], r[1], rzi, xo, rzo, s.op.y, s.op.n});
    } else {
        update.reorder({xi, s.op.c, r[0], r[1], r[2], xo, s.op.y, s.op.n});
    }
    update
        .vectorize(xi, vw)
        .unroll(xi)
        .unroll(s.op.c);
    int taps = int(g.size.w * g.size.h);
    if (taps <= 25) update.unroll(r[0]).unroll(r[1]);
    else if (g.size.w <= 11) update.unroll(r[0]);
}

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

// The adjoint, written out (Halide 14's autodiff gets the weight gradient of
// this scatter wrong): with dy = d loss / d output,
//   d weight(kx, ky, ci, co) = sum over n, y, x of dy(x, y, co, n) * input at the tap,
//   d bias(co) = sum of dy(., ., co, .),
//   d input(ix, iy, ci, n) = sum over the taps and the group's filters that
//     read (ix, iy), i.e. where ix + pad - kx * dilation is a multiple of stride.
void backward(BackwardCtx &b) {
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

} // namespace

void defineConv() {
    OpDef d;
    d.name = "conv";
    d.summary = "2-D convolution (torch.nn.Conv2d)";
    d.args = {{"filters", AttrKind::Int, std::nullopt},
              {"size", AttrKind::IntOrPair, std::nullopt},
              {"stride", AttrKind::IntOrPair, int64_t(1)},
              {"pad", AttrKind::IntOrPair, int64_t(0)},
              {"bias", AttrKind::Bool, true},
              {"groups", AttrKind::Int, int64_t(1)},
              {"dilation", AttrKind::IntOrPair, int64_t(1)}};
    for (ArgSpec &a : batchNormFoldArgs()) d.args.push_back(a);
    d.traits.anchor = true;
    d.traits.absorbsBatchNorm = true;
    d.inferType = inferType;
    d.params = params;
    d.flops = flops;
    d.lower = lower;
    d.schedule = schedule;
    d.scheduleSpace = scheduleSpace;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
