// Failure injection: every allocation a runtime call makes may fail, a disk
// may fill up, and activations may be capped. Each call then returns an error
// with a message, never aborts the host, and leaves the model usable and as
// it was (leaks: scripts/sanitize.sh runs this binary under AddressSanitizer).
//
// Allocations fail through this binary's replacement of the global operator
// new: armed with N, the Nth allocation after arming throws std::bad_alloc.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/Runtime.h"
#include "tests/runtime/TestModel.h"

namespace {
std::atomic<long> g_countdown{-1}; // allocations left before one fails; -1: never
std::atomic<bool> g_fired{false};

void *allocate(size_t n, size_t align) {
    if (g_countdown.load(std::memory_order_relaxed) >= 0 && g_countdown.fetch_sub(1) == 0) {
        g_fired = true;
        throw std::bad_alloc();
    }
    void *p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                                : std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}
} // namespace

void *operator new(size_t n) { return allocate(n, 0); }
void *operator new[](size_t n) { return allocate(n, 0); }
void *operator new(size_t n, std::align_val_t a) { return allocate(n, size_t(a)); }
void *operator new[](size_t n, std::align_val_t a) { return allocate(n, size_t(a)); }
void *operator new(size_t n, const std::nothrow_t &) noexcept {
    try {
        return allocate(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void *operator new[](size_t n, const std::nothrow_t &t) noexcept { return operator new(n, t); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

namespace tmodel = trainmodel;
using Output = std::vector<float>;

const std::string kDir = [] {
    char tmpl[] = "/tmp/cnnrt-failure-XXXXXX";
    return std::string(mkdtemp(tmpl));
}();

std::vector<float> input(int batch) {
    std::vector<float> x(size_t(batch) * tmodel::TIN);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1f * float(i % 7) - 0.3f;
    return x;
}

Output infer(cnnrt_model *m, int batch = 3) {
    std::vector<float> x = input(batch);
    Output out(size_t(batch) * tmodel::K);
    EXPECT_EQ(cnnrt_infer(m, x.data(), batch, out.data()), 0) << cnnrt_last_error();
    return out;
}

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

// Runs `call` with the Nth allocation failing, for N = 0, 1, ... until a call
// completes without reaching it, each time after `reset`. After each failed
// call: a message, and `check` (the model as it was). A call may also absorb
// a failure (a thread it could not start) and succeed. Returns how many
// failures were injected.
int injectEach(const std::function<int()> &call, const std::function<void()> &check,
               const std::function<void()> &reset = [] {}) {
    int injected = 0;
    for (long n = 0; n < 100000; ++n) {
        reset();
        g_fired = false;
        g_countdown = n;
        const int rc = call();
        g_countdown = -1;
        if (!g_fired) {
            EXPECT_EQ(rc, 0) << cnnrt_last_error();
            return injected;
        }
        ++injected;
        if (rc == 0) continue; // the failure was absorbed (a cache, say): fine if the result is right
        EXPECT_STRNE(cnnrt_last_error(), "") << "allocation " << n;
        check();
    }
    ADD_FAILURE() << "the call never completed";
    return injected;
}

TEST(FailureInjection, EveryAllocationOfEveryCall) {
    cnnrt_model *m = cnnrt_create(&tmodel::kTrainDesc);
    ASSERT_NE(m, nullptr) << cnnrt_last_error();
    const std::string weights = kDir + "/w.safetensors", ckpt = kDir + "/c.ckpt";
    ASSERT_EQ(cnnrt_save_weights(m, weights.c_str()), 0) << cnnrt_last_error();
    ASSERT_EQ(cnnrt_save_checkpoint(m, ckpt.c_str()), 0) << cnnrt_last_error();
    const Output before = infer(m);
    auto unchanged = [&] { EXPECT_EQ(infer(m), before); };
    int injected = 0;

    // create: NULL and a message, nothing leaked.
    injected += injectEach(
        [&] {
            cnnrt_model *fresh = cnnrt_create(&tmodel::kTrainDesc);
            cnnrt_destroy(fresh);
            return fresh ? 0 : 1;
        },
        [] {});
    // Reading: the model keeps its weights.
    injected += injectEach([&] { return cnnrt_load_weights(m, weights.c_str()); }, unchanged);
    injected += injectEach([&] { return cnnrt_load_checkpoint(m, ckpt.c_str()); }, unchanged);
    // Inference: an error, and the next call is right.
    std::vector<float> x3 = input(3);
    Output out3(3 * tmodel::K);
    injected += injectEach([&] { return cnnrt_infer(m, x3.data(), 3, out3.data()); }, unchanged);
    EXPECT_EQ(out3, before);
    // Saving: the previous file stays whole.
    const std::string savedWeights = slurp(weights), savedCkpt = slurp(ckpt);
    injected += injectEach([&] { return cnnrt_save_weights(m, weights.c_str()); },
                           [&] { EXPECT_EQ(slurp(weights), savedWeights); });
    injected += injectEach([&] { return cnnrt_save_checkpoint(m, ckpt.c_str()); },
                           [&] { EXPECT_EQ(slurp(ckpt), savedCkpt); });
    // A training step: refused ones change nothing; the one that completes is
    // the step a model that never failed takes.
    std::vector<float> x = input(4);
    std::vector<int32_t> labels{0, 1, 2, 1};
    float loss = 0;
    injected += injectEach([&] { return cnnrt_train_step(m, x.data(), labels.data(), 4, &loss); }, unchanged,
                           [&] { ASSERT_EQ(cnnrt_load_checkpoint(m, ckpt.c_str()), 0) << cnnrt_last_error(); });
    cnnrt_model *clean = cnnrt_create(&tmodel::kTrainDesc);
    float cleanLoss = 0;
    ASSERT_EQ(cnnrt_train_step(clean, x.data(), labels.data(), 4, &cleanLoss), 0) << cnnrt_last_error();
    EXPECT_EQ(loss, cleanLoss);
    EXPECT_EQ(infer(m), infer(clean));
    cnnrt_destroy(clean);
    cnnrt_destroy(m);
    EXPECT_GT(injected, 20); // the calls do allocate, so failures were injected
}

// A disk that fills up during a save (RLIMIT_FSIZE in a child process, with
// SIGXFSZ ignored so that write() fails with EFBIG): the save fails with a
// message, and the previous file is left whole.
TEST(FailureInjection, FullDiskLeavesThePreviousFile) {
    cnnrt_model *m = cnnrt_create(&tmodel::kTrainDesc);
    ASSERT_NE(m, nullptr);
    const std::string weights = kDir + "/full.safetensors", ckpt = kDir + "/full.ckpt";
    ASSERT_EQ(cnnrt_save_weights(m, weights.c_str()), 0) << cnnrt_last_error();
    ASSERT_EQ(cnnrt_save_checkpoint(m, ckpt.c_str()), 0) << cnnrt_last_error();
    const std::string savedWeights = slurp(weights), savedCkpt = slurp(ckpt);
    std::vector<float> x = input(4);
    std::vector<int32_t> labels{0, 1, 2, 1};
    float loss;
    ASSERT_EQ(cnnrt_train_step(m, x.data(), labels.data(), 4, &loss), 0); // different weights to save
    for (const std::string &path : {weights, ckpt}) {
        pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            signal(SIGXFSZ, SIG_IGN);
            rlimit small{64, 64};
            setrlimit(RLIMIT_FSIZE, &small);
            int rc = path == weights ? cnnrt_save_weights(m, path.c_str()) : cnnrt_save_checkpoint(m, path.c_str());
            bool said = std::string(cnnrt_last_error()).find("File too large") != std::string::npos;
            _exit(rc != 0 && said ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << path << ": the save did not fail as it should";
    }
    EXPECT_EQ(slurp(weights), savedWeights);
    EXPECT_EQ(slurp(ckpt), savedCkpt);
    cnnrt_destroy(m);
}

TEST(FailureInjection, MemoryLimitRefusesLargeBatches) {
    // The training model's inference writes its output directly (no
    // activations); its training step has an arena, as the plain model's
    // inference does.
    cnnrt_model *m = cnnrt_create(&tmodel::kTrainDesc), *plain = cnnrt_create(&testmodel::kDesc);
    ASSERT_NE(m, nullptr);
    ASSERT_NE(plain, nullptr);
    ASSERT_EQ(cnnrt_set_memory_limit(plain, 4096), 0) << cnnrt_last_error();
    {
        std::vector<float> x(size_t(1000) * testmodel::IN, 0.5f);
        std::vector<float> out(size_t(1000) * testmodel::OUT);
        EXPECT_EQ(cnnrt_infer(plain, x.data(), 2, out.data()), 0) << cnnrt_last_error();
        EXPECT_NE(cnnrt_infer(plain, x.data(), 1000, out.data()), 0);
        EXPECT_NE(std::string(cnnrt_last_error()).find("over the memory limit of 4096 bytes (set_memory_limit)"),
                  std::string::npos)
            << cnnrt_last_error();
        ASSERT_EQ(cnnrt_set_memory_limit(plain, 0), 0);
        EXPECT_EQ(cnnrt_infer(plain, x.data(), 1000, out.data()), 0) << cnnrt_last_error();
    }
    cnnrt_destroy(plain);
    const Output small = infer(m, 2);
    // Room for the activations of 2 samples, not of 1,000.
    ASSERT_EQ(cnnrt_set_memory_limit(m, 4096), 0) << cnnrt_last_error();
    EXPECT_EQ(infer(m, 2), small);
    std::vector<float> x = input(1000);
    Output out(1000 * tmodel::K);
    std::vector<int32_t> labels(1000, 1);
    float loss = 0;
    EXPECT_NE(cnnrt_train_step(m, x.data(), labels.data(), 1000, &loss), 0);
    EXPECT_NE(std::string(cnnrt_last_error()).find("over the memory limit"), std::string::npos);
    EXPECT_NE(cnnrt_set_memory_limit(m, -1), 0);
    EXPECT_EQ(std::string(cnnrt_last_error()), "memory limit is negative: -1");
    ASSERT_EQ(cnnrt_set_memory_limit(m, 0), 0); // no limit
    EXPECT_EQ(cnnrt_infer(m, x.data(), 1000, out.data()), 0) << cnnrt_last_error();
    EXPECT_NE(cnnrt_set_memory_limit(nullptr, 10), 0);
    cnnrt_destroy(m);
}

} // namespace
