#include "tools/cnnc/Options.h"

#include "lowering/ScheduleChoice.h"
#include "codegen/Toolchain.h"
#include "codegen/TuningDb.h"

#include <cctype>
#include <cstdio>
#include <sstream>

namespace cnnc {

static const char *kUsage = R"(OVERVIEW: cnnc - compiles a convolutional neural network into a native shared library

USAGE: cnnc [options] <model.cnn | graph.ir | model.onnx>
       cnnc tune [options] <model.cnn | graph.ir | model.onnx>

  An option that cannot apply to what the command does (a tuning option when
  compiling, --no-cache with --emit, ...) is an error, not ignored.

  cnnc lenet5.cnn -o lenet5.so        compile (Halide kernels + runtime in one .so)
  cnnc lenet5.cnn --emit=header       print the library's C header
  cnnc lenet5.cnn --summary           parameters, shapes and FLOPs per layer
  cnnc tune resnet18.cnn              time candidate schedules, record the fastest

OPTIONS:
  -o <file>              output library (default: <input stem>.so); with --emit, the
                         file to write instead of standard output
  --emit=<what>          print instead of compiling:
                           ir      the graph IR as the front end builds it, before any
                                   pass; after the pipeline when a pass option is given
                                   (-O<n>, --passes, --disable-pass, --print-*,
                                   --verify-each, --stats), e.g. 'cnnc m.cnn -O2 --emit=ir'
                           header  the library's C API
                           dot     Graphviz, after the pipeline; fused kernels as clusters
                           cnn     the network as .cnn source, which compiles to the same IR
                           weights an .onnx model's parameters as safetensors
  --summary              print a table of layers, parameters and MFLOPs
  --name=<name>          the network's name, which prefixes the library's C API
                         (<name>_create, <name>.h's guard); default: the name the
                         model gives itself (an .onnx graph's name made an identifier)
  --weights=<file>       compile this safetensors file into the library: <name>_create()
                         starts with its weights (load_weights still replaces them);
                         checked against the network when compiling
  --train                also generate the training step: backward kernels, SGD/Adam
                         (<name>_train_step); inference stays optimised
  --no-layers            leave out the unfused kernel per op that <name>_infer_layer and
                         <name>_input_gradient run (a faster compile, a smaller library)
  -O0                    no optimisation passes (no fusion)
  --passes=<a,b,...>     run exactly these passes, in order (e.g. on a dumped .ir file)
  --disable-pass=<name>  skip one pass (repeatable)
  --list-passes          list the pass pipeline
  --list-ops             list the ops of the language with their arguments and defaults
  --print-after-all      dump the IR to stderr after every pass
  --print-before-all     dump the IR to stderr before every pass
  --print-after=<name>   dump the IR after one pass (repeatable)
  --print-before=<name>  dump the IR before one pass (repeatable)
  --verify-each          run the verifier after every pass
  --time-passes          report wall time per compilation phase
  --stats                print what each pass did (nodes removed, ops fused, bytes saved)
  --cache-dir=<dir>      kernel object cache (default: $CNNC_CACHE_DIR or ~/.cache/cnnc)
  --no-cache             compile every kernel afresh
  --keep-temps           keep the generated C source and objects
  --target=<wide,portable>
                         Halide targets to build for: every kernel for both, and the
                         library picks per process from CPUID (CNNRT_MAX_ISA_LEVEL=3
                         forces the portable kernels). One target builds every kernel
                         for it alone ("host": all of this machine's features).
                         Default: this machine's AVX2, plus its AVX-512 where 512-bit
                         FMAs are measured at least 1.5x faster, for the kernels not
                         tuned faster at AVX2 (see --print-target)
  --print-target         print what this host offers and the targets a build would use
  -q, --quiet            no progress output

SCHEDULES:
  tune                   (first argument) time each kernel's candidate schedules on this
                         machine and record the fastest in the tuning database
  --tuning-db=<file>     the tuning database: compiles read it, tune updates it (default:
                         $CNNC_TUNING_DB, else the one cnnc --version names)
  --no-tuning            compile with the default schedules, ignoring the database
  --tune-batch=<b,...>   batches tune times each candidate at (default: 1,8); a kernel
                         clearly faster with another schedule at the largest gets both
  --tune-runs=<n>        timed runs per batch, their median counts (default: 5)
  --retune               also tune kernels the database already has
  --retime               time the database's schedules again on this machine, each
                         kernel's widths one right after the other, and record the times
                         (no search; a build takes the faster width per kernel)
  --tune-verbose         print every candidate's time, not only each kernel's best
  --schedule=<knobs>     compile every kernel that has this candidate schedule with it,
                         e.g. --schedule=winograd=1,wino_par=0 (see the database's lines)
  --autoschedule=<name>  schedule every inference kernel with Halide's autoscheduler
                         instead (Adams2019, Li2018 or Mullapudi2016), for comparison
  --version              print the version and where the runtime and tuning database are
  -h, --help             print this help

ENVIRONMENT:
  CNNC_CACHE_DIR  kernel cache directory (else $XDG_CACHE_HOME/cnnc, else ~/.cache/cnnc)
  CNNC_TARGET     as --target (the option wins)
  CNNC_TUNING_DB  tuning database
  CNNC_ASM_DIR    also write each kernel compiled (not found in the cache) as assembly
                  (<key>.s) and Halide statements (<key>.stmt) into this directory
  CC, CXX         compilers used to compile the glue code and link the library
  TMPDIR          where the scratch directory goes (default /tmp)
  The libraries cnnc writes read, when they run:
  CNNRT_MAX_ISA_LEVEL  3: run the portable kernels even where wider ones would run
  HL_NUM_THREADS       threads the kernels use (default: the cores the process may use)
  CNNRT_THREAD_POOL    halide: Halide's thread pool instead of cnnrt's
  CNNRT_PIN_THREADS    0: leave the worker threads unpinned
  CNNRT_SCRATCH        malloc: free the kernels' scratch buffers after each call
                       instead of keeping them for the next
  CNNRT_PROFILE        1: time every kernel, print the table to stderr at exit
)";

static bool startsWith(const std::string &s, const char *prefix, std::string &rest) {
    std::string p(prefix);
    if (s.compare(0, p.size(), p) != 0) return false;
    rest = s.substr(p.size());
    return true;
}

// A small positive decimal number, or -1.
static int parseCount(const std::string &s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stoi(s);
}

namespace {

// What a command does; each option states which of these it applies to.
enum Mode : unsigned { Compile = 1, Emit = 2, Summary = 4, Tune = 8 };

std::string describe(Mode mode, const Options &opt) {
    switch (mode) {
    case Compile: return "when compiling a library";
    case Emit: return "with --emit=" + opt.emit;
    case Summary: return "with --summary";
    case Tune: return "with 'cnnc tune'";
    default: return "";
    }
}

bool isCIdentifier(const std::string &s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (unsigned char c : s)
        if (!std::isalnum(c) && c != '_') return false;
    return true;
}

} // namespace

ParseResult parseOptions(int argc, char **argv, Options &opt, std::string &error) {
    // Each option given, with the modes it applies to, checked once the mode is known.
    std::vector<std::pair<std::string, unsigned>> given;
    bool passOption = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], v;
        const std::string flag = a.substr(0, a.find('='));
        auto appliesTo = [&](unsigned modes) { given.emplace_back(flag, modes); };
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return ParseResult::Exit;
        } else if (a == "--version") {
            const ToolchainPaths &paths = toolchainPaths();
            std::printf("cnnc version %s (Halide 14, C++17)\nruntime:         %s\nruntime headers: %s\n"
                        "tuning database: %s\n",
                        CNNC_VERSION, paths.runtimeLibrary.c_str(), paths.includeDir.c_str(),
                        TuningDb::defaultPath().c_str());
            return ParseResult::Exit;
        } else if (a == "--list-passes") {
            std::printf("Pass pipeline, in order:\n");
            for (auto &p : allPasses())
                std::printf("  %-14s %s%s\n", p.name.c_str(), p.description.c_str(), p.optimization ? "" : " (always)");
            return ParseResult::Exit;
        } else if (a == "--list-ops") {
            std::printf("Ops of the language, with their arguments and defaults:\n");
            for (const OpDef *op : OpRegistry::get().all())
                std::printf("  %s\n      %s\n", op->signature().c_str(), op->summary.c_str());
            return ParseResult::Exit;
        } else if (a == "-o") {
            if (++i >= argc) return error = "-o needs a file name", ParseResult::Error;
            opt.output = argv[i];
            appliesTo(Compile | Emit);
        } else if (startsWith(a, "--emit=", v)) {
            if (v != "ir" && v != "header" && v != "dot" && v != "cnn" && v != "weights")
                return error = "unknown --emit kind '" + v + "' (ir, header, dot, cnn, weights)", ParseResult::Error;
            opt.emit = v;
        } else if (startsWith(a, "--name=", v)) {
            if (!isCIdentifier(v))
                return error = "--name wants a C identifier (letters, digits, '_'), got '" + v + "'", ParseResult::Error;
            opt.name = v;
        } else if (startsWith(a, "--weights=", v)) {
            if (v.empty()) return error = "--weights needs a safetensors file", ParseResult::Error;
            opt.weights = v;
            appliesTo(Compile);
        } else if (a == "--train") {
            opt.train = true;
            appliesTo(Compile);
        } else if (a == "--no-layers") {
            opt.noLayers = true;
            appliesTo(Compile);
        } else if (a == "--summary") {
            opt.summary = true;
        } else if (a == "-O0") {
            opt.passes.optimize = false;
            passOption = true;
        } else if (a == "-O1" || a == "-O2" || a == "-O3") {
            opt.passes.optimize = true;
            passOption = true;
        } else if (startsWith(a, "--passes=", v)) {
            std::stringstream ss(v);
            std::string name;
            while (std::getline(ss, name, ','))
                if (!name.empty()) {
                    if (!findPass(name)) return error = "unknown pass '" + name + "' (see --list-passes)", ParseResult::Error;
                    opt.passes.only.push_back(name);
                }
            passOption = true;
        } else if (startsWith(a, "--disable-pass=", v)) {
            if (!findPass(v)) return error = "unknown pass '" + v + "' (see --list-passes)", ParseResult::Error;
            opt.passes.disabled.insert(v);
            passOption = true;
        } else if (a == "--print-after-all") {
            opt.passes.printAfterAll = true;
            passOption = true;
        } else if (a == "--print-before-all") {
            opt.passes.printBeforeAll = true;
            passOption = true;
        } else if (startsWith(a, "--print-after=", v)) {
            if (!findPass(v)) return error = "unknown pass '" + v + "' (see --list-passes)", ParseResult::Error;
            opt.passes.printAfter.insert(v);
            passOption = true;
        } else if (startsWith(a, "--print-before=", v)) {
            if (!findPass(v)) return error = "unknown pass '" + v + "' (see --list-passes)", ParseResult::Error;
            opt.passes.printBefore.insert(v);
            passOption = true;
        } else if (a == "--verify-each") {
            opt.passes.verifyEach = true;
            passOption = true;
        } else if (a == "--stats") {
            opt.stats = true;
            passOption = true;
        } else if (a == "--time-passes") {
            opt.timePasses = true;
        } else if (startsWith(a, "--cache-dir=", v)) {
            opt.cacheDir = v;
            appliesTo(Compile);
        } else if (a == "--no-cache") {
            opt.noCache = true;
            appliesTo(Compile);
        } else if (a == "--keep-temps") {
            opt.keepTemps = true;
            appliesTo(Compile);
        } else if (startsWith(a, "--target=", v)) {
            if (v.empty()) return error = "--target needs one Halide target or two (wide,portable)", ParseResult::Error;
            opt.target = v;
            appliesTo(Compile | Tune);
        } else if (a == "--print-target") {
            opt.printTarget = true;
        } else if (a == "-q" || a == "--quiet") {
            opt.quiet = true;
        } else if (i == 1 && a == "tune") {
            opt.tune = true;
        } else if (startsWith(a, "--tuning-db=", v)) {
            if (v.empty()) return error = "--tuning-db needs a file name", ParseResult::Error;
            opt.tuningDb = v;
            appliesTo(Compile | Tune);
        } else if (a == "--no-tuning") {
            opt.noTuning = true;
            appliesTo(Compile);
        } else if (a == "--retune") {
            opt.retune = true;
            appliesTo(Tune);
        } else if (a == "--retime") {
            opt.retime = true;
            appliesTo(Tune);
        } else if (a == "--tune-verbose") {
            opt.tuneVerbose = true;
            appliesTo(Tune);
        } else if (startsWith(a, "--tune-batch=", v)) {
            opt.tuneBatches.clear();
            std::stringstream list(v);
            for (std::string item; std::getline(list, item, ',');) {
                int b = parseCount(item);
                if (b < 1 || b > 4096) return error = "--tune-batch wants batches from 1 to 4096, got '" + item + "'", ParseResult::Error;
                opt.tuneBatches.push_back(b);
            }
            if (opt.tuneBatches.empty()) return error = "--tune-batch needs at least one batch", ParseResult::Error;
            appliesTo(Tune);
        } else if (startsWith(a, "--tune-runs=", v)) {
            opt.tuneRuns = parseCount(v);
            if (opt.tuneRuns < 1 || opt.tuneRuns > 1000) return error = "--tune-runs wants 1 to 1000, got '" + v + "'", ParseResult::Error;
            appliesTo(Tune);
        } else if (startsWith(a, "--schedule=", v)) {
            if (!ScheduleChoice::parse(v)) return error = "malformed --schedule '" + v + "' (knob=value,...)", ParseResult::Error;
            opt.schedule = v;
            appliesTo(Compile);
        } else if (startsWith(a, "--autoschedule=", v)) {
            if (v != "Adams2019" && v != "Li2018" && v != "Mullapudi2016")
                return error = "unknown autoscheduler '" + v + "' (Adams2019, Li2018, Mullapudi2016)", ParseResult::Error;
            opt.autoscheduler = v;
            appliesTo(Compile);
        } else if (!a.empty() && a[0] == '-' && a != "-") {
            return error = "unknown option '" + a + "'", ParseResult::Error;
        } else if (opt.input.empty()) {
            opt.input = a;
        } else {
            return error = "more than one input file ('" + opt.input + "' and '" + a + "')", ParseResult::Error;
        }
    }
    if (opt.input.empty() && opt.printTarget) {
        for (auto &g : given)
            if (g.first != "--target") return error = "'" + g.first + "' needs an input file", ParseResult::Error;
        return passOption ? (error = "pass options need an input file", ParseResult::Error) : ParseResult::Run;
    }
    if (opt.input.empty()) return error = "no input file", ParseResult::Error;

    if (!opt.emit.empty() && opt.summary) return error = "--emit and --summary print different things; choose one", ParseResult::Error;
    if (opt.tune && (!opt.emit.empty() || opt.summary))
        return error = std::string("'cnnc tune' does not print ") + (opt.summary ? "--summary" : "--emit") + " output", ParseResult::Error;
    const Mode mode = opt.tune ? Tune : !opt.emit.empty() ? Emit : opt.summary ? Summary : Compile;
    for (auto &[flag, modes] : given)
        if (!(modes & mode))
            return error = "'" + flag + "' has no effect " + describe(mode, opt), ParseResult::Error;
    // --emit=ir, cnn and weights print the input's graph unless a pass option asks for the pipeline.
    opt.runPipeline = (opt.emit != "ir" && opt.emit != "cnn" && opt.emit != "weights") || passOption;
    if (mode == Emit) return ParseResult::Run;
    if (opt.output.empty()) {
        std::string stem = opt.input;
        size_t slash = stem.rfind('/');
        if (slash != std::string::npos) stem = stem.substr(slash + 1);
        size_t dot = stem.rfind('.');
        if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
        opt.output = stem + ".so";
    }
    return ParseResult::Run;
}

} // namespace cnnc
