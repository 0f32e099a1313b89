// The C source that describes a library to the runtime (runtime/ModelDesc.h):
// its parameter, tensor and kernel tables, the embedded weights and the
// exported <name>_* functions. The C names ModelDesc.h's fields (designated
// initialisers), so it does not depend on their order.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <Halide.h>

#include "codegen/KernelBuilder.h"
#include "codegen/Preparations.h"
#include "ir/Graph.h"
#include "ir/Kernels.h"

namespace cnnc {

struct LayerPlan;
struct MemoryPlan;
struct TrainingPlan;

// One compiled form of a kernel in the library: a kernel has one, or one per
// batch range when tuning found another schedule faster at large batches.
struct KernelInstance {
    size_t spec = 0; // index into the partition
    KernelBuildOptions build;
    int minBatch = 0, maxBatch = 0;   // cnnrt_kernel_desc's batch range (0: unbounded)
    Halide::Target target;            // what `fn` is compiled for
    std::string fn;                   // the compiled function
    std::string portableFn;           // the same kernel for the portable target, where `target` is wider
    std::vector<const Param *> args;  // its parameters in argument order
    bool tuned = false;               // its schedule comes from the tuning database or --schedule
};

// A file assembled into the library (.incbin: no C array for the compiler
// to parse, so hundreds of megabytes cost what copying them costs).
struct EmbeddedFile {
    std::string path; // a link in the scratch directory
    uint64_t size = 0;
};

// What the library holds, as the compiler's phases decided it.
struct ModuleContents {
    const Graph &graph;
    const std::vector<KernelSpec> &kernels;
    const std::vector<KernelInstance> &instances;
    // The prepare kernel of each derived parameter.
    const std::vector<Preparation> &preparations;
    const MemoryPlan &plan;
    const std::vector<std::string> &ignoredParams;
    // Every parameter of the library, the inference graph's first.
    const std::vector<const Param *> &params;
    const KernelTargets &targets;
    const EmbeddedFile &weights;
    // Training (null: none): its plan and kernels' functions, each kernel's
    // portable twin ("" where the kernel is portable already).
    const TrainingPlan *training = nullptr;
    std::vector<std::string> trainFns, trainPortableFns;
    // The layer plan (null: none) and its kernels' functions (layer kernels,
    // then gradient kernels).
    const LayerPlan *layers = nullptr;
    std::vector<std::string> layerFns;
};

// The library's C source.
std::string moduleSource(const ModuleContents &contents);

} // namespace cnnc
