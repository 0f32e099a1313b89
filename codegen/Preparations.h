// The library's prepare kernels: one per derived parameter (a folded
// batchnorm, filters in the layout a schedule reads), built from its
// Derivation (lowering/Derivation.h) and run by the runtime when inference
// first uses a set of weights.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <Halide.h>

#include "codegen/KernelBuilder.h"
#include "codegen/KernelSet.h"
#include "ir/Graph.h"

namespace cnnc {

struct Preparation {
    const Param *param;                 // the derived parameter
    std::vector<const Param *> sources; // in its derivation's order; null where absent
    std::string fn;                     // the compiled prepare kernel
};

// A Preparation for every derived parameter of `params`, in their order,
// its kernel compiled for `target` into `kernels` (counted in `counts`).
// A folded parameter's sources are its node's parameters (ParamDecl::sources);
// a prepared form's is the parameter it was prepared from (`preparedFrom`).
std::vector<Preparation> planPreparations(const Graph &graph, const std::vector<const Param *> &params,
                                          const std::map<const Param *, const Param *> &preparedFrom,
                                          const Halide::Target &target, KernelSet &kernels, KernelCounts &counts);

// The prepare kernel of `derived` from `sources` (null where absent): the
// sources present as arguments, the derived tensor as output.
BuiltKernel buildPreparation(const ParamDecl &derived, const std::vector<const ParamDecl *> &sources);

} // namespace cnnc
