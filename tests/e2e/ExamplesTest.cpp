// The example networks end to end: compile, load, infer, save/load weights.
#include <cstring>
#include <dlfcn.h>

#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

struct Example {
    const char *file, *net;
    const CompiledModel &(*model)();
    std::array<int, 3> dims;
    int outputs;
    std::vector<std::pair<std::string, std::vector<int64_t>>> (*params)();
};

// Names the parameter in test names and failure messages (not a byte dump).
void PrintTo(const Example &e, std::ostream *os) { *os << e.net; }

class Examples : public ::testing::TestWithParam<Example> {};

TEST_P(Examples, DimsAndOutputSize) {
    const Example &e = GetParam();
    const CompiledModel &m = e.model();
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_EQ(m.inputDims(), e.dims);
    EXPECT_EQ(m.outputSize(), e.outputs);
}

TEST_P(Examples, SoftmaxRowsAtBatch1And7) {
    const Example &e = GetParam();
    const CompiledModel &m = e.model();
    ASSERT_TRUE(m.ok()) << m.error();
    int in = m.inputSize(), out = m.outputSize();
    std::vector<float> input = randomUniform(size_t(7 * in), 11, 0.0f, 1.0f);
    std::vector<float> batch7 = m.infer(input, 7);
    ASSERT_EQ(batch7.size(), size_t(7 * out));
    for (int n = 0; n < 7; ++n) {
        double sum = 0;
        for (int k = 0; k < out; ++k) {
            float p = batch7[size_t(n * out + k)];
            EXPECT_TRUE(std::isfinite(p) && p >= 0.0f && p <= 1.0f) << "row " << n << " col " << k << ": " << p;
            sum += p;
        }
        EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << n;
        // Each sample of the batch equals the same sample inferred alone.
        std::vector<float> one(input.begin() + n * in, input.begin() + (n + 1) * in);
        std::vector<float> alone = m.infer(one, 1);
        ASSERT_EQ(alone.size(), size_t(out));
        for (int k = 0; k < out; ++k)
            EXPECT_NEAR(alone[size_t(k)], batch7[size_t(n * out + k)], 1e-6) << "row " << n << " col " << k;
    }
}

TEST_P(Examples, CreateIsDeterministic) {
    const Example &e = GetParam();
    const CompiledModel &m = e.model();
    ASSERT_TRUE(m.ok()) << m.error();
    void *a = m.createInstance(), *b = m.createInstance();
    ASSERT_NE(a, nullptr) << m.lastError();
    ASSERT_NE(b, nullptr) << m.lastError();
    // The weights bit for bit, and the outputs.
    TempDir tmp;
    ASSERT_EQ(m.saveWeights(tmp.file("a.safetensors"), a), 0) << m.lastError();
    ASSERT_EQ(m.saveWeights(tmp.file("b.safetensors"), b), 0) << m.lastError();
    EXPECT_EQ(readFile(tmp.file("a.safetensors")), readFile(tmp.file("b.safetensors")));
    std::vector<float> input = randomUniform(size_t(3 * m.inputSize()), 5, 0.0f, 1.0f);
    std::vector<float> outA = m.infer(input, 3, a), outB = m.infer(input, 3, b), outDefault = m.infer(input, 3);
    EXPECT_TRUE(sameOutputs(outA, outB));
    EXPECT_TRUE(sameOutputs(outA, outDefault));
    m.api().destroy(a);
    m.api().destroy(b);
}

TEST_P(Examples, SaveThenLoadIntoFreshModel) {
    const Example &e = GetParam();
    const CompiledModel &m = e.model();
    ASSERT_TRUE(m.ok()) << m.error();
    TempDir tmp;
    void *a = m.createInstance();
    ASSERT_NE(a, nullptr);
    std::vector<float> input = randomUniform(size_t(4 * m.inputSize()), 17, 0.0f, 1.0f);
    std::vector<float> initial = m.infer(input, 4, a);
    ASSERT_EQ(m.setWeights(randomWeights(e.params(), 99), a), 0) << m.lastError();
    std::vector<float> trained = m.infer(input, 4, a);
    ASSERT_NE(trained, initial) << "loading random weights changed nothing";
    std::string path = tmp.file("saved.safetensors");
    ASSERT_EQ(m.saveWeights(path, a), 0) << m.lastError();

    void *b = m.createInstance();
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(sameOutputs(m.infer(input, 4, b), initial));
    ASSERT_EQ(m.loadWeights(path, b), 0) << m.lastError();
    EXPECT_TRUE(sameOutputs(m.infer(input, 4, b), trained));

    // Saving the initial weights and loading them back restores them too.
    void *c = m.createInstance();
    std::string initialPath = tmp.file("initial.safetensors");
    ASSERT_EQ(m.saveWeights(initialPath, c), 0) << m.lastError();
    ASSERT_EQ(m.loadWeights(initialPath, b), 0) << m.lastError();
    EXPECT_TRUE(sameOutputs(m.infer(input, 4, b), initial));
    for (void *p : {a, b, c}) m.api().destroy(p);
}

INSTANTIATE_TEST_SUITE_P(
    E2E, Examples,
    ::testing::Values(Example{"examples/lenet5.cnn", "lenet5", &lenet5, {1, 28, 28}, 10, &lenet5Params},
                      Example{"examples/every_op.cnn", "every_op", &everyOp, {3, 23, 17}, 7, &everyOpParams}),
    [](const ::testing::TestParamInfo<Example> &i) { return std::string(i.param.net); });

TEST(MultipleModels, LenetAndEveryOpInOneProcess) {
    const CompiledModel &l = lenet5();
    ASSERT_TRUE(l.ok()) << l.error();
    std::vector<float> li = randomUniform(size_t(2 * l.inputSize()), 1, 0.0f, 1.0f);
    std::vector<float> before = l.infer(li, 2);
    const CompiledModel &e = everyOp();
    ASSERT_TRUE(e.ok()) << e.error();
    std::vector<float> ei = randomUniform(size_t(2 * e.inputSize()), 2, 0.0f, 1.0f);
    std::vector<float> eo = e.infer(ei, 2);
    EXPECT_EQ(eo.size(), 14u);
    EXPECT_TRUE(sameOutputs(l.infer(li, 2), before));
    // An error in one library leaves the other working.
    EXPECT_NE(l.api().infer(l.model(), li.data(), 0, before.data()), 0);
    EXPECT_NE(std::string(l.lastError()), "");
    EXPECT_TRUE(sameOutputs(e.infer(ei, 2), eo));
}

TEST(MultipleModels, GlobalSymbolsDoNotClash) {
    // Like a program linked against both libraries: RTLD_GLOBAL, so any
    // exported runtime symbol of one would interpose on the other.
    const CompiledModel &l = lenet5(), &e = everyOp();
    ASSERT_TRUE(l.ok() && e.ok()) << l.error() << e.error();
    void *hl = dlopen(l.soPath().c_str(), RTLD_NOW | RTLD_GLOBAL);
    void *he = dlopen(e.soPath().c_str(), RTLD_NOW | RTLD_GLOBAL);
    ASSERT_TRUE(hl && he) << dlerror();
    // Only the 8 API functions per network should be exported; the runtime's
    // cnnrt_* and Halide's halide_* symbols must stay hidden.
    for (const char *sym : {"cnnrt_infer", "cnnrt_create", "cnnrt_load_weights", "cnnrt_last_error"})
        EXPECT_EQ(dlsym(hl, sym), nullptr) << sym << " is exported by lenet5.so";
    std::vector<float> li = randomUniform(size_t(l.inputSize()), 3, 0.0f, 1.0f);
    std::vector<float> ei = randomUniform(size_t(e.inputSize()), 4, 0.0f, 1.0f);
    EXPECT_EQ(l.infer(li, 1).size(), 10u);
    EXPECT_EQ(e.infer(ei, 1).size(), 7u);
    dlclose(he);
    dlclose(hl);
}

}  // namespace
}  // namespace cnnc_test
