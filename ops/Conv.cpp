// conv(filters, size, stride=1, pad=0, bias=true, groups=1, dilation=1)
// PyTorch's Conv2d: weight [filters, C/groups, kh, kw], zero padding.
#include <algorithm>

#include "lowering/LowerCtx.h"
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
// contiguous vector: phased(x + kx / stride, kx % stride). Training kernels,
// which are not tuned, use it for every strided conv, as the tuner picks it
// for every strided conv of the examples at inference.
bool usesPhases(const ConvGeometry &g, const ScheduleChoice &choice, bool training) {
    return g.stride.w > 1 && choice.get("phases", training ? 1 : 0) == 1;
}

// Convs with few input channels have short reductions per output channel but
// many filters: vectorizing over the filters instead, with the input
// broadcast, makes a strided tap a scalar load rather than a gather. The knob
// "filter_vectors" (a candidate, off by default: LeNet-5's conv2 + pool picks
// it; on ResNet-18's conv1 + pool the direct schedule with deinterleaved input
// and whole-map tasks measured 1.6x faster).
bool usesFilterVectors(const ConvGeometry &g, const ScheduleChoice &choice) {
    return g.groups == 1 && g.filters >= 16 && choice.get("filter_vectors", 0) == 1;
}

// acc(c, x, y, n) channel-innermost: out(x, y, c, n) reads it back.
Func lowerFilterVectors(LowerCtx &ctx, const ConvGeometry &g, Func in) {
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, kx("kx"), ky("ky"), ci("ci");
    int F = int(g.filters);
    Func weights(ctx.fname("weights_filter_inner"));
    weights(c, kx, ky, ci) = ctx.params[0](kx, ky, ci, min(c, F - 1)); // tiles may round the filters up
    RDom r(0, int(g.size.w), 0, int(g.size.h), 0, int(g.cin), ctx.fname("r"));
    Expr ix = x * int(g.stride.w) + r.x * int(g.dilation.w) - int(g.pad.w);
    Expr iy = y * int(g.stride.h) + r.y * int(g.dilation.h) - int(g.pad.h);
    Func acc(ctx.fname("acc_filter_inner"));
    acc(c, x, y, n) = kernelHasBias(ctx.attrs()) ? ctx.params[1](min(c, F - 1)) : Expr(0.0f);
    acc(c, x, y, n) += weights(c, r.x, r.y, r.z) * in(ix, iy, r.z, n);
    Func out(ctx.fname("conv"));
    out(x, y, c, n) = acc(c, x, y, n);
    ctx.stages["padded"] = in;
    ctx.stages["acc_filter_inner"] = acc;
    ctx.stages["weights_filter_inner"] = weights;
    return out;
}

Func lower(LowerCtx &ctx) {
    ConvGeometry g = convGeometry(OpCall{ctx.inputTypes, ctx.attrs()});
    if (winogradChosen(g, ctx.outType(), ctx.choice, ctx.training != nullptr)) return lowerWinograd(ctx, g);
    if (blockedChosen(g, ctx.outType(), ctx.choice, ctx.training != nullptr, ctx.vectorWidth)) return lowerBlocked(ctx, g);
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    // Always stage the input through an explicitly padded Func: the schedule
    // computes it once per sample (so the select/clamp is paid per element, not
    // per tap) and the conv's register tiles may round up past the edges.
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("padded"));
    if (usesFilterVectors(g, ctx.choice)) return lowerFilterVectors(ctx, g, in);
    Func weight = ctx.params[0];
    int cinPerGroup = int(g.cin / g.groups), coutPerGroup = int(g.filters / g.groups);
    RDom r(0, int(g.size.w), 0, int(g.size.h), 0, cinPerGroup, ctx.fname("r"));
    Expr group = g.groups == 1 ? Expr(0) : c / coutPerGroup;
    Expr iy = y * int(g.stride.h) + r.y * int(g.dilation.h) - int(g.pad.h);
    Expr ci = group * cinPerGroup + r.z;
    Expr tap;
    if (usesPhases(g, ctx.choice, ctx.training)) {
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
    int tileX;     // vectors of x per register tile
    int tileC;     // output channels per register tile
    int tileN = 1; // samples per register tile (at even batches; odd ones take 1)
    int chunk;     // input channels per block of the reduction (0: all)
    int rows;      // output rows per task (with a fused pool: pooled rows)
    int channelTasks = 0; // > 0: tasks of this many output channels, every row and sample inside
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
    // Maps one vector wide (ResNet's 7x7 layers) tile two samples x 4
    // channels at even batches: each broadcast weight feeds both samples, 2
    // loads and 4 broadcasts per 8 FMAs against 1 and 8 for one sample's
    // vector x 8 channels. 7x7x512 at batch 8: 11.1 against 12.8 ms per call,
    // chunks of 32 channels (8: 12.1). Two samples x 6 channels spilled 27
    // vectors per 108 FMAs.
    if (t.tileX == 1 && out.channels() >= 4) t.tileN = 2, t.tileC = 4, t.chunk = 32;
    // With a fused pool, the whole map per task (a channel block): tasks of a
    // few pooled rows recompute the conv rows that overlapping windows share,
    // and measured up to 2.5x slower (GoogLeNet's conv3 + 3x3 stride-2 pool).
    bool pooled = out.height() != g.oh || out.width() != g.ow;
    t.rows = pooled ? int(out.height()) : 1;
    return t;
}

ConvTiling tilingFor(const ConvGeometry &g, const TensorType &out, int vw, const ScheduleChoice &choice) {
    ConvTiling t = defaultTiling(g, out, vw);
    // A choice that sets the register tile or chunk means one sample and
    // chunks of 8 unless it names others: the database's entries state only
    // the knobs that differ from these.
    if (choice.has("tile_x") || choice.has("tile_c") || choice.has("chunk")) t.tileN = 1, t.chunk = 8;
    t.tileX = choice.get("tile_x", t.tileX);
    t.tileC = choice.get("tile_c", t.tileC);
    t.tileN = choice.get("tile_n", t.tileN);
    t.chunk = choice.get("chunk", t.chunk);
    t.rows = choice.get("rows", t.rows);
    t.channelTasks = choice.get("ctasks", t.channelTasks);
    return t;
}

// What `cnnc tune` tries: register tiles of 8 to 12 accumulators, two input
// channel blockings, a few pooled rows per task, and deinterleaved input for
// strided convs. Each must still fit the layer.
std::vector<ScheduleChoice> scheduleSpace(const OpCall &call, const TensorType &out) {
    ConvGeometry g = convGeometry(call);
    const int vw = 8; // AVX2 lanes: on wider targets the candidates stay valid, if less tight
    std::vector<ScheduleChoice> space{ScheduleChoice{}};
    ConvTiling fallback = defaultTiling(g, out, vw);
    auto add = [&](ScheduleChoice c) {
        ConvTiling t = tilingFor(g, out, vw, c);
        bool sameAsDefault = t.tileX == fallback.tileX && t.tileC == fallback.tileC && t.tileN == fallback.tileN &&
                             t.chunk == fallback.chunk && t.rows == fallback.rows &&
                             t.channelTasks == fallback.channelTasks && !usesPhases(g, c, false);
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
    // Two or four samples x one vector x 4 or 3 channels, where one vector spans a row.
    if (g.ow <= vw)
        for (auto [tn, tc] : {std::pair{2, 4}, {4, 3}})
            for (int chunk : chunks)
                if (tc <= out.channels()) add(ScheduleChoice{{{"tile_x", 1}, {"tile_c", tc}, {"tile_n", tn}, {"chunk", chunk}}});
    bool pooled = out.height() != g.oh || out.width() != g.ow;
    // On small maps, tasks of a channel block with every row and sample
    // inside (4 or 8 register tiles of channels), so that each weight is read
    // from memory once per call. Blocks divide the channels (a partial last
    // block would leave its register tiles a variable extent).
    if (!pooled && g.ow <= 2 * vw)
        for (int tiles : {4, 8})
            for (ScheduleChoice c : {ScheduleChoice{}, ScheduleChoice{{{"tile_x", 1}, {"tile_c", 8}, {"chunk", 8}}},
                                     ScheduleChoice{{{"tile_x", 1}, {"tile_c", 8}, {"chunk", 32}}}}) {
                ConvTiling t = tilingFor(g, out, vw, c);
                int block = tiles * std::max(t.tileC, t.tileN > 1 ? 8 : t.tileC);
                if ((t.tileX - 1) * vw >= g.ow || block >= out.channels() || out.channels() % block != 0) continue;
                c.knobs["ctasks"] = block;
                add(c);
            }
    // Without a pool, tasks of several conv rows: a row of a small layer is a
    // few microseconds of work, comparable to the thread pool's cost of
    // handing it out (ResNet's stride-2 28x28 layer: 4 rows per task 1.10x
    // faster at batch 8 and 1.06x at batch 1; GoogLeNet's network as a whole
    // 1.02-1.04x slower with 4-row tasks everywhere, so the tuner decides).
    if (!pooled)
        for (int rows : {2, 4})
            for (int ph : phases)
                for (auto [tx, tc] : {std::pair{2, 6}, {1, 8}})
                    if (rows < out.height() && tc <= out.channels() && (tx - 1) * vw < g.ow) {
                        ScheduleChoice c{{{"rows", rows}, {"tile_x", tx}, {"tile_c", tc}, {"chunk", 8}}};
                        if (ph) c.knobs["phases"] = 1;
                        add(c);
                    }
    if (pooled)
        for (int rows : {1, 2, 4, int(out.height())}) {
            if (rows > out.height()) continue;
            for (int ph : phases) {
                ScheduleChoice c{{{"rows", rows}}};
                if (ph) c.knobs["phases"] = 1;
                add(c);
            }
            for (auto [tx, tc] : {std::pair{2, 6}, {2, 4}, {1, 8}, {3, 4}})
                if (rows > 1 && tc <= out.channels() && (tx - 1) * vw < g.ow)
                    add(ScheduleChoice{{{"rows", rows}, {"tile_x", tx}, {"tile_c", tc}}});
        }
    if (g.groups == 1 && g.filters >= 16)
        for (int rows : {2, 4, 8})
            if (rows <= out.height()) space.push_back(ScheduleChoice{{{"filter_vectors", 1}, {"rows", rows}}});
    // Blocks of 16 or 32 filters x flattened positions: with AVX2, tiles of
    // 2 filter vectors x at most 6 positions (a block of 32 in two such
    // tiles); with AVX-512, 1 vector x 4 to 12 or 2 x 6 to 12 (7: a 7x7 map
    // in whole tiles).
    for (auto [fblock, ptiles] : {std::pair{2, std::vector<int>{4, 5, 6, 8, 10, 12}}, {4, std::vector<int>{6, 7, 8, 12}}})
        if (blockedApplies(g, out, fblock))
            for (int p : ptiles) space.push_back(ScheduleChoice{{{"fblock", fblock}, {"ptile", p}}});
    if (pointwise(g))
        for (int fblock : {2, 4})
            for (int pvec : {2, 3})
                if (blockedApplies(g, out, fblock)) space.push_back(ScheduleChoice{{{"fblock", fblock}, {"pvec", pvec}}});
    // Winograd on the conv's own output or a pool of its tiles; the
    // filter-vector GEMMs, which compute the map per channel block first,
    // also into a global pool.
    const bool ownOrTiles = winogradApplies(g, out);
    if (ownOrTiles || winogradGlobalPooled(g, out)) {
        // F(2x2, 3x3) and F(4x4, 3x3). With m = 2 the knob is left out, the
        // default, so every earlier name stays.
        for (int m : {2, 4}) {
            auto wino = [&](std::map<std::string, int> knobs) {
                knobs["winograd"] = 1;
                if (m != 2) knobs["wino_m"] = m;
                space.push_back(ScheduleChoice{knobs});
            };
            // The default register tile and both explicit ones (one of them is
            // the default: 2 timings spent, but every name stays a candidate).
            // F(4x4)'s tiles are not pooled in the inverse transform: pooled,
            // only the filter-vector GEMMs (the conv's map first) take it.
            if (ownOrTiles && (m == 2 || !winogradTilePooled(g, out))) {
                for (int par : {0, 1}) {
                    wino({{"wino_par", par}});
                    for (auto [tx, tc] : {std::pair{1, 8}, {2, 6}})
                        wino({{"wino_par", par}, {"tile_x", tx}, {"tile_c", tc}});
                }
                wino({{"wino_par", 0}, {"rows", 2}});
            }
            for (auto [fv, tx] : {std::pair{2, 4}, {1, 8}, {3, 4}, {2, 6}})
                if (winogradFilterGemmApplies(g, out, fv, vw)) wino({{"wino_filters", fv}, {"tile_x", tx}});
        }
    }
    return space;
}

// Untuned, convs with 16 input channels or more are vectorized over output
// channels (ConvBlocked.cpp) where that applies: blocks of 32 filters (2 x
// 16-lane vectors x 8 positions) at 16 lanes, of 16 (2 x 8 lanes x 6) at 8.
// Vectors along x waste lanes wherever the map's width is not a multiple of
// them (17, 35, 7...), and broadcast each weight to one FMA per row. On an
// AMD EPYC Zen 5 at batch 8 (bench/layers.py), 16 lanes: 1.2-2.2x the x-vectorized
// default on ResNet-18's, GoogLeNet's and Inception-v3's layers from 7x7 to
// 112x112 maps; 8 lanes: 1.0-1.5x. Equal on a 147x147 map; 0.8-1.0x with 3
// input channels (VGG's first layer), which stay x-vectorized.
// Pointwise convs on maps of 28x28 or more take positions in vectors (3 x
// 16 positions x 8 filters): on the same CPU at batch 8, 56x56x64 -> 64
// 1.93 -> 1.28 ms, 35x35x288 -> 64 2.30 -> 1.92, 28x28x256 -> 128 1.85 ->
// 1.66; on 17x17 and 14x14 maps the last, partial tile loses (0.85-1.0x).
//
// With fewer input channels (an RGB image's), at 16 lanes: filters in vectors
// too, as blocks of 32 where the conv writes its own map, and as 2 filter
// vectors x 7 positions per tap broadcast (`filter_vectors`, 4 pooled rows a
// task) where a pool is fused. Same CPU, `cnnc tune` on the layer alone, us
// per sample at batches 1 and 8 summed, x-vectorized default -> this: VGG's
// 224x224x3 3x3 5682 -> 2546, Inception-v3's 299x299x3 3x3/2 2140 -> 760,
// ResNet's 7x7/2 + pool 2554 -> 1742, AlexNet's 11x11/4 + pool 1425 -> 1128.
// At 8 lanes the x-vectorized default stays: it won two of the four layers.
//
// At 8 lanes, 3x3 stride-1 convs with 64 input channels or more take Winograd:
// on maps 13 to 27 wide its GEMMs vectorized over filters, 2 vectors x 6 tiles,
// F(2x2); 28 to 56 wide and whole 4x4 tiles, 2 x 4, F(4x4); wider, F(2x2)
// x-vectorized, with a fused pool where the map is even. `cnnc tune` on an AMD
// EPYC Zen 3 (AVX2, no AVX-512; 2026-12-08) chose Winograd for every such layer
// of AlexNet, ResNet-18, GoogLeNet and VGG-16 at batch 1 or 8 (filter-vector
// GEMMs at batch 1 for all up to 56 wide), 1.1-2.9x faster than the default
// before, blocked or (56 and wider, unpooled) F(2x2) x-vectorized (us per
// sample at batches 1 and 8 summed: VGG-16's 28x28 layers 2.4-2.9x, its 224x224
// and 112x112 convs with their pools 2.2-2.5x, GoogLeNet's 14x14 1.7-2.3x,
// AlexNet's 13x13 1.3-2.2x, ResNet-18's 14x14 2.0-2.4x). Inception-v3's 35x35
// 3x3 convs (F(4x4) with a partial last tile) won 1.7-2.0x at batch 1 but lost
// at batch 8, and as a default made the network 1.02x / 1.08x slower at batch 1
// / 8: they stay blocked; with its 8x8 layers too (448 -> 384) it took 1.18x
// the time at batch 1, where the tuner had kept them blocked (ResNet-18's and
// GoogLeNet's 7x7 layers: Winograd for 3 of 5 at batch 1, 1.3-1.5x). At 16
// lanes on a Zen 5 the blocked conv won the same layers.
//
// 3x3 stride-1 convs that write their own map, 56 or more wide, with 64
// channels or more in and out, take Winograd F(2x2, 3x3), x-vectorized: one
// layer at a time on the same CPU, batch 1 / 8, against the blocked conv:
// 56x56x64 0.81 / 0.84, VGG's 112x112x64 -> 128 0.82 / 0.81. It lost on
// 35x35 and 28x28 maps (1.22-1.38), with 32 channels on 147x147 (1.22-1.3:
// the transforms outweigh the GEMMs), and with a fused pool (Inception-v3's
// 71x71 conv and 3x3/2 pool took twice the blocked conv's time).
//
// The blocked convs' position tile rounds the map's last tile up: `preferred`
// positions, or the alternative that rounds up least where that computes 2%
// fewer positions. ResNet's 7x7 maps are 7 tiles of 7, not 7 of 8 with 7
// positions computed for nothing: a 3x3 512-channel layer then took 0.80x the
// time at batch 1 and 0.75x at batch 8 (same CPU); 14x14 (2% fewer) 0.99x;
// on 17x17, where 7 saves 0.7%, 8 stays (7 took 1.02-1.03x).
int positionTile(int64_t positions, int preferred, std::initializer_list<int> alternatives) {
    auto rounded = [&](int p) { return (positions + p - 1) / p * p; };
    int best = preferred;
    for (int p : alternatives)
        if (rounded(p) < rounded(best)) best = p;
    return rounded(best) * 50 <= rounded(preferred) * 49 ? best : preferred;
}

ScheduleChoice defaultSchedule(const OpCall &call, const TensorType &out, int vectorWidth) {
    ConvGeometry g = convGeometry(call);
    const int64_t positions = g.oh * g.ow;
    // 2 filter vectors x 8 positions at 16 lanes (1 x 12 where the block is
    // one vector), 2 x 6 at 8 lanes.
    auto blocked = [&](int fblock) {
        int tile = vectorWidth < 16    ? positionTile(positions, 6, {5, 4})
                   : fblock * 8 >= 32 ? positionTile(positions, 8, {7, 6})
                                      : positionTile(positions, 12, {10, 9, 8});
        return ScheduleChoice{{{"fblock", fblock}, {"ptile", tile}}};
    };
    const bool pooled = out.height() != g.oh || out.width() != g.ow;
    if (vectorWidth < 16 && g.cin >= 64) {
        // F(4x4)'s tiles must cover the map exactly (35x35: blocked); on
        // maps under 13 wide the transformed filters (16/9 of the weights)
        // make batch 1 memory-bound.
        const bool fits = (g.ow >= 13 && g.ow < 28) || (g.ow <= 56 && g.ow % 4 == 0 && g.oh % 4 == 0 && g.ow >= 28);
        if (fits && winogradFilterGemmApplies(g, out, 2, vectorWidth)) {
            ScheduleChoice c{{{"winograd", 1}, {"wino_filters", 2}, {"tile_x", g.ow >= 28 ? 4 : 6}}};
            if (g.ow >= 28) c.knobs["wino_m"] = 4;
            return c;
        }
        // Pooled, the map must be whole 2x2 tiles, which a 2x2 pool reads
        // (Inception-v3's 71x71 conv with its 3x3/2 pool: 1.5x slower).
        const bool evenMap = g.ow % 2 == 0 && g.oh % 2 == 0;
        if (g.ow >= 56 && g.filters >= 64 && (!pooled || evenMap) && winogradApplies(g, out))
            return ScheduleChoice{{{"winograd", 1}, {"wino_par", 0}}};
    }
    if (!pooled && g.ow >= 56 && g.cin >= 64 && g.filters >= 64 && winogradApplies(g, out))
        return ScheduleChoice{{{"winograd", 1}, {"wino_par", 0}}};
    if (g.cin / g.groups < 16) {
        if (vectorWidth < 16 || g.groups != 1 || g.filters % 32 != 0) return {};
        if (!pooled) return blockedApplies(g, out, 4) ? blocked(4) : ScheduleChoice{};
        if (out.height() >= 4) return ScheduleChoice{{{"filter_vectors", 1}, {"rows", 4}}};
        return {};
    }
    if (pointwise(g) && g.oh * g.ow >= 28 * 28)
        for (int fblock : {4, 2})
            if (blockedApplies(g, out, fblock)) return ScheduleChoice{{{"fblock", fblock}, {"pvec", 3}}};
    if (vectorWidth >= 16 && blockedApplies(g, out, 4)) return blocked(4);
    if (blockedApplies(g, out, 2)) return blocked(2);
    return {};
}

// Tasks of a few output rows (with a fused pool: pooled rows) per sample; in
// each, the conv rows they need for every filter, in register tiles of 2
// filter vectors x 7 positions (14 accumulators) over the whole reduction.
// The output is vectorized over filters too, so that it reads the tile
// contiguously; a fused pool instead runs across channels at the task
// (poolAcrossChannels) and the output, along x, reads its result.
void scheduleFilterVectors(ScheduleCtx &s, const ConvGeometry &g) {
    Func acc = s.op.stages.at("acc_filter_inner");
    Func padded = s.op.stages.at("padded");
    const TensorType &t = s.outputType;
    Var x = s.x, y = s.y, c = s.c, n = s.n, yo("yo"), yi("yi"), co("co"), ci("ci"), task("task");
    const int vw = s.vectorWidth;
    // 4 output rows (with a 3x3 stride-2 pool, 9 conv rows per 8 needed).
    int rows = std::max(1, std::min(s.op.choice.get("rows", 4), int(t.height())));
    const bool pooledOut = s.last.defined() && (t.height() != g.oh || t.width() != g.ow);
    s.output.split(y, yo, yi, rows, TailStrategy::GuardWithIf).split(c, co, ci, vw, TailStrategy::GuardWithIf);
    if (pooledOut) {
        s.output.reorder(x, ci, co, yi, yo, n);
        if (int lanes = fittingLanes(t.width(), vw)) s.output.vectorize(x, lanes, TailStrategy::GuardWithIf);
    } else {
        s.output.reorder(ci, x, co, yi, yo, n).vectorize(ci);
    }
    s.output.fuse(yo, n, task).parallel(task);
    if (pooledOut) poolAcrossChannels(s.last, s.output, task, vw);
    s.op.stages.at("weights_filter_inner").compute_root();
    padded.compute_root();
    parallelOverRows(padded, s.op.y, s.op.c, g.w + 2 * g.pad.w);
    if (int lanes = fittingLanes(g.w + 2 * g.pad.w, vw)) padded.vectorize(s.op.x, lanes);

    acc.compute_at(s.output, task).vectorize(s.op.c, vw, TailStrategy::RoundUp);
    Var cb("cb"), cv("cv"), xo("xo"), xi("xi");
    int xTile = 7;
    while (xTile > 4 && g.ow % xTile != 0) --xTile;
    std::vector<RVar> r = acc.rvars(0);
    auto update = acc.update();
    update.split(s.op.c, cb, cv, 2 * vw, TailStrategy::RoundUp)
        .split(s.op.x, xo, xi, xTile, TailStrategy::RoundUp)
        .reorder({cv, xi, r[0], r[1], r[2], xo, cb, s.op.y, s.op.n})
        .vectorize(cv, vw)
        .unroll(cv)
        .unroll(xi);
    if (g.size.w <= 11) update.unroll(r[0]);
}

} // namespace

void poolAcrossChannels(Func pool, Func output, Var level, int lanes) {
    std::vector<Var> v = pool.args(); // x, y, c, n
    pool.compute_at(output, level)
        .reorder_storage(v[2], v[0], v[1], v[3])
        .reorder(v[2], v[0], v[1], v[3])
        .vectorize(v[2], lanes, TailStrategy::GuardWithIf);
}

namespace {

std::vector<PreparedParam> preparedParams(const OpCall &call, const TensorType &kernelOutput,
                                          const ScheduleChoice &choice) {
    ConvGeometry g = convGeometry(call);
    if (blockedChosen(g, kernelOutput, choice, false)) return {PreparedParam{0, blockedFilterDecl(g, choice)}};
    if (!winogradChosen(g, kernelOutput, choice, false)) return {};
    return {PreparedParam{0, winogradFilterDecl(g, choice)}};
}

void schedule(ScheduleCtx &s) {
    if (s.op.stages.count("wino_m")) return scheduleWinograd(s, convGeometry(OpCall{s.op.inputTypes, s.op.attrs()}));
    if (s.op.stages.count("acc_blocked")) return scheduleBlocked(s, convGeometry(OpCall{s.op.inputTypes, s.op.attrs()}));
    if (s.op.stages.count("acc_filter_inner")) {
        ConvGeometry g = convGeometry(OpCall{s.op.inputTypes, s.op.attrs()});
        return scheduleFilterVectors(s, g);
    }
    Func acc = s.op.stages.at("acc");
    Func padded = s.op.stages.at("padded");
    ConvGeometry g = convGeometry(OpCall{s.op.inputTypes, s.op.attrs()});
    const TensorType &t = s.outputType;
    Var x = s.x, y = s.y, c = s.c, n = s.n;
    const int vw = s.vectorWidth;
    ConvTiling tiling = tilingFor(g, t, vw, s.op.choice);
    // Training (not tuned): strided convs take 4 rows per task, as the tuner
    // picks at inference (a row of ResNet's layer2.0.conv1 is 28 outputs x 6
    // channels of work). Its one-layer step against the blocked conv's: 0.68-
    // 0.72 with 4 rows, 0.72-0.82 with one; ResNet's conv1 did not change.
    if (s.op.training && g.stride.h > 1 && tiling.rows == 1) tiling.rows = 4;
    int NX = tiling.tileX, TC = int(std::min<int64_t>(tiling.tileC, t.channels()));
    int outRows = std::max(1, std::min(tiling.rows, int(t.height())));

    Var yo("yo"), yi("yi"), co("co"), ci("ci"), tile("tile"), ni("ni");
    int ow = int(t.width());
    // Tiles of several samples at batches they divide, else one: a
    // specialization, so the loops keep their names (n: the samples, or the
    // groups of them, outermost) and the stages below compute at them in both.
    Expr batch = s.output.output_buffer().dim(3).extent();
    int NN = tiling.tileN;
    // Odd batches (batch 1) take the one-sample tile of a narrow map: 1 x 8.
    int TC1 = NN > 1 ? int(std::min<int64_t>(8, t.channels())) : TC;
    // Tasks of a block of channels with every row and sample inside: the
    // block's weights are read from memory once per call and stay in L2
    // while the samples stream past. Row tasks instead sweep every weight once
    // per row (per sample at batch 1): 66 MB a call through the shared L3 on
    // a 7x7x512 layer, for 9.4 MB of weights.
    int CB = tiling.channelTasks;
    Var cb("cb");
    auto tileOutput = [&](Stage out, int samples) {
        if (CB > 0) out.split(c, cb, c, CB, TailStrategy::GuardWithIf);
        out.split(y, yo, yi, outRows).split(c, co, ci, samples > 1 ? TC : TC1);
        if (int lanes = fittingLanes(ow, vw)) out.vectorize(x, lanes);
        if (samples > 1) out.split(n, n, ni, samples).reorder(x, yi, ci, ni, yo, co, n);
        else out.reorder(x, yi, ci, yo, co, n);
        out.fuse(yo, co, tile);
        if (CB > 0) out.reorder(tile, n, cb).parallel(cb);
        else out.parallel(tile);
    };
    if (NN > 1) tileOutput(s.output.specialize(batch % NN == 0), NN);
    tileOutput(s.output, 1);

    // The staged input: once per sample (or group), parallel over channels x rows.
    int stagedWidth = int(usesPhases(g, s.op.choice, s.op.training) ? (g.w + 2 * g.pad.w) / g.stride.w : g.w + 2 * g.pad.w);
    if (CB > 0) padded.compute_root();
    else padded.compute_at(s.output, n);
    if (int lanes = fittingLanes(stagedWidth, vw)) padded.vectorize(s.op.x, lanes);
    parallelOverRows(padded, s.op.y, s.op.c, g.w + 2 * g.pad.w);

    acc.compute_at(s.output, tile);
    Var xo("xo"), xi("xi");
    acc.vectorize(s.op.x, vw, TailStrategy::RoundUp);
    std::vector<RVar> r = acc.rvars(0);
    int cinPerGroup = int(g.cin / g.groups);
    const int chunk = tiling.chunk;
    // The register tile: vectors of x x channels (x samples) innermost, then
    // the taps, then the input channels (in chunks).
    auto tileUpdate = [&](Stage update, int samples) {
        update.split(s.op.x, xo, xi, vw * NX, TailStrategy::RoundUp);
        std::vector<VarOrRVar> order{xi, s.op.c};
        if (samples > 1) order.push_back(s.op.n);
        if (chunk > 0 && cinPerGroup > chunk) {
            RVar rzo("rzo"), rzi("rzi");
            update.split(r[2], rzo, rzi, chunk, TailStrategy::GuardWithIf);
            for (VarOrRVar v : {VarOrRVar(r[0]), VarOrRVar(r[1]), VarOrRVar(rzi), VarOrRVar(xo), VarOrRVar(rzo)})
                order.push_back(v);
        } else {
            for (VarOrRVar v : {VarOrRVar(r[0]), VarOrRVar(r[1]), VarOrRVar(r[2]), VarOrRVar(xo)}) order.push_back(v);
        }
        order.push_back(s.op.y);
        if (samples == 1) order.push_back(s.op.n);
        update.reorder(order).vectorize(xi, vw).unroll(xi).unroll(s.op.c);
        if (samples > 1) update.unroll(s.op.n);
        int taps = int(g.size.w * g.size.h);
        if (taps <= 25) update.unroll(r[0]).unroll(r[1]);
        else if (g.size.w <= 11) update.unroll(r[0]);
    };
    if (NN > 1) tileUpdate(acc.update().specialize(batch % NN == 0), NN);
    tileUpdate(acc.update(), 1);
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
    d.traits.slidingWindow = true;
    d.inferType = inferType;
    d.params = params;
    d.flops = flops;
    d.lower = lower;
    d.schedule = schedule;
    d.scheduleSpace = scheduleSpace;
    d.defaultSchedule = defaultSchedule;
    d.preparedParams = preparedParams;
    d.backward = convBackward;
    // AVX-512's 16 lanes pay in the training forward too on maps of 14 and
    // more (ResNet-18 at batch 8 on an Intel Xeon: 56x56 layers 7.5 -> 5.4 ms
    // per call, 14x14 7.1 -> 5.1), and in the filter-vectorized blocked convs
    // on 7x7 maps (10.4 -> 7.1), not in x-vectorized ones there (16 lanes for
    // 7 columns). Filters in multiples of 32: the register tiles of 2 filter
    // vectors (the filter-vector GEMMs, the blocked convs) are then whole.
    d.wideTrainingForward = [](const OpCall &call, const TensorType &out) {
        if (out.channels() % 32 != 0) return false;
        return out.width() >= 14 || blockedChosen(convGeometry(call), out, ScheduleChoice{}, true, 16);
    };
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
