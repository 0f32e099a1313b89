// conv's adjoint: weight, bias and input gradients, with specialised input
// gradients (Winograd, per phase for strides, channel-vectorized on small maps).
#include <algorithm>
#include <functional>

#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/Conv.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

// Calls addPhase(p, q, taps) for each stride phase (p, q) of the input that
// some tap reaches, `taps` an RDom over exactly that phase's taps (x, y) and
// the filters (z): kx = p + stride * taps.x. Phases no tap reaches (a 1x1
// stride-2 conv's three of four) are skipped: their gradient stays zero.
// With one tap count for all phases (the largest), the missing taps
// multiplied zero filters: a 3x3 stride-2 conv computed 16 taps for 9 (ResNet's
// layer3.0.conv1 at batch 8: the input gradient took 15.5 ms, now 9.1).
void forEachPhase(LowerCtx &ctx, const ConvGeometry &g, const std::function<void(int, int, RDom)> &addPhase) {
    int sx = int(g.stride.w), sy = int(g.stride.h);
    for (int q = 0; q < sy; ++q)
        for (int p = 0; p < sx; ++p) {
            int tapsX = int(g.size.w - p + sx - 1) / sx, tapsY = int(g.size.h - q + sy - 1) / sy;
            if (tapsX > 0 && tapsY > 0)
                addPhase(p, q, RDom(0, tapsX, 0, tapsY, 0, int(g.filters), ctx.fname("r_phase_taps")));
        }
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
    Func phased(ctx.fname("d_input_phases"));
    phased(xq, p, yq, q, c, n) = 0.0f;
    int lanes = tileFactor(ctx.inputTypes[0].width() / sx + 1, ctx.vectorWidth);
    int cTile = g.cin >= 4 ? 4 : 1;
    Var xo("xo"), xi("xi"), cb("cb"), cq("cq"), task("task");
    phased.compute_root().vectorize(xq, lanes, TailStrategy::RoundUp).parallel(n);
    int xqExtent = int(ctx.inputTypes[0].width() + 2 * g.pad.w + sx - 1) / sx;
    int update = 0;
    forEachPhase(ctx, g, [&](int pp, int pq, RDom t) {
        phased(xq, pp, yq, pq, c, n) += wpad(pp + sx * t.x, pq + sy * t.y, c, t.z) * dyp(xq - t.x, yq - t.y, t.z, n);
        phased.update(update++)
            .split(xq, xo, xi, lanes * (xqExtent > lanes ? 2 : 1), TailStrategy::RoundUp)
            .split(c, cb, cq, cTile, TailStrategy::GuardWithIf)
            .reorder({xi, cq, t.x, t.y, t.z, xo, yq, cb, n})
            .vectorize(xi, lanes)
            .unroll(xi)
            .unroll(cq)
            .unroll(t.x)
            .unroll(t.y)
            .fuse(cb, n, task)
            .parallel(task);
    });
    Func dx(ctx.fname("d_input"));
    Expr X = x + px, Y = y + py;
    dx(x, y, c, n) = phased(X / sx, X % sx, Y / sy, Y % sy, c, n);
    dx.compute_root().parallel(n).vectorize(x, tileFactor(ctx.inputTypes[0].width(), ctx.vectorWidth), TailStrategy::RoundUp);
    return dx;
}

// d input of an ungrouped conv on a small map (ResNet's 14x14 and 7x7, many
// channels): vectors along x would be half empty, so vectorize over input
// channels instead, in blocks of 16 to 32, per phase as above for strided convs.
//  - The filters are copied once per call to filtersB(cv, kx, ky, co, block),
//    zero past the kernel (taps that cannot reach a phase), so that a task's
//    slice of them is contiguous.
//  - The register tile is 2 to 4 channel vectors x up to 7 positions (at most
//    14 accumulators), with the phase's taps unrolled (rolled, the 3x3 loops
//    cost a third of the time).
//  - The result is stored the same blocked way and the gradient output reads
//    it back (one gather per element, against ~2 x 9 x filters FLOPs).
Func smallMapInputGradient(LowerCtx &ctx, const ConvGeometry &g, Func dyp) {
    int W = int(g.w);
    // Strided convs on larger maps too (phases without taps cost nothing).
    bool strided = g.stride.w > 1 || g.stride.h > 1;
    bool undilated = g.dilation.w == 1 && g.dilation.h == 1;
    // Unstrided, maps whose rows fill x vectors to less than 3/4 (17 of 32
    // lanes on Inception's 17x17 maps at 16 lanes) take it too.
    const int vw = ctx.vectorWidth;
    const bool rowsFillVectors = W * 4 >= (W + vw - 1) / vw * vw * 3;
    if ((strided ? W >= 64 : W >= 16 && rowsFillVectors) || !undilated || g.groups != 1 || g.cin < 16) return Func();
    int sx = int(g.stride.w), sy = int(g.stride.h), K = int(g.size.w), KY = int(g.size.h);
    int px = int(g.pad.w), py = int(g.pad.h);
    // The register tile's positions are spread a phase's tap count apart
    // (xq = xb + S * xi): then no two (position, tap) pairs of a tile read the
    // same dy value. Adjacent positions share dy values across taps; LLVM then
    // keeps each loaded value for all its uses and, short of registers,
    // spilled 79 of them per reduction step (measured 1.5x slower).
    int S = (K + sx - 1) / sx;
    // In padded coordinates X = x + pad = stride * xq + p: the xq a phase covers.
    int xqMin = px / sx, xqExtent = (W - 1 + px) / sx - xqMin + 1;
    int spread = (xqExtent + S - 1) / S;          // positions per residue class
    int pieces = (spread + 5) / 6;                // tiles of at most 6 positions
    int xTile = (spread + pieces - 1) / pieces;
    // Channel vectors per tile: the tile's accumulators, its filter vectors
    // and a broadcast dy value in the vector registers (16 on AVX2), so 2 to
    // 4 vectors x 6 to 2 positions. (On AVX2, 7 positions x 2 vectors, and
    // 3 x 4, spilled two accumulators, and LLVM rotated the other twelve
    // through registers every step: 14 FMAs took ~45 instructions in the 1x1
    // downsamples' gradient.)
    int vectors = std::clamp(std::min<int>((ctx.vectorRegisters - 1) / (xTile + 1), int(g.cin + vw - 1) / vw), 2, 4);
    const int B = vw * vectors;
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, kx("kx"), ky("ky"), co("co"), cv("cv"), block("block");
    Var xq("xq"), yq("yq"), p("p"), q("q");
    Func filtersB(ctx.fname("d_input_filter_blocks"));
    Expr inside = kx < K && ky < KY;
    filtersB(cv, kx, ky, co, block) =
        select(inside, ctx.params[0](min(kx, K - 1), min(ky, KY - 1), min(block * B + cv, int(g.cin) - 1), co), 0.0f);
    filtersB.compute_root().vectorize(cv, vw).parallel(block);
    Func dxB(ctx.fname("d_input_channel_blocks"));
    dxB(cv, xq, p, yq, q, n, block) = 0.0f;
    Var xs("xs"), xb("xb"), xo("xo"), xi("xi"), task("task");
    // bound() rounds the region up to whole tiles; the extra positions read
    // dy's zero border.
    // Zeroed in parallel: a serial loop here took 2-4 ms of ResNet's stride-2
    // convs' backward at batch 8, more than their 1x1 downsamples' GEMMs.
    dxB.compute_root().bound(xq, xqMin, S * xTile * pieces).vectorize(cv, vw).fuse(n, block, task).parallel(task);
    int update = 0;
    // On maps of 28 and more, the filters (dy's channels) in chunks of 16,
    // each swept over every position before the next: a task's slice of the
    // filters for all of them (73-147 KB on ResNet's stride-2 convs) no longer
    // fits L1 and streamed from L2 for every tile of positions. The stride-2
    // convs of layer2.0 and layer3.0, backward at batch 8: 13.9 -> 11.8 and
    // 14.4 -> 12.6 ms (fastest calls); on 14x14 maps chunks cost more than they
    // save (13.1 -> 14.0 ms).
    const int chunk = 16;
    bool chunked = W >= 28 && g.filters % chunk == 0 && g.filters > chunk;
    forEachPhase(ctx, g, [&](int pp, int pq, RDom t) {
        dxB(cv, xq, pp, yq, pq, n, block) +=
            filtersB(cv, pp + sx * t.x, pq + sy * t.y, t.z, block) * dyp(xq - t.x, yq - t.y, t.z, n);
        RVar zo("zo"), zi("zi");
        if (chunked) dxB.update(update).split(t.z, zo, zi, chunk);
        std::vector<VarOrRVar> order = chunked ? std::vector<VarOrRVar>{cv, xi, t.x, t.y, zi, xb, xo, yq, zo, n, block}
                                               : std::vector<VarOrRVar>{cv, xi, t.x, t.y, t.z, xb, xo, yq, n, block};
        dxB.update(update++)
            .split(xq, xs, xb, S)
            .split(xs, xo, xi, xTile)
            .reorder(order)
            .vectorize(cv, vw)
            .unroll(cv)
            .unroll(xi)
            .unroll(t.x)
            .unroll(t.y)
            .fuse(n, block, task)
            .parallel(task);
    });
    Func dx(ctx.fname("d_input"));
    Expr X = x + px, Y = y + py;
    dx(x, y, c, n) = dxB(c % B, X / sx, X % sx, Y / sy, Y % sy, n, c / B);
    return dx;
}

// d input of a 3x3 stride-1 conv is a 3x3 conv of dy with the filters flipped
// and input/output channels swapped (padding 2 - pad): computed with Winograd
// F(m x m, 3x3) like the forward (trainingTile), plus `previous` (the
// gradient so far, where defined), into the kernel's output: a copy of the
// result took another pass over the input's gradient (0.6 ms per call on
// ResNet's 56x56 layers at batch 8). Undefined where that does not apply.
Func winogradInputGradient(LowerCtx &ctx, const ConvGeometry &g, Func dyp, Func previous) {
    ConvGeometry t = g;
    t.cin = g.filters, t.filters = g.cin, t.h = g.oh, t.w = g.ow, t.oh = g.h, t.ow = g.w, t.bias = false;
    t.pad = Pair{2 - g.pad.h, 2 - g.pad.w};
    TensorType dyType = mapType(g.filters, g.oh, g.ow), dxType = mapType(g.cin, g.h, g.w);
    // On maps of 28 and less (ResNet's 28x28, 14x14 and 7x7) the filter-vector
    // GEMMs where the input channels (dx's filters) fill whole register tiles:
    // on 14x14 and 7x7 the short tile rows cost more than Winograd saves, and
    // on 28x28 F(4x4) is faster (trainingTile).
    bool large = g.h > 28 && g.w > 28;
    const int vw = ctx.vectorWidth;
    bool filterGemm = !large && winogradFilterGemmApplies(t, dxType, 2, vw);
    if ((!large && !filterGemm) || g.pad.h > 2 || g.pad.w > 2 || !winogradApplies(g, ctx.outType()) ||
        !winogradApplies(t, dxType))
        return Func();
    Var kx("kx"), ky("ky"), ci("ci"), co("co");
    Func flipped(ctx.fname("d_input_filters"));
    flipped(kx, ky, co, ci) = ctx.params[0](2 - kx, 2 - ky, ci, co);
    WinogradInputs in{dyp, dyType, flipped, Func(), filterGemm, Expr(), t, ctx.fname("d_input_"), ctx.x, ctx.y, ctx.c, ctx.n,
                      trainingTile(t)};
    WinogradStages stages;
    Func conv = winogradConv(in, stages);
    Func dx(ctx.fname("d_input"));
    Expr value = conv(ctx.x, ctx.y, ctx.c, ctx.n);
    dx(ctx.x, ctx.y, ctx.c, ctx.n) = previous.defined() ? previous(ctx.x, ctx.y, ctx.c, ctx.n) + value : value;
    TailStrategy tail = previous.defined() ? TailStrategy::GuardWithIf : TailStrategy::Auto;
    if (filterGemm) scheduleWinogradFilterGemm(stages, conv, dx, ctx.x, ctx.y, ctx.c, ctx.n, t, vw, tail);
    else scheduleWinogradStages(stages, dx, ctx.x, ctx.y, ctx.c, ctx.n, t, ScheduleChoice{}, vw, false, tail);
    return dx;
}


// d weight(kx, ky, ci, co) = sum over n, y, x of dy(x, y, co, n) * the input at
// the tap: a GEMM of dy (filters x positions) with the input's taps, vectorized
// over output channels.
//  - dy is first copied to blocks of 16 (8, 4) channels, channel-innermost, so
//    a task's slice of dy is contiguous: dyB(coi, x, y, n, block).
//  - Each task owns one channel block (and a slice of the input channels), and
//    accumulates in a small channel-inner buffer that it then writes out in
//    the weight's own layout (no strided transpose of the whole gradient).
//  - The register tile is (1 or 2 vectors of channels) x kx x (1 to 4 input
//    channels), up to 14 accumulators: each dy vector loaded feeds several
//    taps and each input value broadcast feeds both channel vectors.
//  - The positions are swept in chunks of rows small enough that the chunk's
//    input and dy stay in L2 while every (ky, input channel) pass reads them
//    (ResNet's conv1 otherwise streamed its 26 MB of dy 21 times per step).
Func weightGradient(LowerCtx &ctx, const ConvGeometry &g, BackwardCtx &b, Func in) {
    Var x = ctx.x, y = ctx.y, n = ctx.n, kx("kx"), ky("ky"), ci("ci"), co("co"), coi("coi"), block("block");
    int cinPerGroup = int(g.cin / g.groups), coutPerGroup = int(g.filters / g.groups), F = int(g.filters);
    int sx = int(g.stride.w), sy = int(g.stride.h), dlx = int(g.dilation.w), dly = int(g.dilation.h);
    int px = int(g.pad.w), py = int(g.pad.h), OW = int(g.ow), OH = int(g.oh);
    int coLanes = F >= ctx.vectorWidth ? ctx.vectorWidth : F >= 8 ? 8 : 4;
    int kxTile = int(g.size.w) <= 7 ? int(g.size.w) : 1;
    // Two channel vectors where the tile, its two dy vectors and a broadcast
    // fit the registers; on AVX2's 16, 7-wide kernels take one vector and two
    // input channels instead: 2 x 7 accumulators spilled one, whose reload
    // and store then chained every step (ResNet's conv1 ran at 43% of peak).
    const int registers = ctx.vectorRegisters;
    auto tileFits = [&](int coVectors, int ci) { return coVectors * kxTile * ci + coVectors + 1 <= registers; };
    int coVectors = F >= 16 && tileFits(2, 1) ? 2 : 1;
    int coTile = coVectors * coLanes;
    int ciTile = 4;
    while (ciTile > 1 && (ciTile > cinPerGroup || coVectors * kxTile * ciTile > registers - 2 || !tileFits(coVectors, ciTile)))
        ciTile /= 2;

    Func dyB(ctx.fname("dy_channel_blocks"));
    dyB(coi, x, y, n, block) = b.dy(x, y, min(block * coTile + coi, F - 1), n);
    Var task("task");
    dyB.compute_root().reorder(coi, x, y, n, block).unroll(coi).fuse(n, block, task).parallel(task);

    RDom o(0, OW, 0, OH, 0, b.batch, ctx.fname("r_out"));
    // The last block may run past the filters: they read dy's last channel,
    // and their group must stay in range.
    Expr group = g.groups == 1 ? Expr(0) : min(block * coTile + coi, F - 1) / coutPerGroup;
    Func dwB(ctx.fname("d_weight_channel_blocks"));
    dwB(coi, kx, ky, ci, block) = 0.0f;
    dwB(coi, kx, ky, ci, block) +=
        dyB(coi, o.x, o.y, o.z, block) *
        in(o.x * sx + kx * dlx - px, o.y * sy + ky * dly - py, group * cinPerGroup + ci, o.z);

    Func dw(ctx.fname("d_weight"));
    dw(kx, ky, ci, co) = dwB(co % coTile, kx, ky, ci, co / coTile);
    // Tasks: channel blocks x input-channel slices, at least 8 of them.
    int blocks = (F + coTile - 1) / coTile;
    int slices = std::max(1, std::min(cinPerGroup / ciTile, (8 + blocks - 1) / blocks));
    int ciSlice = (cinPerGroup + slices - 1) / slices;
    ciSlice = (ciSlice + ciTile - 1) / ciTile * ciTile;
    Var cob("cob"), cs("cs"), cii("cii");
    dw.compute_root()
        .split(co, cob, coi, coTile, TailStrategy::GuardWithIf)
        .split(ci, cs, cii, ciSlice, TailStrategy::GuardWithIf)
        .reorder(kx, ky, cii, coi, cs, cob)
        .fuse(cs, cob, task)
        .parallel(task);
    dwB.compute_at(dw, task).vectorize(coi, coLanes);

    // Rows per chunk: about 192 KiB of input (the chunk's rows of every input
    // channel in the slice) and of dy.
    int64_t rowBytes = int64_t(ciSlice) * (g.w + 2 * g.pad.w) * sy * 4 + int64_t(coTile) * OW * 4;
    int rows = int(std::clamp<int64_t>((192 << 10) / std::max<int64_t>(1, rowBytes), 1, OH));
    RVar oyo("oyo"), oyi("oyi");
    Var cio("cio"), cit("cit");
    auto update = dwB.update();
    update.split(ci, cio, cit, ciTile, TailStrategy::GuardWithIf)
        .split(o.y, oyo, oyi, rows, TailStrategy::GuardWithIf)
        .reorder({coi, kx, cit, o.x, oyi, ky, cio, oyo, o.z, block})
        .vectorize(coi, coLanes)
        .unroll(coi)
        .unroll(cit);
    if (kxTile > 1) update.unroll(kx);
    // On small maps, one loop over the chunk's positions: LLVM unrolled a
    // 7-wide row completely, and the unrolled steps' values spilled (12
    // stores and 21 reloads per 84 FMAs in ResNet's 7x7 layers).
    if (rows == OH && OW < 16) update.fuse(o.x, oyi, RVar("oxy"));
    return dw;
}

// d weight of a 3x3 stride-1 conv with Winograd F(2x2, 3x3), transposed: the
// forward computes a tile's outputs Y = A^T [(G g G^T) .* (B^T d B)] A, so the
// gradient of g from that tile is G^T [(B^T d B) .* (A dY A^T)] G, and summed
// over tiles (and samples) the 16 positions of the transformed tile are 16
// GEMMs M = V D of the input patches V with the transformed dy D: 2.25x fewer
// multiplies than the direct sum, over a reduction as long as the tiles.
//  - One sample at a time: its V and D (a few MB) are transformed, then every
//    task (a position x a block of output channels) adds its GEMM into M.
//    Transformed for the whole batch at once, V and D were 29 MB each for
//    ResNet's 56x56 layers, and allocating and faulting them in cost more
//    than the GEMMs. On 14x14x256 (49 tiles a sample, M 4 MB) too, the whole
//    batch, or F(4x4, 3x3) transposed, made the one-layer step 1.2-1.35x
//    slower; on 28x28x128 F(4x4) was no faster (0.89-0.91 of the step,
//    against 0.87-0.91 without it).
//  - The GEMMs are vectorized over output channels (D stored channel-
//    innermost), a register tile of 2 vectors x 6 input channels whose V
//    values are broadcast: 8 loads per 12 FMAs, the tiles the reduction loop.
// Undefined where it does not apply.
Func winogradWeightGradient(LowerCtx &ctx, const ConvGeometry &g, BackwardCtx &b, Func in, Func dyp) {
    const int CO = int(g.filters), lanes = ctx.vectorWidth, FV = 2, TCI = 6;
    bool applies = g.size.w == 3 && g.size.h == 3 && g.stride.w == 1 && g.stride.h == 1 && g.dilation.w == 1 &&
                   g.dilation.h == 1 && g.groups == 1 && g.ow >= 14 && g.oh >= 2 && CO % (FV * lanes) == 0;
    if (!applies) return Func();
    const int m = 2;
    const int tilesX = int(winogradTiles(g.ow, m)), tilesY = int(winogradTiles(g.oh, m));
    Var kx("kx"), ky("ky"), ci("ci"), co("co"), n = ctx.n;

    Func V = winogradInputPatches(in, g, n, ctx.fname("d_weight_wino_v"), m);
    Func D = winogradOutputGradientPatches(dyp, g, n, ctx.fname("d_weight_wino_dy"), m);
    Var vtx = V.args()[0], vty = V.args()[1], xi = V.args()[2], nu = V.args()[3], vci = V.args()[4];
    // D stored in blocks of a task's output channels, (channel in block, tile,
    // position, block): a task's slice of D is then one contiguous panel. With
    // every channel innermost, consecutive tiles were a row of all channels
    // apart (1 KB for 256), so the panel fell into a few L1 sets and was
    // fetched again for every block of input channels (14x14x256 at batch 8:
    // M 19-20 -> 11-14 ms per call, Halide profiler).
    const int coBlock = CO % (2 * FV * lanes) == 0 ? 2 * FV * lanes : FV * lanes;
    Var bi("bi"), bo("bo");
    Func Db(ctx.fname("d_weight_wino_dyb"));
    Db(bi, vtx, vty, xi, nu, bo, n) = D(vtx, vty, xi, nu, bo * coBlock + bi, n);

    Func M(ctx.fname("d_weight_wino_m"));
    RDom r(0, tilesX, 0, tilesY, 0, b.batch, ctx.fname("r_tiles"));
    M(co, ci, xi, nu) = 0.0f;
    M(co, ci, xi, nu) += V(r.x, r.y, xi, nu, ci, r.z) * Db(co % coBlock, r.x, r.y, xi, nu, co / coBlock, r.z);

    Func dw(ctx.fname("d_weight"));
    dw(kx, ky, ci, co) = winogradFilterGradient(kx, ky, [&](int i, int j) { return M(co, ci, i, j); }, m);

    Var task("task"), pos("pos"), cb("cb"), cbi("cbi"), cv("cv"), coo("coo"), cio("cio"), cii("cii");
    M.compute_root().vectorize(co, lanes).parallel(nu);
    M.update()
        .split(co, cb, cbi, coBlock)
        .split(cbi, coo, cv, FV * lanes)
        .split(ci, cio, cii, TCI, TailStrategy::GuardWithIf)
        .reorder({cv, cii, r.x, r.y, coo, cio, xi, nu, cb, r.z})
        .vectorize(cv, lanes)
        .unroll(cv)
        .unroll(cii)
        .fuse(xi, nu, pos)
        .fuse(pos, cb, task)
        .parallel(task);
    // Per sample, inside M's loop over samples.
    V.compute_at(M, r.z).reorder_storage(vtx, vty, vci, xi, nu, n).reorder(xi, nu, vtx, vty, vci, n).unroll(xi).unroll(nu);
    V.vectorize(vtx, tileFactor(tilesX, lanes), TailStrategy::RoundUp).parallel(vci);
    // The t x t values of a tile's channel vector unrolled inside the loop over
    // channel vectors, so they share its gathers of dy: with the channel loop
    // innermost, each of the 16 had its own copy of it and gathered dy again
    // (3.7 ms of the backward kernel on ResNet's 56x56 layers at batch 8).
    Var cvo("cvo"), cvi("cvi");
    Db.compute_at(M, r.z).split(bi, cvo, cvi, lanes);
    Db.reorder(cvi, xi, nu, cvo, vtx, vty, bo, n).vectorize(cvi).unroll(xi).unroll(nu).parallel(vty);
    // A vector of output channels at a time: M is channel-innermost, so each
    // of its t x t reads is then one contiguous vector. One channel at a time,
    // the reads were a page apart and each hit another line (2.0 ms per call
    // on ResNet's 14x14x256 layers at batch 8, M being 4 MB; Halide profiler).
    Var cvec("cvec");
    dw.compute_root().split(co, cvo, cvec, lanes).reorder(kx, ky, cvec, ci, cvo);
    dw.unroll(kx).unroll(ky).vectorize(cvec).parallel(cvo);
    return dw;
}

} // namespace

// The adjoint, written out (Halide 14's autodiff gets the weight gradient of
// this scatter wrong): with dy = d loss / d output,
//   d weight(kx, ky, ci, co) = sum over n, y, x of dy(x, y, co, n) * input at the tap,
//   d bias(co) = sum of dy(., ., co, .),
//   d input(ix, iy, ci, n) = sum over the taps and the group's filters that
//     read (ix, iy), i.e. where ix + pad - kx * dilation is a multiple of stride.
// d input on small maps, or per stride phase, where one applies (each
// computed at root); undefined otherwise.
Func specializedInputGradient(LowerCtx &ctx, const ConvGeometry &g, Func dyp) {
    if (Func small = smallMapInputGradient(ctx, g, dyp); small.defined()) return small;
    bool strided = g.stride.w > 1 || g.stride.h > 1, dilated = g.dilation.w > 1 || g.dilation.h > 1;
    if (strided && !dilated && g.groups == 1) return stridedInputGradient(ctx, g, dyp);
    return Func();
}

void convBackward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    ConvGeometry g = convGeometry(OpCall{ctx.inputTypes, ctx.attrs()});
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, kx("kx"), ky("ky"), ci("ci"), co("co");
    int cinPerGroup = int(g.cin / g.groups), coutPerGroup = int(g.filters / g.groups);
    int sx = int(g.stride.w), sy = int(g.stride.h), dx = int(g.dilation.w), dy = int(g.dilation.h);
    int px = int(g.pad.w), py = int(g.pad.h), OW = int(g.ow), OH = int(g.oh);
    // A zero-bordered copy of the input, so the loops below read it densely
    // instead of testing every tap against the borders; likewise of dy, for
    // the input gradients that read it tap by tap (below).
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("grad_padded"));
    Func dyp(ctx.fname("dy_padded"));
    dyp(x, y, c, n) = b.dy(x, y, c, n);
    // Vectorized: as a scalar loop (a select per element) the copy took about
    // 0.9 ms per call on ResNet's 56x56 layers at batch 8 (Halide profiler),
    // 1.3 ms on a 56x56 stride-2 conv.
    in.compute_root().parallel(n);
    if (g.w + 2 * px >= ctx.vectorWidth) in.vectorize(x, ctx.vectorWidth, TailStrategy::RoundUp);

    Func dwWinograd = winogradWeightGradient(ctx, g, b, in, dyp);
    b.paramGrads[0] = dwWinograd.defined() ? dwWinograd : weightGradient(ctx, g, b, in);
    b.scheduledAtRoot.push_back(b.paramGrads[0]);
    if (kernelHasBias(ctx.attrs()) && ctx.params.size() > 1) {
        RDom o(0, OW, 0, OH, 0, b.batch, ctx.fname("r_out"));
        Func db(ctx.fname("d_bias"));
        db(co) = sum(dyp(o.x, o.y, co, o.z));
        db.compute_root();
        b.paramGrads[1] = db;
    }

    // Winograd stages its own tiles of dy: a copy first took another pass
    // (0.9 ms per call on ResNet's 56x56 layers at batch 8).
    if (Func dxw = winogradInputGradient(ctx, g, dyp, b.previousGrads[0]); dxw.defined()) {
        b.inputGrads[0] = dxw;
        b.scheduledAtRoot.push_back(dxw);
        return;
    }
    dyp.compute_root().parallel(n);
    b.inputGrads[0] = specializedInputGradient(ctx, g, dyp);
    if (b.inputGrads[0].defined()) return;

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
    int lanes = tileFactor(ctx.inputTypes[0].width(), ctx.vectorWidth);
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
