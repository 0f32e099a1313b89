// The .cnn front end and everything it feeds: any text either compiles to a
// graph that verifies, prints, parses back and runs the inference passes, or
// is a CompileError. A crash, hang, sanitizer report or other exception is a
// bug.
#include <cstdlib>

#include "frontend/Frontend.h"
#include "fuzz/FuzzInput.h"
#include "ir/IRParser.h"
#include "ir/OpDef.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const bool registered = (cnnc::registerAllOps(), true);
    (void)registered;
    if (size > 64 << 10) return 0; // source files, not stress tests of the allocator
    cnnc::Graph graph;
    try {
        graph = cnnc::compileSource(cnnc_fuzz::text(data, size));
    } catch (const cnnc::CompileError &) {
        return 0;
    }
    cnnc::verify(graph);
    std::string ir = cnnc::printGraph(graph);
    if (cnnc::printGraph(cnnc::parseIR(ir)) != ir) std::abort(); // the IR text round-trips
    cnnc::PassManagerOptions options;
    try {
        cnnc::runPasses(graph, options);
    } catch (const cnnc::CompileError &) {
        return 0;
    }
    return 0;
}
