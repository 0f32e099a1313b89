// The name of every value of a graph, as `cnnc --summary` lists it and
// <name>_infer_layer() takes it.
#pragma once
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace cnnc {

// Per node id: a node with a name (the input, layers with parameters) is
// called by it; an unnamed one by its first operand's nearest named ancestor
// and its op ("conv1.relu", "conv2.maxpool"), with ".2", ".3"... appended
// where that name is taken (two relus after one conv). The values the result
// needs are named before aux heads and dead nodes, so their names are the
// same with or without those.
std::vector<std::string> layerNames(const Graph &graph);

} // namespace cnnc
