// drop-dropout: at inference dropout is the identity, so its users read its input.
#include "passes/Passes.h"

namespace cnnc {

void dropDropout(Graph &g, const PassOptions &options) {
    if (!options.inference) return;
    g.bypassNodes([](Node &n) { return n.def->traits.identityAtInference; });
}

} // namespace cnnc
