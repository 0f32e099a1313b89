// The kernel targets (codegen/KernelTarget.cpp): the portable one at most
// AVX2, the wide one with AVX-512 where this CPU's 512-bit FMAs pay
// (measured), $CNNC_TARGET verbatim ("wide,portable" or one for both), and
// "host" with Halide's detection minus what this CPU cannot run.
#include <cstdlib>
#include <stdexcept>
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

TEST(KernelTarget, WideTargetOnlyWhereThe512BitFmaIsMeasuredFaster) {
    ScopedTargetEnv env(nullptr);
    cnnc::KernelTargets t = cnnc::kernelTargets();
    Target host = Halide::get_host_target();
    EXPECT_TRUE(t.wide.has_feature(Target::NoRuntime));
    EXPECT_EQ(t.wide.arch, t.portable.arch);
    double speedup = cnnc::wideFmaSpeedup();
    if (!host.has_feature(Target::AVX512_Skylake)) {
        EXPECT_EQ(speedup, 1.0);
        EXPECT_FALSE(t.hasWide()) << t.wide.to_string();
        return;
    }
    EXPECT_GT(speedup, 0.5);
    EXPECT_LT(speedup, 3.0);
    EXPECT_EQ(t.hasWide(), speedup >= 1.5) << "512-bit FMAs measured " << speedup << "x the 256-bit rate";
    if (t.hasWide()) {
        EXPECT_TRUE(t.wide.has_feature(Target::AVX512_Skylake)) << t.wide.to_string();
        EXPECT_EQ(t.wide.natural_vector_size<float>(), 16);
        // Only what fp32 kernels use: the library must run on any AVX-512 CPU with these.
        EXPECT_FALSE(t.wide.has_feature(Target::AVX512_SapphireRapids));
        EXPECT_FALSE(t.wide.has_feature(Target::AVX512_Cannonlake));
        EXPECT_EQ(cnnc::isaLevel(t.wide), 4);
    }
    EXPECT_EQ(cnnc::wideKernelTarget(), t.wide);
    EXPECT_EQ(cnnc::kernelTarget(), t.portable);
}

TEST(KernelTarget, ExplicitTargetServesBothForms) {
    ScopedTargetEnv env("x86-64-linux-avx-avx2-f16c-fma-sse41");
    EXPECT_EQ(cnnc::wideKernelTarget(), cnnc::kernelTarget());
    EXPECT_FALSE(cnnc::kernelTargets().hasWide());
}

TEST(KernelTarget, ListNamesWideThenPortable) {
    ScopedTargetEnv env("x86-64-linux-avx-avx2-avx512-avx512_skylake-f16c-fma-sse41,x86-64-linux-avx-avx2-f16c-fma-sse41");
    cnnc::KernelTargets t = cnnc::kernelTargets();
    EXPECT_TRUE(t.hasWide());
    EXPECT_TRUE(t.wide.has_feature(Target::AVX512_Skylake));
    EXPECT_FALSE(t.portable.has_feature(Target::AVX512));
    EXPECT_EQ(cnnc::isaLevel(t.wide), 4);
    EXPECT_EQ(cnnc::isaLevel(t.portable), 3);
}

TEST(KernelTarget, BadListsAreErrors) {
    for (const char *bad : {"x86-64-linux-avx2,x86-64-linux-avx2,x86-64-linux", "not-a-target", "x86-64-linux-avx2,"}) {
        ScopedTargetEnv env(bad);
        EXPECT_THROW(cnnc::kernelTargets(), std::runtime_error) << bad;
    }
}

TEST(KernelTarget, IsaLevels) {
    EXPECT_EQ(cnnc::isaLevel(Target("x86-64-linux")), 1);
    EXPECT_EQ(cnnc::isaLevel(Target("x86-64-linux-sse41")), 2);
    EXPECT_EQ(cnnc::isaLevel(Target("x86-64-linux-avx-avx2-f16c-fma-sse41")), 3);
    EXPECT_EQ(cnnc::isaLevel(Target("x86-64-linux-avx512_skylake")), 4);
    EXPECT_EQ(cnnc::isaLevel(Target("arm-64-linux")), 0);
}

} // namespace
