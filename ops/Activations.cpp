// Pointwise activations: relu, leaky_relu(slope=0.01), clip(min, max), sigmoid, tanh.
#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

TensorType sameType(const OpCall &call) { return call.inputs.at(0); }
TensorType clipType(const OpCall &call) {
    double lo = call.attrs.getFloat("min"), hi = call.attrs.getFloat("max");
    if (!(lo <= hi)) throw OpError("'min' " + formatAttr(lo) + " must not exceed 'max' " + formatAttr(hi));
    return call.inputs.at(0);
}
int64_t perElement(const OpCall &, const TensorType &out) { return out.elementsPerSample(); }

template <Expr (*F)(Expr, const Attrs &)>
Func pointwise(LowerCtx &ctx) {
    Func f(ctx.fname(ctx.node.opName()));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = F(ctx.inputs[0](ctx.x, ctx.y, ctx.c, ctx.n), ctx.attrs());
    return f;
}

// NaN stays NaN, as in PyTorch (Halide lowers max(v, 0) as v > 0 ? v : 0). On
// the bits (see isNaN): as int32, every negative number, -0 and -inf lie at or
// below the bits of -inf, and every NaN, whatever its sign, above.
Expr relu(Expr v, const Attrs &) {
    Expr bits = reinterpret<int32_t>(v);
    return reinterpret<float>(select(bits > int32_t(0xff800000u), bits, 0));
}
Expr leakyRelu(Expr v, const Attrs &a) { return select(v > 0.0f, v, v * float(a.getFloat("slope"))); }
// torch.clamp: NaN stays NaN.
Expr clip(Expr v, const Attrs &a) {
    return keepNaN(v, min(max(v, float(a.getFloat("min"))), float(a.getFloat("max"))));
}
// Halide's exp() of NaN is finite.
Expr sigmoid(Expr v, const Attrs &) { return keepNaN(v, 1.0f / (1.0f + exp(-v))); }
Expr tanhAct(Expr v, const Attrs &) { return tanh(v); }

// Adjoints: dx = dy * f'(x), written out (Halide's autodiff builds a Func
// with an update per element, which runs far slower).
Expr reluGrad(Expr v, Expr dy, const Attrs &) { return select(v > 0.0f, dy, 0.0f); }
Expr leakyReluGrad(Expr v, Expr dy, const Attrs &a) { return select(v > 0.0f, dy, dy * float(a.getFloat("slope"))); }
// torch.clamp's: the gradient passes where min <= x <= max.
Expr clipGrad(Expr v, Expr dy, const Attrs &a) {
    return select(v >= float(a.getFloat("min")) && v <= float(a.getFloat("max")), dy, 0.0f);
}
Expr sigmoidGrad(Expr v, Expr dy, const Attrs &a) {
    Expr s = sigmoid(v, a);
    return dy * s * (1.0f - s);
}
Expr tanhGrad(Expr v, Expr dy, const Attrs &) {
    Expr t = tanh(v);
    return dy * (1.0f - t * t);
}

// The same from the output z (as torch's threshold_backward, sigmoid_backward
// and tanh_backward compute them), for fusing into the producer's kernels.
Expr reluGradFromOutput(Expr z, Expr dz, const Attrs &) { return select(z > 0.0f, dz, 0.0f); }
Expr sigmoidGradFromOutput(Expr z, Expr dz, const Attrs &) { return dz * (1.0f - z) * z; }
Expr tanhGradFromOutput(Expr z, Expr dz, const Attrs &) { return dz * (1.0f - z * z); }

template <Expr (*D)(Expr, Expr, const Attrs &)>
void pointwiseBackward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    Func d(ctx.fname("d_" + ctx.node.opName()));
    d(ctx.x, ctx.y, ctx.c, ctx.n) = D(ctx.inputs[0](ctx.x, ctx.y, ctx.c, ctx.n), b.dy(ctx.x, ctx.y, ctx.c, ctx.n), ctx.attrs());
    b.inputGrads[0] = d;
}

using GradFromOutputFn = Expr (*)(Expr, Expr, const Attrs &);

void define(const char *name, const char *summary, LowerFn lower, BackwardFn backward,
            GradFromOutputFn gradFromOutput, std::vector<ArgSpec> args = {},
            TensorType (*inferType)(const OpCall &) = sameType) {
    OpDef d;
    d.name = name;
    d.summary = summary;
    d.args = std::move(args);
    d.traits.elementwise = true;
    d.inferType = inferType;
    d.flops = perElement;
    d.lower = lower;
    d.backward = backward;
    d.gradFromOutput = gradFromOutput;
    OpRegistry::get().add(std::move(d));
}

} // namespace

void defineActivations() {
    define("relu", "max(x, 0)", pointwise<relu>, pointwiseBackward<reluGrad>, reluGradFromOutput);
    // Not from its output: with a negative slope, z > 0 does not mean x > 0.
    define("leaky_relu", "x if x > 0 else slope * x", pointwise<leakyRelu>, pointwiseBackward<leakyReluGrad>,
           nullptr, {{"slope", AttrKind::Float, 0.01}});
    // Not from its output either: z == min may come from x < min (no gradient) or x == min.
    define("clip", "min(max(x, min), max)", pointwise<clip>, pointwiseBackward<clipGrad>, nullptr,
           {{"min", AttrKind::Float, std::nullopt}, {"max", AttrKind::Float, std::nullopt}}, clipType);
    define("sigmoid", "1 / (1 + exp(-x))", pointwise<sigmoid>, pointwiseBackward<sigmoidGrad>, sigmoidGradFromOutput);
    define("tanh", "hyperbolic tangent", pointwise<tanhAct>, pointwiseBackward<tanhGrad>, tanhGradFromOutput);
}

} // namespace cnnc::ops
