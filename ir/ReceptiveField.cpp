#include "ir/ReceptiveField.h"

#include <algorithm>

#include "ir/OpDef.h"

namespace cnnc {

namespace {

// The field after a window of `size` taps `dilation` apart, moved by
// `stride`, over an input padded by `pad`, whose own field is `in`.
ReceptiveField windowed(const ReceptiveField &in, Pair size, Pair stride, Pair pad, Pair dilation) {
    ReceptiveField f;
    f.size = {in.size.h + dilation.h * (size.h - 1) * in.jump.h, in.size.w + dilation.w * (size.w - 1) * in.jump.w};
    f.jump = {in.jump.h * stride.h, in.jump.w * stride.w};
    f.start = {in.start.h - pad.h * in.jump.h, in.start.w - pad.w * in.jump.w};
    return f;
}

} // namespace

std::vector<ReceptiveField> receptiveFields(const Graph &g) {
    const TensorType &input = g.input().type;
    ReceptiveField whole;
    whole.size = {input.height(), input.width()};
    whole.jump = {0, 0};
    std::vector<ReceptiveField> fields(g.nodes.size());
    for (const Node &n : g.nodes) {
        ReceptiveField &f = fields[size_t(n.id)];
        if (n.isInput()) continue;
        const ReceptiveField &in = fields[size_t(n.operands[0])];
        const OpTraits &traits = n.def->traits;
        if (traits.slidingWindow) {
            const Pair dilation = n.attrs.has("dilation") ? n.attrs.getPair("dilation") : Pair{1, 1};
            f = windowed(in, n.attrs.getPair("size"), n.attrs.getPair("stride"), n.attrs.getPair("pad"), dilation);
        } else if (traits.border) {
            f = in;
            f.start = {in.start.h - n.attrs.getInt("top") * in.jump.h, in.start.w - n.attrs.getInt("left") * in.jump.w};
        } else if (traits.elementwise || traits.positionwise) {
            f = in;
            for (int o : n.operands) {
                const ReceptiveField &other = fields[size_t(o)];
                if (!(other.jump == f.jump)) {
                    f = whole;
                    break;
                }
                const Pair end{std::max(f.start.h + f.size.h, other.start.h + other.size.h),
                               std::max(f.start.w + f.size.w, other.start.w + other.size.w)};
                f.start = {std::min(f.start.h, other.start.h), std::min(f.start.w, other.start.w)};
                f.size = {end.h - f.start.h, end.w - f.start.w};
            }
        } else {
            f = whole;
        }
        if (f.jump.h == 0 || f.jump.w == 0) f = whole; // one operand already saw everything
    }
    return fields;
}

} // namespace cnnc
