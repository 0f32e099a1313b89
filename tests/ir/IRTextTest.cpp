// printGraph -> parseIR -> printGraph identity, IR parse errors, verifier.
#include "Common.h"
#include "FakeOps.h"

#include "ir/IRParser.h"
#include "ir/Verifier.h"

namespace cnnc::testing {
namespace {

class IRText : public ::testing::Test {
protected:
    void SetUp() override { registerFakeOps(); }
    static void roundTrip(const Graph &g) {
        std::string a = printGraph(g);
        Graph h = parseIR(a);
        verify(h);
        EXPECT_EQ(printGraph(h), a);
        ASSERT_EQ(h.nodes.size(), g.nodes.size());
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            EXPECT_EQ(h.nodes[i].attrs, g.nodes[i].attrs);
            EXPECT_EQ(h.nodes[i].type, g.nodes[i].type);
            EXPECT_EQ(h.nodes[i].operands, g.nodes[i].operands);
            ASSERT_EQ(h.nodes[i].params.size(), g.nodes[i].params.size());
            for (size_t k = 0; k < g.nodes[i].params.size(); ++k)
                EXPECT_EQ(h.nodes[i].params[k].name, g.nodes[i].params[k].name);
        }
        EXPECT_EQ(h.result, g.result);
        EXPECT_EQ(h.name, g.name);
        EXPECT_EQ(h.inputName(), g.inputName());
    }
};

TEST_F(IRText, PrintsLeNet) {
    Graph g = compileSource(kLeNet);
    std::string s = printGraph(g);
    EXPECT_EQ(s.substr(0, s.find('\n', s.find('\n') + 1) + 1),
              "network lenet5(%0: f32[N,1,28,28]) input=\"image\" {\n"
              "  %1 = conv(%0) {filters=6, size=[5, 5], stride=[1, 1], pad=[2, 2], bias=true} name=\"conv1\" : "
              "f32[N,6,28,28]\n");
    EXPECT_NE(s.find("  %2 = relu(%1) : f32[N,6,28,28]\n"), std::string::npos);
    EXPECT_NE(s.find("  %13 = softmax(%12) : f32[N,10]\n  return %13\n}\n"), std::string::npos);
    roundTrip(g);
}

TEST_F(IRText, RoundTripBlocksAuxKernelsStrings) {
    Graph g = compileSource(R"(
block basic(x, planes) {
    y = x -> conv(planes, 3, pad=1, bias=false, name="conv1") -> batchnorm(eps=1e-3, name="bn1") -> relu
    return (y + x) -> relu
}
network net(image: [3, 8, 8]) {
    x = image -> basic(3, name="layer1.0") -> basic(3) -> dropout(0.1, tag="we\"ird\\")
    a = x -> concat(x, image)
    aux a -> flatten -> dense(4) weight=0.3
    return x -> flatten -> dense(10, name="fc")
}
)");
    g.node(3).kernel = 7;
    ASSERT_EQ(g.aux.size(), 1u);
    std::string s = printGraph(g);
    EXPECT_NE(s.find("  aux %"), std::string::npos);
    EXPECT_NE(s.find(" weight=0.3\n}\n"), std::string::npos);
    EXPECT_NE(s.find(" kernel=7\n"), std::string::npos);
    EXPECT_NE(s.find("name=\"layer1.0.bn1\""), std::string::npos);
    roundTrip(g);
    Graph h = parseIR("# header comment\n// another\n" + s);
    EXPECT_EQ(h.node(3).kernel, 7);
    EXPECT_DOUBLE_EQ(h.aux[0].weight, 0.3);
    EXPECT_EQ(h.node(1).loc.line, 4);
}

TEST_F(IRText, VectorInput) { roundTrip(compileSource("network m(v: [784]) { return v -> dense(10) -> softmax }")); }

std::string irError(const std::string &text) {
    try {
        parseIR(text);
    } catch (const CompileError &e) {
        return formatDiagnostic("t.ir", text, e);
    }
    return "";
}

TEST_F(IRText, ParseErrors) {
    const std::string head = "network n(%0: f32[N,3,8,8]) input=\"x\" {\n";
    EXPECT_EQ(irError(head + "  %1 = relu(%0) : f32[N,3,8,9]\n  return %1\n}\n"),
              "t.ir:2:19: error: type mismatch: 'relu' gives f32[N,3,8,8], the IR says f32[N,3,8,9]\n"
              "  %1 = relu(%0) : f32[N,3,8,9]\n"
              "                  ^\n");
    EXPECT_EQ(irError(head + "  %1 = relu(%2) : f32[N,3,8,8]\n  return %1\n}\n"),
              "t.ir:2:14: error: %2 is not defined\n"
              "  %1 = relu(%2) : f32[N,3,8,8]\n"
              "             ^\n");
    EXPECT_EQ(irError(head + "  %2 = relu(%0) : f32[N,3,8,8]\n  return %2\n}\n"),
              "t.ir:2:4: error: expected node id %1\n"
              "  %2 = relu(%0) : f32[N,3,8,8]\n"
              "   ^\n");
    EXPECT_EQ(irError(head + "  %1 = relux(%0) : f32[N,3,8,8]\n  return %1\n}\n"),
              "t.ir:2:8: error: unknown op 'relux'\n"
              "  %1 = relux(%0) : f32[N,3,8,8]\n"
              "       ^\n");
    EXPECT_EQ(irError(head + "  %1 = conv(%0) {filters=4, size=[1, 1], strid=[1, 1]} name=\"c\" : f32[N,4,8,8]\n"
                             "  return %1\n}\n"),
              "t.ir:2:17: error: 'conv' has no argument named 'strid'\n"
              "  %1 = conv(%0) {filters=4, size=[1, 1], strid=[1, 1]} name=\"c\" : f32[N,4,8,8]\n"
              "                ^\n");
    EXPECT_EQ(irError(head + "  %1 = relu(%0) : f32[N,3,8,8]\n}\n"),
              "t.ir:3:1: error: missing 'return'\n"
              "}\n"
              "^\n");
    EXPECT_EQ(irError(std::string("network n(%0: f32[N,3]) input=\"x\" {\0", 37)).substr(0, 39),
              "t.ir:1:36: error: unexpected byte 0x00\n");
}

TEST_F(IRText, VerifierCatchesBrokenGraphs) {
    Graph good = compileSource(kLeNet);
    verify(good);
    {
        Graph g = good;
        g.node(2).type = TensorType{{6, 28, 27}};
        try {
            verify(g);
            FAIL();
        } catch (const CompileError &e) {
            EXPECT_STREQ(e.what(), "invalid IR: %2 (relu): type is f32[N,6,28,27] but the op infers f32[N,6,28,28]");
        }
    }
    {
        Graph g = good;
        g.node(4).name = "conv1";
        attachParams(g.node(4), g.operandTypes(g.node(4)));
        try {
            verify(g);
            FAIL();
        } catch (const CompileError &e) {
            EXPECT_STREQ(e.what(), "invalid IR: %4 (conv): parameter name 'conv1.weight' is also used by %1");
        }
    }
    {
        Graph g = good;
        g.node(3).operands = {5};
        EXPECT_THROW(verify(g), CompileError);
    }
    {
        Graph g = good;
        g.result = 99;
        EXPECT_THROW(verify(g), CompileError);
    }
    {
        Graph g = good;
        g.node(5).def = nullptr;
        EXPECT_THROW(verify(g), CompileError);
    }
    {
        Graph g = good;
        g.node(1).params.pop_back();
        EXPECT_THROW(verify(g), CompileError);
    }
}

} // namespace
} // namespace cnnc::testing
