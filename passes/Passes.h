// The passes' entry points, one file each.
#pragma once
#include "passes/Pass.h"

namespace cnnc {

void eliminateDeadNodes(Graph &graph, const PassOptions &options);
void dropDropout(Graph &graph, const PassOptions &options);
void foldBatchNorm(Graph &graph, const PassOptions &options);
void flattenConcat(Graph &graph, const PassOptions &options);
void fuseKernels(Graph &graph, const PassOptions &options);
void eliminateConcat(Graph &graph, const PassOptions &options);

} // namespace cnnc
