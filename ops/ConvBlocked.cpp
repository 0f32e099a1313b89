// Direct convolution vectorized over output channels, a candidate schedule of
// inference convs that `cnnc tune` may pick ("fblock=FV,ptile=P").
//
// The direct schedule (Conv.cpp) vectorizes along x: on ResNet's 7x7 maps one
// lane in eight idles, and at batch 1 each broadcast weight feeds one FMA, so
// the weights stream from L3 once per output row. Here the register tile is
// FV vectors of output channels x P output positions (the map flattened, so
// that 49 positions are 10 tiles of 5): per input channel and tap it loads FV
// filter vectors and broadcasts P input values for FV x P FMAs, and nothing
// rounds up but the last position tile. The filters are read as vectors, so
// the runtime prepares them blocked, [co / B][ci][tap][B] with B = FV x 8
// (CNNRT_DERIVE_BLOCKED_FILTER), once per set of weights. A task is one block
// of B filters for one sample: consecutive tasks share the block's weights,
// which stay in L2, or, where a sample's input is the larger, the sample.
//
// Training (not tuned) takes it for strided convs onto maps of up to 16x16
// and maps of up to 7x7 with many input channels, blocking the step's filters
// in the kernel (9.4 MB for ResNet's 3x3 512-channel layers). ResNet-18 at
// batch 8, fastest calls: the forward of layer3.0.conv1 went from 6.05 ms
// (input deinterleaved, `phases`) to 4.79, of a 7x7x512 layer from 12.8 (the
// direct default) to 10.0. On layer2.0.conv1 (56x56x64 onto 28x28x128) it
// lost: a one-layer training step (`bench/ab_train.py`, five runs) took
// 0.71-0.92 of its time with the direct conv on deinterleaved input, whose
// forward ran 12.6 ms against 23.3 (medians; fastest calls 11.0 and 11.6).
#include "codegen/LowerCtx.h"
#include "ops/Conv.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

constexpr int kLanes = 8; // the prepared blocked layout's vector width (AVX2; inference)

// The filter vectors' lanes: kLanes for inference (the runtime prepares that
// layout), the target's vector width for training, which blocks the step's
// filters itself (16 on AVX-512: wideKernelTarget).
int filterLanes(bool training, int vectorWidth) { return training ? vectorWidth : kLanes; }

// Training's default: 2 filter vectors x 6 positions (5 where the map has 49:
// 10 tiles, none rounded up), the tuner's pick for these convs in inference.
// (On 14x14 and larger stride-1 maps Winograd stays faster.)
bool trainingDefault(const ConvGeometry &g, const TensorType &kernelOutput) {
    bool strided = g.stride.w > 1 || g.stride.h > 1;
    return ((strided && g.oh * g.ow <= 256) || g.oh * g.ow <= 49) && g.cin >= 16 && blockedApplies(g, kernelOutput, 2);
}

struct BlockedTiling {
    int filterVectors = 0, positions = 5;
};

BlockedTiling tilingFor(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice,
                        bool training) {
    if (training && trainingDefault(g, kernelOutput)) return {2, g.oh * g.ow == 49 ? 5 : 6};
    return {choice.get("fblock", 0), choice.get("ptile", 5)};
}

} // namespace

bool blockedApplies(const ConvGeometry &g, const TensorType &kernelOutput, int filterVectors) {
    // A fused pool reads the whole map of each task's block and sample: on
    // small maps only, where that block of the map stays in L1/L2.
    bool ownOutput = kernelOutput.width() == g.ow && kernelOutput.height() == g.oh;
    return (ownOutput || g.oh * g.ow <= 256) && kernelOutput.channels() == g.filters && g.groups == 1 &&
           filterVectors > 0 && g.filters % (filterVectors * kLanes) == 0;
}

bool blockedChosen(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice,
                   bool training, int vectorWidth) {
    if (training) return trainingDefault(g, kernelOutput) && g.filters % (2 * filterLanes(true, vectorWidth)) == 0;
    return blockedApplies(g, kernelOutput, choice.get("fblock", 0));
}

ParamDecl blockedFilterDecl(const ConvGeometry &g, const ScheduleChoice &choice) {
    int64_t B = choice.get("fblock", 0) * kLanes;
    ParamDecl d{"blocked", {g.filters / B, g.cin, g.size.h * g.size.w, B}, ParamInit::Zeros, 1};
    d.derivation = ParamDerivation::BlockedFilter;
    return d;
}

Func lowerBlocked(LowerCtx &ctx, const ConvGeometry &g) {
    const bool training = ctx.training != nullptr;
    const int B = tilingFor(g, ctx.outType(), ctx.choice, training).filterVectors * filterLanes(training, ctx.vectorWidth);
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n, cv("cv"), p("p"), cb("cb"), tap("tap"), ci("ci");
    Func in = padSpatial(ctx.inputs[0], ctx.inputTypes[0], 0.0f, ctx.fname("padded"));
    Func filters = ctx.params[0]; // (b, tap, ci, block): prepared
    if (ctx.training) { // the step's weights, blocked here
        int kw = int(g.size.w);
        filters = Func(ctx.fname("blocked_filters"));
        filters(cv, tap, ci, cb) = ctx.params[0](tap % kw, tap / kw, ci, cb * B + cv);
        ctx.stages["blocked_filters"] = filters;
    }
    RDom r(0, int(g.size.w), 0, int(g.size.h), 0, int(g.cin), ctx.fname("r"));
    int ow = int(g.ow);
    Expr ix = (p % ow) * int(g.stride.w) + r.x * int(g.dilation.w) - int(g.pad.w);
    Expr iy = (p / ow) * int(g.stride.h) + r.y * int(g.dilation.h) - int(g.pad.h);
    Func acc(ctx.fname("acc_blocked"));
    acc(cv, p, cb, n) = kernelHasBias(ctx.attrs()) ? ctx.params[1](cb * B + cv) : Expr(0.0f);
    acc(cv, p, cb, n) += filters(cv, r.x + r.y * int(g.size.w), r.z, cb) * in(ix, iy, r.z, n);
    Func out(ctx.fname("conv"));
    out(x, y, c, n) = acc(c % B, x + y * ow, c / B, n);
    ctx.stages["padded"] = in;
    ctx.stages["acc_blocked"] = acc;
    return out;
}

void scheduleBlocked(ScheduleCtx &s, const ConvGeometry &g) {
    const bool training = s.op.training != nullptr;
    BlockedTiling tiling = tilingFor(g, s.op.outType(), s.op.choice, training);
    const int filterVector = filterLanes(training, s.vectorWidth);
    const int B = tiling.filterVectors * filterVector, P = tiling.positions;
    Func acc = s.op.stages.at("acc_blocked");
    Func padded = s.op.stages.at("padded");
    Var x = s.x, y = s.y, c = s.c, n = s.n, cb("cb"), cv("cv"), task("task");
    // The output reads each tile back channel by channel: B planes of the
    // map, x innermost where a row fills vectors.
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
    s.output.split(c, cb, cv, B);
    if (inputBytes >= weightBytes) s.output.reorder(x, y, cv, cb, n).fuse(cb, n, task);
    else s.output.reorder(x, y, cv, n, cb).fuse(n, cb, task);
    s.output.parallel(task);
    if (int lanes = fittingLanes(g.ow, s.vectorWidth)) s.output.vectorize(x, lanes, TailStrategy::GuardWithIf);
    padded.compute_root();
    parallelOverRows(padded, s.op.y, s.op.c, g.w + 2 * g.pad.w);
    if (s.op.stages.count("blocked_filters")) {
        Func blocked = s.op.stages.at("blocked_filters");
        std::vector<Var> fv = blocked.args(); // cv, tap, ci, cb
        blocked.compute_root().vectorize(fv[0], filterVector).parallel(fv[3]);
    }
    if (int lanes = fittingLanes(g.w + 2 * g.pad.w, s.vectorWidth)) padded.vectorize(s.op.x, lanes);

    std::vector<Var> v = acc.args(); // cv, p, cb, n
    acc.compute_at(s.output, task).vectorize(v[0], filterVector);
    std::vector<RVar> r = acc.rvars(0);
    Var po("po"), pi("pi");
    Stage update = acc.update();
    update.split(v[1], po, pi, P, TailStrategy::RoundUp)
        .reorder({v[0], pi, r[0], r[1], r[2], po, v[2], v[3]})
        .vectorize(v[0], filterVector)
        .unroll(v[0])
        .unroll(pi);
    if (g.size.w * g.size.h <= 25) update.unroll(r[0]).unroll(r[1]);
    else if (g.size.w <= 11) update.unroll(r[0]);
}

} // namespace cnnc::ops
