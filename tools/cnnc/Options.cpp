#include "tools/cnnc/Options.h"

#include "codegen/ScheduleChoice.h"

#include <cctype>
#include <cstdio>
#include <sstream>

namespace cnnc {

static const char *kUsage = R"(OVERVIEW: cnnc - compiles a convolutional neural network into a native shared library

USAGE: cnnc [options] <model.cnn | graph.ir | model.onnx>
       cnnc tune [options] <model.cnn | graph.ir | model.onnx>

  cnnc lenet5.cnn -o lenet5.so        compile (Halide kernels + runtime in one .so)
  cnnc lenet5.cnn --emit=header       print the library's C header
  cnnc lenet5.cnn --summary           parameters, shapes and FLOPs per layer
  cnnc tune resnet18.cnn              time candidate schedules, record the fastest

OPTIONS:
  -o <file>              output library (default: <input stem>.so)
  --emit=<what>          print instead of compiling: ir (textual IR), header (C API),
                         dot (Graphviz; fused kernels as clusters), cnn (the network as
                         .cnn source), weights (an .onnx model's parameters as safetensors)
  --name=<identifier>    the network's name, which prefixes the library's C symbols
                         (default: the network's; an .onnx graph's name made an identifier)
  --summary              print a table of layers, parameters and MFLOPs
  --train                also generate the training step: backward kernels, SGD/Adam
                         (<name>_train_step); inference stays optimised
  -O0                    no optimisation passes (no fusion)
  --passes=<a,b,...>     run exactly these passes, in order (e.g. on a dumped .ir file)
  --disable-pass=<name>  skip one pass (repeatable)
  --list-passes          list the pass pipeline
  --print-after-all      dump the IR to stderr after every pass
  --print-before-all     dump the IR to stderr before every pass
  --print-after=<name>   dump the IR after one pass (repeatable)
  --print-before=<name>  dump the IR before one pass (repeatable)
  --verify-each          run the verifier after every pass
  --time-passes          report wall time per compilation phase
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
                         $CNNC_TUNING_DB, else tuning/default.tdb in cnnc's source tree)
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
  --version              print the version
  -h, --help             print this help

ENVIRONMENT:
  CNNC_CACHE_DIR  kernel cache directory
  CNNC_TARGET     as --target (the option wins)
  CNNC_TUNING_DB  tuning database
  CNNC_ASM_DIR    also write each kernel compiled (not found in the cache) as assembly
                  (<key>.s) and Halide statements (<key>.stmt) into this directory
  CC, CXX         compilers used to link the library
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

ParseResult parseOptions(int argc, char **argv, Options &opt, std::string &error) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], v;
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return ParseResult::Exit;
        } else if (a == "--version") {
            std::printf("cnnc version %s (Halide 14, C++17)\n", CNNC_VERSION);
            return ParseResult::Exit;
        } else if (a == "--list-passes") {
            std::printf("Pass pipeline, in order:\n");
            for (auto &p : allPasses())
                std::printf("  %-14s %s%s\n", p.name.c_str(), p.description.c_str(), p.optimization ? "" : " (always)");
            return ParseResult::Exit;
        } else if (a == "-o") {
            if (++i >= argc) return error = "-o needs a file name", ParseResult::Error;
            opt.output = argv[i];
        } else if (startsWith(a, "--emit=", v)) {
            if (v != "ir" && v != "header" && v != "dot" && v != "cnn" && v != "weights")
                return error = "unknown --emit kind '" + v + "' (ir, header, dot, cnn, weights)", ParseResult::Error;
            opt.emit = v;
        } else if (startsWith(a, "--name=", v)) {
            bool ok = !v.empty() && !std::isdigit(static_cast<unsigned char>(v[0]));
            for (char c : v) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
            if (!ok) return error = "--name wants a C identifier, got '" + v + "'", ParseResult::Error;
            opt.name = v;
        } else if (a == "--train") {
            opt.train = true;
        } else if (a == "--summary") {
            opt.summary = true;
        } else if (a == "-O0") {
            opt.passes.optimize = false;
        } else if (a == "-O1" || a == "-O2" || a == "-O3") {
            opt.passes.optimize = true;
        } else if (startsWith(a, "--passes=", v)) {
            std::stringstream ss(v);
            std::string name;
            while (std::getline(ss, name, ','))
                if (!name.empty()) {
                    if (!findPass(name)) return error = "unknown pass '" + name + "' (see --list-passes)", ParseResult::Error;
                    opt.passes.only.push_back(name);
                }
            opt.passesGiven = true;
        } else if (startsWith(a, "--disable-pass=", v)) {
            if (!findPass(v)) return error = "unknown pass '" + v + "' (see --list-passes)", ParseResult::Error;
            opt.passes.disabled.insert(v);
        } else if (a == "--print-after-all") {
            opt.passes.printAfterAll = true;
        } else if (a == "--print-before-all") {
            opt.passes.printBeforeAll = true;
        } else if (startsWith(a, "--print-after=", v)) {
            if (!findPass(v)) return error = "unknown pass '" + v + "' (see --list-passes)", ParseResult::Error;
            opt.passes.printAfter.insert(v);
        } else if (startsWith(a, "--print-before=", v)) {
            if (!findPass(v)) return error = "unknown pass '" + v + "' (see --list-passes)", ParseResult::Error;
            opt.passes.printBefore.insert(v);
        } else if (a == "--verify-each") {
            opt.passes.verifyEach = true;
        } else if (a == "--time-passes") {
            opt.timePasses = true;
        } else if (startsWith(a, "--cache-dir=", v)) {
            opt.cacheDir = v;
        } else if (a == "--no-cache") {
            opt.noCache = true;
        } else if (a == "--keep-temps") {
            opt.keepTemps = true;
        } else if (startsWith(a, "--target=", v)) {
            if (v.empty()) return error = "--target needs one Halide target or two (wide,portable)", ParseResult::Error;
            opt.target = v;
        } else if (a == "--print-target") {
            opt.printTarget = true;
        } else if (a == "-q" || a == "--quiet") {
            opt.quiet = true;
        } else if (i == 1 && a == "tune") {
            opt.tune = true;
        } else if (startsWith(a, "--tuning-db=", v)) {
            if (v.empty()) return error = "--tuning-db needs a file name", ParseResult::Error;
            opt.tuningDb = v;
        } else if (a == "--no-tuning") {
            opt.noTuning = true;
        } else if (a == "--retune") {
            opt.retune = true;
        } else if (a == "--retime") {
            opt.retime = true;
        } else if (a == "--tune-verbose") {
            opt.tuneVerbose = true;
        } else if (startsWith(a, "--tune-batch=", v)) {
            opt.tuneBatches.clear();
            std::stringstream list(v);
            for (std::string item; std::getline(list, item, ',');) {
                int b = parseCount(item);
                if (b < 1 || b > 4096) return error = "--tune-batch wants batches from 1 to 4096, got '" + item + "'", ParseResult::Error;
                opt.tuneBatches.push_back(b);
            }
            if (opt.tuneBatches.empty()) return error = "--tune-batch needs at least one batch", ParseResult::Error;
        } else if (startsWith(a, "--tune-runs=", v)) {
            opt.tuneRuns = parseCount(v);
            if (opt.tuneRuns < 1 || opt.tuneRuns > 1000) return error = "--tune-runs wants 1 to 1000, got '" + v + "'", ParseResult::Error;
        } else if (startsWith(a, "--schedule=", v)) {
            if (!ScheduleChoice::parse(v)) return error = "malformed --schedule '" + v + "' (knob=value,...)", ParseResult::Error;
            opt.schedule = v;
        } else if (startsWith(a, "--autoschedule=", v)) {
            if (v != "Adams2019" && v != "Li2018" && v != "Mullapudi2016")
                return error = "unknown autoscheduler '" + v + "' (Adams2019, Li2018, Mullapudi2016)", ParseResult::Error;
            opt.autoscheduler = v;
        } else if (!a.empty() && a[0] == '-' && a != "-") {
            return error = "unknown option '" + a + "'", ParseResult::Error;
        } else if (opt.input.empty()) {
            opt.input = a;
        } else {
            return error = "more than one input file ('" + opt.input + "' and '" + a + "')", ParseResult::Error;
        }
    }
    if (opt.input.empty() && opt.printTarget) return ParseResult::Run;
    if (opt.input.empty()) return error = "no input file", ParseResult::Error;
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
