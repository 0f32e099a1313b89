// The C header of a generated model library (`cnnc --emit=header`).
#pragma once
#include <string>

#include "ir/Graph.h"

namespace cnnc {

std::string emitCHeader(const Graph &graph);

} // namespace cnnc
