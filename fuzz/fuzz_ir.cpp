// IR text: parsed, verified (kernel groups and memory plan included) and run
// through the default pipeline, or refused with a CompileError.
#include "fuzz/FuzzInput.h"
#include "ir/IRParser.h"
#include "ir/OpDef.h"
#include "ir/Verifier.h"
#include "passes/MemoryPlan.h"
#include "passes/Pass.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const bool registered = (cnnc::registerAllOps(), true);
    (void)registered;
    if (size > 64 << 10) return 0;
    try {
        cnnc::Graph graph = cnnc::parseIR(cnnc_fuzz::text(data, size));
        cnnc::verify(graph);
        if (graph.arenaFloats >= 0) cnnc::verifyMemoryPlan(graph);
        cnnc::PassManagerOptions options;
        cnnc::runPasses(graph, options);
    } catch (const cnnc::CompileError &) {
    }
    return 0;
}
