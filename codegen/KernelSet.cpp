#include "codegen/KernelSet.h"

#include "codegen/Parallel.h"

namespace cnnc {

std::string KernelSet::add(const std::string &text, const Halide::Target &target, BuildFn build,
                           KernelCounts &counts) {
    std::string key = KernelCache::key(text, target);
    std::string fn = KernelCache::functionName(key);
    if (objects_.count(fn)) return fn;
    objects_[fn] = cache_.objectPath(key);
    ++counts.distinct;
    if (cache_.has(key)) ++counts.cached;
    else jobs_.push_back([cache = &cache_, target, key, build] { cache->compile([&] { return build(target); }, target, key); });
    return fn;
}

void KernelSet::compileMissing(int workers, const std::function<void(int, int)> &progress) {
    runInParallel(jobs_, workers, progress);
    jobs_.clear();
}

} // namespace cnnc
