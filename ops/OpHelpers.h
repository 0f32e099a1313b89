// Small shared pieces of op definitions: argument checks and window arithmetic.
#pragma once
#include <string>

#include "ir/OpDef.h"

namespace cnnc::ops {

inline const TensorType &requireMap(const OpCall &call, const char *op, size_t i = 0) {
    const TensorType &t = call.inputs.at(i);
    if (!t.isMap())
        throw OpError(std::string(op) + " expects a [C, H, W] feature map, got " + t.shapeStr());
    return t;
}

inline int64_t requirePositive(const Attrs &a, const char *arg) {
    int64_t v = a.getInt(arg);
    if (v < 1) throw OpError(std::string("'") + arg + "' must be at least 1, got " + std::to_string(v));
    return v;
}

inline Pair requirePair(const Attrs &a, const char *arg, int64_t min) {
    Pair p = a.getPair(arg);
    if (p.h < min || p.w < min)
        throw OpError(std::string("'") + arg + "' must be at least " + std::to_string(min) + ", got " +
                      formatAttr(p));
    if (p.h > (int64_t(1) << 30) || p.w > (int64_t(1) << 30))
        throw OpError(std::string("'") + arg + "' is too large: " + formatAttr(p));
    return p;
}

// Output extent of a sliding window, PyTorch's rule (including ceil mode, where
// the last window must start inside the input or its left padding).
inline int64_t windowOutput(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil, const char *axis) {
    int64_t span = d * (k - 1) + 1;
    if (span > in + 2 * p)
        throw OpError("kernel extent " + std::to_string(span) + " is larger than the padded input " + axis + " " +
                      std::to_string(in + 2 * p));
    int64_t num = in + 2 * p - span;
    int64_t out = (ceil ? (num + s - 1) / s : num / s) + 1;
    if (ceil && (out - 1) * s >= in + p) --out;
    return out;
}

inline TensorType mapType(int64_t c, int64_t h, int64_t w) {
    TensorType t{{c, h, w}};
    if (t.elementsPerSample() < 0) throw OpError("output shape " + t.shapeStr() + " is too large");
    return t;
}

} // namespace cnnc::ops
