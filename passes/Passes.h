// The passes' entry points, one file each.
#pragma once
#include "passes/Pass.h"

namespace cnnc {

void eliminateDeadNodes(Graph &graph, const PassOptions &options, PassReport &report);
void dropDropout(Graph &graph, const PassOptions &options, PassReport &report);
void foldBatchNorm(Graph &graph, const PassOptions &options, PassReport &report);
void flattenConcat(Graph &graph, const PassOptions &options, PassReport &report);
void fuseKernels(Graph &graph, const PassOptions &options, PassReport &report);
void eliminateConcat(Graph &graph, const PassOptions &options, PassReport &report);

} // namespace cnnc
