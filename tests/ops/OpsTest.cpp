// Every op and option of cnnc, compiled through the real cnnc binary and run
// from the generated library, against the naive references of tests/support.
#include <limits>

#include "tests/ops/OpsCommon.h"

namespace cnnc_test {
namespace {

using ref::Arr;

// ---- the lecture's worked example ---------------------------------------------------

// A binary 7x7 image for which the lecture's 3x3 filter gives the lecture's
// 5x5 feature map (found by a backtracking search over the 25 constraints;
// the solution is not unique, this is the one with fewest ones).
const float kLectureImage[7][7] = {
    {0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0}, {0, 1, 1, 1, 1, 1, 0}, {0, 0, 0, 0, 0, 1, 0},
    {0, 0, 1, 1, 1, 1, 0}, {0, 0, 1, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0},
};
const float kLectureFilter[3][3] = {{1, 1, 1}, {0, 0, 1}, {0, 0, 1}};
// The lecture's literal results.
const float kLectureMap[5][5] = {
    {1, 1, 1, 1, 0}, {1, 1, 1, 2, 0}, {3, 4, 4, 5, 2}, {2, 2, 1, 2, 1}, {2, 3, 3, 3, 2},
};
const float kLecturePooled[2][2] = {{1, 2}, {4, 5}};

TEST(Lecture, ConvWorkedExample) {
    std::vector<float> image(&kLectureImage[0][0], &kLectureImage[0][0] + 49);
    std::vector<float> filter(&kLectureFilter[0][0], &kLectureFilter[0][0] + 9);
    // The image really is a solution (independently of cnnc).
    Arr expected = ref::conv2d(Arr::fromFloats(image, 1, 1, 7, 7), filter, {}, 1, 3);
    for (int i = 0; i < 25; ++i) ASSERT_EQ(expected.v[size_t(i)], kLectureMap[i / 5][i % 5]) << "at " << i;

    CompiledModel m = compileModel("network lecture(img: [1, 7, 7]) {\n  return img -> conv(1, 3, bias=false)\n}\n",
                                   "lecture");
    ASSERT_TRUE(m.ok()) << m.error();
    ASSERT_EQ(m.outputSize(), 25);
    Tensor w;
    w.shape = {1, 1, 3, 3};
    w.data = filter;
    ASSERT_EQ(m.setWeights({{"conv1.weight", w}}), 0) << m.lastError();
    std::vector<float> out = m.infer(image, 1);
    ASSERT_EQ(out.size(), 25u);
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 5; ++j) EXPECT_EQ(out[size_t(i * 5 + j)], kLectureMap[i][j]) << "at (" << i << ", " << j << ")";
}

TEST(Lecture, MaxPoolWorkedExample) {
    CompiledModel m = compileModel("network lecpool(m: [1, 4, 4]) {\n  return m -> maxpool(2)\n}\n", "lecpool");
    ASSERT_TRUE(m.ok()) << m.error();
    ASSERT_EQ(m.outputSize(), 4);
    std::vector<float> topLeft;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) topLeft.push_back(kLectureMap[i][j]);
    std::vector<float> out = m.infer(topLeft, 1);
    ASSERT_EQ(out.size(), 4u);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) EXPECT_EQ(out[size_t(i * 2 + j)], kLecturePooled[i][j]) << "at (" << i << ", " << j << ")";
}

// ---- conv ------------------------------------------------------------------------------

TEST(Conv, StrideThreePadDilationPairs) {
    Shape in{5, 13, 10};
    CompiledModel m = compileNet("conv_a", in, "return x -> conv(7, [3, 2], stride=3, pad=[2, 1], dilation=[1, 2], name=\"c\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addConv(w, "c", 7, 5, {3, 2});
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return conv(x, w, "c", 7, {3, 2}, 3, {2, 1}, {1, 2}); });
}

TEST(Conv, GroupsNoBiasStridePair) {
    Shape in{6, 9, 11};
    CompiledModel m = compileNet("conv_b", in, "return x -> conv(9, 3, stride=[1, 2], pad=1, groups=3, bias=false, name=\"c\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addConv(w, "c", 9, 2, 3, /*bias=*/false);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return conv(x, w, "c", 9, 3, {1, 2}, 1, 1, 3); });
}

TEST(Conv, DepthwiseDilated) {
    Shape in{5, 8, 7};
    CompiledModel m = compileNet("conv_dw", in, "return x -> conv(5, 3, pad=2, dilation=2, groups=5, name=\"c\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addConv(w, "c", 5, 1, 3);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return conv(x, w, "c", 5, 3, 1, 2, 2, 5); });
}

TEST(Conv, DepthwiseMultiplierWideRowKernel) {
    // groups == channels with 2 filters per group, a [1, 4] kernel, a width that
    // is no multiple of any vector width.
    Shape in{3, 5, 37};
    CompiledModel m = compileNet("conv_dm", in, "return x -> conv(6, [1, 4], stride=[2, 1], groups=3, name=\"c\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addConv(w, "c", 6, 1, {1, 4});
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return conv(x, w, "c", 6, {1, 4}, {2, 1}, 0, 1, 3); });
}

// ---- dense -----------------------------------------------------------------------------

TEST(Dense, WithBias) {
    Shape in{3, 4, 5};
    CompiledModel m = compileNet("dense_a", in, "return x -> flatten -> dense(13, name=\"d\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addDense(w, "d", 13, 60);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return dense(ref::flatten(x), w, "d", 13); });
}

TEST(Dense, NoBias) {
    Shape in{2, 3, 3};
    CompiledModel m = compileNet("dense_b", in, "return x -> flatten -> dense(9, bias=false, name=\"d\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addDense(w, "d", 9, 18, false);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return dense(ref::flatten(x), w, "d", 9); });
}

// ---- activations -----------------------------------------------------------------------

TEST(Activations, All) {
    Shape in{3, 5, 7};
    struct Case {
        const char *net, *op;
        RefFn fn;
    };
    std::vector<Case> cases = {
        {"act_relu", "relu", [](const Arr &x) { return ref::relu(x); }},
        {"act_leaky", "leaky_relu(0.2)", [](const Arr &x) { return ref::leakyRelu(x, 0.2); }},
        {"act_leaky_default", "leaky_relu", [](const Arr &x) { return ref::leakyRelu(x, 0.01); }},
        {"act_sigmoid", "sigmoid", [](const Arr &x) { return ref::sigmoid(x); }},
        {"act_tanh", "tanh", [](const Arr &x) { return ref::tanh(x); }},
        {"act_clip", "clip(-0.5, 2)", [](const Arr &x) {
             Arr y = x;
             for (double &v : y.v) v = std::min(2.0, std::max(-0.5, v));
             return y;
         }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.op);
        CompiledModel m = compileNet(c.net, in, std::string("return x -> ") + c.op);
        // Scale 3 so sigmoid and tanh see their tails too.
        expectMatchesReference(m, in, c.fn, 3.0);
    }
}

// ---- pooling ---------------------------------------------------------------------------

TEST(MaxPool, Variants) {
    struct Case {
        const char *net, *op;
        Shape in;
        RefFn fn;
    };
    std::vector<Case> cases = {
        {"mp_a", "maxpool(2)", {3, 9, 7}, [](const Arr &x) { return ref::maxpool(x, 2, 2); }},
        {"mp_b", "maxpool(3, stride=2, pad=1, ceil=true)", {2, 10, 7},
         [](const Arr &x) { return ref::maxpool(x, 3, 2, 1, true); }},
        {"mp_c", "maxpool([2, 3], stride=[3, 1], pad=[1, 0])", {4, 11, 6},
         [](const Arr &x) { return ref::maxpool(x, {2, 3}, {3, 1}, {1, 0}); }},
        {"mp_d", "maxpool(2, ceil=true)", {2, 7, 5}, [](const Arr &x) { return ref::maxpool(x, 2, 2, 0, true); }},
        // ceil with stride 3: the extra window would start in the right padding.
        {"mp_e", "maxpool(4, stride=3, pad=2, ceil=true)", {1, 9, 8},
         [](const Arr &x) { return ref::maxpool(x, 4, 3, 2, true); }},
        // GoogLeNet's branch pool: tasks of 22 planes (channel x sample), the
        // last one partial at batch 7.
        {"mp_f", "maxpool(3, stride=1, pad=1, ceil=true)", {20, 14, 13},
         [](const Arr &x) { return ref::maxpool(x, 3, 1, 1, true); }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.op);
        CompiledModel m = compileNet(c.net, c.in, std::string("return x -> ") + c.op);
        expectMatchesReference(m, c.in, c.fn);
    }
}

TEST(AvgPool, Variants) {
    struct Case {
        const char *net, *op;
        Shape in;
        RefFn fn;
    };
    std::vector<Case> cases = {
        {"ap_a", "avgpool(3, stride=2, pad=1)", {2, 9, 8}, [](const Arr &x) { return ref::avgpool(x, 3, 2, 1); }},
        {"ap_b", "avgpool(3, stride=2, pad=1, count_pad=false)", {2, 9, 8},
         [](const Arr &x) { return ref::avgpool(x, 3, 2, 1, false, false); }},
        {"ap_c", "avgpool([2, 3], stride=[1, 2], pad=[1, 1], ceil=true, count_pad=false)", {3, 6, 10},
         [](const Arr &x) { return ref::avgpool(x, {2, 3}, {1, 2}, {1, 1}, true, false); }},
        // ceil + count_pad: the last window reaches past the right padding, its
        // divisor is clipped to the padded input.
        {"ap_d", "avgpool(3, stride=3, pad=1, ceil=true)", {2, 8, 11},
         [](const Arr &x) { return ref::avgpool(x, 3, 3, 1, true, true); }},
        {"ap_e", "avgpool(2, ceil=true)", {1, 5, 7}, [](const Arr &x) { return ref::avgpool(x, 2, 2, 0, true); }},
        // Rows of a vector and a tail.
        {"ap_f", "avgpool(3, stride=1, pad=1, count_pad=false)", {5, 6, 19},
         [](const Arr &x) { return ref::avgpool(x, 3, 1, 1, false, false); }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.op);
        CompiledModel m = compileNet(c.net, c.in, std::string("return x -> ") + c.op);
        expectMatchesReference(m, c.in, c.fn);
    }
}

TEST(AdaptiveAvgPool, Variants) {
    struct Case {
        const char *net, *op;
        Shape in;
        RefFn fn;
    };
    std::vector<Case> cases = {
        {"aap_a", "adaptive_avgpool([4, 3])", {3, 11, 7}, [](const Arr &x) { return ref::adaptiveAvgpool(x, {4, 3}); }},
        // More outputs than inputs along W: overlapping windows.
        {"aap_b", "adaptive_avgpool([5, 4])", {2, 11, 3}, [](const Arr &x) { return ref::adaptiveAvgpool(x, {5, 4}); }},
        {"aap_c", "adaptive_avgpool(1)", {4, 6, 5}, [](const Arr &x) { return ref::adaptiveAvgpool(x, 1); }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.op);
        CompiledModel m = compileNet(c.net, c.in, std::string("return x -> ") + c.op);
        expectMatchesReference(m, c.in, c.fn);
    }
}

// ---- pad -------------------------------------------------------------------------------

TEST(Pad, Variants) {
    struct Case {
        const char *net, *body;
        Shape in;
        RefFn fn;
    };
    std::vector<Case> cases = {
        // nn.ZeroPad2d((0, 1, 0, 1)): SAME padding of an even kernel.
        {"pad_a", "return x -> pad(0, 1, 0, 1)", {3, 5, 7}, [](const Arr &x) { return ref::pad(x, 0, 1, 0, 1); }},
        // Every side different, a constant other than zero, a width below a vector.
        {"pad_b", "return x -> pad(left=2, right=1, top=3, bottom=0, value=-1.5)", {2, 4, 3},
         [](const Arr &x) { return ref::pad(x, 2, 1, 3, 0, -1.5); }},
        // Rows of several vectors and a tail.
        {"pad_c", "return x -> pad(right=5, bottom=2)", {4, 6, 19},
         [](const Arr &x) { return ref::pad(x, 0, 5, 0, 2); }},
        // -inf then a max pool without padding is a max pool with asymmetric padding.
        {"pad_d", "return x -> pad(1, 0, 0, 2, value=-inf) -> maxpool(3, stride=2)", {2, 8, 9},
         [](const Arr &x) { return ref::maxpool(ref::pad(x, 1, 0, 0, 2, -std::numeric_limits<double>::infinity()), 3, 2); }},
        // Negative sides crop: F.pad(x, (-1, 2, -2, -1)), and a crop alone.
        {"pad_f", "return x -> pad(-1, 2, -2, -1)", {2, 7, 6}, [](const Arr &x) { return ref::pad(x, -1, 2, -2, -1); }},
        {"pad_g", "return x -> pad(left=-3, top=-1, bottom=-2)", {3, 9, 21},
         [](const Arr &x) { return ref::pad(x, -3, 0, -1, -2); }},
        // A zero border before a conv, and an activation fused after the pad.
        {"pad_e", "return x -> pad(0, 1, 1, 0) -> relu -> conv(3, 2, name=\"c\")", {2, 6, 6}, nullptr},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.body);
        CompiledModel m = compileNet(c.net, c.in, c.body);
        if (c.fn) {
            expectMatchesReference(m, c.in, c.fn);
            continue;
        }
        ASSERT_TRUE(m.ok()) << m.error();
        TensorMap w;
        addConv(w, "c", 3, 2, 2);
        ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
        expectMatchesReference(m, c.in, [&](const Arr &x) { return conv(ref::relu(ref::pad(x, 0, 1, 1, 0)), w, "c", 3, 2); });
    }
}

// ---- shape, normalisation, combination ops --------------------------------------------------

TEST(Flatten, IsNCHWOrder) {
    Shape in{3, 4, 5};
    CompiledModel m = compileNet("flat", in, "return x -> flatten");
    expectMatchesReference(m, in, [](const Arr &x) { return ref::flatten(x); });
}

TEST(Softmax, OverChannelsOfMap) {
    Shape in{6, 5, 3};
    CompiledModel m = compileNet("sm_map", in, "return x -> softmax");
    expectMatchesReference(m, in, [](const Arr &x) { return ref::softmax(x); }, 3.0);
}

TEST(Softmax, OverVector) {
    Shape in{4, 3, 2};
    CompiledModel m = compileNet("sm_vec", in, "return x -> flatten -> softmax");
    expectMatchesReference(m, in, [](const Arr &x) { return ref::softmax(ref::flatten(x)); }, 3.0);
}

TEST(Dropout, IdentityAtInferenceWithAndWithoutPasses) {
    Shape in{2, 3, 5};
    for (const char *flag : {"", "-O0"}) {
        SCOPED_TRACE(flag);
        std::vector<std::string> flags;
        if (*flag) flags.push_back(flag);
        CompiledModel m = compileNet("drop", in, "return x -> dropout(0.5)", flags);
        expectMatchesReference(m, in, [](const Arr &x) { return ref::dropout(x); });
    }
}

TEST(BatchNorm, MapCustomEps) {
    Shape in{5, 4, 7};
    CompiledModel m = compileNet("bn_map", in, "return x -> batchnorm(eps=0.01, name=\"bn\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addBatchnorm(w, "bn", 5);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return batchnorm(x, w, "bn", 0.01); });
}

TEST(BatchNorm, VectorDefaultEps) {
    Shape in{3, 2, 2};
    CompiledModel m = compileNet("bn_vec", in, "return x -> flatten -> batchnorm(name=\"bn\")");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addBatchnorm(w, "bn", 12);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return batchnorm(ref::flatten(x), w, "bn", 1e-5); });
}

TEST(LRN, Variants) {
    struct Case {
        const char *net, *op;
        Shape in;
        RefFn fn;
    };
    std::vector<Case> cases = {
        {"lrn_a", "lrn(size=3, alpha=0.01, beta=0.5, k=2.0)", {8, 4, 6},
         [](const Arr &x) { return ref::lrn(x, 3, 0.01, 0.5, 2.0); }},
        // Even size: the window is c-2 .. c+1.
        {"lrn_b", "lrn(size=4, alpha=0.5, beta=0.75, k=1.0)", {7, 3, 5},
         [](const Arr &x) { return ref::lrn(x, 4, 0.5, 0.75, 1.0); }},
        {"lrn_c", "lrn", {6, 2, 3}, [](const Arr &x) { return ref::lrn(x, 5, 1e-4, 0.75, 1.0); }},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.op);
        CompiledModel m = compileNet(c.net, c.in, std::string("return x -> ") + c.op);
        expectMatchesReference(m, c.in, c.fn, 2.0);
    }
}

TEST(Concat, ThreeInputsIncludingTheNetworkInput) {
    Shape in{3, 5, 6};
    CompiledModel m = compileNet("cat3", in,
                                 "a = x -> conv(2, 1, name=\"ca\")\n"
                                 "b = x -> conv(5, 1, name=\"cb\")\n"
                                 "return concat(a, x, b)");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addConv(w, "ca", 2, 3, 1);
    addConv(w, "cb", 5, 3, 1);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) {
        return ref::concat({conv(x, w, "ca", 2, 1), x, conv(x, w, "cb", 5, 1)});
    });
}

TEST(Concat, OfVectors) {
    Shape in{2, 3, 2};
    CompiledModel m = compileNet("catv", in,
                                 "v = x -> flatten\n"
                                 "a = v -> dense(3, name=\"da\")\n"
                                 "return concat(v, a, v)");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addDense(w, "da", 3, 12);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) {
        Arr v = ref::flatten(x);
        return ref::concat({v, dense(v, w, "da", 3), v});
    });
}

TEST(Add, TwoBranches) {
    Shape in{3, 7, 5};
    CompiledModel m = compileNet("add2", in,
                                 "a = x -> conv(4, 3, pad=1, name=\"ca\")\n"
                                 "b = x -> conv(4, 1, name=\"cb\")\n"
                                 "return a + b");
    ASSERT_TRUE(m.ok()) << m.error();
    TensorMap w;
    addConv(w, "ca", 4, 3, 3);
    addConv(w, "cb", 4, 3, 1);
    ASSERT_EQ(m.setWeights(w), 0) << m.lastError();
    expectMatchesReference(m, in, [&](const Arr &x) { return ref::add(conv(x, w, "ca", 4, 3, 1, 1), conv(x, w, "cb", 4, 1)); });
}

TEST(Add, InputToItsOwnActivation) {
    Shape in{2, 3, 4};
    CompiledModel m = compileNet("add_self", in, "return x + relu(x)");
    expectMatchesReference(m, in, [&](const Arr &x) { return ref::add(x, ref::relu(x)); });
}

}  // namespace
}  // namespace cnnc_test
