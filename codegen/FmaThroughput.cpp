// How much more FP32 multiply-add work this core does per second with 512-bit
// vectors than with 256-bit ones, measured on the spot. Cores with two
// 512-bit FMA pipes (or 512-bit-wide ones) reach about 2 (an Intel Xeon: 1.9);
// cores that split a 512-bit FMA into two 256-bit halves should reach about 1,
// and there 16-lane kernels only waste lanes on small maps. The CPU's name
// says neither reliably, so the kernel targets ask this instead.
#include "codegen/KernelBuilder.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cnnc {
namespace {

#if defined(__x86_64__)
constexpr long kIterations = 40000; // 12 chains each: about 0.2-0.5 ms per run

double seconds(std::chrono::steady_clock::time_point since) {
    return std::max(1e-9, std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
}

// Twelve independent FMA chains hide the FMA latency, so each loop runs at the
// FMA pipes' throughput. Both return FLOPs per second; `sink` keeps the chains alive.
#define CNNC_FMA_CHAINS(VEC, SET1, FMA, STORE, LANES)                                                  \
    VEC a = SET1(0.999999f), b = SET1(1e-7f);                                                          \
    VEC c0 = SET1(0), c1 = SET1(1), c2 = SET1(2), c3 = SET1(3), c4 = SET1(4), c5 = SET1(5);             \
    VEC c6 = SET1(6), c7 = SET1(7), c8 = SET1(8), c9 = SET1(9), c10 = SET1(10), c11 = SET1(11);        \
    auto start = std::chrono::steady_clock::now();                                                     \
    for (long it = 0; it < kIterations; ++it) {                                                        \
        c0 = FMA(c0, a, b), c1 = FMA(c1, a, b), c2 = FMA(c2, a, b), c3 = FMA(c3, a, b);                \
        c4 = FMA(c4, a, b), c5 = FMA(c5, a, b), c6 = FMA(c6, a, b), c7 = FMA(c7, a, b);                \
        c8 = FMA(c8, a, b), c9 = FMA(c9, a, b), c10 = FMA(c10, a, b), c11 = FMA(c11, a, b);            \
    }                                                                                                  \
    double rate = double(kIterations) * 12 * LANES * 2 / seconds(start);                               \
    float lanes[LANES];                                                                                \
    STORE(lanes, c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);                        \
    *sink = lanes[0];                                                                                  \
    return rate;

__attribute__((target("avx2,fma"))) double rate256(float *sink) {
    CNNC_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8)
}
__attribute__((target("avx512f"))) double rate512(float *sink) {
    CNNC_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, 16)
}
#undef CNNC_FMA_CHAINS

double measure() {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("avx2"))
        return 1.0;
    float sink = 0;
    // Best of several short runs: another process on the core only slows a run down.
    double best256 = 0, best512 = 0;
    rate512(&sink); // first 512-bit use: the core may change its clock for it
    for (int round = 0; round < 7; ++round) {
        best256 = std::max(best256, rate256(&sink));
        best512 = std::max(best512, rate512(&sink));
    }
    return best256 > 0 ? best512 / best256 : 1.0;
}
#else
double measure() { return 1.0; }
#endif

} // namespace

double wideFmaSpeedup() {
    static const double speedup = measure();
    return speedup;
}

} // namespace cnnc
