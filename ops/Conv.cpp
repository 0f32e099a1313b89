// conv(filters, size, stride=1, pad=0, bias=true, groups=1, dilation=1)
// PyTorch's Conv2d: weight [filters, C/groups, kh, kw], zero padding.
#include "codegen/LowerCtx.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

struct ConvGeometry {
    int64_t cin, h, w, filters, groups;
    Pair size, stride, pad, dilation;
    bool bias;
    int64_t oh, ow;
};

ConvGeometry geometry(const OpCall &call) {
    const TensorType &in = requireMap(call, "conv");
    ConvGeometry g;
    g.cin = in.channels(), g.h = in.height(), g.w = in.width();
    g.filters = requirePositive(call.attrs, "filters");
    g.groups = requirePositive(call.attrs, "groups");
    g.size = requirePair(call.attrs, "size", 1);
    g.stride = requirePair(call.attrs, "stride", 1);
    g.pad = requirePair(call.attrs, "pad", 0);
    g.dilation = requirePair(call.attrs, "dilation", 1);
    g.bias = call.attrs.getBool("bias");
    if (g.cin % g.groups != 0)
        throw OpError("input channels (" + std::to_string(g.cin) + ") are not divisible by groups (" +
                      std::to_string(g.groups) + ")");
    if (g.filters % g.groups != 0)
        throw OpError("filters (" + std::to_string(g.filters) + ") are not divisible by groups (" +
                      std::to_string(g.groups) + ")");
    g.oh = windowOutput(g.h, g.size.h, g.stride.h, g.pad.h, g.dilation.h, false, "height");
    g.ow = windowOutput(g.w, g.size.w, g.stride.w, g.pad.w, g.dilation.w, false, "width");
    return g;
}

TensorType inferType(const OpCall &call) {
    ConvGeometry g = geometry(call);
    return mapType(g.filters, g.oh, g.ow);
}

std::vector<ParamDecl> params(const OpCall &call) {
    ConvGeometry g = geometry(call);
    int64_t fanIn = checkedMul(checkedMul(g.cin / g.groups, g.size.h), g.size.w);
    std::vector<int64_t> wshape{g.filters, g.cin / g.groups, g.size.h, g.size.w};
    if (fanIn < 0 || checkedMul(fanIn, g.filters) < 0) throw OpError("weight tensor is too large");
    return weightAndBias(call.attrs, wshape, fanIn, g.bias);
}

int64_t flops(const OpCall &call, const TensorType &out) {
    ConvGeometry g = geometry(call);
    return 2 * out.elementsPerSample() * (g.cin / g.groups) * g.size.h * g.size.w;
}

Func lower(LowerCtx &ctx) {
    ConvGeometry g = geometry(OpCall{ctx.inputTypes, ctx.attrs()});
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    Func in = ctx.inputs[0];
    if (g.pad.h > 0 || g.pad.w > 0) in = padSpatial(in, ctx.inputTypes[0], 0.0f, ctx.fname("padded"));
    Func weight = ctx.params[0];
    int cinPerGroup = int(g.cin / g.groups), coutPerGroup = int(g.filters / g.groups);
    RDom r(0, int(g.size.w), 0, int(g.size.h), 0, cinPerGroup, ctx.fname("r"));
    Expr group = g.groups == 1 ? Expr(0) : c / coutPerGroup;
    Expr ix = x * int(g.stride.w) + r.x * int(g.dilation.w) - int(g.pad.w);
    Expr iy = y * int(g.stride.h) + r.y * int(g.dilation.h) - int(g.pad.h);
    Func acc(ctx.fname("acc"));
    acc(x, y, c, n) = kernelHasBias(ctx.attrs()) ? ctx.params[1](c) : Expr(0.0f);
    acc(x, y, c, n) += weight(r.x, r.y, r.z, c) * in(ix, iy, group * cinPerGroup + r.z, n);
    ctx.stages["acc"] = acc;
    return acc;
}

// Register-blocked direct convolution: each output tile of (vector of x) by
// (a few channels) accumulates in registers while the reduction runs outside it.
void schedule(ScheduleCtx &s) {
    Func acc = s.op.stages.at("acc");
    const TensorType &t = s.outputType;
    Var x = s.x, y = s.y, c = s.c, n = s.n;
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), yn("yn");
    int vx = tileFactor(t.width(), s.vectorWidth);
    int tc = tileFactor(t.channels(), 4);
    s.output.split(x, xo, xi, vx).split(c, co, ci, tc).reorder(xi, ci, xo, co, y, n);
    if (vx > 1) s.output.vectorize(xi);
    s.output.unroll(ci).fuse(y, n, yn).parallel(yn);
    acc.compute_at(s.output, xo);
    // The accumulator spans one output tile, or the window a fused pool reads,
    // which is shorter at the borders: split x with a guard so the vectors stay
    // a constant width either way.
    Var xv("xv"), xvo("xvo");
    std::vector<RVar> r = acc.rvars(0);
    acc.split(s.op.x, xvo, xv, vx, TailStrategy::GuardWithIf).unroll(s.op.c);
    // Reduction loops outside the tile: each step broadcasts one weight and
    // multiplies it into the vector accumulators.
    auto update = acc.update();
    update.split(s.op.x, xvo, xv, vx, TailStrategy::GuardWithIf)
        .reorder({xv, s.op.c, r[0], r[1], r[2], xvo, s.op.y, s.op.n})
        .unroll(s.op.c);
    if (vx > 1) {
        acc.vectorize(xv);
        update.vectorize(xv);
    }
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
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
