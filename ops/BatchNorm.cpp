// batchnorm(eps=1e-5, momentum=0.1): inference uses the running statistics,
// y = (x - mean) / sqrt(var + eps) * weight + bias, per channel.
#include <cstdio>
#include <functional>

#include "lowering/Derivation.h"
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType inferType(const OpCall &call) {
    double eps = call.attrs.getFloat("eps"), momentum = call.attrs.getFloat("momentum");
    if (!(eps > 0.0)) throw OpError("'eps' must be positive, got " + formatAttr(eps));
    if (!(momentum >= 0.0 && momentum <= 1.0)) throw OpError("'momentum' must be in [0, 1], got " + formatAttr(momentum));
    return call.inputs.at(0);
}

std::vector<ParamDecl> params(const OpCall &call) {
    int64_t c = call.inputs.at(0).channels();
    return {{"weight", {c}, ParamInit::Ones, 1},
            {"bias", {c}, ParamInit::Zeros, 1},
            {"running_mean", {c}, ParamInit::Zeros, 1, "", true, true},
            {"running_var", {c}, ParamInit::Ones, 1, "", true, true}};
}

int64_t flops(const OpCall &, const TensorType &out) { return 2 * out.elementsPerSample(); }

// Per-channel sums over (x, y, n) of term(x, y, c, n), one per value of term
// (a Tuple sums several terms in one sweep of the data), vectorized: column
// sums first (vectors along x, rows and samples in the loop), then a short sum
// over x. A scalar sum() over all three would run one element at a time.
Func channelSum(Func term, const TensorType &t, Expr batch, const std::string &name) {
    Var x("x"), c("c");
    int values = term.outputs();
    RDom rows(0, int(t.height()), 0, batch, name + "_rows");
    Func columns(name + "_columns");
    // The v-th value of f's call (a Func of one value cannot be indexed).
    auto value = [values](const FuncRef &call, int v) { return values == 1 ? Expr(call) : Expr(call[v]); };
    std::vector<Expr> zeros(size_t(values), Expr(0.0f)), step, total;
    columns(x, c) = Tuple(zeros);
    for (int v = 0; v < values; ++v) step.push_back(value(columns(x, c), v) + value(term(x, rows.x, c, rows.y), v));
    columns(x, c) = Tuple(step);
    RDom cols(0, int(t.width()), name + "_cols");
    Func sums(name);
    sums(c) = Tuple(zeros);
    for (int v = 0; v < values; ++v) total.push_back(value(sums(c), v) + value(columns(cols, c), v));
    sums(c) = Tuple(total);
    int lanes = tileFactor(t.width(), 8);
    columns.compute_at(sums, c).vectorize(x, lanes, TailStrategy::GuardWithIf);
    columns.update().vectorize(x, lanes, TailStrategy::GuardWithIf);
    // Parallel over channels in the update, where the column sums run (the
    // pure step only zeroes).
    sums.compute_root();
    sums.update().parallel(c);
    return sums;
}

// The batch's mean and (biased) variance per channel from one sweep of the
// data: sums of x - shift and (x - shift)^2, shift(c) the channel's first
// value. The shift keeps E[(x - shift)^2] - E[x - shift]^2 free of the
// cancellation of E[x^2] - E[x]^2 where the mean is large against the spread:
// shift is a sample, so (mean - shift)^2 is of the order of the variance.
// `more(d)` adds sums of terms of d = x - shift to the same sweep (sums[2...]).
// Two sweeps (the mean, then the centred squares) read x once more each in
// forward and backward: 26 MB for ResNet's first batchnorm at batch 8.
struct Moments {
    Func shift, mean, var, sums;
};

Moments batchMoments(LowerCtx &ctx, Func in, Expr batch, Expr count, const std::string &name,
                     const std::function<std::vector<Expr>(Expr)> &more) {
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    Moments m{Func(name + "_shift"), Func(name + "_mean"), Func(name + "_var"), Func()};
    m.shift(c) = in(0, 0, c, 0);
    m.shift.compute_root();
    Expr d = in(x, y, c, n) - m.shift(c);
    std::vector<Expr> values{d, d * d};
    if (more)
        for (Expr e : more(d)) values.push_back(e);
    Func terms(name + "_terms");
    terms(x, y, c, n) = Tuple(values);
    m.sums = channelSum(terms, ctx.inputTypes[0], batch, name + "_sums");
    Expr meanShifted = m.sums(c)[0] / count;
    m.mean(c) = m.shift(c) + meanShifted;
    m.var(c) = max(m.sums(c)[1] / count - meanShifted * meanShifted, 0.0f);
    return m;
}

// Training: normalise with the batch's statistics (biased variance), and
// report running statistics updated as PyTorch does (unbiased variance).
Func lowerTraining(LowerCtx &ctx, float eps) {
    const TensorType &t = ctx.inputTypes[0];
    Func in = ctx.inputs[0];
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    Expr count = cast<float>(ctx.training->batch * int(t.width() * t.height()));
    // Per-channel statistics once, not per element.
    Moments m = batchMoments(ctx, in, ctx.training->batch, count, ctx.fname("batch"), nullptr);
    Func mean = m.mean, var = m.var;
    float momentum = float(ctx.attrs().getFloat("momentum"));
    Func runningMean(ctx.fname("new_running_mean")), runningVar(ctx.fname("new_running_var"));
    runningMean(c) = (1.0f - momentum) * ctx.params[2](c) + momentum * mean(c);
    runningVar(c) = (1.0f - momentum) * ctx.params[3](c) + momentum * var(c) * count / max(count - 1.0f, 1.0f);
    ctx.training->newParams[2] = runningMean;
    ctx.training->newParams[3] = runningVar;
    Func f(ctx.fname("batchnorm"));
    f(x, y, c, n) = (in(x, y, c, n) - mean(c)) / sqrt(var(c) + eps) * ctx.params[0](c) + ctx.params[1](c);
    return f;
}

// The training-mode adjoint, written out (autodiff of the batch statistics
// recomputes them per element): with x^ = (x - mean) / sqrt(var + eps), M = N*H*W,
//   d gamma = sum dy * x^,   d beta = sum dy,
//   dx = gamma / sqrt(var + eps) * (dy - (d beta + x^ * d gamma) / M).
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    const TensorType &t = ctx.inputTypes[0];
    float eps = float(ctx.attrs().getFloat("eps"));
    Func in = ctx.inputs[0];
    Var x = ctx.x, y = ctx.y, c = ctx.c, n = ctx.n;
    Expr count = cast<float>(b.batch * int(t.width() * t.height()));
    // One sweep: the moments with dy * (x - shift) and dy; then
    // sum dy * (x - mean) = sum dy * (x - shift) - (mean - shift) * sum dy.
    Moments m = batchMoments(ctx, in, b.batch, count, ctx.fname("g"), [&](Expr d) {
        Expr dyAt = b.dy(x, y, c, n);
        return std::vector<Expr>{dyAt * d, dyAt};
    });
    Func mean = m.mean, invstd(ctx.fname("g_invstd")), sums = m.sums;
    invstd(c) = 1.0f / sqrt(m.var(c) + eps);
    Func dgamma(ctx.fname("d_weight")), dbeta(ctx.fname("d_bias"));
    dgamma(c) = (sums(c)[2] - (mean(c) - m.shift(c)) * sums(c)[3]) * invstd(c);
    dbeta(c) = sums(c)[3];
    Expr xhatAt = (in(x, y, c, n) - mean(c)) * invstd(c);
    Func dx(ctx.fname("d_input"));
    dx(x, y, c, n) = ctx.params[0](c) * invstd(c) * (b.dy(x, y, c, n) - (dbeta(c) + xhatAt * dgamma(c)) / count);
    b.inputGrads[0] = dx;
    b.paramGrads[0] = dgamma;
    b.paramGrads[1] = dbeta;
}

Func lower(LowerCtx &ctx) {
    float eps = float(ctx.attrs().getFloat("eps"));
    if (ctx.training) return lowerTraining(ctx, eps);
    Func weight = ctx.params[0], bias = ctx.params[1], mean = ctx.params[2], var = ctx.params[3];
    Expr scale = weight(ctx.c) / sqrt(var(ctx.c) + eps);
    Func f(ctx.fname("batchnorm"));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = (ctx.inputs[0](ctx.x, ctx.y, ctx.c, ctx.n) - mean(ctx.c)) * scale + bias(ctx.c);
    return f;
}

} // namespace

namespace {

// Folding's scale per channel, gamma / sqrt(var + eps), in double like a
// careful offline fold (eps as the float the batchnorm holds).
Func foldScale(const std::vector<ImageParam> &sources, const ParamDecl &d) {
    enum { Gamma = 2, Var_ = 5 };
    Var c("c");
    Expr gamma = sources.at(Gamma).defined() ? cast<double>(sources[Gamma](c)) : Expr(1.0);
    Func scale("fold_scale");
    scale(c) = gamma / sqrt(cast<double>(sources.at(Var_)(c)) + Expr(double(float(d.eps))));
    return scale;
}

std::string epsKey(const ParamDecl &d) {
    char text[32];
    std::snprintf(text, sizeof text, "eps=%.9g", double(float(d.eps)));
    return text;
}

} // namespace

// weight'(k..., c) = weight(k..., c) * scale(c), c the last (outermost) dim.
const Derivation kFoldBatchNormWeight{
    "fold_bn_weight", epsKey, [](const std::vector<ImageParam> &sources, const ParamDecl &d) {
        const ImageParam &weight = sources.at(0);
        std::vector<Var> v;
        for (size_t i = 0; i < d.shape.size(); ++i) v.push_back(Var("v" + std::to_string(i)));
        Func scale = foldScale(sources, d);
        Func out("fold_bn_weight");
        out(v) = cast<float>(cast<double>(weight(v)) * scale(v.back()));
        scale.compute_at(out, v.back());
        out.parallel(v.back());
        return out;
    }};

const Derivation kFoldBatchNormBias{
    "fold_bn_bias", epsKey, [](const std::vector<ImageParam> &sources, const ParamDecl &d) {
        enum { Bias = 1, Beta = 3, Mean = 4 };
        Var c("c");
        Expr bias = sources.at(Bias).defined() ? cast<double>(sources[Bias](c)) : Expr(0.0);
        Expr beta = sources.at(Beta).defined() ? cast<double>(sources[Beta](c)) : Expr(0.0);
        Func out("fold_bn_bias");
        out(c) = cast<float>((bias - cast<double>(sources.at(Mean)(c))) * foldScale(sources, d)(c) + beta);
        return out;
    }};

void defineBatchNorm() {
    OpDef d;
    d.name = "batchnorm";
    d.summary = "per-channel normalisation (torch.nn.BatchNorm2d / BatchNorm1d)";
    d.args = {{"eps", AttrKind::Float, 1e-5}, {"momentum", AttrKind::Float, 0.1}};
    d.traits.elementwise = true;
    d.traits.foldsIntoProducer = true;
    d.inferType = inferType;
    d.params = params;
    d.flops = flops;
    d.lower = lower;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
