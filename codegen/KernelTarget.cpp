// Which Halide targets the kernels are compiled for.
//
// Every kernel has a portable form: x86-64 with AVX2, FMA and F16C (what this
// host offers of them), so a library built here runs on any such CPU. Where
// this host also has AVX-512 and its cores do twice the multiply-adds per
// second with 512-bit vectors (measured: wideFmaSpeedup()), kernels may also
// have a wide form; the library then carries both and picks per process from
// CPUID (runtime/Isa.cpp). On cores that split 512-bit FMAs in two (measured
// speedup near 1), 16-lane kernels would only waste lanes on small maps.
//
// Which kernels take the wide form: the training step's backward kernels and
// the forward kernels whose OpDef::wideTrainingForward asks for it (their
// GEMMs run over 64-512 channels, which fill 16 lanes), and every inference
// kernel but those the tuning database has faster in the portable form
// (chooseTarget in codegen/Codegen.cpp).
//
// $CNNC_TARGET (or cnnc --target) overrides both: "wide,portable" names the
// two Halide targets, every kernel then having both forms, and a single target
// serves every kernel ("host" is
// Halide's detection of this machine, less what this CPU cannot run).
#include "codegen/KernelBuilder.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

using namespace Halide;

namespace cnnc {
namespace {

// A 512-bit FMA at least this much faster than a 256-bit one makes the wide
// form worth carrying (full-rate cores measure about 1.9, half-rate about 1.0).
constexpr double kWideSpeedupNeeded = 1.5;

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

const Target::Feature kPortableFeatures[] = {Target::SSE41, Target::AVX, Target::AVX2, Target::FMA, Target::F16C};

// Host's arch, OS and bits with only `features` of the host's.
Target hostWith(const Target &host, std::initializer_list<Target::Feature> extra) {
    Target t(host.os, host.arch, host.bits);
    for (Target::Feature f : kPortableFeatures)
        if (host.has_feature(f)) t = t.with_feature(f);
    for (Target::Feature f : extra) t = t.with_feature(f);
    return t;
}

Target parseTarget(const std::string &text) {
    if (!Target::validate_target_string(text)) throw std::runtime_error("'" + text + "' is not a Halide target");
    Target t(text);
    return text.rfind("host", 0) == 0 ? runnableHere(t) : t;
}

KernelTargets detect() {
    KernelTargets targets;
    if (const char *env = std::getenv("CNNC_TARGET"); env && *env) {
        std::string list = env;
        size_t comma = list.find(',');
        if (comma == std::string::npos) {
            targets.portable = targets.wide = parseTarget(list);
        } else {
            if (list.find(',', comma + 1) != std::string::npos)
                throw std::runtime_error("target list '" + list + "' has more than two targets (wide,portable)");
            targets.wide = parseTarget(list.substr(0, comma));
            targets.portable = parseTarget(list.substr(comma + 1));
            targets.everyKernelWide = true;
        }
    } else {
        Target host = runnableHere(get_host_target());
        targets.portable = hostWith(host, {});
        targets.wide = host.has_feature(Target::AVX512_Skylake) && wideFmaSpeedup() >= kWideSpeedupNeeded
                           ? hostWith(host, {Target::AVX512, Target::AVX512_Skylake})
                           : targets.portable;
    }
    targets.portable = targets.portable.with_feature(Target::NoRuntime);
    targets.wide = targets.wide.with_feature(Target::NoRuntime);
    return targets;
}

} // namespace

int isaLevel(const Target &t) {
    if (t.arch != Target::X86 || t.bits != 64) return 0;
    for (Target::Feature f : {Target::AVX512, Target::AVX512_KNL, Target::AVX512_Skylake, Target::AVX512_Cannonlake,
                              Target::AVX512_SapphireRapids})
        if (t.has_feature(f)) return 4;
    if (t.has_feature(Target::AVX) || t.has_feature(Target::AVX2) || t.has_feature(Target::FMA) ||
        t.has_feature(Target::F16C))
        return 3;
    return t.has_feature(Target::SSE41) ? 2 : 1;
}

KernelTargets kernelTargets() { return detect(); }

Target kernelTarget() { return kernelTargets().portable; }

Target wideKernelTarget() { return kernelTargets().wide; }

} // namespace cnnc
