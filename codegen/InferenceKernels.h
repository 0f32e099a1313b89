// What the inference graph's kernel calls run: each call's schedules (from
// the tuning database, else its op's default) with their batch ranges, the
// target each compiles for, and the parameters each reads, some in a form
// its schedule wants prepared ("conv1.weight.winograd").
#pragma once
#include <map>
#include <string>
#include <vector>

#include "codegen/Codegen.h"
#include "codegen/KernelBuilder.h"
#include "codegen/KernelSet.h"
#include "codegen/ModuleWriter.h"
#include "ir/Kernels.h"

namespace cnnc {

struct InferenceKernels {
    std::vector<KernelInstance> instances;
    std::map<std::string, Param> preparedParams;         // by name
    std::map<const Param *, const Param *> preparedFrom; // prepared form -> the parameter it is prepared from
};

// Adds every instance's kernel (and its portable twin) to `kernels`; counts
// them, and the tuned ones, in `stats`. Throws where a forced schedule is no
// kernel's candidate.
InferenceKernels planInferenceKernels(const Graph &graph, const std::vector<KernelSpec> &partition,
                                      const KernelTargets &targets, const CodegenOptions &options, KernelSet &kernels,
                                      CodegenStats &stats);

} // namespace cnnc
