// What an op's Halide lowering and schedule hooks see. Every tensor is a Func
// over (x, y, c, n): width, height, channel, batch. A vector [K] is a map with
// W = H = 1 and K channels, so the same index space serves both.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <Halide.h>

#include "lowering/ScheduleChoice.h"
#include "ir/Graph.h"

namespace cnnc {

struct LowerCtx {
    const Node &node;
    std::vector<TensorType> inputTypes;
    std::vector<Halide::Func> inputs; // one per operand, indexed (x, y, c, n)
    std::vector<Halide::Func> params; // one per node.params, dims reversed from PyTorch's
    Halide::Var x{"x"}, y{"y"}, c{"c"}, n{"n"};
    // Intermediate Funcs the op's schedule hook wants back (e.g. "acc").
    std::map<std::string, Halide::Func> stages;
    // Set when lowering the training-mode forward (see lowering/TrainingMode.h).
    struct TrainingMode *training = nullptr;
    // The kernel's tuned schedule (knobs of the anchor's scheduleSpace); read
    // by lowerings that choose an algorithm (direct or Winograd convolution).
    ScheduleChoice choice;
    // The kernel target's SIMD registers: floats per register (8 for AVX2, 16
    // for AVX-512) and how many there are (16, 32), for lowerings that
    // schedule themselves (the backward ops' GEMMs); see forTarget.
    int vectorWidth = 8;
    int vectorRegisters = 16;

    // Sets vectorWidth and vectorRegisters from the target the kernel is compiled for.
    void forTarget(const Halide::Target &target);

    const Attrs &attrs() const { return node.attrs; }
    const TensorType &outType() const { return node.type; }
    std::string fname(const std::string &stage) const { return "n" + std::to_string(node.id) + "_" + stage; }
};

// Scheduling is driven by the kernel's anchor (the first node with a schedule
// hook). `output` is the kernel's result Func: a pure wrapper, so its loops can
// be tiled freely; `self` is what the anchor's lowering returned.
struct ScheduleCtx {
    LowerCtx &op;
    Halide::Func self;
    Halide::Func output;
    TensorType outputType;
    Halide::Target target;
    int vectorWidth = 8; // floats per SIMD register
    Halide::Var x, y, c, n; // the output's pure vars
    // What `output` copies: the last fused op's Func (a pool after a conv),
    // which the anchor may compute at its own loops; undefined where unknown.
    Halide::Func last;
};

// NaN on the bits of a float. Halide compiles float arithmetic assuming no NaN
// (a float NaN test or a select yielding NaN may fold away), so rules that must
// keep NaN, as PyTorch does, test and choose on the bits.
Halide::Expr isNaN(Halide::Expr v); // either sign, any payload
Halide::Expr keepNaN(Halide::Expr v, Halide::Expr result); // v where v is NaN, else result

// Zero (or `value`) outside [0, W) x [0, H) of a map-indexed Func: explicit padding.
Halide::Func padSpatial(const Halide::Func &in, const TensorType &type, Halide::Expr value, const std::string &name);

// Generic parallel + vectorized schedule for an output Func with no anchor:
// vectorize the innermost non-trivial dimension, parallelize rows x batch
// (planes x batch where rows are short).
void scheduleElementwiseOutput(Halide::Func out, const TensorType &type, int vectorWidth,
                               Halide::Var x, Halide::Var y, Halide::Var c, Halide::Var n);

// Parallel over f's rows x channels (fused into one loop), several rows per
// task: a task should outweigh the thread pool's cost of handing it out, which
// one row of a small map does not (ResNet's 9-float padded rows of its 7x7
// layers cost 0.5 ms per sample when each row was a task).
void parallelOverRows(Halide::Func f, Halide::Var y, Halide::Var c, int64_t rowElements);

// Parallel over (channel, sample) planes, fused, in tasks of whole planes of
// at least 4096 values each; the tail is guarded. Returns the loop over
// single planes (a stage computed there holds one plane).
Halide::Var parallelOverPlanes(Halide::Func f, Halide::Var c, Halide::Var n, int64_t planeElements);

// Lanes for a vectorized loop over `extent` elements that must not round up
// (an output, a staged copy): the target's `vectorWidth`, else 8 where that
// is wider than the loop (AVX-512's 16 on a 14-wide map), else 0 (not
// vectorized). At 8 lanes: 8 from 8 elements up.
int fittingLanes(int64_t extent, int vectorWidth);

// Largest of {16, 8, 4, 2, 1} that is <= limit and <= extent.
int tileFactor(int64_t extent, int limit);

} // namespace cnnc
