// From graph to shared library: partition into kernels, compile each with
// Halide (cached), emit the model's tables and C API, link one .so.
#pragma once
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "lowering/ScheduleChoice.h"
#include "ir/Graph.h"

namespace cnnc {

struct CodegenOptions {
    std::string outputPath;     // the .so to write (atomically)
    std::string cacheDir;       // "" = default cache location
    bool noCache = false;
    bool keepTemps = false;     // keep the scratch directory (glue source, objects)
    int jobs = 0;               // parallel kernel compiles; 0 = number of cores
    // Parameters of the source network that passes removed (aux heads at
    // inference): weight files may contain them, and loading skips them.
    std::vector<std::string> ignoredParams;
    // A safetensors file compiled into the library: <name>_create() starts
    // with these weights ("" = initialised as the ops declare).
    std::string embeddedWeights;
    // When set, the library can train: this is the network for training (aux
    // heads and dropout kept, nothing folded or fused); see TrainingPlan.h.
    const Graph *training = nullptr;
    // Tuned schedules (cnnc tune); null: every kernel uses its default schedule.
    const class TuningDb *tuning = nullptr;
    // Non-empty: Halide's autoscheduler of that name schedules every inference
    // kernel instead of the ops' schedules (see KernelBuildOptions).
    std::string autoscheduler;
    // Set: every kernel whose schedule space contains this choice uses it,
    // whatever the database says (experiments, tests of each schedule).
    std::optional<ScheduleChoice> forcedSchedule;
    // Set: the training plan (forward, losses, backward) is printed here.
    std::ostream *dumpTrainingPlan = nullptr;
    // Progress callback: (kernels done, kernels total).
    std::function<void(int, int)> progress;
    // When set, the library exposes every value of this network (the one for
    // inference as written: aux heads removed, nothing folded or fused) through
    // <name>_infer_layer, and with `training` the input gradient; see LayerPlan.h.
    const Graph *layers = nullptr;
};

struct CodegenStats {
    int kernels = 0;         // kernel calls in the model
    int uniqueKernels = 0;   // distinct compiled kernels
    int cachedKernels = 0;   // of those, found in the cache
    int tunedKernels = 0;    // distinct kernels scheduled from the tuning database
    int prepareKernels = 0;  // distinct kernels computing derived parameters (codegen/Preparations.h)
    int64_t arenaFloatsPerSample = 0;
    int layerKernels = 0;    // kernel calls of the layer plan (infer_layer, input_gradient)
};

// Throws std::runtime_error on failure (a compiler bug or an environment
// problem such as a missing C compiler, never a user error).
CodegenStats compileToSharedLibrary(const Graph &graph, const CodegenOptions &options);

} // namespace cnnc
