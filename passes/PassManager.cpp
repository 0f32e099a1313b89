#include <chrono>
#include <stdexcept>

#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/MemoryPlan.h"
#include "passes/Passes.h"

namespace cnnc {

const std::vector<Pass> &allPasses() {
    static const std::vector<Pass> passes = {
        {"verify", "check operands, types, parameter names, kernel groups and the memory plan",
         [](Graph &g, const PassOptions &, PassReport &) {
             verify(g);
             if (g.arenaFloats >= 0) verifyMemoryPlan(g);
         },
         false},
        {"dce", "remove nodes nothing uses (aux heads when compiling for inference)", eliminateDeadNodes},
        {"drop-dropout", "dropout is the identity at inference: remove it", dropDropout},
        {"fold-batchnorm", "fold inference batchnorm into the preceding conv/dense weights and bias", foldBatchNorm},
        {"flatten-concat", "splice a concat used only by another concat into it", flattenConcat},
        {"fuse", "group conv/dense with their bias, activation, residual add and pooling into kernels", fuseKernels},
        {"eliminate-concat", "let each concat operand's kernel write straight into its channel slice", eliminateConcat},
        {"plan-memory", "place activations in one arena, reusing memory of dead values", planMemoryPass, false},
    };
    return passes;
}

void PassReport::count(const std::string &what, int64_t n) {
    if (n == 0) return;
    for (auto &[name, value] : counters_)
        if (name == what) return void(value += n);
    counters_.emplace_back(what, n);
}

const Pass *findPass(const std::string &name) {
    for (auto &p : allPasses())
        if (p.name == name) return &p;
    return nullptr;
}

static void dumpIR(const PassManagerOptions &o, const char *when, const std::string &pass, const Graph &g) {
    if (!o.dump) return;
    *o.dump << "// ----- IR Dump " << when << " " << pass << " -----\n" << printGraph(g) << "\n";
}

void runPasses(Graph &graph, const PassManagerOptions &o) {
    std::vector<const Pass *> pipeline;
    if (!o.only.empty()) {
        for (auto &name : o.only) {
            const Pass *p = findPass(name);
            if (!p) throw std::invalid_argument("unknown pass '" + name + "' (see --list-passes)");
            pipeline.push_back(p);
        }
    } else {
        for (auto &p : allPasses())
            if ((o.optimize || !p.optimization) && !o.disabled.count(p.name)) pipeline.push_back(&p);
    }
    for (const Pass *p : pipeline) {
        if (o.printBeforeAll || o.printBefore.count(p->name)) dumpIR(o, "Before", p->name, graph);
        auto start = std::chrono::steady_clock::now();
        PassReport report;
        p->run(graph, o.pass, report);
        if (o.reports) o.reports->emplace_back(p->name, report);
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        if (o.timings) o.timings->emplace_back(p->name, took.count());
        if (o.verifyEach) verify(graph);
        if (o.printAfterAll || o.printAfter.count(p->name)) dumpIR(o, "After", p->name, graph);
    }
}

Graph trainingGraph(const Graph &source, bool printAfterAll, std::ostream *dump) {
    Graph graph = source;
    PassManagerOptions o;
    o.pass.inference = false;
    o.only = {"verify", "dce"};
    o.printAfterAll = printAfterAll;
    o.dump = dump;
    runPasses(graph, o);
    return graph;
}

Graph layerGraph(const Graph &source) {
    Graph graph = source;
    PassManagerOptions o;
    o.only = {"verify", "dce"};
    runPasses(graph, o);
    return graph;
}

} // namespace cnnc
