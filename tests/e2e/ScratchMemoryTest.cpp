// The kernels' scratch buffers (runtime/ScratchMemory.cpp): after the first
// call a model's calls touch no new pages, so a kernel costs the same inside a
// network as when the tuner timed it alone.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>

#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

long minorFaults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

// Minor page faults per call over `calls` calls after two warm-up calls.
double faultsPerCall(const CompiledModel &m, int batch, int calls) {
    std::vector<float> input = randomUniform(size_t(batch) * size_t(m.inputSize()), 3, 0.0f, 1.0f);
    std::vector<float> output(size_t(batch) * size_t(m.outputSize()));
    for (int i = 0; i < 2; ++i) EXPECT_EQ(m.api().infer(m.model(), input.data(), batch, output.data()), 0) << m.lastError();
    long before = minorFaults();
    for (int i = 0; i < calls; ++i) EXPECT_EQ(m.api().infer(m.model(), input.data(), batch, output.data()), 0);
    return double(minorFaults() - before) / calls;
}

// A conv whose kernel stages its 64 x 58 x 58 padded input (861 KB) and
// computes the map of each block of filters (400 KB) before its fused pool:
// buffers above glibc's mmap threshold. Left to malloc in a host whose
// threshold is fixed, they are fresh pages on every call (806 faults a call
// here); the second library, with CNNRT_SCRATCH=malloc, shows that this
// machine's malloc does so, and the first must not.
TEST(ScratchMemory, CallsAfterTheFirstTouchNoNewPages) {
    const std::string source = "network scratch(image: [64, 56, 56]) {\n"
                               "    return image -> conv(192, 3, pad=1) -> relu -> maxpool(3, stride=2, ceil=true)\n"
                               "}\n";
    // A host that fixes glibc's mmap threshold (mallopt, or MALLOC_MMAP_THRESHOLD_)
    // turns off its dynamic raising: every larger block is then fresh pages.
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    CompiledModel cached = compileModel(source, "scratch");
    ASSERT_TRUE(cached.ok()) << cached.error();
    double withCache = faultsPerCall(cached, 1, 10);
    // A second copy of the library has its own runtime, which reads the
    // variable when its first model is made.
    setenv("CNNRT_SCRATCH", "malloc", 1);
    CompiledModel plain = compileModel(source, "scratch");
    unsetenv("CNNRT_SCRATCH");
    ASSERT_TRUE(plain.ok()) << plain.error();
    double withMalloc = faultsPerCall(plain, 1, 10);
    // The buffers' pages are kept: what still faults is not theirs (the
    // caller's allocations, a host's NUMA balancing unmapping pages to sample
    // them), a small share of what the buffers cost when left to malloc.
    EXPECT_GT(withMalloc, 100.0) << "this host's malloc keeps the pages itself: nothing to compare";
    EXPECT_LE(withCache, std::max(4.0, withMalloc / 20)) << "malloc alone: " << withMalloc << " faults per call";
    RecordProperty("faults_per_call", std::to_string(withCache));
    RecordProperty("faults_per_call_malloc", std::to_string(withMalloc));
}

}  // namespace
}  // namespace cnnc_test
