// The kernel target (codegen/KernelTarget.cpp): at most AVX2 by default,
// $CNNC_TARGET verbatim, and "host" with Halide's detection minus what this
// CPU cannot run; backward kernels with AVX-512 on Intel hosts.
#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "codegen/KernelBuilder.h"

namespace {

using Halide::Target;

struct ScopedTargetEnv {
    explicit ScopedTargetEnv(const char *value) {
        if (const char *old = std::getenv("CNNC_TARGET")) saved = old, had = true;
        if (value) setenv("CNNC_TARGET", value, 1);
        else unsetenv("CNNC_TARGET");
    }
    ~ScopedTargetEnv() {
        if (had) setenv("CNNC_TARGET", saved.c_str(), 1);
        else unsetenv("CNNC_TARGET");
    }
    std::string saved;
    bool had = false;
};

TEST(KernelTarget, DefaultIsThisMachineWithoutAvx512) {
    ScopedTargetEnv env(nullptr);
    Target t = cnnc::kernelTarget(), host = Halide::get_host_target();
    EXPECT_EQ(t.arch, host.arch);
    EXPECT_EQ(t.os, host.os);
    EXPECT_TRUE(t.has_feature(Target::NoRuntime));
    for (Target::Feature f : {Target::AVX512, Target::AVX512_Skylake, Target::AVX512_Cannonlake,
                              Target::AVX512_SapphireRapids})
        EXPECT_FALSE(t.has_feature(f)) << t.to_string();
    if (host.has_feature(Target::AVX2)) {
        EXPECT_TRUE(t.has_feature(Target::AVX2)) << t.to_string();
        EXPECT_EQ(t.natural_vector_size<float>(), 8);
    }
}

TEST(KernelTarget, ExplicitTargetIsTakenAsWritten) {
    ScopedTargetEnv env("x86-64-linux-avx-avx2-avx512-avx512_skylake-f16c-fma-sse41");
    Target t = cnnc::kernelTarget();
    EXPECT_TRUE(t.has_feature(Target::AVX512_Skylake));
    EXPECT_EQ(t.without_feature(Target::NoRuntime).to_string(),
              "x86-64-linux-avx-avx2-avx512-avx512_skylake-f16c-fma-sse41");
}

TEST(KernelTarget, HostKeepsEveryFeatureThisCpuRuns) {
    ScopedTargetEnv env("host");
    Target t = cnnc::kernelTarget(), host = Halide::get_host_target();
    // Everything Halide detects stays, except Sapphire Rapids on CPUs
    // without AVX-VNNI (AMD Zen 4), which Halide 14 mistakes for it.
    EXPECT_EQ(t.without_feature(Target::NoRuntime).without_feature(Target::AVX512_SapphireRapids),
              host.without_feature(Target::AVX512_SapphireRapids));
    EXPECT_EQ(t.has_feature(Target::AVX512), host.has_feature(Target::AVX512));
}

TEST(KernelTarget, BackwardKernelsTakeAvx512OnlyOnIntel) {
    ScopedTargetEnv env(nullptr);
    Target forward = cnnc::kernelTarget(), backward = cnnc::trainingKernelTarget();
    Target host = Halide::get_host_target();
    EXPECT_TRUE(backward.has_feature(Target::NoRuntime));
    EXPECT_EQ(backward.arch, forward.arch);
    if (!host.has_feature(Target::AVX512_Skylake)) {
        EXPECT_EQ(backward, forward) << backward.to_string();
        return;
    }
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    ASSERT_TRUE(__get_cpuid(0, &eax, &ebx, &ecx, &edx));
    char vendor[13] = {};
    std::memcpy(vendor, &ebx, 4), std::memcpy(vendor + 4, &edx, 4), std::memcpy(vendor + 8, &ecx, 4);
    if (std::string(vendor) == "GenuineIntel") {
        EXPECT_TRUE(backward.has_feature(Target::AVX512_Skylake)) << backward.to_string();
        EXPECT_EQ(backward.natural_vector_size<float>(), 16);
    } else {
        EXPECT_EQ(backward, forward) << vendor << ": " << backward.to_string();
    }
}

TEST(KernelTarget, ExplicitTargetServesBackwardKernelsToo) {
    ScopedTargetEnv env("x86-64-linux-avx-avx2-f16c-fma-sse41");
    EXPECT_EQ(cnnc::trainingKernelTarget(), cnnc::kernelTarget());
    EXPECT_FALSE(cnnc::trainingKernelTarget().has_feature(Target::AVX512));
}

} // namespace
