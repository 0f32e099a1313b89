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

} // namespace cnnc
