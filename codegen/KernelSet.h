// The kernels a library links: each distinct (signature text, target) once,
// found in the kernel cache or compiled by compileMissing().
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <Halide.h>

#include "codegen/KernelBuilder.h"
#include "codegen/KernelCache.h"

namespace cnnc {

struct KernelCounts {
    int distinct = 0; // kernels added
    int cached = 0;   // of those, found in the cache
};

class KernelSet {
public:
    using BuildFn = std::function<BuiltKernel(const Halide::Target &)>;

    explicit KernelSet(KernelCache &cache) : cache_(cache) {}

    // Adds the kernel `text` compiled for `target` (once: identical layers
    // share one kernel), counted in `counts` when new; returns its function's name.
    std::string add(const std::string &text, const Halide::Target &target, BuildFn build, KernelCounts &counts);
    // Compiles the kernels the cache lacks, `workers` processes at a time.
    void compileMissing(int workers, const std::function<void(int, int)> &progress);
    // Object file by function name.
    const std::map<std::string, std::string> &objects() const { return objects_; }

private:
    KernelCache &cache_;
    std::map<std::string, std::string> objects_;
    std::vector<std::function<void()>> jobs_;
};

} // namespace cnnc
