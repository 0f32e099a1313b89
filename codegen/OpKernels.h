// Kernels of one op each, in training or inference mode, shared by the
// training plan (TrainingPlan.h) and the layer plan (LayerPlan.h).
#pragma once
#include <string>
#include <vector>

#include <Halide.h>

#include "codegen/KernelBuilder.h"
#include "ir/Graph.h"

namespace cnnc {

// How a backward kernel produces one gradient: not at all, by writing it (the
// first contribution), or by adding to what earlier kernels wrote.
enum class GradientWrite { None, Write, Accumulate };

// The node whose output is the logits of a head: softmax(z) trains on z.
int logitsOf(const Graph &g, int node);

// The cache key text of one of a node's kernels; `role` says which
// ("forward", "backward", "layer"...).
std::string nodeSignature(const Graph &g, const Node &n, const std::string &role);

// Node `id`'s value, and `activation`'s applied to it (-1: none). Arguments:
// the seed (training only), the operands, the parameters; outputs: the value,
// then (training) each buffer's new value.
// training: batch statistics, dropout masks; else running statistics, no dropout.
BuiltKernel buildForward(const Graph &g, int id, int activation, const Halide::Target &target, bool training);

// d / d operands (and, training, d / d parameters) of node `id` given d / d
// its value (or its fused activation's, from that activation's output).
// Arguments: the seed (training only), operands, parameters, dy, the
// activation's output (activation >= 0), the gradients accumulated into;
// outputs: the operand gradients operandGrads asks for, then (training) each
// non-buffer parameter's.
BuiltKernel buildBackward(const Graph &g, int id, const std::vector<GradientWrite> &operandGrads, int activation,
                          const Halide::Target &target, bool training);

} // namespace cnnc
