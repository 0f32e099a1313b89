// The layer API of a generated library (infer_layer, input_gradient) through
// the real lenet5.so: every layer listed with its shape, values consistent with
// infer, and clear errors for bad names, indices, pointers, batches and classes.
// tests/torch/layers_conformance.py compares the values with PyTorch.
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

struct LayerApi {
    int (*count)(void) = nullptr;
    const char *(*name)(int) = nullptr;
    int (*dims)(int, int *) = nullptr;
    int (*inferLayer)(void *, const float *, int, const char *, float *) = nullptr;
    int (*inputGradient)(void *, const float *, int, const int32_t *, float *) = nullptr;
};

LayerApi resolveLayers(const CompiledModel &m) {
    void *handle = dlopen(m.soPath().c_str(), RTLD_NOW | RTLD_LOCAL);  // the loaded library, one more reference
    LayerApi api;
    if (!handle) return api;
    auto sym = [&](const char *suffix) { return dlsym(handle, (m.name() + suffix).c_str()); };
    api.count = reinterpret_cast<int (*)(void)>(sym("_layer_count"));
    api.name = reinterpret_cast<const char *(*)(int)>(sym("_layer_name"));
    api.dims = reinterpret_cast<int (*)(int, int *)>(sym("_layer_dims"));
    api.inferLayer = reinterpret_cast<int (*)(void *, const float *, int, const char *, float *)>(sym("_infer_layer"));
    api.inputGradient =
        reinterpret_cast<int (*)(void *, const float *, int, const int32_t *, float *)>(sym("_input_gradient"));
    return api;
}

const CompiledModel &trainableLenet() {
    static CompiledModel m = compileModelFile("examples/lenet5.cnn", "lenet5", {"--train"});
    return m;
}

class Layers : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(m().ok()) << m().error();
        api_ = resolveLayers(m());
        ASSERT_TRUE(api_.count && api_.name && api_.dims && api_.inferLayer && api_.inputGradient);
        ASSERT_EQ(m().setWeights(randomWeights(lenet5Params(), 3)), 0) << m().lastError();
        input_ = randomUniform(size_t(2 * m().inputSize()), 5, 0.0f, 1.0f);
    }
    static const CompiledModel &m() { return trainableLenet(); }
    // The call failed with a message containing `needle`.
    void expectError(int rc, const std::string &needle) {
        EXPECT_NE(rc, 0);
        EXPECT_NE(m().lastError().find(needle), std::string::npos) << "message: " << m().lastError();
    }

    LayerApi api_;
    std::vector<float> input_;
};

TEST_F(Layers, ListsEveryValueWithItsShape) {
    const std::vector<std::string> names = {"image",      "conv1",         "conv1.relu",  "conv1.maxpool", "conv2",
                                            "conv2.relu", "conv2.maxpool", "conv2.flatten", "dense1",      "dense1.relu",
                                            "dense2",     "dense2.relu",   "dense3",      "dense3.softmax"};
    ASSERT_EQ(api_.count(), int(names.size()));
    for (int i = 0; i < api_.count(); ++i) EXPECT_EQ(api_.name(i), names[size_t(i)]);
    EXPECT_EQ(api_.name(-1), nullptr);
    EXPECT_EQ(api_.name(api_.count()), nullptr);
    EXPECT_NE(m().lastError().find("out of range"), std::string::npos) << m().lastError();
    int dims[3];
    ASSERT_EQ(api_.dims(3, dims), 0);
    EXPECT_EQ(std::vector<int>(dims, dims + 3), (std::vector<int>{6, 14, 14}));
    ASSERT_EQ(api_.dims(7, dims), 0);
    EXPECT_EQ(std::vector<int>(dims, dims + 3), (std::vector<int>{400, 1, 1}));
    ASSERT_EQ(api_.dims(0, dims), 0);
    EXPECT_EQ(std::vector<int>(dims, dims + 3), (std::vector<int>{1, 28, 28}));
    expectError(api_.dims(99, dims), "out of range");
    expectError(api_.dims(0, nullptr), "dims is NULL");
}

TEST_F(Layers, LastLayerEqualsInferAndFirstTheInput) {
    std::vector<float> expected = m().infer(input_, 2);
    std::vector<float> out(expected.size());
    ASSERT_EQ(api_.inferLayer(m().model(), input_.data(), 2, "dense3.softmax", out.data()), 0) << m().lastError();
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], expected[i], 1e-5) << i;
    std::vector<float> image(input_.size());
    ASSERT_EQ(api_.inferLayer(m().model(), input_.data(), 2, "image", image.data()), 0) << m().lastError();
    EXPECT_EQ(image, input_);
}

TEST_F(Layers, BadCallsAreClearErrors) {
    std::vector<float> out(size_t(2 * 6 * 28 * 28));
    expectError(api_.inferLayer(m().model(), input_.data(), 2, "conv9", out.data()), "no layer named 'conv9'");
    expectError(api_.inferLayer(m().model(), input_.data(), 2, "", out.data()), "no layer named ''");
    expectError(api_.inferLayer(nullptr, input_.data(), 2, "conv1", out.data()), "model is NULL");
    expectError(api_.inferLayer(m().model(), nullptr, 2, "conv1", out.data()), "input is NULL");
    expectError(api_.inferLayer(m().model(), input_.data(), 2, nullptr, out.data()), "layer is NULL");
    expectError(api_.inferLayer(m().model(), input_.data(), 2, "conv1", nullptr), "output is NULL");
    expectError(api_.inferLayer(m().model(), input_.data(), 0, "conv1", out.data()), "batch must be >= 1");
    expectError(api_.inferLayer(m().model(), input_.data(), -3, "conv1", out.data()), "batch must be >= 1");
}

TEST_F(Layers, InputGradientChecksItsClasses) {
    std::vector<float> grad(input_.size());
    const int32_t good[2] = {3, 9}, high[2] = {3, 10}, negative[2] = {-1, 0};
    ASSERT_EQ(api_.inputGradient(m().model(), input_.data(), 2, good, grad.data()), 0) << m().lastError();
    double norm = 0;
    for (float g : grad) norm += double(g) * g;
    EXPECT_GT(norm, 0.0);
    expectError(api_.inputGradient(m().model(), input_.data(), 2, high, grad.data()),
                "class 10 at index 1 is out of range [0, 10)");
    expectError(api_.inputGradient(m().model(), input_.data(), 2, negative, grad.data()), "class -1 at index 0");
    expectError(api_.inputGradient(m().model(), input_.data(), 2, nullptr, grad.data()), "classes is NULL");
    expectError(api_.inputGradient(m().model(), input_.data(), 2, good, nullptr), "grad is NULL");
    expectError(api_.inputGradient(m().model(), input_.data(), 0, good, grad.data()), "batch must be >= 1");
}

TEST(LayersWithoutTraining, InputGradientNeedsTrain) {
    const CompiledModel &m = lenet5();  // compiled without --train
    ASSERT_TRUE(m.ok()) << m.error();
    LayerApi api = resolveLayers(m);
    ASSERT_TRUE(api.inputGradient && api.inferLayer);
    std::vector<float> input(size_t(m.inputSize())), grad(input.size()), conv(size_t(6 * 28 * 28));
    const int32_t cls = 0;
    EXPECT_NE(api.inputGradient(m.model(), input.data(), 1, &cls, grad.data()), 0);
    EXPECT_NE(m.lastError().find("compiled without --train"), std::string::npos) << m.lastError();
    EXPECT_EQ(api.inferLayer(m.model(), input.data(), 1, "conv1", conv.data()), 0) << m.lastError();
}

TEST(LayersLeftOut, NoLayersIsAClearError) {
    static CompiledModel m = compileModelFile("examples/lenet5.cnn", "lenet5", {"--no-layers"});
    ASSERT_TRUE(m.ok()) << m.error();
    LayerApi api = resolveLayers(m);
    ASSERT_TRUE(api.count && api.inferLayer);
    EXPECT_EQ(api.count(), 0);
    std::vector<float> input(size_t(m.inputSize())), conv(size_t(6 * 28 * 28));
    EXPECT_NE(api.inferLayer(m.model(), input.data(), 1, "conv1", conv.data()), 0);
    EXPECT_NE(m.lastError().find("compiled with --no-layers"), std::string::npos) << m.lastError();
    EXPECT_EQ(m.infer(input, 1).size(), 10u);
}

}  // namespace
}  // namespace cnnc_test
