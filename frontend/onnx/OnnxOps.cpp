// ONNX operators -> IR ops. Each translation checks every attribute it
// cannot honour and fails with a message naming it: an unsupported
// combination is an error, never a silently different network.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "frontend/onnx/Importer.h"

namespace cnnc::onnximport {
namespace {

using Attr = std::pair<std::string, AttrValue>;
using ParamValues = std::vector<std::pair<std::string, Value>>;

// A float attribute as the decimal a user would write (1e-05, not the
// float's 9.99999975e-06), so printed IR and .cnn read naturally.
double decimal(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.7g", v);
    return std::strtod(buf, nullptr);
}

// Shapes with the batch written as N.
std::string shapeText(const std::vector<int64_t> &dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i)
        s += (i ? ", " : "") + (dims[i] == kBatchDim ? std::string("N") : std::to_string(dims[i]));
    return s + "]";
}

Value alias(const Value &v) { return v; }

Value tensorValue(int node) {
    Value v;
    v.node = node;
    return v;
}

int64_t rankOf(Importer &im, int node) { return int64_t(im.type(node).dims.size()) + 1; }

const TensorType &requireMapInput(Importer &im, int node) {
    const TensorType &t = im.type(node);
    if (!t.isMap()) im.fail("expects an [N, C, H, W] input, got " + shapeText(im.onnxDims(node)));
    return t;
}

// Window sizes, strides and pads beyond 2^30 are errors here, before any
// arithmetic on them could overflow (the IR's limit is the same).
std::vector<int64_t> windowInts(Importer &im, const std::string &name, std::vector<int64_t> dflt) {
    std::vector<int64_t> v = im.attrInts(name, std::move(dflt));
    for (int64_t x : v)
        if (x > (int64_t(1) << 30) || x < -(int64_t(1) << 30)) im.fail("'" + name + "' " + dimsStr(v) + " is too large");
    return v;
}

Pair pairAttr(Importer &im, const std::string &name, int64_t dflt) {
    std::vector<int64_t> v = windowInts(im, name, {dflt, dflt});
    if (v.size() != 2)
        im.fail("'" + name + "' " + dimsStr(v) + " must have 2 values (only 2-D windows are supported)");
    return Pair{v[0], v[1]};
}

// A window op's padding [top, left, bottom, right]: explicit pads or
// auto_pad (SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the
// start), plus a zero Pad folded in from before (`extra`, the same order).
// Every side is non-negative; begin and end may differ.
std::vector<int64_t> windowPads(Importer &im, const TensorType &in, Pair k, Pair s, Pair d,
                                const std::vector<int64_t> &extra) {
    std::string autoPad = im.attrString("auto_pad", "NOTSET");
    std::vector<int64_t> p = windowInts(im, "pads", {0, 0, 0, 0});
    if (p.size() != 4) im.fail("'pads' " + dimsStr(p) + " must have 4 values");
    if (autoPad == "VALID") {
        p = {0, 0, 0, 0};
    } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        int64_t ins[2] = {in.height(), in.width()}, ks[2] = {k.h, k.w}, ss[2] = {s.h, s.w}, ds[2] = {d.h, d.w};
        for (int a = 0; a < 2; ++a) {
            if (ss[a] < 1) im.fail("strides must be positive");
            int64_t out = (ins[a] + ss[a] - 1) / ss[a];
            int64_t total = std::max<int64_t>(0, (out - 1) * ss[a] + (ks[a] - 1) * ds[a] + 1 - ins[a]);
            int64_t small = total / 2, big = total - small;
            p[size_t(a)] = autoPad == "SAME_UPPER" ? small : big;
            p[size_t(a) + 2] = autoPad == "SAME_UPPER" ? big : small;
        }
    } else if (autoPad != "NOTSET") {
        im.fail("auto_pad '" + autoPad + "' is not supported");
    }
    if (!extra.empty())
        for (size_t i = 0; i < 4; ++i) p[i] += extra[i];
    for (int64_t x : p)
        if (x < 0) im.fail("negative padding " + dimsStr(p) + " is not supported");
    return p;
}

bool symmetric(const std::vector<int64_t> &p) { return p[0] == p[2] && p[1] == p[3]; }

// --- convolution, pooling, normalization ---

// A conv keeps the symmetric part of its padding (min of begin and end per
// axis); the rest, on one side of each axis, is a zero pad op before it.
void conv(Importer &im) {
    const Value xv = im.input(0);
    if (xv.kind != Value::Tensor) im.fail("input 'X' must be computed by the network");
    const TensorType in = requireMapInput(im, xv.node);
    Value w = im.constantInput(1, false);
    if (w.dims.size() != 4) im.fail("weight " + dimsStr(w.dims) + ": only 2-D convolutions are supported");
    Pair k{w.dims[2], w.dims[3]};
    Pair ks = pairAttr(im, "kernel_shape", k.h);
    if (im.attr("kernel_shape") && !(ks == k))
        im.fail("kernel_shape " + formatAttr(ks) + " does not match the weight's " + dimsStr(w.dims));
    Pair s = pairAttr(im, "strides", 1), d = pairAttr(im, "dilations", 1);
    std::vector<int64_t> p = windowPads(im, in, k, s, d, xv.pad);
    Pair pad{std::min(p[0], p[2]), std::min(p[1], p[3])};
    int x = xv.node;
    if (!symmetric(p)) x = im.addPad(x, {p[0] - pad.h, p[1] - pad.w, p[2] - pad.h, p[3] - pad.w}, 0.0);
    ParamValues params{{"weight", w}};
    bool bias = im.hasInput(2);
    if (bias) params.push_back({"bias", im.constantInput(2, false)});
    int node = im.addOp("conv", {x},
                        {{"filters", w.dims[0]}, {"size", k}, {"stride", s}, {"pad", pad}, {"bias", bias},
                         {"groups", im.attrInt("group", 1)}, {"dilation", d}},
                        params);
    im.setOutput(0, tensorValue(node));
}

// A pool's output extent as ONNX defines it, `padding` the sum of both ends.
// ONNX's ceil mode keeps a last window that starts in the end padding;
// PyTorch's, which the IR follows, drops it: where they differ, the importer fails.
int64_t onnxPoolExtent(int64_t extent, int64_t size, int64_t stride, int64_t padding, bool ceil) {
    int64_t num = extent + padding - size;
    return (ceil ? (num + stride - 1) / stride : num / stride) + 1;
}

// An AveragePool with count_include_pad=0 and asymmetric pads p ([top, left,
// bottom, right]): the pool pads each axis by the larger of its two pads
// itself (its divisor then counts only the map, as ONNX's does) and a pad op
// crops the windows ONNX does not have. Exact where the extra padding at the
// start is a whole number of strides, and the pool's padding at most half
// its window; otherwise an error. Returns the cropped node.
int averagePoolCropped(Importer &im, int x, const std::vector<int64_t> &p, Pair k, Pair s, bool ceil) {
    Pair pad{std::max(p[0], p[2]), std::max(p[1], p[3])};
    if ((pad.h - p[0]) % s.h != 0 || (pad.w - p[1]) % s.w != 0 || 2 * pad.h > k.h || 2 * pad.w > k.w)
        im.fail("asymmetric pads " + dimsStr(p) + " ([top, left, bottom, right]) with count_include_pad=0 are "
                "not supported for this window and stride");
    const TensorType in = im.type(x);
    int pooled = im.addOp("avgpool", {x}, {{"size", k}, {"stride", s}, {"pad", pad}, {"ceil", ceil}, {"count_pad", false}});
    const TensorType &out = im.type(pooled);
    int64_t top = (pad.h - p[0]) / s.h, left = (pad.w - p[1]) / s.w;
    int64_t bottom = out.height() - top - onnxPoolExtent(in.height(), k.h, s.h, p[0] + p[2], ceil);
    int64_t right = out.width() - left - onnxPoolExtent(in.width(), k.w, s.w, p[1] + p[3], ceil);
    if (bottom < 0 || right < 0)
        im.fail("ceil_mode gives a last window starting in the padding, which is not supported");
    return im.addPad(pooled, {-top, -left, -bottom, -right}, 0.0);
}

// A pool keeps symmetric padding. Asymmetric padding (or more than half a
// window, which the pool ops refuse) becomes a pad op of all of it before a
// pool without padding: -inf before MaxPool, which pads so itself and whose
// windows never select it; zeros before AveragePool where the padding counts
// in the average (count_include_pad=1). With count_include_pad=0 the pool
// pads symmetrically and its extra windows are cropped (averagePoolCropped).
void pool(Importer &im, bool avg) {
    Value xv = im.input(0);
    if (xv.kind != Value::Tensor) im.fail("input 'X' must be computed by the network");
    if (!im.attr("kernel_shape")) im.fail("'kernel_shape' is required");
    Pair k = pairAttr(im, "kernel_shape", 1), s = pairAttr(im, "strides", 1), d = pairAttr(im, "dilations", 1);
    if (!(d == Pair{1, 1})) im.fail("dilations " + formatAttr(d) + " are not supported for pooling");
    bool countPad = im.attrInt("count_include_pad", 0) != 0;
    if (!xv.pad.empty()) {
        if (avg) {
            std::vector<int64_t> own = im.attrInts("pads", {0, 0, 0, 0});
            if (!countPad && own != std::vector<int64_t>{0, 0, 0, 0})
                im.fail("a zero Pad before AveragePool with pads and count_include_pad=0 is not supported");
            countPad = true; // the padded zeros are values the average counts
        } else {
            xv = tensorValue(im.tensorInput(0)); // the zeros are values the max sees: a pad op of its own
        }
    }
    const TensorType in = requireMapInput(im, xv.node);
    std::vector<int64_t> p = windowPads(im, in, k, s, Pair{1, 1}, xv.pad);
    bool beyondHalf = 2 * std::max(p[0], p[2]) > k.h || 2 * std::max(p[1], p[3]) > k.w;
    int x = xv.node;
    Pair pad{p[0], p[1]};
    bool ceil = im.attrInt("ceil_mode", 0) != 0;
    if (avg && !countPad && !symmetric(p)) {
        im.setOutput(0, tensorValue(averagePoolCropped(im, x, p, k, s, ceil)));
        return;
    }
    if (!symmetric(p) || (beyondHalf && (!avg || countPad))) {
        x = im.addPad(x, p, avg ? 0.0 : -std::numeric_limits<double>::infinity());
        pad = Pair{0, 0};
    }
    std::vector<Attr> attrs{{"size", k}, {"stride", s}, {"pad", pad}, {"ceil", ceil}};
    if (avg) attrs.push_back({"count_pad", countPad});
    int node = im.addOp(avg ? "avgpool" : "maxpool", {x}, attrs);
    const TensorType &out = im.type(node);
    int64_t h = onnxPoolExtent(in.height(), k.h, s.h, p[0] + p[2], ceil);
    int64_t w = onnxPoolExtent(in.width(), k.w, s.w, p[1] + p[3], ceil);
    if (out.height() != h || out.width() != w)
        im.fail("ceil_mode gives a last window starting in the padding (output " + std::to_string(h) + "x" +
                std::to_string(w) + "), which is not supported");
    im.setOutput(0, tensorValue(node));
}

void globalPool(Importer &im, bool avg) {
    int x = im.tensorInput(0);
    const TensorType &in = requireMapInput(im, x);
    int node = avg ? im.addOp("adaptive_avgpool", {x}, {{"size", Pair{1, 1}}})
                   : im.addOp("maxpool", {x}, {{"size", Pair{in.height(), in.width()}}, {"stride", Pair{in.height(), in.width()}}});
    im.setOutput(0, tensorValue(node));
}

void batchNorm(Importer &im) {
    int x = im.tensorInput(0);
    if (im.attrInt("training_mode", 0) != 0) im.fail("training_mode=1 is not supported (inference only)");
    if (im.opset() < 9 && im.attrInt("spatial", 1) != 1) im.fail("spatial=0 is not supported");
    if (im.opset() < 7 && im.attrInt("is_test", 0) == 0) im.fail("is_test=0 (training mode) is not supported");
    double eps = decimal(im.attrFloat("epsilon", 1e-5f));
    double momentum = decimal(1.0 - double(im.attrFloat("momentum", 0.9f))); // ONNX's is PyTorch's 1 - momentum
    ParamValues params{{"weight", im.constantInput(1, false)},
                       {"bias", im.constantInput(2, false)},
                       {"running_mean", im.constantInput(3, false)},
                       {"running_var", im.constantInput(4, false)}};
    im.setOutput(0, tensorValue(im.addOp("batchnorm", {x}, {{"eps", eps}, {"momentum", momentum}}, params)));
}

void lrn(Importer &im) {
    int x = im.tensorInput(0);
    int64_t size = im.attrInt("size", 0);
    if (size < 1) im.fail("'size' must be a positive integer");
    // ONNX centres an even window one channel later than PyTorch's LocalResponseNorm.
    if (size % 2 == 0) im.fail("an even 'size' (" + std::to_string(size) + ") is not supported");
    im.setOutput(0, tensorValue(im.addOp("lrn", {x},
                                         {{"size", size},
                                          {"alpha", decimal(im.attrFloat("alpha", 1e-4f))},
                                          {"beta", decimal(im.attrFloat("beta", 0.75f))},
                                          {"k", decimal(im.attrFloat("bias", 1.0f))}})));
}

// --- dense layers ---

std::vector<float> transposed(const Value &m) {
    int64_t r = m.dims[0], c = m.dims[1];
    std::vector<float> t(m.floats.size());
    for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j) t[size_t(j * r + i)] = m.floats[size_t(i * c + j)];
    return t;
}

int vectorInput(Importer &im) {
    int a = im.tensorInput(0);
    if (!im.type(a).isVector()) im.fail("expects an [N, K] input, got " + shapeText(im.onnxDims(a)) + " (Flatten it first)");
    return a;
}

void gemm(Importer &im) {
    int a = vectorInput(im);
    if (im.attrInt("transA", 0) != 0) im.fail("transA=1 is not supported (the batch must be A's first dimension)");
    bool transB = im.attrInt("transB", 0) != 0;
    float alpha = im.attrFloat("alpha", 1.0f), beta = im.attrFloat("beta", 1.0f);
    const Value &b = im.constantInput(1, !transB || alpha != 1.0f); // transposing or scaling needs the values
    if (b.dims.size() != 2) im.fail("B " + dimsStr(b.dims) + " must be a matrix");
    Value w = b;
    if (!transB) {
        w.dims = {b.dims[1], b.dims[0]};
        w.floats = transposed(b);
    }
    if (alpha != 1.0f)
        for (float &f : w.floats) f *= alpha;
    int64_t units = w.dims[0];
    ParamValues params{{"weight", w}};
    bool bias = im.hasInput(2) && beta != 0.0f;
    if (bias) {
        Value c = im.constantInput(2, beta != 1.0f);
        bool perUnit = c.dims == std::vector<int64_t>{units} || c.dims == std::vector<int64_t>{1, units};
        bool scalar = c.elements() == 1 && c.dims.size() <= 2;
        if (!perUnit && !scalar)
            im.fail("C " + dimsStr(c.dims) + " is not supported (only [" + std::to_string(units) + "], [1, " +
                    std::to_string(units) + "] or a scalar)");
        if (scalar && !perUnit) {
            if (!c.hasData) im.fail("a scalar C must be an initializer");
            c.floats.assign(size_t(units), c.floats[0]);
        }
        c.dims = {units};
        if (beta != 1.0f)
            for (float &f : c.floats) f *= beta;
        params.push_back({"bias", c});
    }
    im.setOutput(0, tensorValue(im.addOp("dense", {a}, {{"units", units}, {"bias", bias}}, params)));
}

void matMul(Importer &im) {
    int a = vectorInput(im);
    const Value &b = im.constantInput(1);
    if (b.dims.size() != 2) im.fail("B " + dimsStr(b.dims) + " must be a matrix");
    Value w = b;
    w.dims = {b.dims[1], b.dims[0]};
    w.floats = transposed(b);
    int node = im.addOp("dense", {a}, {{"units", w.dims[0]}, {"bias", false}}, {{"weight", w}});
    if (im.usesOf(im.node().output(0)) == 1) im.allowBiasFold(node);
    im.setOutput(0, tensorValue(node));
}

// --- elementwise and structural ---

void add(Importer &im) {
    const Value &a = im.input(0), &b = im.input(1);
    if (a.kind == Value::Tensor && b.kind == Value::Tensor) {
        int x = im.tensorInput(0), y = im.tensorInput(1);
        if (im.type(x) != im.type(y))
            im.fail("broadcasting " + shapeText(im.onnxDims(x)) + " + " + shapeText(im.onnxDims(y)) + " is not supported");
        im.setOutput(0, tensorValue(im.addOp("add", {x, y}, {})));
        return;
    }
    // MatMul + Add of a per-unit bias: one dense layer.
    size_t t = a.kind == Value::Tensor ? 0 : 1;
    int x = im.tensorInput(t);
    Value bias = im.constantInput(1 - t, false);
    int64_t units = im.type(x).channels();
    bool perUnit = bias.dims == std::vector<int64_t>{units} || bias.dims == std::vector<int64_t>{1, units};
    if (!im.biasFoldable(x) || !perUnit)
        im.fail("adding a constant is supported only as the bias of a MatMul (constant " + dimsStr(bias.dims) + ")");
    bias.dims = {units};
    im.addBias(x, bias);
    im.setOutput(0, tensorValue(x));
}

void sum(Importer &im) {
    if (im.inputCount() == 0) im.fail("needs at least one input");
    int acc = im.tensorInput(0);
    for (size_t i = 1; i < im.inputCount(); ++i) {
        int y = im.tensorInput(i);
        if (im.type(acc) != im.type(y))
            im.fail("broadcasting " + shapeText(im.onnxDims(acc)) + " + " + shapeText(im.onnxDims(y)) + " is not supported");
        acc = im.addOp("add", {acc, y}, {});
    }
    im.setOutput(0, tensorValue(acc));
}

void elementwise(Importer &im, const char *op, std::vector<Attr> attrs = {}) {
    im.setOutput(0, tensorValue(im.addOp(op, {im.tensorInput(0)}, attrs)));
}

void clip(Importer &im) {
    float inf = std::numeric_limits<float>::infinity();
    float lo = -inf, hi = inf;
    if (im.opset() < 11) {
        lo = im.attrFloat("min", -inf), hi = im.attrFloat("max", inf);
    } else {
        for (size_t i : {size_t(1), size_t(2)}) {
            if (!im.hasInput(i)) continue;
            const Value &v = im.constantInput(i);
            if (v.elements() != 1 || v.isInt) im.fail("bounds must be float scalars");
            (i == 1 ? lo : hi) = v.floats[0];
        }
    }
    if (lo == 0.0f && hi == inf) return elementwise(im, "relu");
    if (std::isinf(lo) || std::isinf(hi))
        im.fail("bounds [" + formatAttr(double(lo)) + ", " + formatAttr(double(hi)) +
                "] are not supported (both finite, or [0, inf), which is Relu)");
    elementwise(im, "clip", {{"min", decimal(lo)}, {"max", decimal(hi)}});
}

void softmax(Importer &im) {
    int x = im.tensorInput(0);
    int64_t rank = rankOf(im, x);
    int64_t axis = im.axis(im.attrInt("axis", im.opset() < 13 ? 1 : -1), rank);
    const TensorType &t = im.type(x);
    // Before opset 13, Softmax flattens the dims from `axis` on: over channels
    // alone only where they are all there is per sample.
    bool overChannels = axis == 1 && (im.opset() >= 13 || t.isVector() || (t.height() == 1 && t.width() == 1));
    if (!overChannels)
        im.fail("softmax over axis " + std::to_string(axis) + " of " + shapeText(im.onnxDims(x)) +
                " is not supported (only over the channels, axis 1)");
    elementwise(im, "softmax");
}

void concat(Importer &im) {
    std::vector<int> xs;
    for (size_t i = 0; i < im.inputCount(); ++i) xs.push_back(im.tensorInput(i));
    int64_t axis = im.axis(im.attrInt("axis", 1), rankOf(im, xs[0]));
    if (axis != 1) im.fail("concatenation along axis " + std::to_string(axis) + " is not supported (only channels, axis 1)");
    if (xs.size() == 1) {
        im.setOutput(0, tensorValue(xs[0]));
        return;
    }
    im.setOutput(0, tensorValue(im.addOp("concat", xs, {})));
}

void flatten(Importer &im) {
    int x = im.tensorInput(0);
    // Flatten's axis may also be the rank itself (everything in the first dimension).
    int64_t rank = rankOf(im, x), axis = im.attrInt("axis", 1);
    if (axis != rank) axis = im.axis(axis, rank);
    if (axis != 1) im.fail("flattening at axis " + std::to_string(axis) + " is not supported (only axis 1, keeping the batch)");
    if (im.type(x).isVector()) im.setOutput(0, tensorValue(x));
    else im.setOutput(0, tensorValue(im.addOp("flatten", {x}, {})));
}

void reshape(Importer &im) {
    int x = im.tensorInput(0);
    const Value &shape = im.constantInput(1);
    if (!shape.isInt || shape.dims.size() != 1) im.fail("the shape must be a 1-D integer tensor");
    std::vector<int64_t> in = im.onnxDims(x), target = shape.ints;
    bool allowZero = im.attrInt("allowzero", 0) != 0;
    for (size_t i = 0; i < target.size(); ++i)
        if (target[i] == 0 && !allowZero) {
            if (i >= in.size()) im.fail("shape " + shapeText(shape.ints) + " copies a dimension the input lacks");
            target[i] = in[i];
        }
    int64_t elems = im.type(x).elementsPerSample();
    auto unsupported = [&] {
        im.fail("reshape of " + shapeText(in) + " to " + shapeText(shape.ints) +
                " is not supported (only flattening to [N, -1], keeping the batch)");
    };
    if (target.empty()) unsupported();
    int64_t first = target[0];
    std::vector<int64_t> rest(target.begin() + 1, target.end());
    bool batch = first == kBatchDim || (im.declaredBatch() > 0 && first == im.declaredBatch());
    int64_t known = 1;
    int unknown = 0;
    for (int64_t d : rest) {
        if (d == -1) ++unknown;
        else if (d < 1) unsupported();
        else known = checkedMul(known, d);
    }
    if (unknown > 1 || known < 0) unsupported();
    if (first == -1 && unknown == 0 && known == elems) batch = true;
    if (!batch) unsupported();
    for (int64_t &d : rest)
        if (d == -1) {
            if (known == 0 || elems % known != 0) unsupported();
            d = elems / known;
        }
    if (rest == im.type(x).dims) im.setOutput(0, tensorValue(x));
    else if (rest == std::vector<int64_t>{elems}) im.setOutput(0, tensorValue(im.addOp("flatten", {x}, {})));
    else unsupported();
}

void pad(Importer &im) {
    const Value &xv = im.input(0);
    if (xv.kind != Value::Tensor) im.fail("input 'data' must be computed by the network");
    requireMapInput(im, xv.node);
    std::string mode = im.attrString("mode", "constant");
    if (mode != "constant") im.fail("mode '" + mode + "' is not supported (only constant)");
    std::vector<int64_t> p;
    float value = 0.0f;
    if (im.opset() < 11) {
        p = im.attrInts("pads");
        value = im.attrFloat("value", 0.0f);
    } else {
        const Value &pv = im.constantInput(1);
        if (!pv.isInt) im.fail("pads must be integers");
        p = pv.ints;
        if (im.hasInput(2)) {
            const Value &v = im.constantInput(2);
            if (v.elements() != 1 || v.isInt) im.fail("constant_value must be a float scalar");
            value = v.floats[0];
        }
        if (im.hasInput(3)) im.fail("the 'axes' input is not supported");
    }
    if (p.size() != 8) im.fail("pads " + dimsStr(p) + " must have 8 values");
    for (int64_t x : p)
        if (x > (int64_t(1) << 30) || x < 0) im.fail("pads " + dimsStr(p) + " are not supported");
    if (p[0] || p[1] || p[4] || p[5]) im.fail("padding the batch or channels " + dimsStr(p) + " is not supported");
    std::vector<int64_t> add{p[2], p[3], p[6], p[7]};
    // Another value than zero is a pad op now; zeros wait for the consumer: a
    // Conv or AveragePool folds them into its padding, anything else makes
    // the pad op (Importer::tensorInput).
    if (value != 0.0f) {
        if (std::isnan(value) || value == std::numeric_limits<float>::infinity())
            im.fail("padding with " + std::to_string(value) + " is not supported (a finite value or -inf)");
        im.setOutput(0, tensorValue(im.addPad(im.tensorInput(0), add, decimal(value))));
        return;
    }
    Value out = xv;
    if (out.pad.empty()) out.pad = {0, 0, 0, 0};
    for (size_t i = 0; i < 4; ++i) out.pad[i] += add[i];
    im.setOutput(0, out);
}

// PyTorch's exporter shares equal initializers (the ones and zeros of fresh
// batchnorms) and names each use with an Identity: a constant takes the
// Identity's output name, so parameters keep the names of their layers.
void identity(Importer &im) {
    Value v = im.input(0);
    if (v.kind == Value::Constant) v.onnxName = im.node().output(0);
    im.setOutput(0, v);
}

void dropout(Importer &im) {
    if (im.opset() < 7 && im.attrInt("is_test", 0) == 0) im.fail("is_test=0 (training mode) is not supported");
    if (im.opset() >= 12 && im.hasInput(2)) {
        const Value &t = im.constantInput(2);
        if ((t.isInt ? !t.ints.empty() && t.ints[0] : !t.floats.empty() && t.floats[0] != 0.0f))
            im.fail("training_mode=true is not supported (inference only)");
    }
    im.setOutput(0, alias(im.input(0)));
}

const std::map<std::string, Translate> &table() {
    static const std::map<std::string, Translate> t = {
        {"Conv", conv},
        {"MaxPool", [](Importer &im) { pool(im, false); }},
        {"AveragePool", [](Importer &im) { pool(im, true); }},
        {"GlobalAveragePool", [](Importer &im) { globalPool(im, true); }},
        {"GlobalMaxPool", [](Importer &im) { globalPool(im, false); }},
        {"BatchNormalization", batchNorm},
        {"LRN", lrn},
        {"Gemm", gemm},
        {"MatMul", matMul},
        {"Add", add},
        {"Sum", sum},
        {"Relu", [](Importer &im) { elementwise(im, "relu"); }},
        {"Sigmoid", [](Importer &im) { elementwise(im, "sigmoid"); }},
        {"Tanh", [](Importer &im) { elementwise(im, "tanh"); }},
        {"LeakyRelu", [](Importer &im) { elementwise(im, "leaky_relu", {{"slope", decimal(im.attrFloat("alpha", 0.01f))}}); }},
        {"Clip", clip},
        {"Softmax", softmax},
        {"Concat", concat},
        {"Flatten", flatten},
        {"Reshape", reshape},
        {"Pad", pad},
        {"Dropout", dropout},
        {"Identity", identity},
            };
    return t;
}

} // namespace

bool isSupportedOp(const std::string &opType) { return table().count(opType) || constantOps().count(opType); }

// An op whose inputs are all constants is evaluated where it can be (Concat
// and Reshape of shapes); ops that are only defined on constants report
// a computed input themselves.
void translateNode(Importer &im) {
    const std::string &op = im.node().op_type();
    bool constantInputs = true;
    for (size_t i = 0; i < im.inputCount(); ++i)
        if (im.hasInput(i)) constantInputs = constantInputs && im.input(i).kind == Value::Constant && im.input(i).hasData;
    auto it = table().find(op);
    if (it != table().end() && !(constantInputs && constantOps().count(op))) return it->second(im);
    constantOps().at(op)(im);
}

} // namespace cnnc::onnximport
