// pad(left=0, right=0, top=0, bottom=0, value=0.0): torch.nn.functional.pad of
// a map's width and height by a constant (nn.ZeroPad2d, nn.ConstantPad2d).
// Output (x, y) is input (x - left, y - top) inside the input, `value` outside.
// A negative side crops (as in F.pad and ONNX's Pad). The ONNX importer puts
// the asymmetric part of a Conv's or pool's padding here (value -inf before a
// max pool, which then never selects it), so the conv and pool ops keep one
// pad per axis; an average pool that must not count its padding pads
// symmetrically itself and is cropped here.
#include <cmath>
#include <limits>

#include "lowering/LowerCtx.h"
#include "lowering/TrainingMode.h"
#include "ops/OpHelpers.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

constexpr const char *kSides[] = {"left", "right", "top", "bottom"};

// Each side's width, at most 2^30 either way (as every window argument);
// negative crops.
int64_t side(const Attrs &a, const char *name) {
    int64_t v = a.getInt(name);
    if (v > (int64_t(1) << 30) || v < -(int64_t(1) << 30))
        throw OpError(std::string("'") + name + "' is too large: " + std::to_string(v));
    return v;
}

// The padded (or cropped) extent of an axis: at least one value must remain.
int64_t paddedExtent(int64_t extent, int64_t before, int64_t after, const char *axis) {
    int64_t out = extent + before + after;
    if (out < 1)
        throw OpError(std::string("cropping ") + std::to_string(-before - after) + " of the " + axis + " " +
                      std::to_string(extent) + " leaves nothing");
    return out;
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
    return mapType(in.channels(), paddedExtent(in.height(), side(call.attrs, "top"), side(call.attrs, "bottom"), "height"),
                   paddedExtent(in.width(), side(call.attrs, "left"), side(call.attrs, "right"), "width"));
}

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

// The gradient is dy cropped where the op padded (the border's constants
// depend on nothing) and padded with zeros where it cropped.
void backward(BackwardCtx &b) {
    LowerCtx &ctx = b.forward;
    int left = int(ctx.attrs().getInt("left")), top = int(ctx.attrs().getInt("top"));
    const TensorType &out = ctx.outType();
    int W = int(out.width()), H = int(out.height());
    Expr X = ctx.x + left, Y = ctx.y + top;
    Func d(ctx.fname("d_pad"));
    d(ctx.x, ctx.y, ctx.c, ctx.n) = select(X >= 0 && X < W && Y >= 0 && Y < H,
                                           b.dy(clamp(X, 0, W - 1), clamp(Y, 0, H - 1), ctx.c, ctx.n), 0.0f);
    b.inputGrads[0] = d;
}

} // namespace

void definePad() {
    OpDef d;
    d.name = "pad";
    d.summary = "a constant border around each map, or a crop where a side is negative (torch.nn.functional.pad)";
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
