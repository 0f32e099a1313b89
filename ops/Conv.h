// Shared by conv's direct (Conv.cpp) and Winograd (ConvWinograd.cpp) lowerings.
#pragma once
#include <functional>

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

// A 1x1, stride-1, unpadded, undilated conv: a GEMM over the flattened map.
inline bool pointwise(const ConvGeometry &g) {
    return g.size.w == 1 && g.size.h == 1 && g.stride.w == 1 && g.stride.h == 1 && g.pad.w == 0 && g.pad.h == 0 &&
           g.dilation.w == 1 && g.dilation.h == 1;
}

// Winograd F(m x m, 3x3) (ConvWinograd.cpp): a 3x3, stride-1, undilated,
// ungrouped conv whose kernel writes the conv's own output, or (m = 2) a
// tile-pooled one.
bool winogradApplies(const ConvGeometry &g, const TensorType &kernelOutput);
// The kernel's output has one pixel per 2x2 output tile (a fused 2x2 stride-2
// pool, VGG's): the pool consumes each tile's four outputs straight from the
// inverse transform, so the conv's map never exists.
bool winogradTilePooled(const ConvGeometry &g, const TensorType &kernelOutput);
// Tiles of m outputs along an extent.
int64_t winogradTiles(int64_t extent, int m);
// The m of F(m x m, 3x3) that training's (untuned) Winograd kernels use.
int trainingTile(const ConvGeometry &g);
// Whether the kernel computes the conv with Winograd: `choice` says so (in
// training, which is not tuned, by default on maps of 28 and more, and on maps
// of 14 to 27 with filters in multiples of 16) and it applies.
bool winogradChosen(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice,
                    bool training);
// The kernel's output has one pixel per channel (a fused global pool,
// ResNet's adaptive_avgpool): the conv's whole map feeds each output, so with
// the filter-vector GEMMs, which compute the map per block of channels, it
// takes Winograd too.
bool winogradGlobalPooled(const ConvGeometry &g, const TensorType &kernelOutput);
// Whether the GEMMs may be vectorized over output channels ("wino_filters",
// FV vectors of vw filters): a whole number of register tiles of filters. They
// compute the conv's map per channel block, so its own output, a pool of its
// tiles or a global pool may follow.
bool winogradFilterGemmApplies(const ConvGeometry &g, const TensorType &kernelOutput, int filterVectors, int vw);
// The transformed filters an inference kernel with Winograd reads instead of
// its weight: a parameter the library prepares once per set of weights,
// [t, t, ci, co] for the choice's F(m x m, 3x3) (kWinogradFilters), or in
// blocks of B filters for the GEMMs vectorized over filters, [t * t, co / B,
// ci, B] (kWinogradBlockedFilters).
ParamDecl winogradFilterDecl(const ConvGeometry &g, const ScheduleChoice &choice);
extern const Derivation kWinogradFilters, kWinogradBlockedFilters;
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
    Halide::Func transformed; // (co, ci, xi, nu): the filters already transformed (else from weight)
    bool flatTiles = false;  // the GEMMs over one tile index t = tx + tiles per row * ty (filter-vectorized)
    Halide::Expr bias;       // per output channel, or undefined
    ConvGeometry geometry;
    std::string prefix;      // Func names
    Halide::Var x, y, c, n;  // the output's variables
    int m = 2;               // F(m x m, 3x3)
    int filterTile = 16;     // with flatTiles: filters per register tile, the block the filters are read in
};
struct WinogradStages {
    Halide::Func padded, U, V, M; // with flatTiles, M is indexed (t, xi, nu, co, n)
    Halide::Var n; // the stages' batch variable (the output's may differ)
    Halide::Func filters; // the weights staged filter-innermost, which U transforms; undefined
                          // when U reads prepared filters (nothing to compute)
    int m = 2;            // F(m x m, 3x3)
    Halide::Func tiles;   // with flatTiles, the inverse transform per tile, (i, j, t, co, n)
    Halide::Func patchRows; // V's first pass, B^T along y (xp, nu, ty, c, n); inlined unless scheduled
};
Halide::Func winogradConv(const WinogradInputs &in, WinogradStages &stages);
// B^T d B of every tile's (m+2) x (m+2) input patch, V(tx, ty, xi, nu, c, n),
// from a zero-padded input (the forward's and the weight gradient's).
// In two passes, B^T along y then along x; `rows`, where given, receives the
// first pass for the schedule to place (inlined otherwise).
Halide::Func winogradInputPatches(Halide::Func padded, const ConvGeometry &g, Halide::Var n, const std::string &name,
                                  int m = 2, Halide::Func *rows = nullptr);
// The weight gradient's transforms (F(m x m, 3x3) transposed): a tile's
// filter gradient is G^T [(B^T d B) .* (A dY A^T)] G.
// A dY A^T of every tile of dy, D(tx, ty, xi, nu, co, n), zero past the map.
Halide::Func winogradOutputGradientPatches(Halide::Func dy, const ConvGeometry &g, Halide::Var n,
                                           const std::string &name, int m);
// G^T M G at (kx, ky), from sums(xi, nu): M's t x t transformed positions.
Halide::Expr winogradFilterGradient(Halide::Expr kx, Halide::Expr ky,
                                    const std::function<Halide::Expr(int, int)> &sums, int m);
// Stages built with flatTiles, scheduled as training's filter-vector GEMMs
// (2 filter vectors x 4 tiles); `conv` is what winogradConv returned.
// `outputTail` splits the output's loops: GuardWithIf where it adds to its
// own memory (a shifted-in tail would add twice).
void scheduleWinogradFilterGemm(const WinogradStages &stages, Halide::Func conv, Halide::Func output, Halide::Var x,
                                Halide::Var y, Halide::Var c, Halide::Var n, const ConvGeometry &g, int vectorWidth,
                                Halide::TailStrategy outputTail = Halide::TailStrategy::Auto);
void scheduleWinogradStages(const WinogradStages &stages, Halide::Func output, Halide::Var x, Halide::Var y,
                            Halide::Var c, Halide::Var n, const ConvGeometry &g, const struct ScheduleChoice &choice,
                            int vectorWidth, bool tilePooled = false,
                            Halide::TailStrategy outputTail = Halide::TailStrategy::Auto);

// Direct conv vectorized over output channels (ConvBlocked.cpp): knobs
// "fblock" (filter vectors per register tile) and "ptile" (output positions
// per register tile), inference only, reading the filters prepared blocked.
bool blockedApplies(const ConvGeometry &g, const TensorType &kernelOutput, int filterVectors);
// `vectorWidth`: the kernel target's (training blocks its filters in vectors of it).
bool blockedChosen(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice, bool training,
                   int vectorWidth = 8);
// [co / B, ci, kh * kw, B], B = 8 x fblock: the weights the library prepares for it (kBlockedFilters).
ParamDecl blockedFilterDecl(const ConvGeometry &g, const ScheduleChoice &choice);
extern const Derivation kBlockedFilters;
Halide::Func lowerBlocked(LowerCtx &ctx, const ConvGeometry &g);
void scheduleBlocked(ScheduleCtx &s, const ConvGeometry &g);

// A pool fused after a conv whose accumulators lie channel-innermost (the
// blocked and filter-vector convs): computed per task at `level`, vectorized
// over channels and stored channel-innermost, so that each window tap loads a
// contiguous vector of accumulators and the output, vectorized along x,
// gathers each pooled value once. Vectorized along x itself, the pool
// gathered every tap across channels: GoogLeNet's conv3 with its 3x3
// stride-2 pool took 1.2x as long at batch 1 and 8 (AMD EPYC Zen 5).
void poolAcrossChannels(Halide::Func pool, Halide::Func output, Halide::Var level, int lanes);

// The adjoint (ConvBackward.cpp).
void convBackward(BackwardCtx &b);

} // namespace cnnc::ops
