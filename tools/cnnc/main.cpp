// cnnc: compiles a network written in the .cnn language (or dumped IR, or an
// ONNX model) into a self-contained shared library.
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <Halide.h>

#include "codegen/CHeader.h"
#include "codegen/KernelBuilder.h"
#include "codegen/Codegen.h"
#include "codegen/Tuner.h"
#include "codegen/TuningDb.h"
#include "frontend/EmitCnn.h"
#include "frontend/Frontend.h"
#include "frontend/onnx/OnnxImport.h"
#include "ir/DotPrinter.h"
#include "ir/IRParser.h"
#include "ir/Verifier.h"
#include "passes/MemoryPlan.h"
#include "ir/Printer.h"
#include "ir/Summary.h"
#include "passes/Pass.h"
#include "tools/cnnc/Options.h"

using namespace cnnc;

namespace {

bool readFile(const std::string &path, std::string &out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream s;
    s << f.rdbuf();
    out = s.str();
    return f.good() || f.eof();
}

// Whether `path` can be created: its directory exists (else says so).
bool outputDirectoryExists(const std::string &path) {
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec)) return true;
    std::fprintf(stderr, "cnnc: error: cannot write '%s': there is no directory '%s'\n", path.c_str(), dir.c_str());
    return false;
}

// Writes an --emit's text to -o's file (whole or not at all) or to standard output.
int writeEmitted(const std::string &text, const std::string &path) {
    if (path.empty()) return std::fwrite(text.data(), 1, text.size(), stdout) != text.size();
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    f.close();
    std::error_code ec;
    if (!f || (std::filesystem::rename(tmp, path, ec), ec)) {
        std::filesystem::remove(tmp, ec);
        std::fprintf(stderr, "cnnc: error: cannot write '%s'\n", path.c_str());
        return 1;
    }
    return 0;
}

// --stats: each pass's counters, as LLVM's -stats prints them.
void printPassStatistics(const std::vector<std::pair<std::string, PassReport>> &reports) {
    std::fprintf(stderr, "===-------------------------------------------===\n"
                         "                 Pass statistics\n"
                         "===-------------------------------------------===\n");
    for (const auto &[pass, report] : reports) {
        if (!report.changed()) std::fprintf(stderr, "%12s %-16s - changed nothing\n", "", pass.c_str());
        for (const auto &[what, value] : report.counters())
            std::fprintf(stderr, "%12lld %-16s - %s\n", static_cast<long long>(value), pass.c_str(), what.c_str());
    }
}

bool endsWith(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A one-line progress bar on stderr, redrawn in place when it is a terminal.
void progressBar(int done, int total) {
    static bool tty = isatty(2);
    if (!tty && done != total) return;
    int width = 30, filled = total ? width * done / total : width;
    std::fprintf(stderr, "\rcompiling kernels [%.*s%*s] %d/%d", filled, "##############################",
                 width - filled, "", done, total);
    if (done == total) std::fprintf(stderr, "\n");
}

std::string formatSeconds(double s) {
    char buf[32];
    if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
    else std::snprintf(buf, sizeof buf, "%ds", int(s));
    return buf;
}

// An imported model's weights as a temporary file, which the library embeds
// (CodegenOptions::embeddedWeights) so that <name>_create() starts with them.
struct ImportedWeightsFile {
    std::string path;
    ~ImportedWeightsFile() {
        if (!path.empty()) std::remove(path.c_str());
    }
    // False (reported) when the file cannot be written.
    bool write(const std::string &bytes) {
        const char *tmpdir = std::getenv("TMPDIR");
        std::string name = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/cnnc-weights-XXXXXX";
        int fd = mkstemp(name.data());
        if (fd >= 0) path = name;
        bool ok = fd >= 0 && ::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size());
        if (fd >= 0) ::close(fd);
        if (!ok) std::fprintf(stderr, "cnnc: error: cannot write the imported weights to %s\n", name.c_str());
        return ok;
    }
};

// cnnc tune: time every kernel's candidates, keep the database up to date after
// each kernel, print what changed.
int tune(const Graph &graph, TuningDb &db, const Options &opt) {
    TuneOptions to;
    to.batches = opt.tuneBatches;
    to.runs = opt.tuneRuns;
    to.retune = opt.retune;
    to.retime = opt.retime;
    to.note = graph.name;
    to.kernelDone = [&] { db.save(); };
    bool tty = isatty(2);
    if (!opt.quiet)
        to.progress = [tty, verbose = opt.tuneVerbose](const TuneProgress &p) {
            if (verbose)
                std::fprintf(stderr, "%s%-36s %10.1f us/sample  %s\n", tty ? "\r\033[K" : "", p.label.c_str(),
                             p.lastMicros, p.last.str().c_str());
            if (!tty && p.candidate != p.candidates) return;
            int width = 20, filled = width * (p.kernel - 1) / p.kernels;
            std::fprintf(stderr, "\r\033[Ktuning [%.*s%*s] %d/%d %s: candidate %d/%d, best %.3f ms/sample, ~%s left",
                         filled, "####################", width - filled, "", p.kernel, p.kernels, p.label.c_str(),
                         p.candidate, p.candidates, p.bestMicros / 1e3, formatSeconds(p.secondsLeft).c_str());
            if (!tty) std::fprintf(stderr, "\n");
        };
    std::vector<TunedKernel> results;
    try {
        results = tuneKernels(graph, db, to);
        db.save();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "\ncnnc: error: %s\n", e.what());
        return 1;
    }
    if (!opt.quiet && tty && !results.empty()) std::fprintf(stderr, "\n");
    if (results.empty()) {
        std::printf("no kernel of %s has candidate schedules to tune\n", graph.name.c_str());
        return 0;
    }
    std::printf("%-36s %10s %12s %12s %7s  %s\n", "kernel", "candidates", "default us", "tuned us", "speedup",
                "schedule");
    double before = 0, after = 0, compiling = 0, timing = 0;
    for (const TunedKernel &k : results) {
        compiling += k.compileSeconds, timing += k.timingSeconds;
        std::string schedule = k.best.str();
        if (k.largeBatch) schedule += ", batch>=" + std::to_string(k.largeBatchFrom) + ": " + k.largeBatch->str();
        if (k.fromDatabase) {
            std::printf("%-36s %10s %12s %12.1f %7s  %s (from the database%s)\n", k.label.c_str(), "-", "-",
                        k.bestMicros, "-", schedule.c_str(), k.retimed ? ", timed again" : "");
            continue;
        }
        before += k.defaultMicros, after += k.bestMicros;
        std::printf("%-36s %10d %12.1f %12.1f %6.2fx  %s\n", k.label.c_str(), k.candidates, k.defaultMicros,
                    k.bestMicros, k.defaultMicros / k.bestMicros, schedule.c_str());
    }
    if (after > 0)
        std::printf("tuned kernels: %.1f us -> %.1f us per sample (summed over batches", before, after);
    if (after > 0) {
        for (size_t i = 0; i < opt.tuneBatches.size(); ++i) std::printf("%s%d", i ? ", " : " ", opt.tuneBatches[i]);
        std::printf("), %.2fx\n", before / after);
    }
    if (compiling + timing > 0)
        std::printf("compiling candidates %s, timing them %s\n", formatSeconds(compiling).c_str(),
                    formatSeconds(timing).c_str());
    std::fprintf(stderr, "cnnc: %zu entries in %s\n", db.size(), db.path().c_str());
    return 0;
}

// --print-target: what this host offers, what a build here uses, and why.
void printTargets() {
    const Halide::Target host = Halide::get_host_target();
    const KernelTargets targets = kernelTargets();
    auto describe = [](const Halide::Target &t) {
        Halide::Target shown = t.without_feature(Halide::Target::NoRuntime);
        return shown.to_string() + " (" + std::to_string(t.natural_vector_size<float>()) + " floats a vector" +
               (isaLevel(t) ? ", x86-64-v" + std::to_string(isaLevel(t)) : std::string()) + ")";
    };
    std::printf("host (Halide's detection): %s\n", host.to_string().c_str());
    if (host.has_feature(Halide::Target::AVX512_Skylake))
        std::printf("512-bit FMA throughput:    %.2fx the 256-bit one (measured; wide kernels need 1.5x)\n",
                    wideFmaSpeedup());
    const char *source = std::getenv("CNNC_TARGET") ? "from --target / $CNNC_TARGET" : "this host";
    std::printf("portable kernels:          %s, %s\n", describe(targets.portable).c_str(), source);
    if (targets.hasWide())
        std::printf("wide kernels:              %s\n"
                    "                           for every kernel but the training step's forward ones and the\n"
                    "                           inference kernels the tuning database found faster in 8 lanes\n",
                    describe(targets.wide).c_str());
    else
        std::printf("wide kernels:              none (every kernel is portable)\n");
}

int compile(const Options &opt) {
    using Clock = std::chrono::steady_clock;
    std::vector<std::pair<std::string, double>> phases;
    auto phaseStart = Clock::now();
    auto endPhase = [&](const std::string &name) {
        auto now = Clock::now();
        phases.emplace_back(name, std::chrono::duration<double>(now - phaseStart).count());
        phaseStart = now;
    };
    // Every mode ends here: the time report (--time-passes) comes with any result.
    auto finish = [&](int status) {
        if (!opt.timePasses || status != 0) return status;
        double total = 0;
        for (auto &p : phases) total += p.second;
        std::fprintf(stderr, "===-------------------------------------------===\n  cnnc time report (wall seconds)\n");
        for (auto &p : phases) std::fprintf(stderr, "  %9.3f  %5.1f%%  %s\n", p.second, 100 * p.second / total, p.first.c_str());
        std::fprintf(stderr, "  %9.3f  100.0%%  total\n", total);
        return status;
    };
    if (!opt.output.empty() && !outputDirectoryExists(opt.output)) return 1;

    std::string source;
    const bool isOnnx = endsWith(opt.input, ".onnx");
    std::error_code sizeError;
    uint64_t size = std::filesystem::file_size(opt.input, sizeError);
    try {
        if (isOnnx && !sizeError) checkOnnxFileSize(size); // before reading it all
    } catch (const OnnxImportError &e) {
        std::fprintf(stderr, "cnnc: error: %s: %s\n", opt.input.c_str(), e.what());
        return 1;
    }
    if (!readFile(opt.input, source)) {
        std::fprintf(stderr, "cnnc: error: cannot read '%s'\n", opt.input.c_str());
        return 1;
    }
    Graph graph, sourceGraph;
    OnnxImport onnx; // an .onnx input's weights
    try {
        bool isIR = !isOnnx && (endsWith(opt.input, ".ir") || source.find("(%0: f32[") != std::string::npos);
        if (isOnnx) {
            onnx = importOnnx(opt.input, source);
            graph = std::move(onnx.graph);
            for (auto &note : onnx.notes) std::fprintf(stderr, "cnnc: note: %s: %s\n", opt.input.c_str(), note.c_str());
            for (auto &p : onnx.unsetParams)
                std::fprintf(stderr, "cnnc: note: %s: parameter '%s' is a graph input; the weights file must give it\n",
                             opt.input.c_str(), p.c_str());
        } else {
            graph = isIR ? parseIR(source) : compileSource(source);
        }
        if (!opt.name.empty()) graph.name = opt.name;
        if (isIR) { // IR text is checked whole before any pass trusts it
            verify(graph);
            if (graph.arenaFloats >= 0) verifyMemoryPlan(graph);
        }
        endPhase("parse");
        sourceGraph = graph;
        PassManagerOptions pm = opt.passes;
        pm.dump = &std::cerr;
        std::vector<std::pair<std::string, double>> passTimes;
        if (opt.timePasses) pm.timings = &passTimes;
        std::vector<std::pair<std::string, PassReport>> reports;
        if (opt.stats) pm.reports = &reports;
        if (opt.runPipeline) runPasses(graph, pm);
        if (opt.stats) printPassStatistics(reports);
        for (auto &t : passTimes) phases.emplace_back("pass " + t.first, t.second);
        phaseStart = Clock::now();
    } catch (const OnnxImportError &e) {
        std::fprintf(stderr, "cnnc: error: %s: %s\n", opt.input.c_str(), e.what());
        return 1;
    } catch (const CompileError &e) {
        std::fputs(formatDiagnostic(opt.input, isOnnx ? std::string() : source, e).c_str(), stderr);
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cnnc: error: %s\n", e.what());
        return 1;
    }

    if (opt.emit == "ir") return finish(writeEmitted(printGraph(graph), opt.output));
    if (opt.emit == "dot") return finish(writeEmitted(printDot(graph), opt.output));
    if (opt.emit == "header") return finish(writeEmitted(emitCHeader(graph), opt.output));
    if (opt.emit == "cnn") {
        try {
            return finish(writeEmitted(emitCnn(graph), opt.output));
        } catch (const std::exception &e) {
            std::fprintf(stderr, "cnnc: error: %s\n", e.what());
            return 1;
        }
    }
    if (opt.emit == "weights") {
        if (!isOnnx) {
            std::fprintf(stderr, "cnnc: error: --emit=weights needs an .onnx input (a .cnn network has no weights)\n");
            return 1;
        }
        return finish(writeEmitted(onnx.weights, opt.output));
    }
    if (opt.summary) return finish(writeEmitted(formatSummary(sourceGraph, graph), ""));

    TuningDb tuning(opt.tuningDb.empty() ? TuningDb::defaultPath() : opt.tuningDb);
    if (!opt.noTuning || opt.tune) {
        try {
            tuning.load();
        } catch (const std::exception &e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 1;
        }
    }
    if (opt.tune) return finish(tune(graph, tuning, opt));

    // Training and the layer API run on the network as written (an IR file
    // already folded has no such network: no layers).
    Graph training, layers;
    bool exposeLayers = !opt.noLayers;
    for (const Param *p : sourceGraph.parameters()) exposeLayers = exposeLayers && !p->decl.derived();
    try {
        if (opt.train) training = trainingGraph(sourceGraph, opt.passes.printAfterAll, &std::cerr);
        if (exposeLayers) layers = layerGraph(sourceGraph);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cnnc: error: %s\n", e.what());
        return 1;
    }

    CodegenOptions cg;
    if (exposeLayers) cg.layers = &layers;
    if (opt.train) cg.training = &training;
    if (opt.train && opt.passes.printAfterAll) cg.dumpTrainingPlan = &std::cerr;
    if (!opt.noTuning) cg.tuning = &tuning;
    cg.autoscheduler = opt.autoscheduler;
    if (!opt.schedule.empty()) cg.forcedSchedule = ScheduleChoice::parse(opt.schedule);
    cg.outputPath = opt.output;
    cg.embeddedWeights = opt.weights;
    cg.cacheDir = opt.cacheDir;
    cg.noCache = opt.noCache;
    cg.keepTemps = opt.keepTemps;
    std::set<std::string> kept;
    for (const Param *p : graph.parameters()) kept.insert(p->name);
    if (opt.train)
        for (const Param *p : training.parameters()) kept.insert(p->name);
    for (const Param *p : sourceGraph.parameters())
        if (!p->decl.derived() && !kept.count(p->name)) cg.ignoredParams.push_back(p->name);
    if (!opt.quiet) cg.progress = progressBar;
    // An ONNX model's initializers come with the library, unless --weights
    // gives others or some parameters have no value in the file.
    ImportedWeightsFile imported;
    if (isOnnx && opt.weights.empty() && onnx.unsetParams.empty()) {
        if (!imported.write(onnx.weights)) return 1;
        cg.embeddedWeights = imported.path;
    }
    try {
        CodegenStats stats = compileToSharedLibrary(graph, cg);
        endPhase("codegen + link");
        if (!opt.quiet)
            std::fprintf(stderr,
                         "cnnc: wrote %s (%d kernel calls, %d distinct kernels, %d tuned, %d from cache; "
                         "%d prepare kernels)\n",
                         opt.output.c_str(), stats.kernels, stats.uniqueKernels, stats.tunedKernels, stats.cachedKernels,
                         stats.prepareKernels);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cnnc: error: %s\n", e.what());
        return 1;
    }
    return finish(0);
}

} // namespace

int main(int argc, char **argv) {
    registerAllOps();
    Options opt;
    std::string error;
    ParseResult r = parseOptions(argc, argv, opt, error);
    if (r == ParseResult::Error) {
        std::fprintf(stderr, "cnnc: error: %s\n(run 'cnnc --help' for usage)\n", error.c_str());
        return 1;
    }
    if (r == ParseResult::Exit) return 0;
    // One source of truth for the kernel targets: $CNNC_TARGET, which --target sets.
    if (!opt.target.empty()) setenv("CNNC_TARGET", opt.target.c_str(), 1);
    try {
        kernelTargets();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cnnc: error: %s\n", e.what());
        return 1;
    }
    if (opt.printTarget) {
        printTargets();
        if (opt.input.empty()) return 0;
    }
    return compile(opt);
}
