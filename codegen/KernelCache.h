// Compiles kernels to object files, reusing earlier results: objects are keyed
// by a hash of (kernel signature, Halide target), so recompiling an unchanged
// model, or a model sharing layers with another, skips Halide entirely.
#pragma once
#include <functional>
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

    // The cache key of a kernel (its canonical signature text) for a target;
    // its function is "cnnc_k" + key.
    static std::string key(const std::string &signature, const Halide::Target &target);
    static std::string functionName(const std::string &key) { return "cnnc_k" + key; }
    std::string objectPath(const std::string &key) const;
    bool has(const std::string &key) const;
    // Builds (lowers and schedules) one kernel and compiles it into objectPath(key).
    void compile(const std::function<BuiltKernel()> &build, const Halide::Target &target, const std::string &key);
    // Halide's runtime, compiled once per target.
    std::string runtimeObject(const Halide::Target &target);

    const std::string &dir() const { return dir_; }

private:
    std::string dir_;
    bool disabled_;
    std::string scratch_;
};

} // namespace cnnc
