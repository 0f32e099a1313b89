// Direct convolution vectorized over output channels ("fblock=F,ptile=P"):
// the untuned default of inference convs with 16 input channels or more
// (Conv.cpp's defaultSchedule), and candidates `cnnc tune` times.
//
// The plain schedule (Conv.cpp) vectorizes along x: on ResNet's 7x7 maps one
// lane in eight idles (in sixteen, nine), and at batch 1 each broadcast weight
// feeds one FMA, so the weights stream from L3 once per output row. Here the
// filters come in blocks of B = F x 8, and a register tile is 1 or 2 filter
// vectors of the target's width x P output positions (the map flattened, so
// that 49 positions are 10 tiles of 5): per input channel and tap it loads the
// filter vectors and broadcasts P input values, and nothing rounds up but the
// last position tile. The runtime prepares the filters blocked, [co / B][ci]
// [tap][B] (CNNRT_DERIVE_BLOCKED_FILTER), once per set of weights; one layout
// for 8 and 16 lanes, so a library's wide kernel and its portable twin share
// it. A task is one block of B filters for one sample: consecutive tasks share
// the block's weights, which stay in L2, or, where a sample's input is the
// larger, the sample.
//
// Training (not tuned) takes it where the untuned inference schedule does
// (TrainingPlan.cpp), and with its own tiles for strided convs onto maps of up
// to 16x16 and maps of up to 7x7 with many input channels, blocking the step's
// filters in the kernel (9.4 MB for ResNet's 3x3 512-channel layers). ResNet-18 at
// batch 8, fastest calls: the forward of layer3.0.conv1 went from 6.05 ms
// (input deinterleaved, `phases`) to 4.79, of a 7x7x512 layer from 12.8 (the
// direct default) to 10.0. On layer2.0.conv1 (56x56x64 onto 28x28x128) it
// lost: a one-layer training step (`bench/ab_train.py`, five runs) took
// 0.71-0.92 of its time with the direct conv on deinterleaved input, whose
// forward ran 12.6 ms against 23.3 (medians; fastest calls 11.0 and 11.6).
#include <algorithm>

#include "lowering/Derivation.h"
#include "lowering/LowerCtx.h"
#include "ops/Conv.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

// The prepared layout's block of filters is a multiple of this (the knob
// "fblock" counts them), so that 8-lane and 16-lane kernels read one layout.
constexpr int kLanes = 8;

// The filter vectors' lanes: the target's vector width where the block is a
// whole number of them (inference: the runtime's prepared block, fblock x 8;
// training: the step's own blocking, in vectors of the target's width).
int filterLanes(int block, int vectorWidth) { return block % vectorWidth == 0 ? vectorWidth : kLanes; }

// Accumulators a register tile may hold: 16 vector registers with AVX2, 32
// with AVX-512, less the filter vectors and the broadcast input.
int accumulatorBudget(int vectorWidth) { return vectorWidth >= 16 ? 24 : 12; }

// Training's default: 2 filter vectors x 6 positions (5 where the map has 49:
// 10 tiles, none rounded up), the tuner's pick for these convs in inference.
// (On 14x14 and larger stride-1 maps Winograd stays faster.)
bool trainingDefault(const ConvGeometry &g, const TensorType &kernelOutput) {
    bool strided = g.stride.w > 1 || g.stride.h > 1;
    return ((strided && g.oh * g.ow <= 256) || g.oh * g.ow <= 49) && g.cin >= 16 && blockedApplies(g, kernelOutput, 2);
}

// A register tile: `vectors` filter vectors of `lanes` x `positions` output
// positions. A block of `block` filters is one tile wide, or several (32
// filters in 8 lanes: two tiles of 2 vectors, one after the other).
struct BlockedTiling {
    int block, lanes, vectors, positions;
};

BlockedTiling tilingFor(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice,
                        bool training, int vectorWidth) {
    BlockedTiling t;
    if (training && trainingDefault(g, kernelOutput)) {
        t.block = 2 * vectorWidth, t.positions = g.oh * g.ow == 49 ? 5 : 6;
    } else {
        t.block = choice.get("fblock", 0) * kLanes, t.positions = choice.get("ptile", 5);
    }
    t.lanes = filterLanes(t.block, vectorWidth);
    t.vectors = std::min(2, t.block / t.lanes);
    // One knob for both widths: a wide tile's positions, fewer where the
    // narrower target's registers hold fewer accumulators.
    t.positions = std::max(1, std::min(t.positions, accumulatorBudget(vectorWidth) / t.vectors));
    return t;
}

// Position vectors per register tile ("pvec"; 0: filters in vectors). A
// pointwise conv (1x1, stride 1, unpadded) reads its input as the flattened
// map, so V vectors of consecutive positions load densely, against 24 / V
// broadcast weights, and no accumulator needs transposing on the way out.
int positionVectors(const ConvGeometry &g, const ScheduleChoice &choice) {
    return pointwise(g) ? choice.get("pvec", 0) : 0;
}

// Whether chunks of `rows` rows fill whole position tiles: at least 4 tiles
// a chunk, at most 5% of the positions rounded up.
bool wholeTiles(const ConvGeometry &g, int64_t rows, int positionTile) {
    int64_t positions = rows * g.ow, tiles = (positions + positionTile - 1) / positionTile;
    return g.oh % rows == 0 && positions >= 4 * positionTile && tiles * positionTile * 20 <= positions * 21;
}

// Rows of the map whose accumulators are computed and read out together. The
// output reads a block's accumulators back with a stride of B floats; for the
// whole map they leave L1 above a few tens of KB (56x56 positions x 32
// filters: 400 KB), and each read-out vector then gathers from 16 lines of L2.
// Chunks of rows that divide the map into whole tiles keep them in L1; maps
// with no such chunk stay whole.
//
// Where the filters make few blocks (GoogLeNet's 1x1 convs onto 32 or 64
// channels: one or two blocks of 32), the chunks are also tasks of their own
// (`*rowTasks`), enough for a sample to make kTasksPerSample tasks: one task a
// block left a core of two idle at batch 1.
int chunkRows(const ConvGeometry &g, int block, int positionTile, bool *rowTasks) {
    constexpr int64_t kL1Accumulators = 32 << 10, kTasksPerSample = 4;
    const int64_t blocks = g.filters / block, wantedChunks = (kTasksPerSample + blocks - 1) / blocks;
    int64_t rows = g.oh;
    if (4 * block * g.oh * g.ow > kL1Accumulators)
        for (int64_t r = 1; r < g.oh && 4 * block * r * g.ow <= kL1Accumulators; ++r)
            if (wholeTiles(g, r, positionTile)) {
                rows = r;
                break;
            }
    if (wantedChunks > 1 && g.oh / rows < wantedChunks) {
        int64_t r = g.oh / wantedChunks;
        while (r > 0 && !wholeTiles(g, r, positionTile)) --r;
        if (r > 0) rows = r;
    }
    *rowTasks = wantedChunks > 1 && rows < g.oh;
    return int(rows);
}

} // namespace

bool blockedApplies(const ConvGeometry &g, const TensorType &kernelOutput, int filterVectors) {
    // A fused pool reads each task's block of the map after it is computed
    // whole (VGG's 112x112 layer with its 2x2 pool, blocks of 32 filters at
    // 16 lanes: 85% of the FMA peak at batch 8 on an AMD EPYC Zen 5).
    return kernelOutput.channels() == g.filters && g.groups == 1 && filterVectors > 0 &&
           g.filters % (filterVectors * kLanes) == 0;
}

bool blockedChosen(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice,
                   bool training, int vectorWidth) {
    if (training && trainingDefault(g, kernelOutput) && g.filters % (2 * vectorWidth) == 0) return true;
    return blockedApplies(g, kernelOutput, choice.get("fblock", 0));
}

// [co / B, ci, kh * kw, B] of a [co, ci, kh, kw] weight: out(b, tap, ci, block) = w[block * B + b][ci][tap].
const Derivation kBlockedFilters{
    "blocked_filters", [](const ParamDecl &d) { return "B=" + std::to_string(d.shape[3]); },
    [](const std::vector<ImageParam> &sources, const ParamDecl &d) {
        const ImageParam &w = sources.at(0);
        const int B = int(d.shape[3]);
        Expr kw = w.dim(0).extent();
        Var b("b"), tap("tap"), ci("ci"), block("block");
        Func out("blocked_filters");
        out(b, tap, ci, block) = w(tap % kw, tap / kw, ci, block * B + b);
        out.bound(b, 0, B).parallel(block).vectorize(b);
        return out;
    }};

ParamDecl blockedFilterDecl(const ConvGeometry &g, const ScheduleChoice &choice) {
    int64_t B = choice.get("fblock", 0) * kLanes;
    ParamDecl d{"blocked", {g.filters / B, g.cin, g.size.h * g.size.w, B}, ParamInit::Zeros, 1};
    d.derivation = &kBlockedFilters;
    return d;
}

Func lowerBlocked(LowerCtx &ctx, const ConvGeometry &g) {
    const bool training = ctx.training != nullptr;
    const int B = tilingFor(g, ctx.outType(), ctx.choice, training, ctx.vectorWidth).block;
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, cv("cv"), p("p"), cb("cb"), tap("tap"), ci("ci");
    // Unpadded input is read where it lies (a staged copy would only cost a
    // sweep of the input); padded input is staged with its zero border.
    const bool unpadded = g.pad.w == 0 && g.pad.h == 0;
    Func in = unpadded ? ctx.inputs[0] : padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("padded"));
    Func filters = ctx.params[0]; // (b, tap, ci, block): prepared
    if (ctx.training) { // the step's weights, blocked here
        int kw = int(g.size.w);
        filters = Func(ctx.fname("blocked_filters"));
        filters(cv, tap, ci, cb) = ctx.params[0](tap % kw, tap / kw, ci, cb * B + cv);
        ctx.stages["blocked_filters"] = filters;
    }
    RDom r(0, int(g.size.w), 0, int(g.size.h), 0, int(g.cin), ctx.fname("r"));
    int ow = int(g.ow);
    // The last position tile rounds up. The staged input covers its extra
    // positions; unstaged, they read the map's last one.
    Expr q = unpadded ? min(p, int(g.oh * g.ow) - 1) : Expr(p);
    Expr ix = (q % ow) * int(g.stride.w) + r.x * int(g.dilation.w) - int(g.pad.w);
    Expr iy = (q / ow) * int(g.stride.h) + r.y * int(g.dilation.h) - int(g.pad.h);
    Func acc(ctx.fname("acc_blocked"));
    acc(cv, p, cb, n) = kernelHasBias(ctx.attrs()) ? ctx.params[1](cb * B + cv) : Expr(0.0f);
    acc(cv, p, cb, n) += filters(cv, r.x + r.y * int(g.size.w), r.z, cb) * in(ix, iy, r.z, n);
    Func out(ctx.fname("conv"));
    out(x, y, c, n) = acc(c % B, x + y * ow, c / B, n);
    if (!unpadded) ctx.stages["padded"] = in;
    ctx.stages["acc_blocked"] = acc;
    return out;
}

void scheduleBlocked(ScheduleCtx &s, const ConvGeometry &g) {
    const bool training = s.op.training != nullptr;
    BlockedTiling tiling = tilingFor(g, s.op.outType(), s.op.choice, training, s.vectorWidth);
    const int filterVector = tiling.lanes;
    const int B = tiling.block, P = tiling.positions;
    Func acc = s.op.stages.at("acc_blocked");
    Var x = s.x, y = s.y, c = s.c, n = s.n, cb("cb"), cv("cv"), task("task");
    // The output reads each tile back channel by channel: B planes of a chunk
    // of rows, x innermost where a row fills vectors.
    // Consecutive tasks share what is larger: the filters (ResNet's 3x3
    // layers on small maps: 1.2-9.4 MB of weights against 0.1-0.5 MB of input
    // per sample), or a sample's input (GoogLeNet's 1x1 convs: inception3b's
    // 28x28x256 input is 0.8 MB, its branch1 filters 128 KB). With the
    // samples inside, the two cores each streamed another sample's input from
    // L3 for every block of filters, and at batch 8 that kernel's median call
    // took 17-23 ms against a fastest of 5.5-7.2; sample-outer, 7.9-11.6, and
    // GoogLeNet's kernels 0.92-0.93 of their time in all (CNNRT_PROFILE=1,
    // two libraries alternating, two runs each).
    int64_t weightBytes = 4 * g.filters * g.cin * g.size.w * g.size.h;
    int64_t inputBytes = 4 * g.cin * (g.w + 2 * g.pad.w) * (g.h + 2 * g.pad.h);
    // A large input (VGG's 112x112x128: 6.6 MB a sample) is staged one
    // sample at a time, the sample's blocks in parallel: staged for the whole
    // batch at once it leaves the caches before the blocks read it (batch 8:
    // 2x slower per sample than batch 1).
    const bool samplePadded = inputBytes >= weightBytes && inputBytes > (2 << 20);
    // A fused pool reads the block's map whole; otherwise the output is
    // written a chunk of rows at a time, each chunk's accumulators just made.
    const bool pooled = s.outputType.height() != g.oh || s.outputType.width() != g.ow;
    bool rowTasks = false;
    const int rows =
        pooled || positionVectors(g, s.op.choice) ? int(s.outputType.height()) : chunkRows(g, B, P, &rowTasks);
    Var yo("yo"), yi("yi"), rowsAndBlock("rows_and_block"), rowsAndSample("rows_and_sample");
    s.output.split(c, cb, cv, B).split(y, yo, yi, rows);
    // The accumulators are computed per chunk of rows: at yo, or at the task
    // where the chunks are tasks.
    Var accLevel = rowTasks ? task : yo;
    if (samplePadded) {
        s.output.reorder(x, yi, cv, yo, cb, n);
        if (rowTasks) s.output.fuse(yo, cb, task).parallel(task);
        else s.output.parallel(cb);
    } else if (inputBytes >= weightBytes) {
        s.output.reorder(x, yi, cv, yo, cb, n);
        if (rowTasks) s.output.fuse(yo, cb, rowsAndBlock).fuse(rowsAndBlock, n, task).parallel(task);
        else s.output.fuse(cb, n, task).parallel(task);
    } else {
        s.output.reorder(x, yi, cv, yo, n, cb);
        if (rowTasks) s.output.fuse(yo, n, rowsAndSample).fuse(rowsAndSample, cb, task).parallel(task);
        else s.output.fuse(n, cb, task).parallel(task);
    }
    if (int lanes = fittingLanes(g.ow, s.vectorWidth)) s.output.vectorize(x, lanes, TailStrategy::GuardWithIf);
    if (pooled && s.last.defined()) poolAcrossChannels(s.last, s.output, yo, filterVector);
    if (s.op.stages.count("padded")) {
        Func padded = s.op.stages.at("padded");
        if (samplePadded) padded.compute_at(s.output, n);
        else padded.compute_root();
        parallelOverRows(padded, s.op.y, s.op.c, g.w + 2 * g.pad.w);
        if (int lanes = fittingLanes(g.w + 2 * g.pad.w, s.vectorWidth)) padded.vectorize(s.op.x, lanes);
    }
    if (s.op.stages.count("blocked_filters")) {
        Func blocked = s.op.stages.at("blocked_filters");
        std::vector<Var> fv = blocked.args(); // cv, tap, ci, cb
        blocked.compute_root().vectorize(fv[0], filterVector).parallel(fv[3]);
    }

    std::vector<Var> v = acc.args(); // cv, p, cb, n
    std::vector<RVar> r = acc.rvars(0);
    Var po("po"), pi("pi"), cvo("cvo"), cvi("cvi");
    Stage update = acc.update();
    acc.compute_at(s.output, accLevel);
    if (const int V = positionVectors(g, s.op.choice)) {
        // Positions in vectors: V vectors x F filters (F dividing the block),
        // each filter's weight broadcast; the accumulators lie
        // position-major, so the output reads them back as dense rows. Only
        // the map's last vector and last tile are partial, guarded rather
        // than rounded up, so that no read leaves the input.
        const int lanes = s.vectorWidth;
        int F = accumulatorBudget(lanes) / V;
        while (B % F != 0) --F;
        Var pv("pv"), pl("pl");
        acc.reorder_storage(v[1], v[0], v[2], v[3]).vectorize(v[1], lanes, TailStrategy::GuardWithIf);
        update.split(v[1], pv, pl, lanes, TailStrategy::GuardWithIf)
            .split(pv, po, pi, V, TailStrategy::GuardWithIf)
            .split(v[0], cvo, cvi, F)
            .reorder({pl, pi, cvi, r[0], r[1], r[2], cvo, po, v[2], v[3]})
            .vectorize(pl)
            .unroll(pi)
            .unroll(cvi);
        return;
    }
    acc.vectorize(v[0], filterVector);
    // The block's register tiles of filters, one after the other, each over
    // every position: a tile's filters stay in L1 while the positions pass.
    update.split(v[0], cvo, cvi, tiling.vectors * filterVector)
        .split(v[1], po, pi, P, TailStrategy::RoundUp)
        .reorder({cvi, pi, r[0], r[1], r[2], po, cvo, v[2], v[3]})
        .vectorize(cvi, filterVector)
        .unroll(cvi)
        .unroll(pi);
    if (g.size.w * g.size.h <= 25) update.unroll(r[0]).unroll(r[1]);
    else if (g.size.w <= 11) update.unroll(r[0]);
}

} // namespace cnnc::ops
