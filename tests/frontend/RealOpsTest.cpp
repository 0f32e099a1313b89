// The frontend and textual IR against the real ops in ops/ (registerAllOps()).
#include "Common.h"

#include <algorithm>

#include "frontend/EmitCnn.h"
#include "ir/IRParser.h"
#include "ir/OpDef.h"
#include "ir/Verifier.h"

namespace cnnc::testing {
namespace {

class RealOps : public ::testing::Test {
protected:
    void SetUp() override { registerAllOps(); }
    static void roundTrip(const Graph &g) {
        verify(g);
        std::string a = printGraph(g);
        Graph h = parseIR(a);
        verify(h);
        EXPECT_EQ(printGraph(h), a);
        Graph k = parseIR(printGraph(h));
        EXPECT_EQ(printGraph(k), a);
    }
};

TEST_F(RealOps, LeNetRoundTrip) {
    Graph g = compileSource(kLeNet);
    EXPECT_EQ(g.nodes.size(), 14u);
    EXPECT_EQ(g.node(g.result).type, (TensorType{{10}}));
    std::string s = printGraph(g);
    EXPECT_EQ(s.substr(0, s.find('\n') + 1), "network lenet5(%0: f32[N,1,28,28]) input=\"image\" {\n");
    EXPECT_NE(s.find("%1 = conv(%0) {filters=6, size=[5, 5], stride=[1, 1], pad=[2, 2], bias=true, groups=1, "
                     "dilation=[1, 1]} name=\"conv1\" : f32[N,6,28,28]\n"),
              std::string::npos);
    roundTrip(g);
    std::vector<std::string> names;
    for (auto *p : g.parameters()) names.push_back(p->name);
    EXPECT_EQ(names.front(), "conv1.weight");
    EXPECT_EQ(names.back(), "dense3.bias");
}

TEST_F(RealOps, BlockModelRoundTrip) {
    Graph g = compileSource(R"(
block basic(x, planes) {
    y = x -> conv(planes, 3, pad=1, bias=false, name="conv1") -> batchnorm(name="bn1") -> relu
    y = y -> conv(planes, 3, pad=1, bias=false, name="conv2") -> batchnorm(name="bn2")
    return (y + x) -> relu
}
block inception(x, c1, c3r, c3) {
    a = x -> conv(c1, 1) -> relu
    b = x -> conv(c3r, 1) -> relu -> conv(c3, 3, pad=1) -> relu
    return concat(a, b)
}
network resnetish(image: [3, 32, 32]) {
    x = image -> conv(16, 3, pad=1, bias=false, name="conv1") -> batchnorm(name="bn1") -> relu
    x = x -> basic(16, name="layer1.0") -> basic(16, name="layer1.1")
    x = x -> inception(8, 4, 8, name="mix")
    aux x -> flatten -> dense(10, name="aux") weight=0.3
    x = x -> maxpool(2) -> flatten -> dropout(0.25)
    return x -> dense(10, name="fc")
}
)");
    roundTrip(g);
    std::vector<std::string> names;
    for (auto *p : g.parameters()) names.push_back(p->name);
    EXPECT_NE(std::find(names.begin(), names.end(), "layer1.0.conv1.weight"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "layer1.1.bn2.running_var"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "mix.conv3.weight"), names.end());
    ASSERT_EQ(g.aux.size(), 1u);
}

// pad, with a -inf border, and a fixed batch: printed, parsed back, and
// written as .cnn source that compiles to the same graph.
TEST_F(RealOps, PadAndFixedBatchRoundTrip) {
    Graph g = compileSource("network padded(image: [2, 6, 5], batch=4) {\n"
                            "    x = image -> pad(0, 1, 0, 1) -> conv(3, 2)\n"
                            "    return x -> pad(left=1, top=2, value=-inf) -> maxpool(2)\n"
                            "}\n");
    EXPECT_EQ(g.fixedBatch, 4);
    std::string s = printGraph(g);
    EXPECT_EQ(s.substr(0, s.find('\n') + 1), "network padded(%0: f32[N,2,6,5]) input=\"image\" batch=4 {\n");
    EXPECT_NE(s.find("%1 = pad(%0) {left=0, right=1, top=0, bottom=1, value=0.0} : f32[N,2,7,6]\n"), std::string::npos)
        << s;
    EXPECT_NE(s.find("%3 = pad(%2) {left=1, right=0, top=2, bottom=0, value=-inf} : f32[N,3,8,6]\n"),
              std::string::npos)
        << s;
    roundTrip(g);
    std::string source = emitCnn(g);
    EXPECT_NE(source.find("network padded(image: [2, 6, 5], batch=4) {"), std::string::npos) << source;
    EXPECT_EQ(printGraph(compileSource(source)), s);
}

TEST_F(RealOps, PadAndFixedBatchDiagnostics) {
    // A negative side crops, but not the whole map.
    EXPECT_EQ(diag("network n(x: [3, 8, 8]) {\n    return x -> pad(left=-1)\n}\n"), "");
    EXPECT_EQ(diag("network n(x: [3, 8, 8]) {\n    return x -> pad(left=-5, right=-3)\n}\n"),
              "t.cnn:2:17: error: cropping 8 of the width 8 leaves nothing\n"
              "    return x -> pad(left=-5, right=-3)\n"
              "                ^\n");
    EXPECT_NE(diag("network n(x: [3, 8, 8]) {\n    return x -> flatten -> pad(1)\n}\n")
                  .find("error: pad expects a [C, H, W] feature map, got [192]"),
              std::string::npos);
    EXPECT_EQ(diag("network n(x: [3, 8, 8], batch=1) { return x }"),
              "t.cnn:1:31: error: a fixed batch must be 2 to 2^31-1, got 1 (leave it out for any batch)\n"
              "network n(x: [3, 8, 8], batch=1) { return x }\n"
              "                              ^\n");
    // +inf has no spelling; -inf, and numbers, are the fills.
    EXPECT_NE(diag("network n(x: [3, 8, 8]) {\n    return x -> pad(1, value=inf)\n}\n").find("error:"),
              std::string::npos);
    // IR text: a fixed batch below 2 is refused where it is read.
    EXPECT_THROW(parseIR("network n(%0: f32[N,3]) input=\"x\" batch=1 {\n  return %0\n}\n"), CompileError);
}

TEST_F(RealOps, ShapeErrorBecomesDiagnostic) {
    std::string d = diag("network n(x: [3, 8, 8]) {\n    return x -> dense(10)\n}\n");
    EXPECT_EQ(d.substr(0, 18), "t.cnn:2:17: error:");
    EXPECT_NE(d.find("    return x -> dense(10)\n                ^\n"), std::string::npos);
    std::string big = diag("network n(image: [100000000, 100000000, 100000000]) { return image }");
    EXPECT_EQ(big.substr(0, 18), "t.cnn:1:18: error:");
}

} // namespace
} // namespace cnnc::testing
