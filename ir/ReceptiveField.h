// Which input pixels each position of a value depends on, for showing what a
// channel responds to (`cnnrt visualize --top`).
#pragma once
#include <cstdint>
#include <vector>

#include "ir/Graph.h"

namespace cnnc {

// Output row y of a value sees input rows [start.h + y * jump.h, start.h +
// y * jump.h + size.h) (rows outside the input are padding), columns alike.
// A value that mixes every position (dense, flatten, adaptive pooling) sees
// the whole input: size = the input's, jump 0, start 0.
struct ReceptiveField {
    Pair size{1, 1}, jump{1, 1}, start{0, 0};
};

// Per node id. Sliding windows (convs, pools) widen and stride the field of
// their operand; a border (pad) moves it by its top and left widths;
// elementwise and positionwise ops (OpTraits) take the union of their
// operands' (add, concat) or keep it (relu, batchnorm, lrn); any other op
// sees the whole input.
std::vector<ReceptiveField> receptiveFields(const Graph &graph);

} // namespace cnnc
