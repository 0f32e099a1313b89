// Builds the Halide pipeline of one kernel: a group of IR nodes that runs as a
// single AOT-compiled function.
#pragma once
#include <string>
#include <vector>

#include <Halide.h>

#include "ir/Kernels.h"

namespace cnnc {

struct BuiltKernel {
    Halide::Pipeline pipeline;
    std::vector<Halide::Argument> arguments; // externals, then params (output implicit)
};

BuiltKernel buildKernel(const Graph &graph, const KernelSpec &spec, const Halide::Target &target);

// Buffer constraints the runtime guarantees: dense NCHW activations with fixed
// W, H, C and symbolic batch (or a given distance between samples), and dense
// parameters in PyTorch layout (dims reversed).
void constrainActivation(Halide::OutputImageParam p, const TensorType &t, int64_t sampleStride = 0);
void constrainParam(Halide::OutputImageParam p, const std::vector<int64_t> &shape);

} // namespace cnnc
