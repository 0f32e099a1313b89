// drop-dropout: at inference dropout is the identity, so its users read its input.
#include "passes/Passes.h"

namespace cnnc {

void dropDropout(Graph &g, const PassOptions &options, PassReport &report) {
    if (!options.inference) return;
    g.bypassNodes([&](Node &n) {
        if (!n.def->traits.identityAtInference) return false;
        report.count("identities removed");
        return true;
    });
}

} // namespace cnnc
