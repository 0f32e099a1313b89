// Winograd F(m x m, 3x3) convolution (Lavin & Gray, 2015), m = 2 or 4, a
// candidate schedule of 3x3 convs that `cnnc tune` may pick ("winograd=1",
// "wino_m=4").
//
// Each m x m output tile is computed from a t x t input patch d (t = m + 2) as
//   Y = A^T [ sum over input channels of (G g G^T) .* (B^T d B) ] A,
// so a tile costs t^2 multiplies per (input, output) channel pair instead of
// 9 m^2: 2.25x (m = 2) or 4x (m = 4) fewer FLOPs, spent in t^2 independent
// channel GEMMs (one per position of the transformed tile), at the price of
// transforms and a larger rounding error (tests/ops compare it with direct
// convolution). The matrices are ops/WinogradMatrices.h's.
//
// Stages (every tensor is indexed by tiles tx, ty and transformed positions xi, nu):
//   U(co, xi, nu, ci)         = G g G^T      the filters, transformed once per call
//   V(tx, ty, xi, nu, ci, n)  = B^T d B      the input patches
//   M(tx, ty, xi, nu, co, n)  = sum_ci U * V the GEMMs: register tiles of tx vectors x co
//   out(x, y, co, n)          = A^T M A + bias
#include <algorithm>
#include <functional>

#include "lowering/Derivation.h"
#include "lowering/LowerCtx.h"
#include "ops/Conv.h"
#include "ops/WinogradMatrices.h"

using namespace Halide;

namespace cnnc::ops {
namespace {

const cnnc_winograd::Matrices &matrices(int m) {
    const cnnc_winograd::Matrices *f = cnnc_winograd::matricesFor(m);
    if (!f) throw std::invalid_argument("Winograd F(" + std::to_string(m) + "x" + std::to_string(m) +
                                        ", 3x3) is not defined (wino_m must be 2 or 4)");
    return *f;
}

// One row of a transform matrix applied to values: the sum of coefficient x
// value over the nonzero coefficients, added before subtracted, with a
// magnitude they all share multiplied once ((g0 + g1 + g2) * 0.5).
Expr combine(const double *row, const std::vector<Expr> &values) {
    double shared = 0;
    for (size_t j = 0; j < values.size(); ++j)
        if (row[j] != 0) shared = (shared == 0 || shared == std::abs(row[j])) ? std::abs(row[j]) : -1;
    double scale = shared > 0 ? shared : 1;
    Expr sum;
    for (bool positive : {true, false})
        for (size_t j = 0; j < values.size(); ++j) {
            double c = row[j] / scale;
            if (c == 0 || (c > 0) != positive) continue;
            Expr term = std::abs(c) == 1 ? values[j] : values[j] * float(std::abs(c));
            sum = !sum.defined() ? (positive ? term : -term) : positive ? sum + term : sum - term;
        }
    if (!sum.defined()) return 0.0f;
    return scale == 1 ? sum : sum * float(scale);
}

// The first `count` rows of a transform matrix (B^T, G or A^T) applied along
// one axis; `k` is the transformed index (unrolled, so mux folds to one row).
template <size_t R, size_t C>
Expr applyRows(Expr k, const double (&rows)[R][C], int count, const std::vector<Expr> &values) {
    std::vector<Expr> out;
    for (int i = 0; i < count; ++i) out.push_back(combine(rows[i], values));
    return mux(k, out);
}

// The same along both axes of a tile: at (i, j), the sum over a, b < size of
// rows[i][a] rows[j][b] value(a, b) (a along x, b along y).
template <size_t R, size_t C>
Expr applyRowsBothAxes(Expr i, Expr j, const double (&rows)[R][C], int count, int size,
                       const std::function<Expr(int, int)> &value) {
    std::vector<Expr> columns;
    for (int b = 0; b < size; ++b) {
        std::vector<Expr> row;
        for (int a = 0; a < size; ++a) row.push_back(value(a, b));
        columns.push_back(applyRows(i, rows, count, row));
    }
    return applyRows(j, rows, count, columns);
}

struct Vars {
    Var tx{"tx"}, ty{"ty"}, t{"t"}, xi{"xi"}, nu{"nu"}, ci{"wci"}, co{"wco"};
};

struct WinogradTiling {
    int m;  // outputs per tile side
    int tileX, tileC, rows;
    bool channelTasks; // parallel over (tile rows x channel blocks), input transformed per sample
    int filterVectors; // > 0: the GEMMs vectorized over output channels (filterGemm)
};

// Filters per register tile of the filter-vector GEMMs (wino_filters vectors
// of 8), the block of the filters they read (winogradConv).
int filterTile(const WinogradTiling &tiling) { return tiling.filterVectors * 8; }

// Training kernels (not tuned) on maps from 14 to 28: the filter-vector GEMMs
// where the filters fill whole register tiles of 2 vectors. Not on 7x7: there
// the per-call filter transform (16 MB for 512 channels, written and read
// back) ate the gain, 13.8 ms per call at batch 8 against 12.5 for the
// direct conv (and 8.2 in inference, with the filters prepared). Not on
// 56x56 either: with F(4x4) the one-layer step took 1.2-1.34x the time of
// the tile-vector F(2x2) GEMMs (the whole batch's V is 14.5 MB there).
bool trainingFilterGemm(const ConvGeometry &g) {
    return std::min(g.w, g.h) >= 14 && std::min(g.w, g.h) <= 28 && g.filters % 16 == 0;
}

} // namespace

// F(4x4, 3x3) on the maps of training's filter-vector GEMMs from 14 to 28:
//  - ResNet's 14x14x256 layer, one-layer step at batch 8, forward 9.5-10
//    against 8.2-9 ms per call and backward 21.8-23.3 against 17.8-20.2 (the
//    16 tiles of 6x6 do 0.73x the multiplies of 49 tiles of 4x4).
//  - 28x28x128 (a 1x1 conv, then two 3x3 layers), against the tile-vector
//    F(2x2) GEMMs: forward 7.2-7.9 against 10.6-10.9 ms per call (fastest),
//    backward 15.5-16.3 against 19.1-20.1; the step 0.84-0.91 of its time in
//    four alternating runs.
//  - On 7x7 the 2x2 tiles' filters (36 MB for 512 channels) cost more than
//    they save.
int trainingTile(const ConvGeometry &g) { return trainingFilterGemm(g) ? 4 : 2; }

namespace {

// The m of F(m x m, 3x3): the choice's, by default 2 (training: trainingTile).
int tileSize(const ConvGeometry &g, const ScheduleChoice &choice, bool training) {
    return choice.get("wino_m", training ? trainingTile(g) : 2);
}

WinogradTiling tilingFor(const ConvGeometry &g, const ScheduleChoice &choice, bool training = false) {
    WinogradTiling t;
    t.m = tileSize(g, choice, training);
    int64_t tilesX = winogradTiles(g.ow, t.m), tilesY = winogradTiles(g.oh, t.m);
    t.filterVectors = choice.get("wino_filters", training && trainingFilterGemm(g) ? 2 : 0);
    if (t.filterVectors > 0) {
        t.tileX = choice.get("tile_x", 4);
        t.tileC = t.rows = 1, t.channelTasks = false;
        return t;
    }
    // By default 2 vectors of tiles x 6 channels wherever a tile row fills
    // more than one vector (ResNet's 28x28 maps, 14 tiles: 1.2-1.4x faster
    // than 1 vector x 8 channels, which loads a vector and 8 broadcasts per 8 FMAs).
    t.tileX = choice.get("tile_x", tilesX > 8 ? 2 : 1);
    t.tileC = choice.get("tile_c", t.tileX == 2 ? 6 : 8);
    t.rows = choice.get("rows", 1);
    t.channelTasks = choice.get("wino_par", tilesY >= 4 ? 0 : 1) == 1;
    return t;
}

// The filter transform computed in the kernel (training: the step's weights),
// stored in blocks of filters (winogradConv's Ub) for the filter-vector GEMMs.
void scheduleBlockedFilterTransform(Func Ub, Func filters, int vw) {
    Vars v;
    Var kx("kx"), ky("ky"), cv("cv"), cb("cb");
    filters.compute_at(Ub, v.ci).unroll(kx).unroll(ky).vectorize(v.co, vw);
    Ub.compute_root().reorder(cv, v.xi, v.nu, v.ci, cb).vectorize(cv, vw).unroll(v.xi).unroll(v.nu).parallel(cb);
}

// The filter transform computed in the kernel (training: the step's weights).
void scheduleFilterTransform(Func U, Func filters, const ConvGeometry &g, int vw) {
    Vars v;
    Var kx("kx"), ky("ky");
    filters.compute_at(U, v.ci).unroll(kx).unroll(ky);
    if (g.filters >= vw) filters.vectorize(v.co, vw, TailStrategy::GuardWithIf);
    U.compute_root().reorder_storage(v.co, v.ci, v.xi, v.nu).reorder(v.co, v.xi, v.nu, v.ci).unroll(v.xi).unroll(v.nu).parallel(v.ci);
    if (g.filters >= vw) U.vectorize(v.co, vw, TailStrategy::GuardWithIf); // RoundUp would read filters past the last
}

// Output channels per task of the filter-vectorized GEMMs: two register
// tiles' worth where that divides the filters, else one.
int filterBlock(const ConvGeometry &g, int filterVectors, int vw) {
    int tile = filterVectors * vw;
    return g.filters % (2 * tile) == 0 ? 2 * tile : tile;
}

// Small maps (ResNet's 14x14 and 7x7: tile rows of 7 and 4 tiles) fill only
// half of a vector of tiles. Vectorized over output channels instead, each
// reduction step loads FV vectors of U (contiguous in co) and broadcasts TX
// tiles of V, into FV x TX accumulators. The GEMM's result M and the output
// transform are stored channel-innermost so both read it contiguously; the
// kernel's output (x innermost) reads the transform back transposed, one
// value per output instead of the 9 M values a tile's output needs.
// Tasks are blocks of output channels over the whole batch, so each task
// streams its slice of U (its filters for every input channel: 32 KiB per
// position for 16 filters of 512 channels) once for all samples: with the
// samples outside the tasks, a 7x7x512 layer re-read its 16 MiB of U per
// sample. The input is transformed beforehand, for the whole batch.
// pooledWidth: 0 when the output is the conv's own, else the width of the
// pool of it that the kernel writes; one narrower than a vector (a global
// pool's one pixel) is vectorized over channels instead of x.
void scheduleFilterGemm(const WinogradStages &st, Func conv, Func output, Var x, Var y, Var c, Var n,
                        const ConvGeometry &g, const WinogradTiling &tiling, int vw,
                        TailStrategy outputTail = TailStrategy::Auto, int pooledWidth = 0) {
    Vars v;
    Func padded = st.padded, V = st.V, M = st.M;
    // Vectors as wide as the target's where whole register tiles of them
    // divide the filters, else of 8 (scheduleSpace offers the candidates for
    // 8 lanes): a task's block of filters must not exceed them.
    if (g.filters % (tiling.filterVectors * vw) != 0) vw = std::min(vw, 8);
    int tilesX = int(winogradTiles(g.ow, st.m)), tilesY = int(winogradTiles(g.oh, st.m));
    int block = filterBlock(g, tiling.filterVectors, vw);
    if (st.filters.defined()) scheduleBlockedFilterTransform(st.U, st.filters, vw);
    int TX = std::max(1, std::min<int>(tiling.tileX, tilesX * tilesY));
    Var co("co"), cb("cb"), px("x"), py("y"), pc("c");
    output.split(c, co, cb, block, outputTail).reorder(x, y, cb, n, co).parallel(co);
    if (int lanes = fittingLanes(pooledWidth ? pooledWidth : g.ow, vw)) output.vectorize(x, lanes, outputTail);
    else if (pooledWidth) output.vectorize(cb, vw);
    // conv's own pure vars are (x, y, c, n) (the output's here are the kernel's).
    conv.compute_at(output, co).reorder_storage(pc, px, py).reorder(pc, px, py).vectorize(pc, vw);
    Func tiles = st.tiles;
    Var ti("i"), tj("j");
    tiles.compute_at(output, co).reorder_storage(v.co, ti, tj, v.t).reorder(v.co, ti, tj, v.t).vectorize(v.co, vw);
    tiles.unroll(ti).unroll(tj);
    M.compute_at(output, co).reorder_storage(v.co, v.t, v.xi, v.nu, st.n).vectorize(v.co, vw);
    Var cvo("cvo"), cv("cv"), txo("txo"), txi("txi");
    M.update()
        .split(v.co, cvo, cv, tiling.filterVectors * vw)
        .split(v.t, txo, txi, TX, TailStrategy::RoundUp)
        .reorder({cv, txi, M.rvars(0)[0], txo, st.n, v.xi, v.nu, cvo})
        .vectorize(cv, vw)
        .unroll(cv)
        .unroll(txi);
    Var task("task");
    V.compute_root().reorder_storage(v.tx, v.ci, v.ty, v.xi, v.nu, st.n);
    // One (channel, sample) of a 7x7 map is 256 values: far less than the
    // thread pool's cost of a task, so each task takes many.
    int channelsPerTask = std::max(1, 8192 / ((st.m + 2) * (st.m + 2) * tilesX * tilesY));
    // V in two passes: B^T along y on whole rows of a tile row (contiguous
    // loads, in L1), then along x within each tile (gathers of stride m from
    // those rows). In one pass the 36 inputs of a 6x6 tile were live at once
    // and spilled: 28x28x128 at batch 8, 3.8-4.5 -> 3.2-3.9 ms per call, both
    // passes (Halide profiler), with x vectors of 8 tiles where a tile row has 6 or more.
    V.reorder(v.xi, v.tx, v.nu, v.ty, v.ci, st.n).unroll(v.xi).fuse(v.ci, st.n, task);
    V.parallel(task, channelsPerTask, TailStrategy::GuardWithIf);
    // 16-lane vectors of a 28x28 map's 7 F(4x4) tiles wasted more than half:
    // V took 5.7 ms per step of a two-layer 28x28x128 model against 3.5 with 8.
    int tileLanes = tilesX < 6 ? tileFactor(tilesX, vw) : tilesX < 12 ? std::min(vw, 8) : vw;
    V.vectorize(v.tx, tileLanes, TailStrategy::RoundUp);
    Func rows = st.patchRows;
    rows.compute_at(V, v.ty).vectorize(rows.args()[0], vw, TailStrategy::RoundUp).unroll(v.nu);
    padded.compute_root();
    if (int lanes = fittingLanes(g.w + 2 * g.pad.w, vw)) padded.vectorize(px, lanes);
    parallelOverRows(padded, py, pc, g.w + 2 * g.pad.w);
}

} // namespace

Func winogradInputPatches(Func padded, const ConvGeometry &g, Var n, const std::string &name, int m, Func *rows) {
    Vars v;
    const cnnc_winograd::Matrices &f = matrices(m);
    int px = int(g.pad.w), py = int(g.pad.h);
    Func V(name);
    // B^T along y first, on whole rows of a tile row (xp: the padded map's
    // x), then along x within each tile. Unscheduled, the first pass is inlined.
    Var xp("xp");
    Func byRows(name + "_rows");
    std::vector<Expr> column;
    for (int b = 0; b < f.t; ++b) column.push_back(padded(xp - px, m * v.ty + b - py, v.ci, n));
    byRows(xp, v.nu, v.ty, v.ci, n) = applyRows(v.nu, f.BT, f.t, column);
    if (rows) *rows = byRows;
    std::vector<Expr> row;
    for (int a = 0; a < f.t; ++a) row.push_back(byRows(m * v.tx + a, v.nu, v.ty, v.ci, n));
    V(v.tx, v.ty, v.xi, v.nu, v.ci, n) = applyRows(v.xi, f.BT, f.t, row);
    return V;
}

Func winogradOutputGradientPatches(Func dy, const ConvGeometry &g, Var n, const std::string &name, int m) {
    Vars v;
    const cnnc_winograd::Matrices &f = matrices(m);
    // A (t x m), the transpose of A^T: a tile's m outputs feed its t transformed positions.
    double A[6][6] = {};
    for (int i = 0; i < f.t; ++i)
        for (int j = 0; j < m; ++j) A[i][j] = f.AT[j][i];
    // dy is zero past the map: a tile hanging over the edge has no output there.
    int OW = int(g.ow), OH = int(g.oh);
    auto e = [&](int a, int b) {
        Expr X = m * v.tx + a, Y = m * v.ty + b;
        return select(X < OW && Y < OH, dy(min(X, OW - 1), min(Y, OH - 1), v.co, n), 0.0f);
    };
    Func D(name);
    D(v.tx, v.ty, v.xi, v.nu, v.co, n) = applyRowsBothAxes(v.xi, v.nu, A, f.t, m, e);
    return D;
}

Expr winogradFilterGradient(Expr kx, Expr ky, const std::function<Expr(int, int)> &sums, int m) {
    const cnnc_winograd::Matrices &f = matrices(m);
    double GT[6][6] = {}; // G^T (3 x t)
    for (int k = 0; k < 3; ++k)
        for (int i = 0; i < f.t; ++i) GT[k][i] = f.G[i][k];
    return applyRowsBothAxes(kx, ky, GT, 3, f.t, sums);
}

bool winogradTilePooled(const ConvGeometry &g, const TensorType &kernelOutput) {
    auto halved = [](int64_t pooled, int64_t conv) { return pooled == conv / 2 || pooled == (conv + 1) / 2; };
    return kernelOutput.height() != g.oh && halved(kernelOutput.height(), g.oh) && halved(kernelOutput.width(), g.ow);
}

int64_t winogradTiles(int64_t extent, int m) { return (extent + m - 1) / m; }

bool winogradChosen(const ConvGeometry &g, const TensorType &kernelOutput, const ScheduleChoice &choice,
                    bool training) {
    // Training kernels are not tuned: their 3x3 convs on maps of 28 and more
    // take Winograd (ResNet-18's 56x56 and 28x28 layers: 1.2-1.5x faster than
    // the default direct schedule, in training's unfused kernels), and on
    // smaller maps with filters in multiples of 16 the filter-vector GEMMs.
    bool largeMap = g.w >= 28 && g.h >= 28;
    bool byDefault = training && (largeMap || trainingFilterGemm(g));
    // F(4x4, 3x3)'s tiles are not pooled in the inverse transform; the
    // filter-vector GEMMs compute the conv's map first, so any tiles do.
    bool filterGemm = !training && tilingFor(g, choice).filterVectors > 0;
    bool tileFits = tileSize(g, choice, training) == 2 || !winogradTilePooled(g, kernelOutput) || filterGemm;
    bool applies = winogradApplies(g, kernelOutput) || (filterGemm && winogradGlobalPooled(g, kernelOutput));
    return choice.get("winograd", byDefault ? 1 : 0) == 1 && applies && tileFits;
}

namespace {


// U(co, ci, xi, nu) = (G g G^T)[nu][xi] of a [co, ci, 3, 3] weight, in double
// like a careful offline transform, rounded once.
Func transformedFilters(const ImageParam &weight, int t) {
    const cnnc_winograd::Matrices *f = cnnc_winograd::matricesForTile(t);
    if (!f) throw std::logic_error("Winograd filters with tile side " + std::to_string(t));
    Buffer<double> G({3, t}, "wino_g"); // G(k, row) = G[row][k]
    for (int r = 0; r < t; ++r)
        for (int k = 0; k < 3; ++k) G(k, r) = f->G[r][k];
    Var co("co"), ci("ci"), kx("kx"), xi("xi"), nu("nu");
    auto w = [&](Expr x, int ky) { return cast<double>(weight(x, ky, ci, co)); };
    Func gg("wino_gg"); // G g: rows along ky transformed (nu), columns kx
    gg(co, ci, kx, nu) = G(0, nu) * w(kx, 0) + G(1, nu) * w(kx, 1) + G(2, nu) * w(kx, 2);
    Func u("wino_filters");
    u(co, ci, xi, nu) = cast<float>(G(0, xi) * gg(co, ci, 0, nu) + G(1, xi) * gg(co, ci, 1, nu) +
                                    G(2, xi) * gg(co, ci, 2, nu));
    return u;
}

} // namespace

// [t, t, ci, co]: out(co, ci, xi, nu).
const Derivation kWinogradFilters{
    "winograd_filters", [](const ParamDecl &d) { return "t=" + std::to_string(d.shape[0]); },
    [](const std::vector<ImageParam> &sources, const ParamDecl &d) {
        Func out = transformedFilters(sources.at(0), int(d.shape[0]));
        Var co = out.args()[0], ci = out.args()[1], xi = out.args()[2], nu = out.args()[3];
        out.reorder(co, xi, nu, ci).parallel(ci).vectorize(co, 8, TailStrategy::GuardWithIf);
        return out;
    }};

// [t * t, co / B, ci, B]: out(b, ci, block, pos) = U(block * B + b, ci, pos % t, pos / t).
const Derivation kWinogradBlockedFilters{
    "winograd_blocked_filters",
    [](const ParamDecl &d) { return "tt=" + std::to_string(d.shape[0]) + ",B=" + std::to_string(d.shape[3]); },
    [](const std::vector<ImageParam> &sources, const ParamDecl &d) {
        const int t = d.shape[0] == 16 ? 4 : 6, B = int(d.shape[3]);
        Func u = transformedFilters(sources.at(0), t);
        Var b("b"), ci("ci"), block("block"), pos("pos");
        Func out("wino_blocked_filters");
        out(b, ci, block, pos) = u(block * B + b, ci, pos % t, pos / t);
        out.bound(b, 0, B).reorder(b, pos, block, ci).parallel(ci).vectorize(b);
        return out;
    }};

ParamDecl winogradFilterDecl(const ConvGeometry &g, const ScheduleChoice &choice) {
    WinogradTiling tiling = tilingFor(g, choice); // inference kernels only
    int t = matrices(tiling.m).t;
    ParamDecl d{"winograd", {t, t, g.cin, g.filters}, ParamInit::Zeros, 1};
    d.derivation = &kWinogradFilters;
    if (tiling.filterVectors > 0) { // read in blocks of filters (winogradConv)
        int B = filterTile(tiling);
        d.shape = {t * t, g.filters / B, g.cin, B};
        d.derivation = &kWinogradBlockedFilters;
    }
    return d;
}

bool winogradApplies(const ConvGeometry &g, const TensorType &kernelOutput) {
    bool ownOutput = kernelOutput.width() == g.ow && kernelOutput.height() == g.oh;
    return g.size.w == 3 && g.size.h == 3 && g.stride.w == 1 && g.stride.h == 1 && g.dilation.w == 1 &&
           g.dilation.h == 1 && g.groups == 1 && g.ow >= 2 && g.oh >= 2 && kernelOutput.channels() == g.filters &&
           (ownOutput || winogradTilePooled(g, kernelOutput));
}

Func winogradConv(const WinogradInputs &in, WinogradStages &st) {
    Vars v;
    const ConvGeometry &g = in.geometry;
    const cnnc_winograd::Matrices &f = matrices(in.m);
    const int m = in.m;
    Var x = in.x, y = in.y, c = in.c, n = in.n;
    Func padded = padSpatial(in.input, in.inputType, 0.0f, in.prefix + "padded");
    Func weight = in.weight; // (kx, ky, ci, co)

    Func U(in.prefix + "wino_u");
    // The 9 taps of a filter vector, gathered once (the weights are filter-
    // outermost) and then read contiguously by U's t x t unrolled outputs.
    Func filters(in.prefix + "wino_g");
    Var kx("kx"), ky("ky");
    if (!in.transformed.defined()) filters(v.co, kx, ky, v.ci) = weight(kx, ky, v.ci, v.co);
    if (in.transformed.defined()) U(v.co, v.xi, v.nu, v.ci) = in.transformed(v.co, v.ci, v.xi, v.nu);
    else
        U(v.co, v.xi, v.nu, v.ci) =
            applyRowsBothAxes(v.xi, v.nu, f.G, f.t, 3, [&](int a, int b) { return filters(v.co, a, b, v.ci); });

    Func patchRows;
    Func V = winogradInputPatches(padded, g, n, in.prefix + "wino_v", m, &patchRows);

    Func M(in.prefix + "wino_m");
    RDom r(0, int(g.cin), in.prefix + "wino_r");
    // Output (i, j) of a tile, A^T M A, from its transformed products.
    auto inverse = [&](Expr i, Expr j, const std::function<Expr(int, int)> &product) {
        return applyRowsBothAxes(i, j, f.AT, m, f.t, product);
    };
    Expr tx = x / m, ty = y / m, result;
    Func tiles;
    if (in.flatTiles) {
        // Register tiles then span tile rows: a 7x7 map's 16 tiles fill 4
        // tiles x 4 rows or 6 + 6 + 4, not only rows of 4.
        int tilesX = int(winogradTiles(g.ow, m));
        // The filters in blocks of a register tile's B filters, filter
        // innermost: the GEMM's loads for consecutive input channels are then
        // contiguous. With all the filters innermost they were 2 KB apart (512
        // filters), and a tile's slice shared a few L1 sets: ResNet-18's
        // training step, conv kernels 385.9 -> 372.3 ms (fastest calls).
        // Prepared so for inference (winogradFilterDecl), transformed into
        // Ub(cv, ci, cb, xi, nu) in training.
        const int B = in.filterTile;
        Expr u;
        if (in.transformed.defined()) {
            u = in.transformed(v.co % B, r, v.co / B, v.xi + f.t * v.nu);
        } else {
            Var cv("cv"), cb("cb");
            Func Ub(in.prefix + "wino_ub");
            Ub(cv, v.ci, cb, v.xi, v.nu) = U(cb * B + cv, v.xi, v.nu, v.ci);
            u = Ub(v.co % B, r, v.co / B, v.xi, v.nu);
            U = Ub;
        }
        M(v.t, v.xi, v.nu, v.co, n) = 0.0f;
        M(v.t, v.xi, v.nu, v.co, n) += u * V(v.t % tilesX, v.t / tilesX, v.xi, v.nu, r, n);
        // Each tile's m x m outputs at once (unrolled, vectorized over
        // channels): computed per output, the transform's rows were selected
        // by x % m and y % m and every one evaluated, m^2 times the work.
        tiles = Func(in.prefix + "wino_y");
        Var i("i"), j("j");
        tiles(i, j, v.t, v.co, n) = inverse(i, j, [&](int xi, int nu) { return M(v.t, xi, nu, v.co, n); });
        result = tiles(x % m, y % m, tx + tilesX * ty, c, n);
    } else {
        M(v.tx, v.ty, v.xi, v.nu, v.co, n) = 0.0f;
        M(v.tx, v.ty, v.xi, v.nu, v.co, n) += U(v.co, v.xi, v.nu, r) * V(v.tx, v.ty, v.xi, v.nu, r, n);
        result = inverse(x % m, y % m, [&](int xi, int nu) { return M(tx, ty, xi, nu, c, n); });
    }

    Func out(in.prefix + "wino_out");
    out(x, y, c, n) = in.bias.defined() ? result + in.bias : result;
    st = WinogradStages{padded, U, V, M, n, in.transformed.defined() ? Func() : filters, m, tiles, patchRows};
    return out;
}

Func lowerWinograd(LowerCtx &ctx, const ConvGeometry &g) {
    Expr bias = kernelHasBias(ctx.attrs()) ? ctx.params[1](ctx.c) : Expr();
    // Inference kernels read the filters transformed (preparedParams); training
    // kernels transform them once per call, from the weights of the step.
    Func weight = ctx.training ? ctx.params[0] : Func();
    Func transformed = ctx.training ? Func() : ctx.params[0];
    WinogradTiling tiling = tilingFor(g, ctx.choice, ctx.training != nullptr);
    WinogradInputs in{ctx.inputs[0], ctx.inputTypes[0], weight, transformed, tiling.filterVectors > 0, bias, g,
                      ctx.fname(""), ctx.x, ctx.y, ctx.c, ctx.n, tiling.m};
    if (tiling.filterVectors > 0) in.filterTile = filterTile(tiling);
    WinogradStages st;
    Func out = winogradConv(in, st);
    ctx.stages["padded"] = st.padded;
    ctx.stages["wino_u"] = st.U;
    ctx.stages["wino_v"] = st.V;
    ctx.stages["wino_m"] = st.M;
    if (st.filters.defined()) ctx.stages["wino_g"] = st.filters;
    if (st.tiles.defined()) ctx.stages["wino_y"] = st.tiles;
    ctx.stages["wino_v_rows"] = st.patchRows;
    return out;
}

void scheduleWinograd(ScheduleCtx &s, const ConvGeometry &g) {
    WinogradTiling tiling = tilingFor(g, s.op.choice, s.op.training != nullptr);
    WinogradStages st{s.op.stages.at("padded"), s.op.stages.at("wino_u"), s.op.stages.at("wino_v"),
                      s.op.stages.at("wino_m"), s.op.n,
                      s.op.stages.count("wino_g") ? s.op.stages.at("wino_g") : Func(), tiling.m,
                      s.op.stages.count("wino_y") ? s.op.stages.at("wino_y") : Func(), s.op.stages.at("wino_v_rows")};
    if (tiling.filterVectors > 0)
        return scheduleFilterGemm(st, s.self, s.output, s.x, s.y, s.c, s.n, g, tiling, s.vectorWidth,
                                  TailStrategy::Auto, s.outputType.width() == g.ow ? 0 : int(s.outputType.width()));
    scheduleWinogradStages(st, s.output, s.x, s.y, s.c, s.n, g, s.op.choice, s.vectorWidth,
                           winogradTilePooled(g, s.outputType));
}

void scheduleWinogradFilterGemm(const WinogradStages &st, Func conv, Func output, Var x, Var y, Var c, Var n,
                                const ConvGeometry &g, int vw, TailStrategy outputTail) {
    WinogradTiling tiling = tilingFor(g, ScheduleChoice{{{"wino_filters", 2}, {"tile_x", 4}, {"wino_m", st.m}}});
    scheduleFilterGemm(st, conv, output, x, y, c, n, g, tiling, vw, outputTail);
}

bool winogradGlobalPooled(const ConvGeometry &g, const TensorType &kernelOutput) {
    TensorType own{{kernelOutput.channels(), g.oh, g.ow}};
    return kernelOutput.isMap() && kernelOutput.width() == 1 && kernelOutput.height() == 1 && g.ow * g.oh > 1 &&
           winogradApplies(g, own);
}

bool winogradFilterGemmApplies(const ConvGeometry &g, const TensorType &kernelOutput, int filterVectors, int vw) {
    bool output = winogradApplies(g, kernelOutput) || winogradGlobalPooled(g, kernelOutput);
    return output && g.filters % (filterVectors * vw) == 0;
}

void scheduleWinogradStages(const WinogradStages &st, Func output, Var x, Var y, Var c, Var n,
                            const ConvGeometry &g, const ScheduleChoice &choice, int vw, bool tilePooled,
                            TailStrategy outputTail) {
    Vars v;
    Func padded = st.padded, U = st.U, V = st.V, M = st.M;
    WinogradTiling tiling = tilingFor(g, choice);
    int tilesX = int(winogradTiles(g.ow, st.m));
    int tileVector = tileFactor(tilesX, vw);
    int TC = int(std::min<int64_t>(tiling.tileC, g.filters));
    Var yo("yo"), yi("yi"), co("co"), cb("cb"), task("task"), px("x"), py("y"), pc("c");

    // Output: blocks of whole tile rows (m * rows output rows, or with a
    // tile-pooled output `rows` pooled rows) x TC channels.
    int outputWidth = int(tilePooled ? g.ow / 2 : g.ow);
    // (A block taller than the map would start above it: F(4x4)'s 2 tile rows on 7x7.)
    int blockRows = tilePooled ? tiling.rows : std::min<int>(st.m * tiling.rows, int(g.oh));
    output.split(y, yo, yi, blockRows, outputTail).split(c, co, cb, TC, outputTail);
    if (int lanes = fittingLanes(outputWidth, vw)) output.vectorize(x, lanes, outputTail);
    if (tiling.channelTasks) {
        output.reorder(x, yi, cb, yo, co, n).fuse(yo, co, task).parallel(task);
        M.compute_at(output, task);
        V.compute_at(output, n).parallel(v.ci);
    } else {
        // The input patches of a block of tile rows are transformed once and
        // stay in cache while every channel block's GEMMs read them.
        output.reorder(x, yi, cb, co, yo, n).parallel(yo);
        M.compute_at(output, co);
        V.compute_at(output, yo);
    }
    padded.compute_at(output, n);
    if (int lanes = fittingLanes(g.w + 2 * g.pad.w, vw)) padded.vectorize(px, lanes);
    parallelOverRows(padded, py, pc, g.w + 2 * g.pad.w);
    // Storage with the GEMM's reduction (input channels) right after the tile
    // vectors, for U and V alike: for one (xi, nu) the GEMM then walks both
    // contiguously instead of one page apart per input channel.
    V.reorder_storage(v.tx, v.ci, v.ty, v.xi, v.nu, st.n);
    V.reorder(v.xi, v.nu, v.tx, v.ty, v.ci, st.n).unroll(v.xi).unroll(v.nu);
    V.vectorize(v.tx, tileVector, TailStrategy::RoundUp);

    if (st.filters.defined()) scheduleFilterTransform(U, st.filters, g, vw);

    // The GEMMs: per (xi, nu) and input channel, NX vectors of tiles times TC
    // output channels accumulate in registers, as in the direct conv.
    Var txo("txo"), txi("txi");
    M.vectorize(v.tx, tileVector, TailStrategy::RoundUp);
    M.update()
        .split(v.tx, txo, txi, tileVector * tiling.tileX, TailStrategy::RoundUp)
        .reorder({txi, v.co, M.rvars(0)[0], v.xi, v.nu, txo, v.ty, st.n})
        .vectorize(txi, tileVector)
        .unroll(txi)
        .unroll(v.co);
}

} // namespace cnnc::ops
