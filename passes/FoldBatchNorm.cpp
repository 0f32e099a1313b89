// fold-batchnorm: at inference, a batchnorm right after a conv or dense is an
// affine map per output channel, so it folds into that layer's weights and bias
// (scale the weights, shift the bias). The folded layer keeps loading the
// batchnorm's tensors under their own names; the runtime derives the folded
// weights whenever weights are created or loaded.
#include "passes/Passes.h"

namespace cnnc {

void foldBatchNorm(Graph &g, const PassOptions &options, PassReport &report) {
    if (!options.inference) return;
    std::vector<int> uses = g.useCounts();
    g.bypassNodes([&](Node &n) {
        if (!n.def->traits.foldsIntoProducer) return false;
        Node &producer = g.node(n.operands[0]);
        if (producer.isInput() || !producer.def->traits.absorbsBatchNorm || uses[size_t(producer.id)] != 1 ||
            producer.attrs.has("fold_bn"))
            return false;
        producer.attrs.set("fold_bn", n.name);
        producer.attrs.set("fold_eps", n.attrs.getFloat("eps"));
        attachParams(producer, g.operandTypes(producer));
        report.count("batchnorms folded");
        return true; // the batchnorm's users now read the folded producer
    });
}

} // namespace cnnc
