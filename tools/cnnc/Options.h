// Command-line options of the cnnc driver.
#pragma once
#include <string>
#include <vector>

#include "passes/Pass.h"

namespace cnnc {

struct Options {
    std::string input;
    std::string output;     // default: input's stem + ".so"; with --emit, "" = stdout
    std::string emit;       // "", "ir", "header", "dot", "cnn", "weights"
    std::string name;       // --name: the network's name (the C prefix); "" = as the input names it
    std::string weights;    // --weights: safetensors file compiled into the library
    bool summary = false;
    bool timePasses = false;
    bool stats = false;     // --stats: what each pass did
    bool quiet = false;
    bool noCache = false;
    bool keepTemps = false;
    bool runPipeline = true; // run the passes (--emit=ir without pass options does not)
    bool train = false;     // also generate the training step (backward kernels)
    std::string cacheDir;
    std::string target;         // --target: Halide targets, "wide,portable" or one (else $CNNC_TARGET)
    bool printTarget = false;   // --print-target
    // Tuning (cnnc tune) and the schedules a compile uses.
    bool tune = false;          // "cnnc tune model.cnn"
    std::string tuningDb;       // "" = TuningDb::defaultPath()
    bool noTuning = false;      // default schedules only
    std::vector<int> tuneBatches{1, 8};
    int tuneRuns = 5;
    bool retune = false;
    bool retime = false;
    bool tuneVerbose = false; // tune: a line per candidate
    std::string autoscheduler;  // Halide autoscheduler instead of cnnc's schedules
    std::string schedule;       // --schedule=<knobs>: force this choice where it applies
    PassManagerOptions passes;
    bool noLayers = false;      // --no-layers: no layer plan (infer_layer, input_gradient)
};

enum class ParseResult { Run, Exit, Error };

// Exit: --help, --version or --list-passes was handled.
ParseResult parseOptions(int argc, char **argv, Options &opt, std::string &error);

} // namespace cnnc
