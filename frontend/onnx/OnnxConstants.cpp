// Ops on constants, evaluated at import: the shape arithmetic exporters emit
// around Reshape and Pad (Shape -> Gather -> Unsqueeze -> Concat, pads built
// with ConstantOfShape, Slice and Transpose). The batch size stays symbolic
// (kBatchDim) through them.
#include "frontend/onnx/Importer.h"

namespace cnnc::onnximport {
namespace {

std::vector<int64_t> stridesOf(const std::vector<int64_t> &dims) {
    std::vector<int64_t> s(dims.size(), 1);
    for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
    return s;
}

// A constant of shape `dims` whose element at each index is `in`'s element
// at flat position source(index).
template <typename Source>
Value rearranged(const Value &in, std::vector<int64_t> dims, Source source) {
    Value out = in;
    out.dims = dims;
    out.ints.clear();
    out.floats.clear();
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<int64_t> index(dims.size(), 0);
    for (int64_t k = 0; k < n; ++k) {
        int64_t from = source(index);
        if (in.isInt) out.ints.push_back(in.ints[size_t(from)]);
        else out.floats.push_back(in.floats[size_t(from)]);
        for (size_t a = dims.size(); a-- > 0;) {
            if (++index[a] < dims[a]) break;
            index[a] = 0;
        }
    }
    return out;
}

void constant(Importer &im) {
    Value v;
    v.kind = Value::Constant;
    v.onnxName = im.node().output(0);
    if (im.attr("value")) {
        v = im.attrTensor("value");
        v.onnxName = im.node().output(0);
    } else if (const auto *f = im.attr("value_float")) {
        v.floats = {f->f()};
    } else if (const auto *fs = im.attr("value_floats")) {
        v.floats.assign(fs->floats().begin(), fs->floats().end());
        v.dims = {int64_t(v.floats.size())};
    } else if (im.attr("value_int")) {
        v.isInt = true;
        v.ints = {im.attrInt("value_int", 0)};
    } else if (im.attr("value_ints")) {
        v.isInt = true;
        v.ints = im.attrInts("value_ints");
        v.dims = {int64_t(v.ints.size())};
    } else {
        im.fail("only value, value_float(s) and value_int(s) constants are supported");
    }
    im.setOutput(0, v);
}

Value intConstant(std::vector<int64_t> dims, std::vector<int64_t> ints) {
    Value v;
    v.kind = Value::Constant;
    v.isInt = true;
    v.dims = std::move(dims);
    v.ints = std::move(ints);
    return v;
}

// The shape of a computed tensor (batch symbolic; a pending zero Pad counted,
// so that a Conv after it still folds it) or of a constant (F.pad's exports
// without constant folding take the Shape of their pads tensor).
void shape(Importer &im) {
    const Value &v = im.input(0);
    std::vector<int64_t> d = v.kind == Value::Constant ? v.dims : im.onnxDims(v.node);
    if (v.kind == Value::Tensor && !v.pad.empty()) { // [N, C, H, W]; pad [top, left, bottom, right]
        d[2] += v.pad[0] + v.pad[2];
        d[3] += v.pad[1] + v.pad[3];
    }
    int64_t r = int64_t(d.size());
    auto clampIndex = [&](int64_t i) { return std::min(r, std::max<int64_t>(0, i < 0 ? i + r : i)); };
    int64_t start = clampIndex(im.attrInt("start", 0)), end = clampIndex(im.attrInt("end", r));
    std::vector<int64_t> out(d.begin() + start, d.begin() + std::max(start, end));
    im.setOutput(0, intConstant({int64_t(out.size())}, out));
}

void gather(Importer &im) {
    const Value &data = im.constantInput(0), &idx = im.constantInput(1);
    if (!data.isInt || data.dims.size() != 1 || !idx.isInt || im.axis(im.attrInt("axis", 0), 1) != 0)
        im.fail("only gathering from 1-D integer constants (shapes) is supported");
    std::vector<int64_t> out;
    int64_t n = int64_t(data.ints.size());
    for (int64_t i : idx.ints) {
        if (i < -n || i >= n) im.fail("index " + std::to_string(i) + " is out of range");
        out.push_back(data.ints[size_t(i < 0 ? i + n : i)]);
    }
    im.setOutput(0, intConstant(idx.dims, out));
}

std::vector<int64_t> axesOf(Importer &im) {
    if (im.opset() < 13) return im.attrInts("axes");
    if (!im.hasInput(1)) return {};
    const Value &a = im.constantInput(1);
    if (!a.isInt) im.fail("axes must be integers");
    return a.ints;
}

void unsqueeze(Importer &im) {
    Value v = im.constantInput(0);
    std::vector<int64_t> axes = axesOf(im);
    int64_t rank = int64_t(v.dims.size() + axes.size());
    std::vector<bool> inserted(size_t(rank), false);
    for (int64_t a : axes) {
        int64_t i = im.axis(a, rank);
        if (inserted[size_t(i)]) im.fail("axis " + std::to_string(a) + " is given twice");
        inserted[size_t(i)] = true;
    }
    std::vector<int64_t> dims;
    size_t j = 0;
    for (int64_t i = 0; i < rank; ++i) dims.push_back(inserted[size_t(i)] ? 1 : v.dims.at(j++));
    v.dims = dims;
    im.setOutput(0, v);
}

void squeeze(Importer &im) {
    Value v = im.constantInput(0);
    std::vector<int64_t> axes = axesOf(im);
    int64_t rank = int64_t(v.dims.size());
    std::vector<bool> removed(size_t(rank), axes.empty());
    for (int64_t a : axes) {
        int64_t i = im.axis(a, rank);
        if (v.dims[size_t(i)] != 1) im.fail("axis " + std::to_string(a) + " of " + dimsStr(v.dims) + " is not 1");
        removed[size_t(i)] = true;
    }
    std::vector<int64_t> dims;
    for (int64_t i = 0; i < rank; ++i)
        if (!removed[size_t(i)] || v.dims[size_t(i)] != 1) dims.push_back(v.dims[size_t(i)]);
    v.dims = dims;
    im.setOutput(0, v);
}

void cast(Importer &im) {
    int64_t to = im.attrInt("to", 0);
    bool toInt = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
    bool toFloat = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
    const Value &in = im.input(0);
    if (in.kind == Value::Tensor) {
        if (to != onnx::TensorProto::FLOAT) im.fail("casting a computed tensor to another type than FLOAT is not supported");
        im.setOutput(0, in);
        return;
    }
    Value v = im.constantInput(0);
    if (toInt && !v.isInt) {
        for (float f : v.floats) v.ints.push_back(int64_t(f));
        v.floats.clear();
        v.isInt = true;
    } else if (toFloat && v.isInt) {
        for (int64_t i : v.ints) {
            if (i == kBatchDim) im.fail("the batch size cannot be cast to float");
            v.floats.push_back(float(i));
        }
        v.ints.clear();
        v.isInt = false;
    } else if (!toInt && !toFloat) {
        im.fail("cast to type " + std::to_string(to) + " is not supported");
    }
    im.setOutput(0, v);
}


void concat(Importer &im) {
    if (im.inputCount() == 0) im.fail("needs at least one input");
    const Value &first = im.constantInput(0);
    int64_t axis = im.axis(im.attrInt("axis", 0), int64_t(first.dims.size()));
    std::vector<const Value *> parts;
    std::vector<int64_t> dims = first.dims;
    dims[size_t(axis)] = 0;
    for (size_t i = 0; i < im.inputCount(); ++i) {
        const Value &v = im.constantInput(i);
        std::vector<int64_t> a = v.dims, b = first.dims;
        if (a.size() != b.size() || v.isInt != first.isInt) im.fail("inputs of different ranks or types");
        a[size_t(axis)] = b[size_t(axis)] = 0;
        if (a != b) im.fail("inputs of shapes " + dimsStr(v.dims) + " and " + dimsStr(first.dims) + " do not concatenate");
        dims[size_t(axis)] += v.dims[size_t(axis)];
        parts.push_back(&v);
    }
    // Outer blocks (dims before the axis) of each part, one after the other.
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= dims[size_t(i)];
    for (size_t i = size_t(axis) + 1; i < dims.size(); ++i) inner *= dims[i];
    Value out = first;
    out.dims = dims;
    out.ints.clear();
    out.floats.clear();
    for (int64_t o = 0; o < outer; ++o)
        for (const Value *p : parts) {
            int64_t block = p->dims[size_t(axis)] * inner;
            if (p->isInt) out.ints.insert(out.ints.end(), p->ints.begin() + o * block, p->ints.begin() + (o + 1) * block);
            else out.floats.insert(out.floats.end(), p->floats.begin() + o * block, p->floats.begin() + (o + 1) * block);
        }
    im.setOutput(0, out);
}

void reshape(Importer &im) {
    Value v = im.constantInput(0);
    const Value &shape = im.constantInput(1);
    if (!shape.isInt || shape.dims.size() != 1) im.fail("the shape must be a 1-D integer tensor");
    std::vector<int64_t> dims = shape.ints;
    bool allowZero = im.attrInt("allowzero", 0) != 0;
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] == 0 && !allowZero) {
            if (i >= v.dims.size()) im.fail("shape " + dimsStr(shape.ints) + " copies a dimension the input lacks");
            dims[i] = v.dims[i];
        }
        if (dims[i] == -1 && unknown < 0) unknown = int64_t(i);
        else if (dims[i] < 0) im.fail("shape " + dimsStr(shape.ints) + " is not supported for a constant");
        else known *= dims[i];
    }
    if (unknown >= 0) dims[size_t(unknown)] = known ? v.elements() / known : 0;
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    if (n != v.elements()) im.fail("cannot reshape " + dimsStr(v.dims) + " to " + dimsStr(shape.ints));
    v.dims = dims;
    im.setOutput(0, v);
}

void constantOfShape(Importer &im) {
    const Value &shape = im.constantInput(0);
    if (!shape.isInt) im.fail("the shape must be integers");
    Value v;
    v.kind = Value::Constant;
    v.floats = {0.0f};
    if (im.attr("value")) v = im.attrTensor("value");
    if (v.elements() != 1) im.fail("'value' must hold one element");
    v.dims = shape.ints;
    int64_t n = v.elements();
    if (n < 0 || n > (int64_t(1) << 24)) im.fail("shape " + dimsStr(v.dims) + " is not supported");
    if (v.isInt) v.ints.assign(size_t(v.elements()), v.ints[0]);
    else v.floats.assign(size_t(v.elements()), v.floats[0]);
    im.setOutput(0, v);
}

void transpose(Importer &im) {
    const Value &in = im.constantInput(0);
    size_t rank = in.dims.size();
    std::vector<int64_t> perm;
    for (size_t i = rank; i-- > 0;) perm.push_back(int64_t(i));
    perm = im.attrInts("perm", perm);
    if (perm.size() != rank) im.fail("perm " + dimsStr(perm) + " does not match rank " + std::to_string(rank));
    std::vector<int64_t> dims, strides = stridesOf(in.dims), from;
    std::vector<bool> seen(rank, false);
    for (int64_t p : perm) {
        int64_t a = im.axis(p, int64_t(rank));
        if (seen[size_t(a)]) im.fail("perm " + dimsStr(perm) + " is not a permutation");
        seen[size_t(a)] = true;
        dims.push_back(in.dims[size_t(a)]);
        from.push_back(strides[size_t(a)]);
    }
    im.setOutput(0, rearranged(in, dims, [&](const std::vector<int64_t> &index) {
        int64_t k = 0;
        for (size_t i = 0; i < rank; ++i) k += index[i] * from[i];
        return k;
    }));
}

std::vector<int64_t> intsInput(Importer &im, size_t i) {
    const Value &v = im.constantInput(i);
    if (!v.isInt || v.dims.size() > 1) im.fail("input " + std::to_string(i + 1) + " must be a 1-D integer tensor");
    return v.ints;
}

void slice(Importer &im) {
    const Value &in = im.constantInput(0);
    int64_t rank = int64_t(in.dims.size());
    std::vector<int64_t> starts, ends, axes, steps;
    if (im.opset() < 10) {
        starts = im.attrInts("starts"), ends = im.attrInts("ends"), axes = im.attrInts("axes");
    } else {
        starts = intsInput(im, 1), ends = intsInput(im, 2);
        if (im.hasInput(3)) axes = intsInput(im, 3);
        if (im.hasInput(4)) steps = intsInput(im, 4);
    }
    if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        im.fail("starts, ends, axes and steps differ in length");
    std::vector<int64_t> begin(size_t(rank), 0), step(size_t(rank), 1), dims = in.dims;
    for (size_t i = 0; i < starts.size(); ++i) {
        size_t a = size_t(im.axis(axes[i], rank));
        int64_t d = in.dims[a], s = steps[i];
        if (s == 0) im.fail("a step of 0");
        auto clampTo = [&](int64_t x, int64_t lo, int64_t hi) {
            if (x < 0) x += d;
            return std::min(hi, std::max(lo, x));
        };
        int64_t b = s > 0 ? clampTo(starts[i], 0, d) : clampTo(starts[i], -1, d - 1);
        int64_t e = s > 0 ? clampTo(ends[i], 0, d) : clampTo(ends[i], -1, d - 1);
        if (s < 0 && ends[i] < -d) e = -1; // INT64_MIN-like ends mean "through the first element"
        begin[a] = b, step[a] = s;
        dims[a] = s > 0 ? std::max<int64_t>(0, (e - b + s - 1) / s) : std::max<int64_t>(0, (b - e - s - 1) / -s);
    }
    std::vector<int64_t> strides = stridesOf(in.dims);
    im.setOutput(0, rearranged(in, dims, [&](const std::vector<int64_t> &index) {
        int64_t k = 0;
        for (size_t i = 0; i < index.size(); ++i) k += (begin[i] + index[i] * step[i]) * strides[i];
        return k;
    }));
}

} // namespace

const std::map<std::string, Translate> &constantOps() {
    static const std::map<std::string, Translate> t = {
        {"Constant", constant},     {"ConstantOfShape", constantOfShape}, {"Shape", shape},
        {"Gather", gather},         {"Unsqueeze", unsqueeze},             {"Squeeze", squeeze},
        {"Cast", cast},             {"Concat", concat},                   {"Reshape", reshape},
        {"Transpose", transpose},   {"Slice", slice},
    };
    return t;
}

} // namespace cnnc::onnximport
