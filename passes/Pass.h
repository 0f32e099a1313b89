// Passes: small named graph rewrites run in one declared order by the
// PassManager, each printable before/after like LLVM's -print-after.
#pragma once
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace cnnc {

struct PassOptions {
    bool inference = true; // compile for inference: aux heads and dropout go away
};

// What a pass did, as named counters (LLVM's -stats): a pass that counts
// nothing changed nothing.
class PassReport {
public:
    void count(const std::string &what, int64_t n = 1);
    bool changed() const { return !counters_.empty(); }
    const std::vector<std::pair<std::string, int64_t>> &counters() const { return counters_; }

private:
    std::vector<std::pair<std::string, int64_t>> counters_; // in the order first counted; none zero
};

struct Pass {
    std::string name;
    std::string description;
    std::function<void(Graph &, const PassOptions &, PassReport &)> run;
    bool optimization = true; // skipped at -O0
};

// Every pass in pipeline order.
const std::vector<Pass> &allPasses();
const Pass *findPass(const std::string &name);

struct PassManagerOptions {
    PassOptions pass;
    std::vector<std::string> only;     // --passes=a,b: run exactly these, in this order
    std::set<std::string> disabled;    // --disable-pass=
    bool optimize = true;              // -O0 turns optimizations off
    bool verifyEach = false;
    bool printBeforeAll = false, printAfterAll = false;
    std::set<std::string> printBefore, printAfter;
    std::ostream *dump = nullptr;      // where IR dumps go (stderr by default)
    // Per-pass wall time, filled when non-null: (name, seconds).
    std::vector<std::pair<std::string, double>> *timings = nullptr;
    // What each pass that ran reported, filled when non-null (--stats).
    std::vector<std::pair<std::string, PassReport>> *reports = nullptr;
};

// Runs the pipeline; throws CompileError (user-facing) or std::logic_error (a pass bug
// caught by --verify-each).
void runPasses(Graph &graph, const PassManagerOptions &options);

// The other networks a library is compiled from, each from the network as
// written (`source`) by the pipeline's verify and dce alone, nothing folded
// or fused:
// - for training: aux heads and dropout kept (IR dumps after each pass go
//   to `dump` when printAfterAll);
Graph trainingGraph(const Graph &source, bool printAfterAll, std::ostream *dump);
// - for the layer API (<name>_infer_layer): every value of the network at inference.
Graph layerGraph(const Graph &source);

} // namespace cnnc
