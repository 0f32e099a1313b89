// Which Halide target the kernels are compiled for.
//
// By default: this machine, with AVX2 as the widest vector ISA. cnnc's
// schedules are register tiles of 8-lane vectors and the tuning database
// holds AVX2 entries; on AVX-512 hosts measured here (2-core AMD Zen 4), the
// 16-lane target made every small map (ResNet's 7x7 and 14x14 layers,
// LeNet) waste most of each vector, no tuned entry applied, and Zen 4 runs
// 512-bit FMAs at the 256-bit rate anyway. $CNNC_TARGET overrides it
// ("host" is Halide's own detection).
#include "codegen/KernelBuilder.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

using namespace Halide;

namespace cnnc {
namespace {

// Halide 14 calls any host with AVX512-BF16 and AVX512-VNNI "sapphirerapids",
// and LLVM's sapphirerapids then emits VEX-encoded AVX-VNNI (vpdpwssd), which
// AMD Zen 4 lacks: its kernels die with SIGILL. Keep the feature only where
// the CPU has AVX-VNNI (CPUID leaf 7, subleaf 1, EAX bit 4).
bool hostHasAvxVnni() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
    return (eax >> 4) & 1u;
#else
    return false;
#endif
}

// `t` (Halide's detection of this machine) without what this CPU cannot run.
Target runnableHere(Target t) {
    if (t.has_feature(Target::AVX512_SapphireRapids) && !hostHasAvxVnni())
        t = t.without_feature(Target::AVX512_SapphireRapids);
    return t;
}

} // namespace

Target kernelTarget() {
    Target t;
    if (const char *env = std::getenv("CNNC_TARGET"); env && *env) {
        t = Target(env);
        if (std::string(env).rfind("host", 0) == 0) t = runnableHere(t);
    } else {
        t = runnableHere(get_host_target());
        for (Target::Feature f : {Target::AVX512, Target::AVX512_KNL, Target::AVX512_Skylake,
                                  Target::AVX512_Cannonlake, Target::AVX512_SapphireRapids})
            t = t.without_feature(f);
    }
    return t.with_feature(Target::NoRuntime);
}

} // namespace cnnc
