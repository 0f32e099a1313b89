// fold-batchnorm: at inference, a batchnorm right after a conv or dense is an
// affine map per output channel, so it folds into that layer's weights and bias
// (scale the weights, shift the bias). The folded layer keeps loading the
// batchnorm's tensors under their own names; the runtime derives the folded
// weights whenever weights are created or loaded.
#include "passes/Passes.h"

namespace cnnc {

void foldBatchNorm(Graph &g, const PassOptions &options) {
    if (!options.inference) return;
    std::vector<int> uses = g.useCounts();
    std::vector<int> replacement(g.nodes.size());
    std::vector<bool> keep(g.nodes.size(), true);
    for (auto &n : g.nodes) {
        replacement[size_t(n.id)] = n.id;
        for (int &op : n.operands) op = replacement[size_t(op)];
        if (n.isInput() || n.def->name != "batchnorm") continue;
        Node &producer = g.node(n.operands[0]);
        if (producer.isInput() || !producer.def->traits.absorbsBatchNorm || uses[size_t(producer.id)] != 1 ||
            producer.attrs.has("fold_bn"))
            continue;
        producer.attrs.set("fold_bn", n.name);
        producer.attrs.set("fold_eps", n.attrs.getFloat("eps"));
        attachParams(producer, g.operandTypes(producer));
        replacement[size_t(n.id)] = producer.id;
        keep[size_t(n.id)] = false;
    }
    g.result = replacement[size_t(g.result)];
    for (auto &a : g.aux) a.node = replacement[size_t(a.node)];
    g.retain(keep);
}

} // namespace cnnc
