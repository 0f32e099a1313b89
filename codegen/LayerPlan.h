// Every value of the network, readable through <name>_infer_layer: one
// inference-mode kernel per op (batchnorm with its running statistics,
// dropout the identity), none fused, each value at an offset of its own in
// the layer arena. The fused inference kernels are left as they are. With
// gradients, the plan also propagates one-hot of a class on the logits back
// to the input (<name>_input_gradient), in inference mode.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <Halide.h>

#include "codegen/TrainingPlan.h"
#include "ir/ReceptiveField.h"
#include "ir/Graph.h"

namespace cnnc {

struct PlannedLayer {
    std::string name;  // layerNames()
    TensorRef tensor;  // INPUT, or LAYER
    int kernels = 0;   // layer kernels to run before `tensor` holds the value
    ReceptiveField field;
};

struct LayerPlan {
    std::vector<PlannedKernel> kernels; // in node order
    std::vector<PlannedLayer> layers;   // in node order
    std::vector<PlannedKernel> gradientKernels; // empty without gradients
    TensorRef inputGradient;
    int64_t arenaFloats = 0;
};

// `graph`: the network for inference as written (aux heads removed, nothing
// folded or fused, dropout kept). paramIndex as for planTraining.
// withGradient: also the input gradient (its network must return class scores [N, K]).
LayerPlan planLayers(const Graph &graph, const std::function<int(const std::string &)> &paramIndex,
                     const Halide::Target &target, bool withGradient);

} // namespace cnnc
