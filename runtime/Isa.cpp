// Which of a library's kernel forms this process runs: a library carries each
// kernel for the widest ISA it was built for (`fn`) and, where that is wider
// than its baseline, for the baseline too (`portable_fn`); see
// codegen/KernelTarget.cpp. Levels are x86-64's micro-architecture levels
// (3: AVX2, FMA, F16C; 4: also AVX-512 F, BW, CD, DQ, VL), read from CPUID.
#include <cstdlib>
#include <string>

#include "runtime/Internal.h"

namespace cnnrt {
namespace {

int cpu_isa_level() {
#if defined(__x86_64__)
    __builtin_cpu_init();
#if defined(__clang__)  // clang 14 knows the features, not the level names
    const bool v2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
    const bool v3 = v2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl");
    return v4 ? 4 : v3 ? 3 : v2 ? 2 : 1;
#else
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
    if (__builtin_cpu_supports("x86-64-v2")) return 2;
    return 1;
#endif
#else
    return 0;
#endif
}

const char *level_name(int level) {
    switch (level) {
    case 2: return "x86-64-v2 (SSE4.2)";
    case 3: return "x86-64-v3 (AVX2, FMA, F16C)";
    case 4: return "x86-64-v4 (AVX-512)";
    default: return "x86-64";
    }
}

}  // namespace

bool use_portable_kernels(const cnnrt_model_desc *d) {
    if (d->isa_level < 0 || d->portable_isa_level < 0 || d->portable_isa_level > d->isa_level || d->isa_level > 4)
        throw Error("desc ISA levels are out of range");
    if (d->isa_level == 0) return false;  // not x86-64: nothing to check
    int level = cpu_isa_level();
    // CNNRT_MAX_ISA_LEVEL=3 runs the baseline kernels on a CPU that could run wider ones.
    if (const char *cap = std::getenv("CNNRT_MAX_ISA_LEVEL"); cap && *cap) {
        char *end = nullptr;
        long value = std::strtol(cap, &end, 10);
        if (*end || value < 1 || value > 4) throw Error(std::string("CNNRT_MAX_ISA_LEVEL='") + cap + "' is not 1-4");
        level = std::min(level, int(value));
    }
    if (level < d->portable_isa_level)
        throw Error(std::string("this library's kernels need ") + level_name(d->portable_isa_level) +
                    ", which this CPU (or CNNRT_MAX_ISA_LEVEL) does not offer");
    return level < d->isa_level;
}

}  // namespace cnnrt
