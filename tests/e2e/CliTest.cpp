// The cnnc command line.
#include <dlfcn.h>
#include <filesystem>
#include <set>
#include <sstream>

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

// Options that cannot apply to what the command does are errors, each naming the option.
TEST(Cli, OptionsThatDoNothingAreErrors) {
    const std::string lenet = sourceDir() + "/examples/lenet5.cnn";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{lenet, "--emit=ir", "--no-cache"}, "'--no-cache' has no effect with --emit=ir"},
        {{lenet, "--emit=header", "--train"}, "'--train' has no effect with --emit=header"},
        {{lenet, "--summary", "--weights=w.safetensors"}, "'--weights' has no effect with --summary"},
        {{lenet, "--tune-runs=3"}, "'--tune-runs' has no effect when compiling a library"},
        {{"tune", lenet, "--keep-temps"}, "'--keep-temps' has no effect with 'cnnc tune'"},
        {{lenet, "--summary", "-o", "x.so"}, "'-o' has no effect with --summary"},
        {{lenet, "--emit=ir", "--summary"}, "--emit and --summary print different things"},
        {{"tune", lenet, "--emit=dot"}, "'cnnc tune' does not print --emit output"},
        {{"--print-target", "--no-cache"}, "'--no-cache' needs an input file"},
        {{lenet, "--name=3lenet"}, "--name wants a C identifier"},
    };
    for (const auto &[args, message] : cases) {
        ProcResult r = runCnnc(args);
        EXPECT_EQ(r.status, 1) << args.back();
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

// --emit=ir prints the front end's graph; a pass option runs the pipeline first.
TEST(Cli, EmitIrRunsThePipelineWhenAPassOptionIsGiven) {
    const std::string lenet = sourceDir() + "/examples/lenet5.cnn";
    ProcResult plain = runCnnc({lenet, "--emit=ir"});
    ASSERT_EQ(plain.status, 0) << plain.err;
    EXPECT_TRUE(plain.err.empty()) << plain.err;
    ProcResult dumped = runCnnc({lenet, "--emit=ir", "--print-after-all"});
    ASSERT_EQ(dumped.status, 0) << dumped.err;
    EXPECT_NE(dumped.err.find("IR Dump After fuse"), std::string::npos) << dumped.err;
    ProcResult optimized = runCnnc({lenet, "--emit=ir", "-O2"});
    ASSERT_EQ(optimized.status, 0) << optimized.err;
    EXPECT_NE(optimized.out, plain.out);
    EXPECT_NE(optimized.out.find("kernel"), std::string::npos) << optimized.out;
    ProcResult timed = runCnnc({lenet, "--emit=ir", "--time-passes"});
    ASSERT_EQ(timed.status, 0) << timed.err;
    EXPECT_NE(timed.err.find("time report"), std::string::npos) << timed.err;
}

TEST(Cli, MissingOutputDirectoryIsOneLine) {
    TempDir tmp;
    const std::string out = tmp.file("no/such/dir/lenet5.so");
    ProcResult r = runCnnc({sourceDir() + "/examples/lenet5.cnn", "-o", out});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "cnnc: error: cannot write '" + out + "': there is no directory '" + tmp.file("no/such/dir") +
                         "'\n");
}

// A library's file name may hold commas and spaces (the linker takes it whole).
TEST(Cli, OutputNameWithCommaAndSpace) {
    TempDir tmp;
    const std::string out = tmp.file("lenet 5,b=1.so");
    ProcResult r = runCnnc({sourceDir() + "/examples/lenet5.cnn", "-o", out, "-q"});
    ASSERT_EQ(r.status, 0) << r.err;
    void *handle = dlopen(out.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle, nullptr) << dlerror();
    auto create = reinterpret_cast<void *(*)()>(dlsym(handle, "lenet5_create"));
    auto destroy = reinterpret_cast<void (*)(void *)>(dlsym(handle, "lenet5_destroy"));
    ASSERT_TRUE(create && destroy);
    void *model = create();
    EXPECT_NE(model, nullptr);
    if (model) destroy(model);
    dlclose(handle);
}

// -o with --emit writes the text there instead of standard output; --name renames the API.
TEST(Cli, EmitToFileWithName) {
    TempDir tmp;
    const std::string header = tmp.file("digits.h");
    ProcResult r = runCnnc({sourceDir() + "/examples/lenet5.cnn", "--emit=header", "--name=digits", "-o", header});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    const std::string text = readFile(header);
    EXPECT_NE(text.find("digits_model* digits_create(void);"), std::string::npos) << text;
    EXPECT_EQ(text.find("lenet5"), std::string::npos) << text;
    CompiledModel renamed = compileModelFile("examples/lenet5.cnn", "digits", {"--name=digits"});
    ASSERT_TRUE(renamed.ok()) << renamed.error();
}

// --weights: the library starts with the file's weights, exactly as load_weights gives them.
TEST(Cli, EmbeddedWeightsEqualLoadedWeights) {
    TempDir tmp;
    const std::string weights = tmp.file("w.safetensors");
    writeSafetensors(weights, randomWeights(lenet5Params(), 7));
    CompiledModel embedded = compileModelFile("examples/lenet5.cnn", "lenet5", {"--weights=" + weights});
    ASSERT_TRUE(embedded.ok()) << embedded.error();
    const CompiledModel &plain = lenet5();
    ASSERT_TRUE(plain.ok()) << plain.error();
    void *loaded = plain.createInstance();
    ASSERT_EQ(plain.loadWeights(weights, loaded), 0) << plain.lastError();
    std::vector<float> input = randomUniform(size_t(3 * plain.inputSize()), 3, 0.0f, 1.0f);
    std::vector<float> expected = plain.infer(input, 3, loaded);
    plain.api().destroy(loaded);
    EXPECT_TRUE(sameOutputs(embedded.infer(input, 3), expected));
    EXPECT_FALSE(sameOutputs(plain.infer(input, 3), expected)); // the weights did change something
    // load_weights still replaces them.
    const std::string saved = tmp.file("initial.safetensors");
    ASSERT_EQ(plain.saveWeights(saved), 0);
    ASSERT_EQ(embedded.loadWeights(saved), 0) << embedded.lastError();
    EXPECT_TRUE(sameOutputs(embedded.infer(input, 3), plain.infer(input, 3)));
}

// Weights the network cannot take fail the compile, and nothing is written.
TEST(Cli, EmbeddedWeightsAreCheckedWhenCompiling) {
    TempDir tmp;
    TensorMap wrong = randomWeights(lenet5Params(), 7);
    wrong.erase(wrong.begin());
    const std::string missing = tmp.file("missing.safetensors"), truncated = tmp.file("truncated.safetensors");
    writeSafetensors(missing, wrong);
    writeFile(truncated, safetensorsBytes(randomWeights(lenet5Params(), 7)).substr(0, 100));
    const std::string out = tmp.file("lenet5.so");
    for (const auto &[file, message] : std::vector<std::pair<std::string, std::string>>{
             {missing, "missing tensor"}, {truncated, "truncated"}, {tmp.file("absent.safetensors"), "cannot read"}}) {
        ProcResult r = runCnnc(
            {sourceDir() + "/examples/lenet5.cnn", "-q", "-o", out, "--weights=" + file, "--cache-dir=" + cacheDir()});
        EXPECT_EQ(r.status, 1);
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
}

// README's op table lists every op of `cnnc --list-ops` with the same arguments and defaults.
TEST(Cli, ReadmeOpTableMatchesListOps) {
    ProcResult r = runCnnc({"--list-ops"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::set<std::string> listed;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("  ", 0) == 0 && line.rfind("      ", 0) != 0) listed.insert(line.substr(2));
    ASSERT_GT(listed.size(), 10u) << r.out;
    // Rows "| op, op | arguments | notes |" between the table's header and the first line after it.
    const std::string readme = readFile(sourceDir() + "/README.md");
    size_t at = readme.find("| op | arguments | notes |");
    ASSERT_NE(at, std::string::npos);
    std::istringstream rows(readme.substr(at));
    auto trim = [](const std::string &text) {
        size_t first = text.find_first_not_of(' ');
        return first == std::string::npos ? std::string() : text.substr(first, text.find_last_not_of(' ') - first + 1);
    };
    std::set<std::string> documented;
    std::string row;
    std::getline(rows, row), std::getline(rows, row); // header and rule
    while (std::getline(rows, row) && row.rfind("| ", 0) == 0) {
        std::vector<std::string> cells;
        std::istringstream cellStream(row.substr(1));
        for (std::string cell; std::getline(cellStream, cell, '|');) cells.push_back(trim(cell));
        ASSERT_GE(cells.size(), 2u) << row;
        std::istringstream names(cells[0]);
        for (std::string name; std::getline(names, name, ',');) documented.insert(trim(name) + "(" + cells[1] + ")");
    }
    EXPECT_EQ(documented, listed);
}

INSTANTIATE_TEST_SUITE_P(E2E, CliExamples, ::testing::Values("lenet5", "every_op"),
                         [](const ::testing::TestParamInfo<const char *> &i) { return std::string(i.param); });

}  // namespace
}  // namespace cnnc_test
