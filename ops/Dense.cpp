// dense(units, bias=true): PyTorch's Linear on a flattened [N, K] input.
#include <algorithm>

#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

int64_t inputFeatures(const OpCall &call) {
    const TensorType &in = call.inputs.at(0);
    if (!in.isVector())
        throw OpError("dense expects a flattened [K] input, got " + in.shapeStr() + " (insert '-> flatten')");
    return in.channels();
}

TensorType inferType(const OpCall &call) {
    inputFeatures(call);
    return TensorType{{requirePositive(call.attrs, "units")}};
}

std::vector<ParamDecl> params(const OpCall &call) {
    int64_t k = inputFeatures(call), units = requirePositive(call.attrs, "units");
    if (checkedMul(k, units) < 0) throw OpError("weight tensor is too large");
    return weightAndBias(call.attrs, {units, k}, k, call.attrs.getBool("bias"));
}

int64_t flops(const OpCall &call, const TensorType &out) { return 2 * inputFeatures(call) * out.channels(); }

Func lower(LowerCtx &ctx) {
    int k = int(ctx.inputTypes[0].channels());
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    RDom r(0, k, ctx.fname("r"));
    Func acc(ctx.fname("acc"));
    acc(x, y, c, n) = kernelHasBias(ctx.attrs()) ? ctx.params[1](c) : Expr(0.0f);
    acc(x, y, c, n) += ctx.params[0](r, c) * ctx.inputs[0](x, y, r, n);
    ctx.stages["acc"] = acc;
    return acc;
}

// A dot product per output, vectorized over the reduction (contiguous weights):
// rfactor splits K into `lanes` partial sums that live in vector registers and
// are added up at the end. The register tile is a few output units (rows of the
// weight matrix) times a few samples, so each weight vector loaded from memory
// feeds every sample of the tile: with batch > 1 the weights (hundreds of MB
// in AlexNet/VGG) stream from DRAM once per tile of samples instead of once per
// sample. Batch is symbolic, so the batch tile is a specialization (batch >=
// tile) with a one-sample fallback; both use the same loop names so the
// accumulators are computed at the same level.
void schedule(ScheduleCtx &s) {
    Func acc = s.op.stages.at("acc");
    int k = int(s.op.inputTypes[0].channels());
    int units = int(s.outputType.channels());
    // At most 8 lanes: with 16 (AVX-512) AlexNet's 9216x4096 layer took 77 ms
    // per call at batch 8 against 12 ms with 8 (Intel Xeon family 6 model 207).
    int lanes = tileFactor(k, std::min(s.vectorWidth, 8));
    Var co("co"), ci("ci"), no("no"), ni("ni"), u("u");
    Expr batch = s.output.output_buffer().dim(3).extent();
    // Register tiles: 12 accumulators (3 units x 4 samples) when batched,
    // 8 units x 1 sample otherwise (memory bound: enough independent chains).
    const int batchTile = 4;
    int unitsB = std::min(3, units), units1 = tileFactor(units, 8);
    // The last tile of units is guarded, not shifted inwards: two tasks
    // computing the same unit in different places of their tiles can round
    // its horizontal sum differently, and whichever wrote last won (LeNet-5's
    // dense(10) after 84 units: 1% of calls differed in the last bit).
    Stage batched = s.output.specialize(batch >= batchTile);
    batched.split(s.c, co, ci, unitsB, TailStrategy::GuardWithIf)
        .split(s.n, no, ni, batchTile)
        .reorder(ci, ni, s.x, s.y, no, co)
        .parallel(co);
    s.output.split(s.c, co, ci, units1, TailStrategy::GuardWithIf)
        .split(s.n, no, ni, 1)
        .reorder(ci, ni, s.x, s.y, no, co)
        .parallel(co);
    acc.compute_at(s.output, no);
    if (lanes > 1) {
        RVar ro("ro"), ri("ri");
        std::vector<RVar> r = acc.rvars(0);
        Func partial = acc.update().split(r[0], ro, ri, lanes, TailStrategy::GuardWithIf).rfactor(ri, u);
        partial.compute_at(s.output, no).store_in(MemoryType::Stack).vectorize(u).unroll(s.op.c).unroll(s.op.n);
        partial.update().reorder(u, s.op.c, s.op.n, ro).vectorize(u).unroll(s.op.c).unroll(s.op.n);
        acc.update().unroll(s.op.c).unroll(s.op.n);
    }
}

// The adjoint, written out so each gradient is a vectorized dot product:
//   d weight(k, j) = sum over n of dy(j, n) * in(k, n)    (k contiguous)
//   d input(k, n)  = sum over j of dy(j, n) * weight(k, j)
//   d bias(j)      = sum over n of dy(j, n)
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    int K = int(ctx.inputTypes[0].channels()), units = int(ctx.outType().channels());
    Var k("k"), j("j"), n = ctx.n;
    Func in = ctx.inputs[0], weight = ctx.params[0];
    RDom over(0, b.batch, ctx.fname("r_batch"));
    Func dw(ctx.fname("d_weight"));
    dw(k, j) = sum(b.dy(0, 0, j, over) * in(0, 0, k, over));
    dw.compute_root().parallel(j).vectorize(k, 8, TailStrategy::GuardWithIf);
    b.paramGrads[0] = dw;
    if (kernelHasBias(ctx.attrs()) && ctx.params.size() > 1) {
        Func db(ctx.fname("d_bias"));
        db(j) = sum(b.dy(0, 0, j, over));
        db.compute_root();
        b.paramGrads[1] = db;
    }
    RDom r(0, units, ctx.fname("r_units"));
    Func dx(ctx.fname("d_input"));
    dx(ctx.x, ctx.y, k, n) = sum(b.dy(0, 0, r, n) * weight(k, r));
    dx.compute_root().parallel(n).vectorize(k, 8, TailStrategy::GuardWithIf);
    b.inputGrads[0] = dx;
    (void)K;
}

} // namespace

void defineDense() {
    OpDef d;
    d.name = "dense";
    d.summary = "fully connected layer (torch.nn.Linear)";
    d.args = {{"units", AttrKind::Int, std::nullopt}, {"bias", AttrKind::Bool, true}};
    for (ArgSpec &a : batchNormFoldArgs()) d.args.push_back(a);
    d.traits.anchor = true;
    d.traits.absorbsBatchNorm = true;
    d.inferType = inferType;
    d.params = params;
    d.flops = flops;
    d.lower = lower;
    d.schedule = schedule;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
