// The generated library's error paths, through the real lenet5.so: broken
// weight files, NULL arguments, bad batch sizes, large batches, threads.
#include <dlfcn.h>
#include <cstring>
#include <thread>

#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

class LenetErrors : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(m().ok()) << m().error();
        model_ = m().createInstance();
        ASSERT_NE(model_, nullptr) << m().lastError();
        weights_ = randomWeights(lenet5Params(), 7);
        ASSERT_EQ(m().setWeights(weights_, model_), 0) << m().lastError();
        input_ = randomUniform(size_t(3 * m().inputSize()), 21, 0.0f, 1.0f);
        expected_ = m().infer(input_, 3, model_);
        ASSERT_EQ(expected_.size(), 30u);
    }
    void TearDown() override {
        if (model_) m().api().destroy(model_);
    }
    static const CompiledModel &m() { return lenet5(); }

    // Loading `bytes` fails with a message containing `needle`; the model keeps
    // its previous weights.
    void expectLoadFails(const std::string &bytes, const std::string &needle) {
        TempDir tmp;
        std::string path = tmp.file("bad.safetensors");
        writeFile(path, bytes);
        int rc = m().loadWeights(path, model_);
        std::string msg = m().lastError();
        EXPECT_NE(rc, 0) << "load_weights accepted a broken file";
        EXPECT_FALSE(msg.empty());
        if (!needle.empty()) {
            EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
        }
        EXPECT_TRUE(sameOutputs(m().infer(input_, 3, model_), expected_)) << "failed load changed the weights";
    }

    void *model_ = nullptr;
    TensorMap weights_;
    std::vector<float> input_, expected_;
};

TEST_F(LenetErrors, GarbageFile) { expectLoadFails("this is not a safetensors file at all, just text.\n", ""); }

TEST_F(LenetErrors, EmptyFile) { expectLoadFails("", ""); }

TEST_F(LenetErrors, MissingFile) {
    int rc = m().loadWeights("/nonexistent/dir/w.safetensors", model_);
    EXPECT_NE(rc, 0);
    EXPECT_NE(m().lastError().find("/nonexistent/dir/w.safetensors"), std::string::npos) << m().lastError();
    EXPECT_TRUE(sameOutputs(m().infer(input_, 3, model_), expected_));
}

TEST_F(LenetErrors, HeaderLengthBeyondFile) {
    std::string bytes = safetensorsBytes(weights_);
    bytes[5] = char(0x7f);  // a huge header length
    expectLoadFails(bytes, "");
}

TEST_F(LenetErrors, InvalidJsonHeader) {
    std::string bytes = safetensorsBytes(weights_);
    bytes[8] = '[';  // '{' -> '['
    expectLoadFails(bytes, "");
}

TEST_F(LenetErrors, TruncatedData) {
    std::string bytes = safetensorsBytes(weights_);
    expectLoadFails(bytes.substr(0, bytes.size() - 100), "");
    expectLoadFails(bytes.substr(0, bytes.size() / 2), "");
}

TEST_F(LenetErrors, TrailingBytes) { expectLoadFails(safetensorsBytes(weights_) + std::string(16, '\0'), ""); }

TEST_F(LenetErrors, WrongShape) {
    TensorMap w = weights_;
    w["conv2.weight"].shape = {16, 6, 25};  // right element count, wrong shape
    expectLoadFails(safetensorsBytes(w), "conv2.weight");
    w = weights_;
    w["dense1.weight"].shape = {400, 120};  // transposed
    expectLoadFails(safetensorsBytes(w), "dense1.weight");
}

TEST_F(LenetErrors, WrongElementCount) {
    TensorMap w = weights_;
    w["dense3.bias"].shape = {11};
    w["dense3.bias"].data.push_back(0.5f);
    expectLoadFails(safetensorsBytes(w), "dense3.bias");
}

TEST_F(LenetErrors, WrongDtype) {
    TensorMap w = weights_;
    Tensor &t = w["conv1.bias"];
    t.dtype = "F64";
    t.useRaw = true;
    for (float f : t.data) {
        double d = f;
        t.raw.append(reinterpret_cast<const char *>(&d), 8);
    }
    expectLoadFails(safetensorsBytes(w), "conv1.bias");
    // F16 with the byte count of F32 data: still the wrong dtype.
    w = weights_;
    w["conv1.bias"].dtype = "F16";
    expectLoadFails(safetensorsBytes(w), "conv1.bias");
}

TEST_F(LenetErrors, MissingTensor) {
    TensorMap w = weights_;
    w.erase("dense2.bias");
    expectLoadFails(safetensorsBytes(w), "dense2.bias");
}

TEST_F(LenetErrors, ExtraTensor) {
    TensorMap w = weights_;
    w["bogus.weight"] = w["conv1.bias"];
    expectLoadFails(safetensorsBytes(w), "bogus.weight");
}

TEST_F(LenetErrors, ValidFileStillLoadsAfterFailures) {
    TensorMap w = weights_;
    w.erase("dense2.bias");
    expectLoadFails(safetensorsBytes(w), "dense2.bias");
    TensorMap other = randomWeights(lenet5Params(), 1234);
    ASSERT_EQ(m().setWeights(other, model_), 0) << m().lastError();
    EXPECT_FALSE(sameOutputs(m().infer(input_, 3, model_), expected_));
    ASSERT_EQ(m().setWeights(weights_, model_), 0) << m().lastError();
    EXPECT_TRUE(sameOutputs(m().infer(input_, 3, model_), expected_));
}

TEST_F(LenetErrors, NullArguments) {
    const ModelApi &api = m().api();
    std::vector<float> out(30);
    TempDir tmp;
    std::string path = tmp.file("w.safetensors");
    auto expectFails = [&](int rc, const char *what) {
        EXPECT_NE(rc, 0) << what;
        const char *e = api.last_error();
        ASSERT_NE(e, nullptr) << what;
        EXPECT_GT(std::strlen(e), 0u) << what;
    };
    expectFails(api.infer(nullptr, input_.data(), 3, out.data()), "infer(NULL model)");
    expectFails(api.infer(model_, nullptr, 3, out.data()), "infer(NULL input)");
    expectFails(api.infer(model_, input_.data(), 3, nullptr), "infer(NULL output)");
    expectFails(api.load_weights(nullptr, path.c_str()), "load_weights(NULL model)");
    expectFails(api.load_weights(model_, nullptr), "load_weights(NULL path)");
    expectFails(api.save_weights(nullptr, path.c_str()), "save_weights(NULL model)");
    expectFails(api.save_weights(model_, nullptr), "save_weights(NULL path)");
    expectFails(api.input_dims(nullptr), "input_dims(NULL)");
    api.destroy(nullptr);  // a no-op, like free(NULL)
    EXPECT_TRUE(sameOutputs(m().infer(input_, 3, model_), expected_));
}

TEST_F(LenetErrors, BadBatchSizes) {
    const ModelApi &api = m().api();
    std::vector<float> out(30, 42.0f);
    for (int batch : {0, -1, -1000}) {
        EXPECT_NE(api.infer(model_, input_.data(), batch, out.data()), 0) << "batch " << batch;
        EXPECT_NE(std::string(api.last_error()).find("batch"), std::string::npos) << api.last_error();
    }
    EXPECT_EQ(out, std::vector<float>(30, 42.0f)) << "a rejected call wrote to the output";
}

TEST_F(LenetErrors, SaveToUnwritablePath) {
    EXPECT_NE(m().saveWeights("/nonexistent/dir/out.safetensors", model_), 0);
    EXPECT_FALSE(m().lastError().empty());
}

TEST_F(LenetErrors, LastErrorIsPerThread) {
    // Documented: "Message of this thread's last failed call".
    const ModelApi &api = m().api();
    std::vector<float> out(30);
    EXPECT_NE(api.infer(model_, input_.data(), 0, out.data()), 0);
    std::string mine = api.last_error();
    EXPECT_FALSE(mine.empty());
    std::string other;
    std::thread([&] { other = api.last_error(); }).join();
    EXPECT_EQ(other, "") << "another thread sees this thread's error";
}

TEST_F(LenetErrors, MemoryLimitAndThreadCount) {
    // The generated API's set_memory_limit and set_num_threads reach the runtime.
    void *lib = dlopen(m().soPath().c_str(), RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(lib, nullptr);
    auto setLimit = reinterpret_cast<int (*)(void *, int64_t)>(dlsym(lib, "lenet5_set_memory_limit"));
    auto setThreads = reinterpret_cast<int (*)(int)>(dlsym(lib, "lenet5_set_num_threads"));
    ASSERT_NE(setLimit, nullptr);
    ASSERT_NE(setThreads, nullptr);
    const ModelApi &api = m().api();
    std::vector<float> out(30);
    ASSERT_EQ(setLimit(model_, 1024), 0) << api.last_error();
    EXPECT_NE(api.infer(model_, input_.data(), 3, out.data()), 0);
    EXPECT_NE(std::string(api.last_error()).find("over the memory limit of 1024 bytes"), std::string::npos)
        << api.last_error();
    EXPECT_NE(setLimit(model_, -5), 0);
    ASSERT_EQ(setLimit(model_, 0), 0);
    const int previous = setThreads(1);
    EXPECT_GE(previous, 1);
    EXPECT_TRUE(sameOutputs(m().infer(input_, 3, model_), expected_));
    EXPECT_EQ(setThreads(0), 1);
    EXPECT_LT(setThreads(-1), 0);
    dlclose(lib);
}

TEST(LargeBatch, Lenet5Batch1000) {
    const CompiledModel &m = lenet5();
    ASSERT_TRUE(m.ok()) << m.error();
    const int batch = 1000, in = m.inputSize();
    std::vector<float> input = randomUniform(size_t(batch) * size_t(in), 1000, 0.0f, 1.0f);
    std::vector<float> out = m.infer(input, batch);
    ASSERT_EQ(out.size(), size_t(batch) * 10u);
    for (int n : {0, 1, 499, 998, 999}) {
        std::vector<float> one(input.begin() + n * in, input.begin() + (n + 1) * in);
        std::vector<float> alone = m.infer(one, 1);
        for (int k = 0; k < 10; ++k) EXPECT_NEAR(alone[size_t(k)], out[size_t(n * 10 + k)], 1e-6) << "row " << n;
    }
    for (int n = 0; n < batch; ++n) {
        double s = 0;
        for (int k = 0; k < 10; ++k) s += out[size_t(n * 10 + k)];
        ASSERT_NEAR(s, 1.0, 1e-5) << "row " << n;
    }
}

TEST(Concurrency, FourThreadsOneModelMatchSerial) {
    const CompiledModel &m = lenet5();
    ASSERT_TRUE(m.ok()) << m.error();
    const int threads = 4, rounds = 25, batch = 3, in = m.inputSize();
    std::vector<std::vector<float>> inputs, serial;
    for (int t = 0; t < threads; ++t) {
        inputs.push_back(randomUniform(size_t(batch * in), 500 + uint32_t(t), 0.0f, 1.0f));
        serial.push_back(m.infer(inputs.back(), batch));
    }
    std::vector<int> mismatches(threads, 0), failures(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::vector<float> out(size_t(batch * 10));
            for (int r = 0; r < rounds; ++r) {
                if (m.api().infer(m.model(), inputs[size_t(t)].data(), batch, out.data()) != 0) ++failures[size_t(t)];
                // Calls sharing an arena or weights by mistake would differ
                // by far more than sameOutputs allows.
                else if (!sameOutputs(out, serial[size_t(t)])) ++mismatches[size_t(t)];
            }
        });
    for (auto &th : pool) th.join();
    for (int t = 0; t < threads; ++t) {
        EXPECT_EQ(failures[size_t(t)], 0) << "thread " << t;
        EXPECT_EQ(mismatches[size_t(t)], 0) << "thread " << t;
    }
}

// A network with a fixed batch (`batch=2`, as an ONNX model exported with
// that batch imports) takes exactly that batch in every entry point that
// takes one: other sizes fail with one message and leave outputs, the loss
// and the weights alone.
TEST(FixedBatch, EveryEntryPointRefusesOtherSizes) {
    CompiledModel m = compileModel("network fixedb(x: [1, 4, 4], batch=2) {\n"
                                   "    return x -> conv(2, 3, pad=1) -> flatten -> dense(3)\n}\n",
                                   "fixedb", {"--train"});
    ASSERT_TRUE(m.ok()) << m.error();
    void *lib = dlopen(m.soPath().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib, nullptr) << dlerror();
    auto trainStep = reinterpret_cast<int (*)(void *, const float *, const int32_t *, int, float *)>(
        dlsym(lib, "fixedb_train_step"));
    auto inferLayer =
        reinterpret_cast<int (*)(void *, const float *, int, const char *, float *)>(dlsym(lib, "fixedb_infer_layer"));
    auto inputGradient = reinterpret_cast<int (*)(void *, const float *, int, const int32_t *, float *)>(
        dlsym(lib, "fixedb_input_gradient"));
    ASSERT_TRUE(trainStep && inferLayer && inputGradient);
    std::vector<float> x(3 * 16, 0.5f), out(3 * 32, 42.0f);
    std::vector<int32_t> labels(3, 1);
    float loss = 42.0f;
    const std::vector<float> before = m.infer(std::vector<float>(x.begin(), x.begin() + 32), 2);
    for (int batch : {1, 3}) {
        SCOPED_TRACE("batch " + std::to_string(batch));
        const std::string expected =
            "model 'fixedb' takes batches of exactly 2 (its fixed batch size), got " + std::to_string(batch);
        EXPECT_NE(m.api().infer(m.model(), x.data(), batch, out.data()), 0);
        EXPECT_EQ(m.lastError(), expected);
        EXPECT_NE(inferLayer(m.model(), x.data(), batch, "conv1", out.data()), 0);
        EXPECT_EQ(m.lastError(), expected);
        EXPECT_NE(inputGradient(m.model(), x.data(), batch, labels.data(), out.data()), 0);
        EXPECT_EQ(m.lastError(), expected);
        EXPECT_NE(trainStep(m.model(), x.data(), labels.data(), batch, &loss), 0);
        EXPECT_EQ(m.lastError(), expected);
    }
    EXPECT_EQ(out, std::vector<float>(3 * 32, 42.0f)) << "a refused call wrote to its output";
    EXPECT_EQ(loss, 42.0f);
    EXPECT_EQ(m.infer(std::vector<float>(x.begin(), x.begin() + 32), 2), before) << "a refused step moved the weights";
    EXPECT_EQ(inferLayer(m.model(), x.data(), 2, "conv1", out.data()), 0) << m.lastError();
    EXPECT_EQ(trainStep(m.model(), x.data(), labels.data(), 2, &loss), 0) << m.lastError();
    dlclose(lib);
}

}  // namespace
}  // namespace cnnc_test
