// Parsing and lowering: graph structure, naming, blocks, precedence, aux.
#include "Common.h"
#include "FakeOps.h"

#include "frontend/Lexer.h"
#include "ir/Verifier.h"

#include <algorithm>
#include <chrono>

namespace cnnc::testing {
namespace {

class Frontend : public ::testing::Test {
protected:
    void SetUp() override { registerFakeOps(); }
    static std::vector<std::string> ops(const Graph &g) {
        std::vector<std::string> out;
        for (auto &n : g.nodes) out.push_back(n.opName());
        return out;
    }
    static std::vector<std::string> params(const Graph &g) {
        std::vector<std::string> out;
        for (auto *p : g.parameters()) out.push_back(p->name);
        return out;
    }
};

TEST_F(Frontend, LeNet) {
    Graph g = compileSource(kLeNet);
    verify(g);
    EXPECT_EQ(g.name, "lenet5");
    EXPECT_EQ(g.inputName(), "image");
    EXPECT_EQ(g.input().type, (TensorType{{1, 28, 28}}));
    EXPECT_EQ(ops(g), (std::vector<std::string>{"input", "conv", "relu", "maxpool", "conv", "relu", "maxpool",
                                                "flatten", "dense", "relu", "dense", "relu", "dense", "softmax"}));
    EXPECT_EQ(g.result, 13);
    EXPECT_EQ(g.node(13).type, (TensorType{{10}}));
    EXPECT_EQ(g.node(1).type, (TensorType{{6, 28, 28}}));
    EXPECT_EQ(g.node(1).attrs.getPair("pad"), (Pair{2, 2}));
    EXPECT_EQ(g.node(1).loc.line, 3);
    EXPECT_EQ(g.node(1).loc.col, 18);
    EXPECT_EQ(params(g), (std::vector<std::string>{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                                   "dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias",
                                                   "dense3.weight", "dense3.bias"}));
    EXPECT_EQ(g.node(8).params[0].decl.shape, (std::vector<int64_t>{120, 400}));
}

TEST_F(Frontend, VectorInputAndSemicolons) {
    Graph g = compileSource("network mlp(v: [784]) { h = v -> dense(10); return h }");
    EXPECT_EQ(g.nodes.size(), 2u);
    EXPECT_EQ(g.node(1).type, (TensorType{{10}}));
}

TEST_F(Frontend, ArrowCallAndPlusPrecedence) {
    // a -> f(args) is f(a, args); -> binds tighter than +.
    Graph g1 = compileSource("network n(x: [3, 8, 8]) { return x -> conv(4, 3, pad=1) + x -> conv(4, 1) }");
    Graph g2 = compileSource("network n(x: [3, 8, 8]) { return add(conv(x, 4, 3, pad=1), conv(x, 4, 1)) }");
    Graph g3 = compileSource("network n(x: [3, 8, 8]) { return (x -> conv(4, 3, pad=1)) + (x -> conv(4, 1)) }");
    EXPECT_EQ(printGraph(g1), printGraph(g2));
    EXPECT_EQ(printGraph(g1), printGraph(g3));
    EXPECT_EQ(ops(g1), (std::vector<std::string>{"input", "conv", "conv", "add"}));
    // Parentheses group: (x + x) -> relu applies relu to the sum.
    Graph g4 = compileSource("network n(x: [3, 8, 8]) { return (x + x) -> relu }");
    EXPECT_EQ(ops(g4), (std::vector<std::string>{"input", "add", "relu"}));
    Graph g5 = compileSource("network n(x: [3, 8, 8]) { return x + x -> relu }");
    EXPECT_EQ(ops(g5), (std::vector<std::string>{"input", "relu", "add"}));
    EXPECT_EQ(g5.node(2).operands, (std::vector<int>{0, 1}));
    // a + b + c is left-associative.
    Graph g6 = compileSource("network n(x: [3, 8, 8]) { return x + x + x }");
    EXPECT_EQ(g6.node(2).operands, (std::vector<int>{1, 0}));
}

TEST_F(Frontend, ConcatLhsIsFirstInput) {
    Graph g = compileSource(R"(network n(x: [3, 8, 8]) {
        a = x -> conv(2, 1)
        b = x -> conv(5, 1)
        return a -> concat(b, x)
    })");
    const Node &c = g.node(g.result);
    EXPECT_EQ(c.opName(), "concat");
    EXPECT_EQ(c.operands, (std::vector<int>{1, 2, 0}));
    EXPECT_EQ(c.type, (TensorType{{10, 8, 8}}));
}

TEST_F(Frontend, ContinuationLines) {
    Graph g = compileSource(R"(network n(x: [3, 8, 8]) {
        y = x ->
            conv(4, 3,
                 pad=1)
            -> relu   # comment
            // another comment
            -> batchnorm(eps=1e-3)
        z = y +
            y
        return concat(
            y,
            z,
        )
    })");
    EXPECT_EQ(ops(g), (std::vector<std::string>{"input", "conv", "relu", "batchnorm", "add", "concat"}));
    EXPECT_DOUBLE_EQ(g.node(3).attrs.getFloat("eps"), 1e-3);
}

TEST_F(Frontend, ValuesAndRebinding) {
    Graph g = compileSource(R"(network n(x: [3, 9, 9]) {
        x = x -> conv(4, [3, 1], stride=[2, 1], bias=false, name="c")
        x = x -> dropout(0.25, tag="a \"q\"") -> dropout(p=-0.1)
        return x
    })");
    EXPECT_EQ(g.node(1).attrs.getPair("size"), (Pair{3, 1}));
    EXPECT_EQ(g.node(1).type, (TensorType{{4, 4, 9}}));
    EXPECT_FALSE(g.node(1).attrs.getBool("bias"));
    EXPECT_EQ(g.node(1).params.size(), 1u);
    EXPECT_EQ(g.node(2).attrs.getString("tag"), "a \"q\"");
    EXPECT_DOUBLE_EQ(g.node(3).attrs.getFloat("p"), -0.1);
}

TEST_F(Frontend, GeneratedNamesSkipExplicitOnes) {
    Graph g = compileSource(R"(network n(x: [3, 8, 8]) {
        x = x -> conv(4, 1) -> conv(4, 1, name="conv3") -> conv(4, 1) -> conv(4, 1)
        return x -> batchnorm -> batchnorm(name="bn")
    })");
    // conv1; explicit conv3; third conv would be conv3 (taken) -> conv4; fourth conv4 (taken) -> conv5.
    EXPECT_EQ(g.node(1).name, "conv1");
    EXPECT_EQ(g.node(2).name, "conv3");
    EXPECT_EQ(g.node(3).name, "conv4");
    EXPECT_EQ(g.node(4).name, "conv5");
    EXPECT_EQ(g.node(5).name, "batchnorm1");
    EXPECT_EQ(g.node(6).name, "bn");
    EXPECT_EQ(g.node(5).params[2].name, "batchnorm1.running_mean");
    EXPECT_TRUE(g.node(7 - 1).params.size() == 4);
    // Ops without parameters get no name.
    Graph h = compileSource("network n(x: [3, 8, 8]) { return x -> relu }");
    EXPECT_EQ(h.node(1).name, "");
}

TEST_F(Frontend, ExplicitNameTakenLaterIsSkipped) {
    Graph g = compileSource(R"(network n(x: [3, 8, 8]) {
        return x -> conv(4, 1) -> conv(4, 1, name="conv1")
    })");
    EXPECT_EQ(g.node(1).name, "conv2");
    EXPECT_EQ(g.node(2).name, "conv1");
}

const char *kResNetish = R"(
block basic(x, planes, stride=1) {
    y = x -> conv(planes, 3, stride=stride, pad=1, bias=false, name="conv1") -> batchnorm(name="bn1") -> relu
    y = y -> conv(planes, [3, 3], pad=[1, 1], bias=false, name="conv2") -> batchnorm(name="bn2")
    return (y + x) -> relu
}
block stage(x, planes) {
    x = x -> basic(planes, name="0")
    return x -> basic(planes, name="1")
}
network resnetish(image: [3, 16, 16]) {
    x = image -> conv(8, 3, pad=1, bias=false, name="conv1")
    x = x -> stage(8, name="layer1")
    x = x -> basic(8) -> basic(planes=8)
    return x -> flatten -> dense(10, name="fc")
}
)";

TEST_F(Frontend, BlocksInlineWithNestedNames) {
    Graph g = compileSource(kResNetish);
    verify(g);
    auto ps = params(g);
    std::vector<std::string> want = {"conv1.weight",
                                     "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                                     "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
                                     "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
                                     "layer1.0.bn2.running_mean", "layer1.0.bn2.running_var",
                                     "layer1.1.conv1.weight"};
    ASSERT_GE(ps.size(), want.size());
    EXPECT_EQ(std::vector<std::string>(ps.begin(), ps.begin() + long(want.size())), want);
    // Unnamed block instances: basic1 and basic2 (block kind counter in the network scope).
    EXPECT_NE(std::find(ps.begin(), ps.end(), "basic1.conv1.weight"), ps.end());
    EXPECT_NE(std::find(ps.begin(), ps.end(), "basic2.bn2.running_var"), ps.end());
    EXPECT_EQ(ps.back(), "fc.bias");
    // Node locations inside the block point into the block body.
    EXPECT_EQ(g.node(2).loc.line, 3);
}

TEST_F(Frontend, BlockIntParamsInPairsAndDefaults) {
    Graph g = compileSource(R"(
block b(x, k, c=5) { return x -> conv(c, [k, k], pad=[0, k]) }
network n(x: [3, 10, 10]) { return x -> b(3) -> b(1, c=2) -> b(k=1) }
)");
    EXPECT_EQ(g.node(1).type, (TensorType{{5, 8, 14}}));
    EXPECT_EQ(g.node(2).type, (TensorType{{2, 8, 16}}));
    EXPECT_EQ(g.node(3).type, (TensorType{{5, 8, 18}}));
    EXPECT_EQ(g.node(1).name, "b1.conv1");
    EXPECT_EQ(g.node(3).name, "b3.conv1");
    // Direct call form with the input as an argument.
    Graph h = compileSource(R"(
block b(x, k) { return x -> conv(2, k) }
network n(x: [3, 10, 10]) { return b(x, 3) }
)");
    EXPECT_EQ(h.node(1).type, (TensorType{{2, 8, 8}}));
}

TEST_F(Frontend, Aux) {
    Graph g = compileSource(R"(network n(x: [3, 8, 8]) {
        y = x -> conv(4, 3) -> relu
        aux y -> flatten -> dense(10, name="aux1") weight=0.3
        aux y -> flatten -> dense(10) weight=1
        return y -> flatten -> dense(10, name="fc")
    })");
    ASSERT_EQ(g.aux.size(), 2u);
    EXPECT_DOUBLE_EQ(g.aux[0].weight, 0.3);
    EXPECT_DOUBLE_EQ(g.aux[1].weight, 1.0);
    EXPECT_EQ(g.node(g.aux[0].node).name, "aux1");
    EXPECT_EQ(g.node(g.aux[1].node).name, "dense2"); // counts every dense in scope
    EXPECT_EQ(g.node(g.result).name, "fc");
    verify(g);
}

TEST_F(Frontend, UnusedValuesAreDropped) {
    Graph g = compileSource(R"(network n(x: [3, 8, 8]) {
        dead = x -> conv(4, 3)
        return x -> relu
    })");
    EXPECT_EQ(g.nodes.size(), 2u);
    EXPECT_EQ(g.result, 1);
    verify(g);
}

TEST_F(Frontend, LongChainIsLinear) {
    for (bool multiline : {false, true}) {
        std::string src = "network n(x: [3, 8, 8]) {\n  return x";
        for (int i = 0; i < 20000; ++i) src += multiline ? "\n    -> relu" : " -> relu";
        src += "\n}\n";
        auto t0 = std::chrono::steady_clock::now();
        Graph g = compileSource(src);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(g.nodes.size(), 20001u);
        EXPECT_LT(s, 2.0);
        std::string printed = printGraph(g);
        EXPECT_GT(printed.size(), 20000u * 10);
    }
}

TEST_F(Frontend, LongSumAndManyStatements) {
    std::string src = "network n(x: [3, 8, 8]) {\n  y = x";
    for (int i = 0; i < 5000; ++i) src += " + x";
    src += "\n";
    for (int i = 0; i < 5000; ++i) src += "  y = y -> relu\n";
    src += "  return y\n}\n";
    Graph g = compileSource(src);
    EXPECT_EQ(g.nodes.size(), 10001u);
}

TEST_F(Frontend, NestingJustUnderTheLimitWorks) {
    std::string src = "network n(x: [3, 8, 8]) { return ";
    for (int i = 0; i < 150; ++i) src += "(";
    src += "x";
    for (int i = 0; i < 150; ++i) src += ")";
    src += " }";
    EXPECT_EQ(compileSource(src).nodes.size(), 1u);
}

TEST(Lexer, Tokens) {
    auto t = lex("a -> b(1, -2, 3.5, 1e-5, \"s\\\\\") # c\n  -> c");
    std::vector<Tok> kinds;
    for (auto &k : t) kinds.push_back(k.kind);
    EXPECT_EQ(kinds, (std::vector<Tok>{Tok::Ident, Tok::Arrow, Tok::Ident, Tok::LParen, Tok::Int, Tok::Comma,
                                       Tok::Int, Tok::Comma, Tok::Float, Tok::Comma, Tok::Float, Tok::Comma,
                                       Tok::String, Tok::RParen, Tok::Arrow, Tok::Ident, Tok::Eof}));
    EXPECT_EQ(t[6].intValue, -2);
    EXPECT_EQ(t[12].text, "s\\");
    EXPECT_EQ(t[14].loc.line, 2);
    EXPECT_EQ(t[14].loc.col, 3);
    EXPECT_EQ(lex("-9223372036854775808")[0].intValue, INT64_MIN);
    EXPECT_EQ(lex("9223372036854775807")[0].intValue, INT64_MAX);
}

} // namespace
} // namespace cnnc::testing
