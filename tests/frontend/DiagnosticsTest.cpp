// Golden diagnostics (file:line:col, message, source line, caret) and robustness.
#include <chrono>
#include "Common.h"
#include "FakeOps.h"

#include "frontend/Parser.h"

namespace cnnc::testing {
namespace {

class Diag : public ::testing::Test {
protected:
    void SetUp() override { registerFakeOps(); }
};

#define NET(body) "network n(x: [3, 8, 8]) {\n" body "\n}\n"

TEST_F(Diag, SyntaxMissingParen) {
    EXPECT_EQ(diag(NET("    return x -> conv(4, 3")),
              "t.cnn:3:1: error: expected ',' or ')' in argument list of 'conv', found '}'\n"
              "}\n"
              "^\n");
    EXPECT_EQ(diag(NET("    return (x -> relu")),
              "t.cnn:3:1: error: expected ')' to close '(', found '}'\n"
              "}\n"
              "^\n");
}

TEST_F(Diag, SyntaxOther) {
    EXPECT_EQ(diag(NET("    y = x x")),
              "t.cnn:2:11: error: expected end of line after statement, found 'x'\n"
              "    y = x x\n"
              "          ^\n");
    EXPECT_EQ(diag(NET("    x -> relu")),
              "t.cnn:2:5: error: expected a statement ('name = expression', 'return' or 'aux'), found 'x'\n"
              "    x -> relu\n"
              "    ^\n");
    EXPECT_EQ(diag("network n(x: [3, 8, 8]) {\n    y = x -> relu\n}\n"),
              "t.cnn:3:1: error: missing 'return' statement\n"
              "}\n"
              "^\n");
    EXPECT_EQ(diag("network n(x: [3, 8]) { return x }"),
              "t.cnn:1:14: error: input shape must be [K] or [C, H, W], got 2 dimensions\n"
              "network n(x: [3, 8]) { return x }\n"
              "             ^\n");
    EXPECT_EQ(diag(NET("    return x -> relu(,)")),
              "t.cnn:2:22: error: expected an expression, found ','\n"
              "    return x -> relu(,)\n"
              "                     ^\n");
    EXPECT_EQ(diag(NET("    return x -> dropout(p=0.5, 1)")),
              "t.cnn:2:32: error: positional argument after keyword argument\n"
              "    return x -> dropout(p=0.5, 1)\n"
              "                               ^\n");
}

TEST_F(Diag, UnknownOpAndName) {
    EXPECT_EQ(diag(NET("    return x -> conv3d(4, 3)")),
              "t.cnn:2:17: error: unknown op 'conv3d'; did you mean 'conv'?\n"
              "    return x -> conv3d(4, 3)\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return x -> frobnicate")),
              "t.cnn:2:17: error: unknown op 'frobnicate'\n"
              "    return x -> frobnicate\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return y -> relu")),
              "t.cnn:2:12: error: use of undefined name 'y'\n"
              "    return y -> relu\n"
              "           ^\n");
    EXPECT_EQ(diag(NET("    feat = x -> relu\n    return feet")),
              "t.cnn:3:12: error: use of undefined name 'feet'; did you mean 'feat'?\n"
              "    return feet\n"
              "           ^\n");
}

TEST_F(Diag, BadArguments) {
    EXPECT_EQ(diag(NET("    return x -> conv(4)")),
              "t.cnn:2:17: error: 'conv' needs argument 'size'\n"
              "    return x -> conv(4)\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return x -> conv(4, 3, 1, 0, true, 7)")),
              "t.cnn:2:17: error: 'conv' takes at most 5 arguments, got 6\n"
              "    return x -> conv(4, 3, 1, 0, true, 7)\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return x -> conv(4, 3, stride=1.5)")),
              "t.cnn:2:17: error: argument 'stride' expects integer or [h, w] pair, got 1.5\n"
              "    return x -> conv(4, 3, stride=1.5)\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return x -> conv(4, 3, strde=2)")),
              "t.cnn:2:17: error: 'conv' has no argument named 'strde'\n"
              "    return x -> conv(4, 3, strde=2)\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return x -> relu(name=\"r\")")),
              "t.cnn:2:22: error: 'relu' has no parameters to name\n"
              "    return x -> relu(name=\"r\")\n"
              "                     ^\n");
    EXPECT_EQ(diag(NET("    return add(x)")),
              "t.cnn:2:12: error: 'add' takes 2 input tensors, got 1\n"
              "    return add(x)\n"
              "           ^\n");
    EXPECT_EQ(diag(NET("    return x -> conv(4, 3, pad=x)")),
              "t.cnn:2:32: error: argument 'pad' must be a constant, not a tensor\n"
              "    return x -> conv(4, 3, pad=x)\n"
              "                               ^\n");
}

TEST_F(Diag, ShapeErrors) {
    EXPECT_EQ(diag(NET("    return x -> dense(10)")),
              "t.cnn:2:17: error: dense expects a vector input, got [3, 8, 8] (flatten first)\n"
              "    return x -> dense(10)\n"
              "                ^\n");
    EXPECT_EQ(diag(NET("    return x + (x -> conv(4, 1))")),
              "t.cnn:2:14: error: add needs inputs of the same shape, got [3, 8, 8] and [4, 8, 8]\n"
              "    return x + (x -> conv(4, 1))\n"
              "             ^\n");
    EXPECT_EQ(diag(NET("    return x -> conv(4, 9)")),
              "t.cnn:2:17: error: conv kernel [9, 9] does not fit input [3, 8, 8]\n"
              "    return x -> conv(4, 9)\n"
              "                ^\n");
}

TEST_F(Diag, DuplicateParameterNames) {
    EXPECT_EQ(diag(NET("    x = x -> conv(4, 1, name=\"a\")\n    return x -> conv(4, 1, name=\"a\")")),
              "t.cnn:3:17: error: duplicate parameter name 'a.weight'\n"
              "    return x -> conv(4, 1, name=\"a\")\n"
              "                ^\n");
    // A block instance and an op that produce the same parameter.
    EXPECT_EQ(diag("block b(x) { return x -> conv(3, 1, name=\"c\") }\n"
                   "network n(x: [3, 8, 8]) {\n"
                   "    x = x -> b(name=\"p\")\n"
                   "    return x -> conv(3, 1, name=\"p.c\")\n"
                   "}\n"),
              "t.cnn:4:17: error: duplicate parameter name 'p.c.weight'\n"
              "    return x -> conv(3, 1, name=\"p.c\")\n"
              "                ^\n");
}

TEST_F(Diag, Blocks) {
    EXPECT_EQ(diag("block a(x) { return x -> b }\n"
                   "block b(x) { return x -> a }\n"
                   "network n(x: [3, 8, 8]) { return x -> a }\n"),
              "t.cnn:2:26: error: recursive use of block 'a' (a -> b -> a)\n"
              "block b(x) { return x -> a }\n"
              "                         ^\n");
    EXPECT_EQ(diag("block a(x) { return a(x) }\nnetwork n(x: [3, 8, 8]) { return x }\n"),
              "t.cnn:1:21: error: recursive use of block 'a' (a -> a)\n"
              "block a(x) { return a(x) }\n"
              "                    ^\n");
    EXPECT_EQ(diag("block conv(x) { return x }\nnetwork n(x: [3, 8, 8]) { return x }\n"),
              "t.cnn:1:7: error: block 'conv' has the same name as an op\n"
              "block conv(x) { return x }\n"
              "      ^\n");
    const char *blk = "block b(x, c1, c2) { return x -> conv(c1, 1) -> conv(c2, 1) }\n";
    EXPECT_EQ(diag(std::string(blk) + "network n(x: [3, 8, 8]) { return x -> b(4) }\n"),
              "t.cnn:2:39: error: block 'b' needs argument 'c2'\n"
              "network n(x: [3, 8, 8]) { return x -> b(4) }\n"
              "                                      ^\n");
    EXPECT_EQ(diag(std::string(blk) + "network n(x: [3, 8, 8]) { return x -> b(4, 5, 6) }\n"),
              "t.cnn:2:47: error: block 'b' takes at most 2 arguments, got 3\n"
              "network n(x: [3, 8, 8]) { return x -> b(4, 5, 6) }\n"
              "                                              ^\n");
    EXPECT_EQ(diag(std::string(blk) + "network n(x: [3, 8, 8]) { return x -> b(4, c3=5) }\n"),
              "t.cnn:2:44: error: block 'b' has no parameter named 'c3'\n"
              "network n(x: [3, 8, 8]) { return x -> b(4, c3=5) }\n"
              "                                           ^\n");
    EXPECT_EQ(diag(std::string(blk) + "network n(x: [3, 8, 8]) { return b(4, 5) }\n"),
              "t.cnn:2:34: error: block 'b' takes 1 input tensor, got 0\n"
              "network n(x: [3, 8, 8]) { return b(4, 5) }\n"
              "                                 ^\n");
    EXPECT_EQ(diag(std::string(blk) + "network n(x: [3, 8, 8]) { return x -> b(4, 2.5) }\n"),
              "t.cnn:2:44: error: argument 'c2' of block 'b' must be an integer\n"
              "network n(x: [3, 8, 8]) { return x -> b(4, 2.5) }\n"
              "                                           ^\n");
    // Errors inside a block body are reported where they are written.
    EXPECT_EQ(diag(std::string(blk) + "network n(v: [10]) { return v -> b(4, 5) }\n"),
              "t.cnn:1:34: error: conv expects a [C, H, W] input, got [10]\n"
              "block b(x, c1, c2) { return x -> conv(c1, 1) -> conv(c2, 1) }\n"
              "                                 ^\n");
}

TEST_F(Diag, NetworkCount) {
    EXPECT_EQ(diag("# nothing here\n"),
              "t.cnn:2:1: error: no network definition in file\n"
              "\n"
              "^\n");
    EXPECT_EQ(diag("network a(x: [3]) { return x }\nnetwork b(x: [3]) { return x }\n"),
              "t.cnn:2:1: error: multiple network definitions (the first is 'a' at line 1)\n"
              "network b(x: [3]) { return x }\n"
              "^\n");
    EXPECT_EQ(diag("network a(x: [3]) { aux x weight=1\n return x }\n"), ""); // aux before return is fine
}

TEST_F(Diag, TabsCountAsOneColumn) {
    EXPECT_EQ(diag("network n(x: [3, 8, 8]) {\n\treturn\tq\n}\n"),
              "t.cnn:2:9: error: use of undefined name 'q'\n"
              "\treturn\tq\n"
              "\t      \t^\n");
}

TEST_F(Diag, Garbage) {
    EXPECT_EQ(diag(NET("    return x $ 2")),
              "t.cnn:2:14: error: unexpected character '$'\n"
              "    return x $ 2\n"
              "             ^\n");
    EXPECT_EQ(diag(std::string("network n(x: [3]) {\n  return \0x\n}\n", 32)),
              "t.cnn:2:10: error: unexpected null byte\n"
              "  return ?x\n"
              "         ^\n");
    EXPECT_EQ(diag("network n(x: [3]) {\n  return \xff\xfe\n}\n"),
              "t.cnn:2:10: error: invalid UTF-8 byte 0xFF\n"
              "  return ??\n"
              "         ^\n");
    EXPECT_EQ(diag("network n(x: [3]) {\n  return x -> dropout(tag=\"\xc3\")\n}\n"),
              "t.cnn:2:28: error: invalid UTF-8 byte 0xC3\n"
              "  return x -> dropout(tag=\"?\")\n"
              "                           ^\n");
    EXPECT_EQ(diag("network n(x: [3]) {\n  return \"unterminated\n}\n"),
              "t.cnn:2:10: error: unterminated string\n"
              "  return \"unterminated\n"
              "         ^\n");
    // Valid UTF-8 in comments is fine and echoed as is.
    EXPECT_EQ(diag("# caf\xc3\xa9\nnetwork n(x: [3]) { return x }\n"), "");
    // Random binary never crashes.
    uint32_t seed = 12345;
    for (int round = 0; round < 300; ++round) {
        std::string s = round % 2 ? std::string(kLeNet) : "";
        for (int i = 0; i < 200; ++i) {
            seed = seed * 1103515245u + 12345u;
            size_t at = s.empty() ? 0 : (seed >> 8) % (s.size() + 1);
            s.insert(s.begin() + long(at), char(seed >> 24));
        }
        try {
            compileSource(s);
        } catch (const CompileError &e) {
            std::string d = formatDiagnostic("t.cnn", s, e);
            EXPECT_NE(d.find(": error: "), std::string::npos);
        }
    }
}

TEST_F(Diag, DeepNesting) {
    std::string src = "network n(x: [3, 8, 8]) { return ";
    src += std::string(100000, '(') + "x" + std::string(100000, ')') + " }";
    try {
        compileSource(src);
        FAIL() << "expected an error";
    } catch (const CompileError &e) {
        EXPECT_STREQ(e.what(), "expression nested too deeply");
        EXPECT_EQ(e.loc.line, 1);
        EXPECT_EQ(e.loc.col, 34 + kMaxNesting);
    }
    // Nested calls too.
    std::string calls = "network n(x: [3, 8, 8]) { return ";
    for (int i = 0; i < 100000; ++i) calls += "relu(";
    calls += "x" + std::string(100000, ')') + " }";
    EXPECT_THROW(compileSource(calls), CompileError);
    std::string brackets = "network n(x: [3, 8, 8]) { return x -> conv(1, " + std::string(100000, '[') + " }";
    EXPECT_THROW(compileSource(brackets), CompileError);
}

TEST_F(Diag, ExponentialBlocks) {
    // Nine levels of blocks, each calling the one below four times: 4^9
    // relus. Refused before anything is built, naming the chain, at once.
    std::string src = "block b0(x) { return x -> relu }\n";
    for (int i = 1; i <= 9; ++i)
        src += "block b" + std::to_string(i) + "(x) { return x -> b" + std::to_string(i - 1) + " -> b" +
               std::to_string(i - 1) + " -> b" + std::to_string(i - 1) + " -> b" + std::to_string(i - 1) + " }\n";
    src += "network n(x: [3, 8, 8]) { y = x -> relu\n return y -> b9 }";
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(diag(src), "t.cnn:12:14: error: network expands to more than 100000 ops through its blocks "
                         "(n -> b9 -> b8 (x4) -> b7 (x4) -> b6 (x4) -> b5 (x4) -> b4 (x4) -> b3 (x4) -> b2 (x4) -> ...)\n"
                         " return y -> b9 }\n"
                         "             ^\n");
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
    // Two levels fewer (4^7 = 16,384 relus) is within the limit.
    std::string smaller = src.substr(0, src.find("block b8")) + "network n(x: [3, 8, 8]) { return x -> b7 }";
    EXPECT_EQ(diag(smaller), "");
}

TEST_F(Diag, IntegerOverflow) {
    EXPECT_EQ(diag(NET("    return x -> conv(99999999999999999999, 3)")),
              "t.cnn:2:22: error: integer literal is too large\n"
              "    return x -> conv(99999999999999999999, 3)\n"
              "                     ^\n");
    EXPECT_EQ(diag(NET("    return x -> conv(4, -9223372036854775809)")).substr(0, 48),
              "t.cnn:2:25: error: integer literal is too large\n");
    EXPECT_EQ(diag(NET("    return x -> dropout(1e999)")),
              "t.cnn:2:25: error: floating-point literal is out of range\n"
              "    return x -> dropout(1e999)\n"
              "                        ^\n");
}

TEST_F(Diag, ShapeOverflow) {
    EXPECT_EQ(diag("network n(image: [100000000, 100000000, 100000000]) { return image }"),
              "t.cnn:1:18: error: input shape is too large (more than 2^40 elements per sample)\n"
              "network n(image: [100000000, 100000000, 100000000]) { return image }\n"
              "                 ^\n");
    EXPECT_EQ(diag("network n(x: [1, 1048576, 1048576]) { return x -> conv(9223372036854775807, 1) }"),
              "t.cnn:1:51: error: conv output [9223372036854775807, 1048576, 1048576] is too large\n"
              "network n(x: [1, 1048576, 1048576]) { return x -> conv(9223372036854775807, 1) }\n"
              "                                                  ^\n");
    EXPECT_EQ(diag("network n(x: [0, 1, 1]) { return x }"),
              "t.cnn:1:15: error: input dimensions must be positive\n"
              "network n(x: [0, 1, 1]) { return x }\n"
              "              ^\n");
}

TEST(Diagnostics, NoLocationAndEndOfLine) {
    EXPECT_EQ(formatDiagnostic("f", "abc", CompileError(SourceLoc{}, "boom")), "f: error: boom\n");
    EXPECT_EQ(formatDiagnostic("f", "abc\n", CompileError(SourceLoc{1, 4}, "eol")), "f:1:4: error: eol\nabc\n   ^\n");
    EXPECT_EQ(formatDiagnostic("f", "ab\r\ncd", CompileError(SourceLoc{2, 2}, "m")), "f:2:2: error: m\ncd\n ^\n");
    EXPECT_EQ(closestMatch("maxpol", {"maxpool", "avgpool", "conv"}), "maxpool");
    EXPECT_EQ(closestMatch("zzz", {"maxpool", "conv"}), "");
}

} // namespace
} // namespace cnnc::testing
