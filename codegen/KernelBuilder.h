// Builds the Halide pipeline of one kernel: a group of IR nodes that runs as a
// single AOT-compiled function.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <Halide.h>

#include "lowering/ScheduleChoice.h"
#include "ir/Kernels.h"

namespace cnnc {

// A parameter as a kernel reads it: as declared, or in the form its anchor's
// schedule prepares (OpDef::preparedParams).
struct KernelParam {
    const Param *param;
    std::optional<ParamDecl> prepared;
    const std::vector<int64_t> &shape() const { return prepared ? prepared->shape : param->decl.shape; }
};

struct BuiltKernel {
    Halide::Pipeline pipeline;
    std::vector<Halide::Argument> arguments; // externals, then params (output implicit)
    std::vector<Halide::ImageParam> inputs;  // the same, as ImageParams (for JIT runs)
    std::vector<KernelParam> params;         // the params as the kernel reads them
};

struct KernelBuildOptions {
    ScheduleChoice choice;     // knobs for the anchor's schedule (default: empty)
    // "Adams2019", "Li2018" or "Mullapudi2016": ignore the ops' schedules and let
    // Halide's autoscheduler schedule the kernel (for comparison).
    std::string autoscheduler;
    // The batch the autoscheduler optimises for. 1, because its schedules may
    // split the batch loop with tails that shift inwards, which reads before
    // sample 0 at any batch smaller than the split.
    int estimatedBatch = 1;
};

// The targets kernels are compiled for (KernelTarget.cpp), both without
// Halide's runtime (one copy is linked into each library). Every kernel has a
// `portable` form (this machine's AVX2, FMA and F16C); `wide` adds AVX-512
// where this CPU's 512-bit FMAs are worth it, else equals `portable`.
// $CNNC_TARGET ("wide,portable" or one target for both) overrides them.
struct KernelTargets {
    Halide::Target portable, wide;
    // Named by the user ("wide,portable"): every kernel has a wide form. Else
    // only those measured faster there (Codegen.cpp).
    bool everyKernelWide = false;
    bool hasWide() const { return wide != portable; }
};
KernelTargets kernelTargets();
Halide::Target kernelTarget();     // kernelTargets().portable
Halide::Target wideKernelTarget(); // kernelTargets().wide

// The x86-64 micro-architecture level a target's code needs (1-4, as in
// x86-64-v3 and -v4); 0 for other architectures, which are not checked.
int isaLevel(const Halide::Target &target);

// FP32 multiply-adds per second with 512-bit vectors over those with 256-bit
// vectors on this core, measured once per process (FmaThroughput.cpp); 1 where
// the CPU has no AVX-512.
double wideFmaSpeedup();

BuiltKernel buildKernel(const Graph &graph, const KernelSpec &spec, const Halide::Target &target,
                        const KernelBuildOptions &options = {});

// spec.params in argument order, as the kernel compiled with `choice` reads them.
std::vector<KernelParam> kernelParams(const Graph &graph, const KernelSpec &spec, const ScheduleChoice &choice);

// The schedules `cnnc tune` may pick for a kernel, default first; empty when
// the kernel has no anchor with a schedule space.
std::vector<ScheduleChoice> scheduleSpace(const Graph &graph, const KernelSpec &spec);

// The candidate the kernel compiles with untuned, for kernels of `vectorWidth`
// floats a vector (OpDef::defaultSchedule); the empty choice where the anchor
// has none.
ScheduleChoice defaultSchedule(const Graph &graph, const KernelSpec &spec, int vectorWidth);

// "%12 conv layer1.0.conv1": the kernel's last node, as profiles and tuning show it.
std::string kernelLabel(const Graph &graph, const KernelSpec &spec);

// Buffer constraints the runtime guarantees: dense NCHW activations with fixed
// W, H, C and symbolic batch (or a given distance between samples), and dense
// parameters in PyTorch layout (dims reversed).
void constrainActivation(Halide::OutputImageParam p, const TensorType &t, int64_t sampleStride = 0);
void constrainParam(Halide::OutputImageParam p, const std::vector<int64_t> &shape);

} // namespace cnnc
