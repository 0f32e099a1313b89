// How a derived parameter (ParamDecl::derivation) is computed from its
// sources: a small Halide pipeline that codegen compiles into the library as
// a prepare kernel, which the runtime runs when inference first uses a set of
// weights. Each kind is defined once, in the file of the op whose kernels read
// it (a folded batchnorm: ops/BatchNorm.cpp; Winograd's transformed filters:
// ops/ConvWinograd.cpp), so the runtime knows no op's math.
#pragma once
#include <string>
#include <vector>

#include <Halide.h>

#include "ir/OpDef.h"

namespace cnnc {

struct Derivation {
    // "fold_bn_weight": names the prepare kernels in signatures and profiles.
    const char *name;
    // What the definition bakes in besides the ranks of the sources and the
    // result (eps, a tile side, a block size). With `name` and the ranks it
    // identifies the compiled kernel, which serves every parameter with the
    // same key whatever its shape: a definition must read extents from its
    // buffers, never from `derived.shape`, except through this key.
    std::string (*key)(const ParamDecl &derived);
    // The derived tensor, indexed like the runtime's buffers (PyTorch dims
    // reversed), from the sources present (sources[i] undefined where
    // derived.sources[i] is -1), scheduled.
    Halide::Func (*define)(const std::vector<Halide::ImageParam> &sources, const ParamDecl &derived);
};

} // namespace cnnc
