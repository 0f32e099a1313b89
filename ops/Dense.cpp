// dense(units, bias=true): PyTorch's Linear on a flattened [N, K] input.
#include "codegen/LowerCtx.h"
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

// A dot product per output: split the reduction so its inner part runs in
// vector lanes over contiguous weights, then sum the lanes.
void schedule(ScheduleCtx &s) {
    Func acc = s.op.stages.at("acc");
    int k = int(s.op.inputTypes[0].channels());
    int lanes = tileFactor(k, s.vectorWidth);
    Var co("co"), ci("ci"), u("u");
    s.output.split(s.c, co, ci, 16, TailStrategy::GuardWithIf).reorder(ci, s.x, s.y, s.n, co).parallel(co);
    acc.compute_at(s.output, ci);
    if (lanes > 1) {
        RVar ro("ro"), ri("ri");
        std::vector<RVar> r = acc.rvars(0);
        Func partial = acc.update().split(r[0], ro, ri, lanes, TailStrategy::GuardWithIf).rfactor(ri, u);
        partial.compute_at(s.output, ci).vectorize(u);
        partial.update().vectorize(u);
    }
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
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
