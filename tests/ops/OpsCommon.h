// Shared helpers of the op tests: random weights and a model-vs-reference check
// at batch 1 and batch 7.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/CnncTest.h"
#include "tests/support/Reference.h"

namespace cnnc_test {

struct Shape {
    int c, h, w;
    int size() const { return c * h * w; }
};

// Relative tolerance: max |cnnc - reference| <= kTol * max |reference|.
constexpr double kTol = 1e-5;

inline uint32_t seedOf(const std::string &s) {
    uint32_t h = 2166136261u;
    for (char ch : s) h = (h ^ uint8_t(ch)) * 16777619u;
    return h;
}

// Weights scaled like a trained network's (He init) so nothing vanishes.
inline Tensor randomWeight(std::vector<int64_t> shape, const std::string &name) {
    Tensor t;
    t.shape = shape;
    int64_t fanIn = 1;
    for (size_t i = 1; i < shape.size(); ++i) fanIn *= shape[i];
    t.data = randomNormal(size_t(t.numel()), seedOf(name), 0.0f, float(std::sqrt(2.0 / double(fanIn))));
    return t;
}
inline Tensor randomBias(int64_t n, const std::string &name) {
    Tensor t;
    t.shape = {n};
    t.data = randomNormal(size_t(n), seedOf(name), 0.0f, 0.5f);
    return t;
}
inline Tensor randomPositive(int64_t n, const std::string &name, float lo, float hi) {
    Tensor t;
    t.shape = {n};
    t.data = randomUniform(size_t(n), seedOf(name), lo, hi);
    return t;
}

using RefFn = std::function<ref::Arr(const ref::Arr &)>;

// Infers random N(0, scale) inputs at batch 1 and 7 and compares with ref.
inline void expectMatchesReference(const CompiledModel &m, Shape in, const RefFn &reference, double scale = 1.0,
                                   double tol = kTol, std::vector<int> batches = {1, 7}) {
    ASSERT_TRUE(m.ok()) << m.error();
    auto dims = m.inputDims();
    ASSERT_EQ(dims[0], in.c);
    ASSERT_EQ(dims[1], in.h);
    ASSERT_EQ(dims[2], in.w);
    for (int batch : batches) {
        SCOPED_TRACE("batch " + std::to_string(batch));
        std::vector<float> input = randomNormal(size_t(batch) * size_t(in.size()), seedOf(m.name()) + uint32_t(batch),
                                                0.0f, float(scale));
        ref::Arr expected = reference(ref::Arr::fromFloats(input, batch, in.c, in.h, in.w));
        ASSERT_EQ(size_t(m.outputSize()) * size_t(batch), expected.size()) << "output_size disagrees with reference";
        std::vector<float> out = m.infer(input, batch);
        ASSERT_FALSE(out.empty());
        ref::Diff d = ref::compare(out, expected);
        ASSERT_TRUE(d.sizeMismatch.empty()) << d.sizeMismatch;
        EXPECT_LE(d.maxAbsDiff, tol * std::max(d.maxRef, 1e-30))
            << "max |diff| " << d.maxAbsDiff << " at flat index " << d.worst << " (got " << out[d.worst]
            << ", expected " << expected.v[d.worst] << "), max |ref| " << d.maxRef;
    }
}

inline ref::Arr conv(const ref::Arr &x, const TensorMap &w, const std::string &name, int filters, ref::Pair size,
                     ref::Pair stride = 1, ref::Pair pad = 0, ref::Pair dilation = 1, int groups = 1) {
    auto b = w.find(name + ".bias");
    return ref::conv2d(x, w.at(name + ".weight").data, b == w.end() ? std::vector<float>{} : b->second.data, filters,
                       size, stride, pad, dilation, groups);
}
inline ref::Arr dense(const ref::Arr &x, const TensorMap &w, const std::string &name, int units) {
    auto b = w.find(name + ".bias");
    return ref::linear(x, w.at(name + ".weight").data, b == w.end() ? std::vector<float>{} : b->second.data, units);
}
inline ref::Arr batchnorm(const ref::Arr &x, const TensorMap &w, const std::string &name, double eps) {
    return ref::batchnorm(x, w.at(name + ".weight").data, w.at(name + ".bias").data, w.at(name + ".running_mean").data,
                          w.at(name + ".running_var").data, eps);
}

// Random conv / dense / batchnorm parameters under `name`.
inline void addConv(TensorMap &w, const std::string &name, int filters, int cinPerGroup, ref::Pair k, bool bias = true) {
    w[name + ".weight"] = randomWeight({filters, cinPerGroup, k.h, k.w}, name + ".weight");
    if (bias) w[name + ".bias"] = randomBias(filters, name + ".bias");
}
inline void addDense(TensorMap &w, const std::string &name, int units, int k, bool bias = true) {
    w[name + ".weight"] = randomWeight({units, k}, name + ".weight");
    if (bias) w[name + ".bias"] = randomBias(units, name + ".bias");
}
inline void addBatchnorm(TensorMap &w, const std::string &name, int c) {
    w[name + ".weight"] = randomPositive(c, name + ".weight", 0.5f, 1.5f);
    w[name + ".bias"] = randomBias(c, name + ".bias");
    w[name + ".running_mean"] = randomBias(c, name + ".running_mean");
    w[name + ".running_var"] = randomPositive(c, name + ".running_var", 0.3f, 2.0f);
}

// Compiles `body` as `network <name>(x: [c, h, w]) { body }`.
inline CompiledModel compileNet(const std::string &name, Shape in, const std::string &body,
                                const std::vector<std::string> &flags = {}) {
    std::string src = "network " + name + "(x: [" + std::to_string(in.c) + ", " + std::to_string(in.h) + ", " +
                      std::to_string(in.w) + "]) {\n" + body + "\n}\n";
    return compileModel(src, name, flags);
}

}  // namespace cnnc_test
