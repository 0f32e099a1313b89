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

// OpDef::flops of ops that move or drop values but compute none (views,
// concatenation, dropout at inference, padding).
inline int64_t noFlops(const OpCall &, const TensorType &) { return 0; }

} // namespace cnnc::ops

namespace cnnc::ops {

// Internal arguments of ops that absorb a following batchnorm (fold-batchnorm pass).
inline std::vector<ArgSpec> batchNormFoldArgs() {
    return {{"fold_bn", AttrKind::String, std::string(), "", true}, {"fold_eps", AttrKind::Float, 1e-5, "", true}};
}

inline bool foldsBatchNorm(const Attrs &a) { return a.has("fold_bn"); }

// A batchnorm folded into its producer's weight and bias (ops/BatchNorm.cpp),
// from the sources weight, bias, gamma, beta, running_mean, running_var (the
// weight, bias, gamma and beta may be absent): scale = gamma / sqrt(var + eps)
// per output channel (dim 0); weight' = weight * scale, bias' = (bias - mean)
// * scale + beta.
extern const Derivation kFoldBatchNormWeight, kFoldBatchNormBias;

// A conv's or dense's parameters: weight [+ bias]. With a batchnorm folded in,
// those and the batchnorm's four tensors are still loaded and saved under their
// own names, and the kernel reads a derived weight and bias instead.
inline std::vector<ParamDecl> weightAndBias(const Attrs &a, const std::vector<int64_t> &weightShape, int64_t fanIn,
                                            bool bias) {
    int64_t channels = weightShape[0];
    std::vector<ParamDecl> out{{"weight", weightShape, ParamInit::UniformFanIn, fanIn}};
    if (bias) out.push_back({"bias", {channels}, ParamInit::UniformFanIn, fanIn});
    if (!foldsBatchNorm(a)) return out;
    for (ParamDecl &d : out) d.kernelArg = false;
    const std::string &bn = a.getString("fold_bn");
    int stats = int(out.size());
    out.push_back({"weight", {channels}, ParamInit::Ones, 1, bn, false, false});
    out.push_back({"bias", {channels}, ParamInit::Zeros, 1, bn, false, false});
    out.push_back({"running_mean", {channels}, ParamInit::Zeros, 1, bn, true, false});
    out.push_back({"running_var", {channels}, ParamInit::Ones, 1, bn, true, false});
    std::vector<int> sources{0, bias ? 1 : -1, stats, stats + 1, stats + 2, stats + 3};
    ParamDecl w{"weight.folded", weightShape, ParamInit::Zeros, 1};
    w.derivation = &kFoldBatchNormWeight;
    ParamDecl b{"bias.folded", {channels}, ParamInit::Zeros, 1};
    b.derivation = &kFoldBatchNormBias;
    for (ParamDecl *d : {&w, &b}) d->sources = sources, d->eps = a.getFloat("fold_eps");
    w.sources[1] = w.sources[3] = w.sources[4] = -1; // the weight's fold reads the weight, gamma and var
    b.sources[0] = -1;                               // the bias's, all but the weight
    out.push_back(w);
    out.push_back(b);
    return out;
}

// Whether the kernel gets a bias tensor (its own, or one a folded batchnorm made).
inline bool kernelHasBias(const Attrs &a) { return a.getBool("bias") || foldsBatchNorm(a); }

} // namespace cnnc::ops
