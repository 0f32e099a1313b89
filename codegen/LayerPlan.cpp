#include "codegen/LayerPlan.h"

#include <stdexcept>

#include "codegen/OpKernels.h"
#include "ir/LayerNames.h"
#include "runtime/ModelDesc.h"

using namespace Halide;

namespace cnnc {

namespace {

TensorRef layerTensor(int storage, int64_t offset, const TensorType &t) {
    TensorRef r;
    r.storage = storage;
    r.offset = offset;
    r.dims[0] = t.width(), r.dims[1] = t.height(), r.dims[2] = t.channels();
    return r;
}

TensorRef paramTensor(int index) {
    TensorRef r;
    r.storage = CNNRT_STORAGE_PARAM;
    r.index = index;
    return r;
}

// d logits = one-hot of each sample's class: the seed of the input gradient.
BuiltKernel buildOneHot(const TensorType &logits) {
    ImageParam classes(Int(32), 1, "classes");
    classes.dim(0).set_min(0);
    Var x("x"), y("y"), c("c"), b("b");
    Func out("one_hot");
    out(x, y, c, b) = select(c == classes(b), 1.0f, 0.0f);
    constrainActivation(out.output_buffer(), logits);
    out.parallel(b);
    return BuiltKernel{Pipeline(out), {classes}};
}

} // namespace

LayerPlan planLayers(const Graph &g, const std::function<int(const std::string &)> &paramIndex,
                     const Target &target, bool withGradient) {
    LayerPlan plan;
    const std::vector<std::string> names = layerNames(g);
    const std::vector<ReceptiveField> fields = receptiveFields(g);
    auto take = [&](int64_t floats) {
        int64_t at = plan.arenaFloats;
        plan.arenaFloats += floats;
        return at;
    };
    // Every value's own place (a view shares its root's), never reused: any
    // layer can be read after its kernels ran.
    std::vector<int64_t> offset(g.nodes.size(), -1);
    std::vector<int> root(g.nodes.size());
    for (const Node &n : g.nodes) {
        root[size_t(n.id)] = !n.isInput() && n.def->traits.view ? root[size_t(n.operands[0])] : n.id;
        if (!n.isInput() && !n.def->traits.view) offset[size_t(n.id)] = take(n.type.elementsPerSample());
    }
    auto valueRef = [&](int id) {
        const int r = root[size_t(id)];
        return g.node(r).isInput() ? layerTensor(CNNRT_STORAGE_INPUT, 0, g.node(id).type)
                                   : layerTensor(CNNRT_STORAGE_LAYER, offset[size_t(r)], g.node(id).type);
    };
    auto nodeInputs = [&](const Node &n) {
        std::vector<TensorRef> args;
        for (int op : n.operands) args.push_back(valueRef(op));
        for (const Param &p : n.params) args.push_back(paramTensor(paramIndex(p.name)));
        return args;
    };
    for (const Node &n : g.nodes) {
        if (!n.isInput() && !n.def->traits.view) {
            PlannedKernel k;
            k.label = names[size_t(n.id)] + " (layer)";
            k.text = "%" + std::to_string(n.id) + " = " + n.opName() + " {layer}";
            k.signature = nodeSignature(g, n, "layer");
            k.build = [&g, id = n.id](const Target &t) { return buildForward(g, id, -1, t, false); };
            k.target = target;
            k.args = nodeInputs(n);
            k.args.push_back(valueRef(n.id));
            plan.kernels.push_back(std::move(k));
        }
        plan.layers.push_back({names[size_t(n.id)], valueRef(n.id), int(plan.kernels.size()), fields[size_t(n.id)]});
    }
    if (!withGradient) return plan;

    const int logits = logitsOf(g, g.result);
    const TensorType &scores = g.node(logits).type;
    if (scores.width() != 1 || scores.height() != 1 || g.node(logits).isInput())
        throw std::runtime_error("the input gradient needs a network that returns class scores [N, K]");
    const std::vector<bool> needed = g.liveFrom({logits});
    std::vector<int64_t> gradient(g.nodes.size(), -1);
    for (const Node &n : g.nodes)
        if (needed[size_t(n.id)]) gradient[size_t(n.id)] = take(n.type.elementsPerSample());
    auto gradRef = [&](int id) { return layerTensor(CNNRT_STORAGE_LAYER, gradient[size_t(id)], g.node(id).type); };
    plan.inputGradient = gradRef(0);

    PlannedKernel seed;
    seed.label = "one-hot of the class on " + names[size_t(logits)];
    seed.text = "d%" + std::to_string(logits) + " = one_hot(classes)";
    seed.signature = "cnnc-layer-1:one-hot:" + scores.str();
    seed.build = [scores](const Target &) { return buildOneHot(scores); };
    seed.target = target;
    TensorRef classes;
    classes.storage = CNNRT_STORAGE_LABELS;
    seed.args = {classes, gradRef(logits)};
    plan.gradientKernels.push_back(std::move(seed));

    // The first kernel to reach a gradient writes it, later ones add to it
    // (kernels run in this order, users before their operands).
    std::vector<bool> written(g.nodes.size(), false);
    written[size_t(logits)] = true;
    for (size_t i = size_t(logits) + 1; i-- > 1;) {
        const Node &n = g.nodes[i];
        if (!needed[i]) continue;
        if (!written[i]) throw std::runtime_error("internal error: the gradient of %" + std::to_string(i) + " is read before any kernel writes it");
        std::vector<GradientWrite> operandGrads;
        for (int op : n.operands) {
            operandGrads.push_back(written[size_t(op)] ? GradientWrite::Accumulate : GradientWrite::Write);
            written[size_t(op)] = true;
        }
        PlannedKernel k;
        k.label = names[i] + " (input gradient)";
        std::string targets;
        for (int op : n.operands) targets += (targets.empty() ? "d%" : ", d%") + std::to_string(op);
        k.text = targets + " += " + n.opName() + ".backward(d%" + std::to_string(i) + ") {inference}";
        k.signature = nodeSignature(g, n, "inference-backward");
        for (GradientWrite w : operandGrads) k.signature += w == GradientWrite::Accumulate ? "+" : "=";
        k.build = [&g, id = n.id, operandGrads](const Target &t) { return buildBackward(g, id, operandGrads, -1, t, false); };
        k.target = target;
        k.args = nodeInputs(n);
        k.args.push_back(gradRef(n.id));
        for (size_t o = 0; o < n.operands.size(); ++o)
            if (operandGrads[o] == GradientWrite::Accumulate) k.args.push_back(gradRef(n.operands[o]));
        for (int op : n.operands) k.args.push_back(gradRef(op));
        plan.gradientKernels.push_back(std::move(k));
    }
    return plan;
}

} // namespace cnnc
