// Every kind of candidate schedule `cnnc tune` may pick (ops' scheduleSpace)
// computes the same function: each is forced with --schedule and compared with
// the naive reference, on odd shapes at batch 1 and 7.
#include <dlfcn.h>

#include "tests/ops/OpsCommon.h"

namespace cnnc_test {
namespace {

using ref::Arr;

void expectScheduleMatches(const std::string &net, Shape in, const std::string &body, const TensorMap &w,
                           const RefFn &reference, const std::string &schedule, double tol = kTol) {
    SCOPED_TRACE("--schedule=" + schedule);
    CompiledModel m = compileNet(net, in, body, {"--schedule=" + schedule});
    // cnnc refuses a schedule no kernel can use, so a pass here means it ran.
    ASSERT_TRUE(m.ok()) << m.error();
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, reference, 1.0, tol);
}

// Two padded 3x3 convs and a residual add, relu(c2(y) + y) with y =
// relu(c1(x)), c2 without bias: its weights, the naive reference and the
// model's body.
struct ResidualBlock {
    TensorMap w;
    RefFn reference;
    std::string body;
};

ResidualBlock residualBlock(int filters, int inChannels) {
    ResidualBlock b;
    addConv(b.w, "c1", filters, inChannels, 3);
    addConv(b.w, "c2", filters, filters, 3, false);
    b.reference = [w = b.w, filters](const Arr &x) {
        Arr y = ref::relu(conv(x, w, "c1", filters, 3, 1, 1));
        return ref::relu(ref::add(conv(y, w, "c2", filters, 3, 1, 1), y));
    };
    std::string f = std::to_string(filters);
    b.body = "y = x -> conv(" + f + ", 3, pad=1, name=\"c1\") -> relu\n"
             "z = y -> conv(" + f + ", 3, pad=1, bias=false, name=\"c2\")\n"
             "return (z + y) -> relu";
    return b;
}

TEST(Schedules, WinogradOnOddMapsWithResidual) {
    // 13 x 11 outputs: the last tile row and column are half outside; 19 x 21:
    // a tile row of 11 tiles spans two vectors (the default register tile is
    // then 2 vectors x 6 channels, rounded up past the map).
    auto [w, reference, body] = residualBlock(5, 3);
    for (const char *s : {"winograd=1,wino_par=0", "winograd=1,wino_par=1", "rows=2,winograd=1,wino_par=0",
                          "tile_c=8,tile_x=1,winograd=1,wino_par=1", "tile_c=6,tile_x=2,winograd=1,wino_par=0"})
        expectScheduleMatches("sched_wino", {3, 13, 11}, body, w, reference, s);
    for (const char *s : {"winograd=1,wino_par=0", "tile_c=8,tile_x=1,winograd=1,wino_par=1"})
        expectScheduleMatches("sched_wino_wide", {3, 19, 21}, body, w, reference, s);
    // F(4x4, 3x3): 13 x 11 ends in tiles 1 and 3 outputs inside the map, 19 x 21 in 3 and 1.
    for (const char *s : {"winograd=1,wino_m=4,wino_par=0", "winograd=1,wino_m=4,wino_par=1",
                          "rows=2,winograd=1,wino_m=4,wino_par=0", "tile_c=6,tile_x=2,winograd=1,wino_m=4,wino_par=0"})
        for (Shape in : {Shape{3, 13, 11}, Shape{3, 19, 21}})
            expectScheduleMatches("sched_wino4", in, body, w, reference, s);
}

TEST(Schedules, WinogradFilterVectorsOnSmallMaps) {
    // GEMMs vectorized over output channels (FV vectors x TX tiles): 7 x 7
    // maps (a tile row of 4, the last half outside) and 11 x 13 (6 tiles a
    // row: TX 4 rounds up past the map, TX 6 fits); 16 and 24 filters, two
    // channel blocks or one per task.
    for (int filters : {16, 24}) {
        SCOPED_TRACE(std::to_string(filters) + " filters");
        auto [w, reference, body] = residualBlock(filters, 5);
        std::vector<std::string> schedules{"tile_x=4,wino_filters=2,winograd=1", "tile_x=8,wino_filters=1,winograd=1",
                                           "tile_x=6,wino_filters=2,winograd=1"};
        if (filters == 24) schedules = {"tile_x=4,wino_filters=3,winograd=1", "tile_x=8,wino_filters=1,winograd=1"};
        schedules.push_back("tile_x=4,wino_filters=" + std::to_string(filters / 8) + ",winograd=1,wino_m=4");
        for (const std::string &s : schedules)
            for (Shape in : {Shape{5, 7, 7}, Shape{5, 11, 13}})
                expectScheduleMatches("sched_wino_fv", in, body, w, reference, s);
    }
}

TEST(Schedules, WinogradFilterVectorsIntoAGlobalPool) {
    // The residual block's second conv, its add and relu, and a global average
    // pool in one kernel (ResNet's last block): the filter-vector GEMMs compute
    // each channel block's whole map, F(2x2) and F(4x4), on 7 x 7 and 5 x 9.
    auto [w, block, body] = residualBlock(16, 5);
    RefFn reference = [block = block](const Arr &x) { return ref::adaptiveAvgpool(block(x), 1); };
    for (const char *s : {"tile_x=4,wino_filters=2,winograd=1", "tile_x=8,wino_filters=1,winograd=1",
                          "tile_x=4,wino_filters=2,wino_m=4,winograd=1"})
        for (Shape in : {Shape{5, 7, 7}, Shape{5, 5, 9}})
            expectScheduleMatches("sched_wino_gap", in, body + " -> adaptive_avgpool(1)", w, reference, s);
}

TEST(Schedules, WinogradUnpadded) {
    TensorMap w;
    addConv(w, "c", 7, 2, 3);
    RefFn reference = [&](const Arr &x) { return conv(x, w, "c", 7, 3); };
    for (const char *s : {"winograd=1,wino_par=0", "winograd=1,wino_m=4,wino_par=0"})
        expectScheduleMatches("sched_wino_nopad", {2, 10, 9}, "return x -> conv(7, 3, name=\"c\")", w, reference, s);
}

TEST(Schedules, WinogradNumericalError) {
    // Winograd rounds differently from a direct sum: measure its error on a
    // layer with many input channels (ResNet's 256 x 14 x 14), relative to the
    // largest output, against the double-precision reference.
    TensorMap w;
    addConv(w, "c", 32, 256, 3);
    RefFn reference = [&](const Arr &x) { return conv(x, w, "c", 32, 3, 1, 1); };
    expectScheduleMatches("sched_wino_err", {256, 14, 14}, "return x -> conv(32, 3, pad=1, name=\"c\")", w, reference,
                          "winograd=1,wino_par=1", 1e-5);
    // F(4x4, 3x3)'s larger coefficients (up to 8 in A, 5 in B) round more:
    // measured 1.1e-5 of the largest output, where F(2x2) stays within 1e-5.
    expectScheduleMatches("sched_wino4_err", {256, 14, 14}, "return x -> conv(32, 3, pad=1, name=\"c\")", w,
                          reference, "winograd=1,wino_m=4,wino_par=1", 3e-5);
}

TEST(Schedules, WinogradWithTilePooledOutput) {
    // The 2x2 pool reads each tile's four outputs from the inverse transform.
    // 13 x 18 conv outputs: floor pooling drops the last half tile row; ceil
    // pooling (odd width 17) keeps a window half outside the map; an avgpool
    // pools the same tiles.
    TensorMap w;
    addConv(w, "c", 9, 5, 3);
    struct Case {
        Shape in;
        std::string pool;
        RefFn reference;
    };
    std::vector<Case> cases{
        {{5, 13, 18}, "maxpool(2)",
         [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, w, "c", 9, 3, 1, 1)), 2, 2); }},
        {{5, 12, 17}, "maxpool(2, ceil=true)",
         [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, w, "c", 9, 3, 1, 1)), 2, 2, 0, true); }},
        {{5, 10, 14}, "avgpool(2)",
         [&](const Arr &x) { return ref::avgpool(ref::relu(conv(x, w, "c", 9, 3, 1, 1)), 2, 2); }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.pool);
        std::string body = "return x -> conv(9, 3, pad=1, name=\"c\") -> relu -> " + c.pool;
        for (const char *s : {"winograd=1,wino_par=0", "winograd=1,wino_par=1", "rows=2,winograd=1,wino_par=0",
                              "tile_c=8,tile_x=1,winograd=1,wino_par=1"})
            expectScheduleMatches("sched_wino_pool", c.in, body, w, c.reference, s);
    }
}

TEST(Schedules, WinogradFilterVectorsIntoAPool) {
    // The filter-vector GEMMs compute each channel block's conv map, then the
    // fused 2x2 pool reads it, F(4x4) too: 13 x 18 conv outputs pooled to
    // 6 x 9 (wider than a vector), 10 x 14 to 5 x 7 (narrower: vectorized
    // over channels), ceil pooling with a window half outside, an avgpool.
    TensorMap w;
    addConv(w, "c", 16, 5, 3);
    auto relu = [&](const Arr &x) { return ref::relu(conv(x, w, "c", 16, 3, 1, 1)); };
    struct Case {
        Shape in;
        std::string pool;
        RefFn reference;
    };
    std::vector<Case> cases{
        {{5, 13, 18}, "maxpool(2)", [&](const Arr &x) { return ref::maxpool(relu(x), 2, 2); }},
        {{5, 10, 14}, "maxpool(2)", [&](const Arr &x) { return ref::maxpool(relu(x), 2, 2); }},
        {{5, 12, 17}, "maxpool(2, ceil=true)", [&](const Arr &x) { return ref::maxpool(relu(x), 2, 2, 0, true); }},
        {{5, 10, 14}, "avgpool(2)", [&](const Arr &x) { return ref::avgpool(relu(x), 2, 2); }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.pool + " on " + std::to_string(c.in.h) + "x" + std::to_string(c.in.w));
        std::string body = "return x -> conv(16, 3, pad=1, name=\"c\") -> relu -> " + c.pool;
        for (const char *s : {"tile_x=4,wino_filters=2,winograd=1", "tile_x=8,wino_filters=1,winograd=1",
                              "tile_x=4,wino_filters=2,wino_m=4,winograd=1"})
            expectScheduleMatches("sched_wino_fv_pool", c.in, body, w, c.reference, s);
    }
}

TEST(Schedules, WinogradFiltersFollowFoldedBatchNormAndTraining) {
    // The inference kernel reads its filters transformed, prepared by the
    // runtime from the weight, here itself derived (a folded batchnorm); after
    // a train_step they must be prepared again from the new weights.
    TensorMap w;
    addConv(w, "c", 6, 2, 3, false);
    addBatchnorm(w, "bn", 6);
    addDense(w, "fc", 3, 6 * 9 * 7);
    RefFn reference = [&](const Arr &x) {
        return dense(ref::flatten(ref::relu(batchnorm(conv(x, w, "c", 6, 3, 1, 1), w, "bn", 1e-5))), w, "fc", 3);
    };
    const std::string body = "return x -> conv(6, 3, pad=1, bias=false, name=\"c\") -> batchnorm(name=\"bn\") "
                             "-> relu -> flatten -> dense(3, name=\"fc\")";
    const Shape in{2, 9, 7};
    CompiledModel m = compileNet("sched_wino_train", in, body, {"--train", "--schedule=winograd=1,wino_par=0"});
    ASSERT_TRUE(m.ok()) << m.error();
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, reference);

    void *lib = dlopen(m.soPath().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib, nullptr) << dlerror();
    auto trainStep = reinterpret_cast<int (*)(void *, const float *, const int32_t *, int, float *)>(
        dlsym(lib, "sched_wino_train_train_step"));
    ASSERT_NE(trainStep, nullptr);
    const int batch = 7;
    std::vector<float> x = randomNormal(size_t(batch) * size_t(in.size()), 11);
    std::vector<int32_t> labels{0, 1, 2, 2, 1, 0, 1};
    std::vector<float> before = m.infer(x, batch);
    float loss = 0;
    // Two steps: the second writes into the set the first retired (the one
    // `before` ran with), so a stale record of what was prepared would show.
    for (int step = 0; step < 2; ++step)
        ASSERT_EQ(trainStep(m.model(), x.data(), labels.data(), batch, &loss), 0) << m.lastError();
    std::vector<float> after = m.infer(x, batch);
    EXPECT_NE(after, before) << "the step changed no output";

    // A fresh instance loading the stepped weights prepares its filters from them.
    TempDir dir;
    const std::string path = dir.path() + "/stepped.safetensors";
    ASSERT_EQ(m.saveWeights(path), 0) << m.lastError();
    void *fresh = m.createInstance();
    ASSERT_NE(fresh, nullptr);
    ASSERT_EQ(m.loadWeights(path, fresh), 0) << m.lastError();
    EXPECT_EQ(m.infer(x, batch, fresh), after);
    m.api().destroy(fresh);
    dlclose(lib);
}

TEST(Schedules, StridedConvWithDeinterleavedInput) {
    TensorMap w;
    addConv(w, "c", 6, 3, {5, 4});
    RefFn reference = [&](const Arr &x) { return ref::relu(conv(x, w, "c", 6, {5, 4}, 3, 2)); };
    // Tasks of 2 and 4 of the 6 output rows (the last task overlaps the one before).
    for (const char *s : {"chunk=8,phases=1,tile_c=4,tile_x=2", "chunk=8,phases=1,rows=2,tile_c=6,tile_x=2",
                          "chunk=8,phases=1,rows=4,tile_c=6,tile_x=2"})
        expectScheduleMatches("sched_phases", {3, 17, 40},
                              "return x -> conv(6, [5, 4], stride=3, pad=2, name=\"c\") -> relu", w, reference, s);
}

TEST(Schedules, FilterBlockedConvs) {
    // Output channels in vectors, the map flattened into tiles of 4, 5 or 6
    // positions: 7 x 5 (35 positions, every tile size leaves a partial last
    // tile), stride 3 with a non-square kernel, no bias, 32 filters (two
    // blocks of 16), dilation 2 with strides (2, 1), a fused residual add,
    // and fused pools (global average, 2x2 max) on a small map. The strided
    // and dilated convs' inputs outweigh their filters, so their tasks run
    // sample-outer; the others' filter blocks outer (batches 1 and 7).
    ResidualBlock block = residualBlock(16, 6);
    TensorMap ws, wp, wd;
    addConv(ws, "s", 32, 6, {2, 3}, false);
    addConv(wp, "c1", 16, 6, 3);
    addConv(wd, "d", 16, 6, 3);
    RefFn dilated = [&](const Arr &x) { return conv(x, wd, "d", 16, 3, {2, 1}, 2, 2); };
    RefFn strided = [&](const Arr &x) { return ref::relu(conv(x, ws, "s", 32, {2, 3}, 3, 1)); };
    RefFn maxPooled = [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, wp, "c1", 16, 3, 1, 1)), 2, 2); };
    RefFn averaged = [&](const Arr &x) { return ref::adaptiveAvgpool(ref::relu(conv(x, wp, "c1", 16, 3, 1, 1)), 1); };
    for (const char *s : {"fblock=2,ptile=4", "fblock=2,ptile=5", "fblock=2,ptile=6", "fblock=2,ptile=12"}) {
        expectScheduleMatches("sched_blocked", {6, 7, 5}, block.body, block.w, block.reference, s);
        expectScheduleMatches("sched_blocked_s3", {6, 11, 16},
                              "return x -> conv(32, [2, 3], stride=3, pad=1, bias=false, name=\"s\") -> relu", ws,
                              strided, s);
        expectScheduleMatches("sched_blocked_dil", {6, 13, 9},
                              "return x -> conv(16, 3, stride=[2, 1], pad=2, dilation=2, name=\"d\")", wd, dilated, s);
        expectScheduleMatches("sched_blocked_max", {6, 7, 5},
                              "return x -> conv(16, 3, pad=1, name=\"c1\") -> relu -> maxpool(2)", wp, maxPooled, s);
        expectScheduleMatches("sched_blocked_avg", {6, 7, 5},
                              "return x -> conv(16, 3, pad=1, name=\"c1\") -> relu -> adaptive_avgpool(1)", wp,
                              averaged, s);
    }
}

TEST(Schedules, FilterBlocksOfThirtyTwo) {
    // Blocks of 32 filters: with 16 lanes one register tile of 2 vectors, with
    // 8 lanes two tiles of 2 vectors one after the other; 64 filters (two
    // blocks), a 9 x 6 map (54 positions: tiles of 8 and 12 end partial), and
    // the strided non-square conv of 32 filters onto a 4 x 6 map.
    auto [w, reference, body] = residualBlock(64, 6);
    TensorMap ws;
    addConv(ws, "s", 32, 6, {2, 3}, false);
    RefFn strided = [&](const Arr &x) { return ref::relu(conv(x, ws, "s", 32, {2, 3}, 3, 1)); };
    for (const char *s : {"fblock=4,ptile=6", "fblock=4,ptile=8", "fblock=4,ptile=12"}) {
        expectScheduleMatches("sched_blocked32", {6, 9, 6}, body, w, reference, s);
        expectScheduleMatches("sched_blocked32_s3", {6, 11, 16},
                              "return x -> conv(32, [2, 3], stride=3, pad=1, bias=false, name=\"s\") -> relu", ws,
                              strided, s);
    }
}

TEST(Schedules, PointwiseConvsInPositionVectors) {
    // 1x1 convs with positions in vectors: a 9 x 7 map (63 positions: the
    // last vector and the last tile partial), a 5 x 3 map (15: less than one
    // vector), 16 and 32 filters (one filter tile or several per block), and
    // a fused 2x2 max pool.
    TensorMap w16, w32;
    addConv(w16, "c", 16, 24, 1);
    addConv(w32, "c", 32, 24, 1, false);
    RefFn ref16 = [&](const Arr &x) { return ref::relu(conv(x, w16, "c", 16, 1, 1, 0)); };
    RefFn ref32 = [&](const Arr &x) { return ref::relu(conv(x, w32, "c", 32, 1, 1, 0)); };
    RefFn pooled = [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, w16, "c", 16, 1, 1, 0)), 2, 2); };
    for (const char *s : {"fblock=2,pvec=2", "fblock=2,pvec=3"})
        for (Shape in : {Shape{24, 9, 7}, Shape{24, 5, 3}}) {
            expectScheduleMatches("sched_pvec16", in, "return x -> conv(16, 1, name=\"c\") -> relu", w16, ref16, s);
            expectScheduleMatches("sched_pvec_pool", in, "return x -> conv(16, 1, name=\"c\") -> relu -> maxpool(2)",
                                  w16, pooled, s);
        }
    for (const char *s : {"fblock=4,pvec=2", "fblock=4,pvec=3"})
        expectScheduleMatches("sched_pvec32", {24, 9, 7}, "return x -> conv(32, 1, bias=false, name=\"c\") -> relu",
                              w32, ref32, s);
}

TEST(Schedules, ChannelBlockTasks) {
    // Tasks of 32 or 64 of 128 channels with every row and sample inside, on
    // 7 x 5 and 12 x 6 maps.
    TensorMap w;
    addConv(w, "c", 128, 12, 3);
    RefFn reference = [&](const Arr &x) { return ref::relu(conv(x, w, "c", 128, 3, 1, 1)); };
    for (Shape in : {Shape{12, 7, 5}, Shape{12, 12, 6}})
        for (const char *s : {"ctasks=32", "ctasks=64,tile_c=8,tile_x=1,chunk=8"})
            expectScheduleMatches("sched_ctasks", in, "return x -> conv(128, 3, pad=1, name=\"c\") -> relu", w,
                                  reference, s);
}

TEST(Schedules, SampleTilesOnNarrowMaps) {
    // One vector spans a row (7 x 5, 8 x 6): register tiles of 2 or 4 samples
    // at batches they divide (2, 4, 8), one sample otherwise (1, 7, 6 for 4);
    // 10 filters leave a partial channel tile, 40 input channels a partial
    // chunk of 32. The default takes 2 samples x 4 channels; with a fused pool too.
    TensorMap w;
    addConv(w, "c", 10, 40, 3);
    RefFn plain = [&](const Arr &x) { return ref::relu(conv(x, w, "c", 10, 3, 1, 1)); };
    RefFn pooled = [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, w, "c", 10, 3, 1, 1)), 2, 2); };
    for (Shape in : {Shape{40, 7, 5}, Shape{40, 6, 8}})
        for (const char *s : {"chunk=8,tile_c=4,tile_n=2,tile_x=1", "chunk=32,tile_c=3,tile_n=4,tile_x=1"}) {
            SCOPED_TRACE("--schedule=" + std::string(s));
            CompiledModel m = compileNet("sched_samples", in, "return x -> conv(10, 3, pad=1, name=\"c\") -> relu",
                                         {std::string("--schedule=") + s});
            ASSERT_TRUE(m.ok()) << m.error();
            ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
            expectMatchesReference(m, in, plain, 1.0, kTol, {1, 2, 4, 6, 7, 8});
        }
    CompiledModel d = compileNet("sched_samples_default", {40, 7, 5},
                                 "return x -> conv(10, 3, pad=1, name=\"c\") -> relu -> maxpool(2)", {"--no-tuning"});
    ASSERT_TRUE(d.ok()) << d.error();
    ASSERT_EQ(d.setWeights(w), 0) << d.lastError();
    expectMatchesReference(d, {40, 7, 5}, pooled, 1.0, kTol, {1, 2, 3, 8});
}

TEST(Schedules, PooledRowsAndTiles) {
    TensorMap w;
    addConv(w, "c", 10, 20, 3);
    RefFn reference = [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, w, "c", 10, 3, 1, 1)), 2, 2); };
    std::string body = "return x -> conv(10, 3, pad=1, name=\"c\") -> relu -> maxpool(2)";
    for (const char *s : {"rows=4", "chunk=32,tile_c=4,tile_x=3", "chunk=8,tile_c=8,tile_x=1"})
        expectScheduleMatches("sched_pool", {20, 18, 30}, body, w, reference, s);
}

TEST(Schedules, FilterVectorsWithFusedPool) {
    // A strided conv on 3 channels with a padded 3x3 pool fused, vectorized
    // over filters: 20 filters leave a partial block of 16, and 8 pooled rows
    // per task a partial task. The direct schedule with a few pooled rows per
    // task (the default takes the whole map) too.
    TensorMap w;
    addConv(w, "c", 20, 3, {7, 5}, false);
    RefFn reference = [&](const Arr &x) {
        return ref::maxpool(ref::relu(conv(x, w, "c", 20, {7, 5}, 2, {3, 2})), 3, 2, 1);
    };
    std::string body = "return x -> conv(20, [7, 5], stride=2, pad=[3, 2], bias=false, name=\"c\") -> relu"
                       " -> maxpool(3, stride=2, pad=1)";
    for (const char *s : {"filter_vectors=1,rows=2", "filter_vectors=1,rows=4", "filter_vectors=1,rows=8", "rows=2"})
        expectScheduleMatches("sched_filter_vectors", {3, 29, 22}, body, w, reference, s);
}

TEST(Schedules, FilterVectorsStrideThreeWithBias) {
    TensorMap w;
    addConv(w, "c", 17, 2, 3);
    RefFn reference = [&](const Arr &x) { return conv(x, w, "c", 17, 3, 3, 1); };
    expectScheduleMatches("sched_filter_vectors_s3", {2, 19, 11}, "return x -> conv(17, 3, stride=3, pad=1, name=\"c\")",
                          w, reference, "filter_vectors=1,rows=2");
}

TEST(Schedules, ScheduleNoKernelCanUseIsRefused) {
    CompiledModel m = compileNet("sched_none", {2, 8, 8}, "return x -> maxpool(2)", {"--schedule=winograd=1"});
    EXPECT_FALSE(m.ok());
    EXPECT_NE(m.error().find("not a candidate of any kernel"), std::string::npos) << m.error();
}

} // namespace
} // namespace cnnc_test
