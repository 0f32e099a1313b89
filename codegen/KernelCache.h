// Compiles kernels to object files, reusing earlier results: objects are keyed
// by a hash of (kernel signature, Halide target), so recompiling an unchanged
// model, or a model sharing layers with another, skips Halide entirely.
#pragma once
#include <string>

#include <Halide.h>

#include "codegen/KernelBuilder.h"

namespace cnnc {

std::string hashHex(const std::string &text);

class KernelCache {
public:
    // dir: "" picks $CNNC_CACHE_DIR, else $XDG_CACHE_HOME/cnnc, else ~/.cache/cnnc.
    // disabled: always compile (objects go to a scratch directory).
    KernelCache(std::string dir, bool disabled, std::string scratchDir);

    // Returns the object path; fnName receives the kernel's function name.
    std::string kernelObject(const Graph &graph, const KernelSpec &spec, const Halide::Target &target,
                             std::string &fnName, bool &wasCached);
    // Halide's runtime, compiled once per target.
    std::string runtimeObject(const Halide::Target &target);

    const std::string &dir() const { return dir_; }

private:
    std::string dir_;
    bool disabled_;
    std::string scratch_;
    std::string pathFor(const std::string &key) const;
};

} // namespace cnnc
