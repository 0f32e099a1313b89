// pad(left=0, right=0, top=0, bottom=0, value=0.0): torch.nn.functional.pad of
// a map's width and height by a constant (nn.ZeroPad2d, nn.ConstantPad2d).
// Output (x, y) is input (x - left, y - top) inside the input, `value` outside.
// The ONNX importer puts the asymmetric part of a Conv's or pool's padding
// here (value -inf before a max pool, which then never selects it), so the
// conv and pool ops keep one pad per axis.
#include <cmath>
#include <limits>

#include "codegen/LowerCtx.h"
#include "codegen/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

constexpr const char *kSides[] = {"left", "right", "top", "bottom"};

// Each side's width: non-negative, at most 2^30 (as every window argument).
int64_t side(const Attrs &a, const char *name) {
    int64_t v = a.getInt(name);
    if (v < 0) throw OpError(std::string("'") + name + "' must be at least 0, got " + std::to_string(v));
    if (v > (int64_t(1) << 30)) throw OpError(std::string("'") + name + "' is too large: " + std::to_string(v));
    return v;
}

// The fill: a finite number or -inf (what a max pool's padding is); NaN and
// +inf have no use and no spelling in the language.
float fillValue(const Attrs &a) {
    double v = a.getFloat("value");
    if (!std::isfinite(v) && v != -std::numeric_limits<double>::infinity())
        throw OpError("'value' must be a finite number or -inf, got " + formatAttr(v));
    if (std::isfinite(v) && std::fabs(v) > double(std::numeric_limits<float>::max()))
        throw OpError("'value' " + formatAttr(v) + " is out of float range");
    return float(v);
}

TensorType inferType(const OpCall &call) {
    const TensorType &in = requireMap(call, "pad");
    for (const char *s : kSides) side(call.attrs, s);
    fillValue(call.attrs);
    return mapType(in.channels(), in.height() + side(call.attrs, "top") + side(call.attrs, "bottom"),
                   in.width() + side(call.attrs, "left") + side(call.attrs, "right"));
}

int64_t noFlops(const OpCall &, const TensorType &) { return 0; }

// A kernel of its own (pad is neither elementwise nor a pool, so nothing fuses
// into it as producer), scheduled by the generic output schedule: vectors
// along x, parallel over rows and samples.
Func lower(LowerCtx &ctx) {
    const Attrs &a = ctx.attrs();
    int left = int(a.getInt("left")), top = int(a.getInt("top"));
    Func padded = padSpatial(ctx.inputs[0], ctx.inputTypes[0], Expr(fillValue(a)), ctx.fname("padded"));
    Func f(ctx.fname("pad"));
    f(ctx.x, ctx.y, ctx.c, ctx.n) = padded(ctx.x - left, ctx.y - top, ctx.c, ctx.n);
    return f;
}

// The gradient is the crop of dy: the border's constants depend on nothing.
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    int left = int(ctx.attrs().getInt("left")), top = int(ctx.attrs().getInt("top"));
    Func d(ctx.fname("d_pad"));
    d(ctx.x, ctx.y, ctx.c, ctx.n) = b.dy(ctx.x + left, ctx.y + top, ctx.c, ctx.n);
    b.inputGrads[0] = d;
}

} // namespace

void definePad() {
    OpDef d;
    d.name = "pad";
    d.summary = "a constant border around each map (torch.nn.functional.pad, nn.ZeroPad2d)";
    d.args = {{"left", AttrKind::Int, int64_t(0)},
              {"right", AttrKind::Int, int64_t(0)},
              {"top", AttrKind::Int, int64_t(0)},
              {"bottom", AttrKind::Int, int64_t(0)},
              {"value", AttrKind::Float, 0.0}};
    d.traits.border = true;
    d.inferType = inferType;
    d.flops = noFlops;
    d.lower = lower;
    d.backward = backward;
    OpRegistry::get().add(std::move(d));
}

} // namespace cnnc::ops
