// The same network compiled with the default pipeline (fusion) and with -O0
// (one kernel per op) must agree, and both must match the reference.
#include "tests/ops/OpsCommon.h"

namespace cnnc_test {
namespace {

using ref::Arr;

void expectFusionAgrees(const std::string &net, Shape in, const std::string &body, const TensorMap &w,
                        const RefFn &reference) {
    CompiledModel fused = compileNet(net, in, body);
    CompiledModel plain = compileNet(net, in, body, {"-O0"});
    ASSERT_TRUE(fused.ok()) << fused.error();
    ASSERT_TRUE(plain.ok()) << plain.error();
    if (!w.empty()) {
        ASSERT_EQ(fused.setWeights(w), 0) << fused.lastError();
        ASSERT_EQ(plain.setWeights(w), 0) << plain.lastError();
    }
    for (int batch : {1, 7}) {
        SCOPED_TRACE("batch " + std::to_string(batch));
        std::vector<float> input = randomNormal(size_t(batch) * size_t(in.size()), seedOf(net) + uint32_t(batch));
        std::vector<float> a = fused.infer(input, batch), b = plain.infer(input, batch);
        ASSERT_EQ(a.size(), b.size());
        ASSERT_FALSE(a.empty());
        Arr bArr = Arr::fromFloats(b, batch, int(b.size()) / batch);
        ref::Diff d = ref::compare(a, bArr);
        EXPECT_LE(d.maxAbsDiff, kTol * std::max(d.maxRef, 1e-30))
            << "fused vs -O0: max |diff| " << d.maxAbsDiff << " at " << d.worst << " (fused " << a[d.worst]
            << ", -O0 " << b[d.worst] << ")";
    }
    {
        SCOPED_TRACE("fused vs reference");
        expectMatchesReference(fused, in, reference);
    }
    {
        SCOPED_TRACE("-O0 vs reference");
        expectMatchesReference(plain, in, reference);
    }
}

TEST(Fusion, ConvBiasReluMaxpool) {
    TensorMap w;
    addConv(w, "c", 6, 3, 3);
    expectFusionAgrees("fz_cbrm", {3, 11, 9}, "return x -> conv(6, 3, pad=1, name=\"c\") -> relu -> maxpool(2)", w,
                       [&](const Arr &x) { return ref::maxpool(ref::relu(conv(x, w, "c", 6, 3, 1, 1)), 2, 2); });
}

TEST(Fusion, ConvReluPaddedCeilMaxpool) {
    // The pool's -inf padding must not read the (fused) conv outside its extent.
    TensorMap w;
    addConv(w, "c", 5, 2, {3, 2});
    expectFusionAgrees("fz_crpm", {2, 10, 9},
                       "return x -> conv(5, [3, 2], stride=[1, 2], name=\"c\") -> tanh -> maxpool(3, stride=2, pad=1, ceil=true)",
                       w, [&](const Arr &x) {
                           return ref::maxpool(ref::tanh(conv(x, w, "c", 5, {3, 2}, {1, 2})), 3, 2, 1, true);
                       });
}

TEST(Fusion, ConvAvgpoolCountPadFalse) {
    TensorMap w;
    addConv(w, "c", 4, 3, 3);
    expectFusionAgrees("fz_cap", {3, 9, 8},
                       "return x -> conv(4, 3, pad=1, name=\"c\") -> avgpool(3, stride=2, pad=1, ceil=true, count_pad=false)",
                       w, [&](const Arr &x) { return ref::avgpool(conv(x, w, "c", 4, 3, 1, 1), 3, 2, 1, true, false); });
}

TEST(Fusion, ConvAdaptiveAvgpool) {
    TensorMap w;
    addConv(w, "c", 4, 2, 3);
    expectFusionAgrees("fz_caap", {2, 9, 10}, "return x -> conv(4, 3, name=\"c\") -> sigmoid -> adaptive_avgpool([3, 4])", w,
                       [&](const Arr &x) { return ref::adaptiveAvgpool(ref::sigmoid(conv(x, w, "c", 4, 3)), {3, 4}); });
}

TEST(Fusion, ConvBatchnormRelu) {
    TensorMap w;
    addConv(w, "c", 5, 3, 3, /*bias=*/false);
    addBatchnorm(w, "bn", 5);
    expectFusionAgrees("fz_cbn", {3, 8, 7}, "return x -> conv(5, 3, bias=false, name=\"c\") -> batchnorm(name=\"bn\") -> relu", w,
                       [&](const Arr &x) { return ref::relu(batchnorm(conv(x, w, "c", 5, 3), w, "bn", 1e-5)); });
}

TEST(Fusion, ResidualAdd) {
    TensorMap w;
    addConv(w, "c1", 4, 4, 3);
    addConv(w, "c2", 4, 4, 3);
    RefFn reference = [&](const Arr &x) {
        Arr y = ref::relu(conv(x, w, "c1", 4, 3, 1, 1));
        Arr z = conv(y, w, "c2", 4, 3, 1, 1);
        return ref::relu(ref::add(z, y));
    };
    // The residual as the add's second operand, and as its first.
    expectFusionAgrees("fz_res", {4, 7, 6},
                       "y = x -> conv(4, 3, pad=1, name=\"c1\") -> relu\n"
                       "z = y -> conv(4, 3, pad=1, name=\"c2\")\n"
                       "r = z + y\n"
                       "return r -> relu",
                       w, reference);
    expectFusionAgrees("fz_res2", {4, 7, 6},
                       "y = x -> conv(4, 3, pad=1, name=\"c1\") -> relu\n"
                       "z = y -> conv(4, 3, pad=1, name=\"c2\")\n"
                       "r = y + z\n"
                       "return r -> relu",
                       w, reference);
}

TEST(Fusion, DenseRelu) {
    TensorMap w;
    addDense(w, "d1", 11, 30);
    addDense(w, "d2", 5, 11);
    expectFusionAgrees("fz_dr", {3, 2, 5}, "return x -> flatten -> dense(11, name=\"d1\") -> relu -> dense(5, name=\"d2\") -> relu", w,
                       [&](const Arr &x) { return ref::relu(dense(ref::relu(dense(ref::flatten(x), w, "d1", 11)), w, "d2", 5)); });
}

}  // namespace
}  // namespace cnnc_test
