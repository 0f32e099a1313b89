// Runs independent compile jobs in worker processes. Halide's compiler keeps
// global state, so processes (fork) rather than threads give safe parallelism.
#pragma once
#include <functional>
#include <vector>

namespace cnnc {

// Runs every job; throws std::runtime_error if any failed (after all finish).
// progress(done, total) is called in this process as jobs complete.
void runInParallel(const std::vector<std::function<void()>> &jobs, int workers,
                   const std::function<void(int, int)> &progress);

} // namespace cnnc
