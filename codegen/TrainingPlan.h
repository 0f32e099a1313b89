// The training step as kernels: the forward pass in training mode (one kernel
// per op, every value kept, but an activation with a single-use input runs in
// its producer's kernels), the cross-entropy of each head, and the backward
// pass, each op's gradient from the adjoint written next to its forward or
// derived from its forward lowering with Halide's automatic differentiation.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <Halide.h>

#include "codegen/KernelBuilder.h"
#include "ir/Graph.h"

namespace cnnc {

// A buffer a training kernel reads or writes (see cnnrt_tensor_desc).
struct TensorRef {
    int storage = 0;    // enum cnnrt_storage
    int index = 0;      // parameter index for PARAM, GRAD, NEW_PARAM
    int64_t offset = 0; // per-sample floats, for TRAIN
    int64_t dims[3] = {0, 0, 0};
};

struct PlannedKernel {
    std::string label;
    // What it computes, in the IR's value names: "%5 = conv(%4) {train}",
    // "d%4, d[conv1.weight] += conv.backward(d%5, %4)" (printTrainingPlan).
    std::string text;
    std::string signature; // cache key text
    // Builds the kernel for a target: `target` (see planTraining), and the
    // portable target too where `target` is wider.
    std::function<BuiltKernel(const Halide::Target &)> build;
    Halide::Target target;
    std::vector<TensorRef> args;
};

struct TrainingPlan {
    std::vector<PlannedKernel> kernels;
    int64_t arenaFloats = 0;
    std::vector<std::pair<TensorRef, float>> lossTerms; // per-sample loss tensors, weights
    int numClasses = 0;
};

// The plan as text, one kernel per line in execution order: forward in
// training mode, the losses, then backward (--print-after-all shows it).
std::string printTrainingPlan(const TrainingPlan &plan);

// `graph`: the network for training (aux heads and dropout kept, nothing
// folded or fused). paramIndex maps a parameter name to its index in the
// library's parameter table. `target`: the inference kernels' target, which
// the training forward kernels take too, except those of ops whose
// OpDef::wideTrainingForward says otherwise; they and every backward kernel
// take `wideTarget` (wideKernelTarget(): AVX-512 where its FMAs run at full rate).
TrainingPlan planTraining(const Graph &graph, const std::function<int(const std::string &)> &paramIndex,
                          const Halide::Target &target, const Halide::Target &wideTarget);

} // namespace cnnc
