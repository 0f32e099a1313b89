// What ops see when lowered for training instead of inference: batchnorm uses
// batch statistics and reports updated running statistics; dropout draws a
// mask from the step's seed.
#pragma once
#include <map>
#include <vector>

#include <Halide.h>

namespace cnnc {

struct TrainingMode {
    Halide::Expr seed;  // uint32 seed of this step (a kernel parameter)
    Halide::Expr batch; // the batch extent (statistics over it)
    // New values of buffer parameters (index into Node::params), e.g. running
    // statistics; the forward kernel writes them as extra outputs.
    std::map<int, Halide::Func> newParams;
};

struct LowerCtx;

// A hand-written adjoint (OpDef::backward) sees the forward's inputs (through
// `forward`), d loss / d output as `dy`, and returns d loss / d each operand
// and parameter (an undefined Func where it has none, e.g. buffers).
struct BackwardCtx {
    LowerCtx &forward;
    Halide::Func dy;    // indexed (x, y, c, n) over the node's output
    Halide::Expr batch; // extent of n
    std::vector<Halide::Func> inputGrads; // one per operand
    std::vector<Halide::Func> paramGrads; // one per parameter
    // The loop over (channel, sample) planes of the kernel's first operand
    // gradient, bound (LoopLevel::set) once that output is scheduled: an
    // adjoint that needs a buffer of its own (maxpool's scatter) computes it
    // there, a plane at a time, while it is in cache.
    Halide::LoopLevel operandPlane;
    // Per operand, the gradient that earlier kernels already wrote into the
    // buffer this kernel adds to (it is also the output's memory: in place),
    // or undefined where this kernel writes it first.
    std::vector<Halide::Func> previousGrads;
    // Gradients that the adjoint computes at root with a schedule of its own
    // (conv's weights, its Winograd input gradient), exact to the tensor's
    // shape and written in place where they accumulate (no rounded-up or
    // shifted-in tails): the kernel writes them straight into its output
    // buffers. An operand gradient here already includes previousGrads.
    std::vector<Halide::Func> scheduledAtRoot;
};

// A deterministic uniform value in [0, 1) for each element and seed: an
// integer hash, so forward and backward kernels draw the same dropout mask.
Halide::Expr uniformHash(Halide::Expr seed, Halide::Expr x, Halide::Expr y, Halide::Expr c, Halide::Expr n);

} // namespace cnnc
