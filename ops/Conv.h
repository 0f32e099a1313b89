// Shared by conv's direct (Conv.cpp) and Winograd (ConvWinograd.cpp) lowerings.
#pragma once
#include <Halide.h>

#include "ops/OpHelpers.h"

namespace cnnc {
struct BackwardCtx;
struct ScheduleChoice;
struct LowerCtx;
struct ScheduleCtx;
}

namespace cnnc::ops {

struct ConvGeometry {
    int64_t cin, h, w, filters, groups;
    Pair size, stride, pad, dilation;
    bool bias;
    int64_t oh, ow;
};

inline ConvGeometry convGeometry(const OpCall &call) {
    const TensorType &in = requireMap(call, "conv");
    ConvGeometry g;
    g.cin = in.channels(), g.h = in.height(), g.w = in.width();
    g.filters = requirePositive(call.attrs, "filters");
    g.groups = requirePositive(call.attrs, "groups");
    g.size = requirePair(call.attrs, "size", 1);
    g.stride = requirePair(call.attrs, "stride", 1);
    g.pad = requirePair(call.attrs, "pad", 0);
    g.dilation = requirePair(call.attrs, "dilation", 1);
    g.bias = call.attrs.getBool("bias");
    if (g.cin % g.groups != 0)
        throw OpError("input channels (" + std::to_string(g.cin) + ") are not divisible by groups (" +
                      std::to_string(g.groups) + ")");
    if (g.filters % g.groups != 0)
        throw OpError("filters (" + std::to_string(g.filters) + ") are not divisible by groups (" +
                      std::to_string(g.groups) + ")");
    g.oh = windowOutput(g.h, g.size.h, g.stride.h, g.pad.h, g.dilation.h, false, "height");
    g.ow = windowOutput(g.w, g.size.w, g.stride.w, g.pad.w, g.dilation.w, false, "width");
    return g;
}

// Winograd F(2x2, 3x3): a 3x3, stride-1, undilated, ungrouped conv whose
// kernel writes the conv's own output, or a tile-pooled one.
bool winogradApplies(const ConvGeometry &g, const TensorType &kernelOutput);
// The kernel's output has one pixel per 2x2 output tile (a fused 2x2 stride-2
// pool, VGG's): the pool consumes each tile's four outputs straight from the
// inverse transform, so the conv's map never exists.
bool winogradTilePooled(const ConvGeometry &g, const TensorType &kernelOutput);
// The conv as Winograd's transforms and 16 channel GEMMs; returns the output
// (bias added) over (x, y, c, n), and registers its stages in ctx.stages.
Halide::Func lowerWinograd(LowerCtx &ctx, const ConvGeometry &g);
void scheduleWinograd(ScheduleCtx &s, const ConvGeometry &g);

// The same, on explicit operands (conv's input gradient is a Winograd conv of
// dy with the flipped, transposed filters).
struct WinogradInputs {
    Halide::Func input;      // (x, y, c, n) over inputType, any values outside (it is padded)
    TensorType inputType;
    Halide::Func weight;     // (kx, ky, ci, co)
    Halide::Expr bias;       // per output channel, or undefined
    ConvGeometry geometry;
    std::string prefix;      // Func names
    Halide::Var x, y, c, n;  // the output's variables
};
struct WinogradStages {
    Halide::Func padded, U, V, M;
    Halide::Var n; // the stages' batch variable (the output's may differ)
};
Halide::Func winogradConv(const WinogradInputs &in, WinogradStages &stages);
void scheduleWinogradStages(const WinogradStages &stages, Halide::Func output, Halide::Var x, Halide::Var y,
                            Halide::Var c, Halide::Var n, const ConvGeometry &g, const struct ScheduleChoice &choice,
                            int vectorWidth, bool tilePooled = false);

// The adjoint (ConvBackward.cpp).
void convBackward(BackwardCtx &b);

} // namespace cnnc::ops
