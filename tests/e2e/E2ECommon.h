#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/CnncTest.h"

namespace cnnc_test {

// Two inferences that must agree (same weights, same input): equal up to a
// few ulps, so that it also holds between two builds of one network (from IR
// text, with --weights) whose kernels may order a sum differently; that one
// library gives the same bits every call is e2e.determinism_*'s test. Any
// changed weight moves the outputs by orders of magnitude more than this bound.
inline ::testing::AssertionResult sameOutputs(const std::vector<float> &a, const std::vector<float> &b) {
    if (a.size() != b.size())
        return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
    for (size_t i = 0; i < a.size(); ++i) {
        double bound = 1e-6 * std::max(std::fabs(double(a[i])), std::fabs(double(b[i]))) + 1e-30;
        if (!(std::fabs(double(a[i]) - double(b[i])) <= bound))
            return ::testing::AssertionFailure() << "output " << i << ": " << a[i] << " vs " << b[i];
    }
    return ::testing::AssertionSuccess();
}

// Parameters of examples/lenet5.cnn and examples/every_op.cnn (PyTorch layouts),
// as `cnnc --summary` names them.
inline std::vector<std::pair<std::string, std::vector<int64_t>>> lenet5Params() {
    return {{"conv1.weight", {6, 1, 5, 5}}, {"conv1.bias", {6}},       {"conv2.weight", {16, 6, 5, 5}},
            {"conv2.bias", {16}},           {"dense1.weight", {120, 400}}, {"dense1.bias", {120}},
            {"dense2.weight", {84, 120}},   {"dense2.bias", {84}},     {"dense3.weight", {10, 84}},
            {"dense3.bias", {10}}};
}

inline std::vector<std::pair<std::string, std::vector<int64_t>>> everyOpParams() {
    std::vector<std::pair<std::string, std::vector<int64_t>>> p = {
        {"conv1.weight", {8, 3, 3, 5}},       {"conv2.weight", {8, 2, 3, 3}},       {"conv2.bias", {8}},
        {"conv3.weight", {8, 8, 1, 1}},       {"conv3.bias", {8}},                  {"stage1.conv1.weight", {6, 8, 1, 1}},
        {"stage1.conv1.bias", {6}},           {"stage1.conv2.weight", {6, 8, 3, 3}}, {"stage1.conv2.bias", {6}},
        {"dense1.weight", {20, 72}},          {"dense1.bias", {20}},                {"dense2.weight", {7, 20}},
    };
    for (const char *bn : {"batchnorm1", "batchnorm2"}) {
        int64_t c = std::string(bn) == "batchnorm1" ? 8 : 20;
        for (const char *f : {"weight", "bias", "running_mean", "running_var"})
            p.push_back({std::string(bn) + "." + f, {c}});
    }
    return p;
}

// Random weights of the right shapes (running_var positive).
inline TensorMap randomWeights(const std::vector<std::pair<std::string, std::vector<int64_t>>> &params, uint32_t seed) {
    TensorMap w;
    for (const auto &[name, shape] : params) {
        Tensor t;
        t.shape = shape;
        int64_t fanIn = 1;
        for (size_t i = 1; i < shape.size(); ++i) fanIn *= shape[i];
        bool var = name.find("running_var") != std::string::npos;
        t.data = var ? randomUniform(size_t(t.numel()), seed++, 0.5f, 1.5f)
                     : randomNormal(size_t(t.numel()), seed++, 0.0f, shape.size() > 1 ? float(std::sqrt(2.0 / fanIn)) : 0.2f);
        w[name] = t;
    }
    return w;
}

// The example models, compiled once per test process.
const CompiledModel &lenet5();
const CompiledModel &everyOp();

}  // namespace cnnc_test
