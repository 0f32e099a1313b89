// Which Halide target the kernels are compiled for.
//
// By default: this machine, with AVX2 as the widest vector ISA. cnnc's
// inference schedules are register tiles of 8-lane vectors and the tuning
// database holds AVX2 entries; on AVX-512 hosts measured here (2-core AMD Zen
// 4), the 16-lane target made every small map (ResNet's 7x7 and 14x14
// layers, LeNet) waste most of each vector, no tuned entry applied, and Zen 4
// runs 512-bit FMAs at the 256-bit rate anyway. On an Intel Xeon with
// AVX-512 too, the 16-lane inference kernels were slower (ResNet-18 1.2x and
// 1.4x at batch 1 and 8, VGG-16 1.8x and 1.5x).
//
// The training step's backward kernels are the exception: their GEMMs are
// vectorized over channels (64 to 512 in ResNet), which fill 16 lanes, and an
// Intel core runs two 512-bit FMAs a cycle, twice AVX2's FLOPs (bench/fma_peak.c
// built for AVX-512 and for AVX2: 212 and 110 GFLOP/s per core on the Xeon).
// There ResNet-18's backward kernels took 216 ms per step at batch 8 instead
// of 281. So trainingKernelTarget() keeps AVX-512 on Intel hosts, for the
// backward kernels and the forward kernels of convs on maps of 14 and more
// (OpDef::wideTrainingForward).
//
// $CNNC_TARGET overrides both ("host" is Halide's own detection).
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

// CPUID's vendor string is "GenuineIntel".
bool hostIsIntel() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    return ebx == 0x756e6547u && edx == 0x49656e69u && ecx == 0x6c65746eu; // "Genu" "ineI" "ntel"
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

Target trainingKernelTarget() {
    if (const char *env = std::getenv("CNNC_TARGET"); env && *env) return kernelTarget();
    Target host = runnableHere(get_host_target());
    if (!hostIsIntel() || !host.has_feature(Target::AVX512_Skylake)) return kernelTarget();
    return host.with_feature(Target::NoRuntime);
}

} // namespace cnnc
