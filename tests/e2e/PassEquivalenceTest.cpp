// Every optimisation pass preserves the network's function: the same weights
// give the same outputs (within 1e-5 of the largest) with the full pipeline,
// with each pass disabled in turn, and with -O0.
#include <algorithm>

#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

// Residual blocks (conv+batchnorm folding, fused adds), an in-place concat of
// three branches (two in a nested concat), dropout and an aux head (dropped
// at inference).
const char *kNet = R"(
block unit(x, c) {
    y = x -> conv(c, 3, pad=1, bias=false, name="conv") -> batchnorm(name="bn") -> relu
    return relu(y + x)
}
network passes(image: [6, 9, 7]) {
    x = image -> unit(6, name="u1") -> unit(6, name="u2")
    a = x -> conv(4, 1, name="left") -> relu
    b = x -> conv(2, 3, pad=1, name="right") -> sigmoid
    c = x -> conv(3, [1, 3], pad=[0, 1], name="right2") -> tanh
    x = concat(a, concat(b, c)) -> maxpool(2, ceil=true) -> dropout(0.4)
    aux x -> flatten -> dense(3, name="head") weight=0.3
    return x -> flatten -> dense(10, name="fc") -> batchnorm(name="fcbn")
}
)";

std::vector<std::pair<std::string, std::vector<int64_t>>> params() {
    std::vector<std::pair<std::string, std::vector<int64_t>>> p = {
        {"u1.conv.weight", {6, 6, 3, 3}}, {"u2.conv.weight", {6, 6, 3, 3}}, {"left.weight", {4, 6, 1, 1}},
        {"left.bias", {4}}, {"right.weight", {2, 6, 3, 3}}, {"right.bias", {2}}, {"right2.weight", {3, 6, 1, 3}},
        {"right2.bias", {3}}, {"head.weight", {3, 180}},
        {"head.bias", {3}}, {"fc.weight", {10, 180}}, {"fc.bias", {10}}};
    for (auto [bn, c] : std::vector<std::pair<std::string, int64_t>>{{"u1.bn", 6}, {"u2.bn", 6}, {"fcbn", 10}})
        for (const char *f : {"weight", "bias", "running_mean", "running_var"}) p.push_back({bn + "." + f, {c}});
    return p;
}

std::vector<float> run(const std::vector<std::string> &flags, const TensorMap &weights, const std::vector<float> &input,
                       int batch) {
    CompiledModel m = compileModel(kNet, "passes", flags);
    EXPECT_TRUE(m.ok()) << m.error();
    if (!m.ok()) return {};
    EXPECT_EQ(m.setWeights(weights), 0) << m.lastError();
    return m.infer(input, batch);
}

class PassEquivalence : public ::testing::TestWithParam<std::string> {};

TEST_P(PassEquivalence, SameOutputs) {
    TensorMap weights = randomWeights(params(), 7);
    const int batch = 3;
    std::vector<float> input = randomNormal(size_t(batch) * 6 * 9 * 7, 11);
    std::vector<float> full = run({}, weights, input, batch);
    std::vector<std::string> flags = GetParam() == "-O0" ? std::vector<std::string>{"-O0"}
                                                         : std::vector<std::string>{"--disable-pass=" + GetParam()};
    std::vector<float> without = run(flags, weights, input, batch);
    ASSERT_EQ(full.size(), size_t(batch) * 10);
    ASSERT_EQ(without.size(), full.size());
    float scale = 0, worst = 0;
    for (size_t i = 0; i < full.size(); ++i) {
        scale = std::max(scale, std::fabs(without[i]));
        worst = std::max(worst, std::fabs(full[i] - without[i]));
    }
    EXPECT_GT(scale, 0.0f);
    EXPECT_LE(worst, 1e-5f * scale) << "with vs without " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(EachPass, PassEquivalence,
                         ::testing::Values("dce", "drop-dropout", "fold-batchnorm", "flatten-concat", "fuse",
                                           "eliminate-concat", "-O0"),
                         [](const auto &info) {
                             std::string s = info.param;
                             std::replace(s.begin(), s.end(), '-', '_');
                             return s == "_O0" ? std::string("O0") : s;
                         });

} // namespace
} // namespace cnnc_test
