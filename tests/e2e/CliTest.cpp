// The cnnc command line.
#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

TEST(Cli, Help) {
    ProcResult r = runCnnc({"--help"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("USAGE"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--emit"), std::string::npos) << r.out;
    ProcResult h = runCnnc({"-h"});
    EXPECT_EQ(h.status, 0);
    EXPECT_EQ(h.out, r.out);
}

TEST(Cli, Version) {
    ProcResult r = runCnnc({"--version"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("cnnc"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0."), std::string::npos) << r.out;
}

TEST(Cli, MissingInputFile) {
    ProcResult r = runCnnc({"/nonexistent/model.cnn", "--emit=ir"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("/nonexistent/model.cnn"), std::string::npos) << r.err;
    ProcResult c = runCnnc({"/nonexistent/model.cnn", "-o", "/tmp/never-written-by-cnnc-test.so"});
    EXPECT_EQ(c.status, 1);
    EXPECT_NE(c.err.find("/nonexistent/model.cnn"), std::string::npos) << c.err;
}

TEST(Cli, NoInputFile) {
    ProcResult r = runCnnc({});
    EXPECT_NE(r.status, 0);
    EXPECT_FALSE(r.err.empty());
}

TEST(Cli, UnknownOption) {
    ProcResult r = runCnnc({sourceDir() + "/examples/lenet5.cnn", "--no-such-option"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
}

TEST(Cli, SourceErrorIsClangStyle) {
    TempDir tmp;
    std::string path = tmp.file("bad.cnn");
    writeFile(path, "network bad(x: [1, 4, 4]) {\n    return x -> conv(2, 3) -> nosuchop\n}\n");
    ProcResult r = runCnnc({path, "--emit=ir"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find(path + ":2:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nosuchop"), std::string::npos) << r.err;
}

class CliExamples : public ::testing::TestWithParam<const char *> {};

TEST_P(CliExamples, HeaderCompilesAsCAndCxx) {
    std::string file = sourceDir() + "/examples/" + GetParam() + ".cnn";
    ProcResult r = runCnnc({file, "--emit=header"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string net = GetParam();
    for (const char *fn : {"_create", "_destroy", "_last_error", "_input_dims", "_output_size", "_load_weights",
                           "_save_weights", "_infer"})
        EXPECT_NE(r.out.find(net + fn + "("), std::string::npos) << net << fn;
    TempDir tmp;
    std::string header = tmp.file(net + ".h");
    writeFile(header, r.out);
    // Included twice: the include guard must work.
    std::string c = tmp.file("use.c");
    writeFile(c, "#include \"" + header + "\"\n#include \"" + header + "\"\nint main(void) { " + net +
                     "_model *m = " + net + "_create(); int d[3]; " + net + "_input_dims(d); " + net +
                     "_destroy(m); return 0; }\n");
    ProcResult cc = runProcess({"/usr/bin/cc", "-std=c99", "-Wall", "-Werror", "-pedantic", "-fsyntax-only", c});
    EXPECT_EQ(cc.status, 0) << cc.err;
    ProcResult cxx = runProcess({"/usr/bin/c++", "-x", "c++", "-std=c++17", "-Wall", "-Werror", "-fsyntax-only", c});
    EXPECT_EQ(cxx.status, 0) << cxx.err;
}

TEST_P(CliExamples, IrRoundTrips) {
    std::string file = sourceDir() + "/examples/" + GetParam() + ".cnn";
    ProcResult r = runCnnc({file, "--emit=ir"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_FALSE(r.out.empty());
    TempDir tmp;
    std::string ir = tmp.file(std::string(GetParam()) + ".ir");
    writeFile(ir, r.out);
    ProcResult again = runCnnc({ir, "--emit=ir"});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.out, r.out);
}

TEST_P(CliExamples, SummaryListsParameters) {
    std::string file = sourceDir() + "/examples/" + GetParam() + ".cnn";
    ProcResult r = runCnnc({file, "--summary"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("conv1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("total parameters"), std::string::npos) << r.out;
}

TEST(Cli, IrFileCompilesToEquivalentLibrary) {
    ProcResult r = runCnnc({sourceDir() + "/examples/every_op.cnn", "--emit=ir"});
    ASSERT_EQ(r.status, 0) << r.err;
    TempDir tmp;
    std::string ir = tmp.file("every_op.ir");
    writeFile(ir, r.out);
    CompiledModel fromIr = compileFile(ir, "every_op");
    ASSERT_TRUE(fromIr.ok()) << fromIr.error();
    const CompiledModel &fromSource = everyOp();
    ASSERT_TRUE(fromSource.ok()) << fromSource.error();
    std::vector<float> input = randomUniform(size_t(2 * fromSource.inputSize()), 8, 0.0f, 1.0f);
    EXPECT_TRUE(sameOutputs(fromIr.infer(input, 2), fromSource.infer(input, 2)));
}

INSTANTIATE_TEST_SUITE_P(E2E, CliExamples, ::testing::Values("lenet5", "every_op"),
                         [](const ::testing::TestParamInfo<const char *> &i) { return std::string(i.param); });

}  // namespace
}  // namespace cnnc_test
