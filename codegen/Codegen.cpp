#include "codegen/Codegen.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include <Halide.h>

#include "codegen/InferenceKernels.h"
#include "codegen/KernelBuilder.h"
#include "codegen/KernelCache.h"
#include "codegen/KernelSet.h"
#include "codegen/LayerPlan.h"
#include "codegen/Link.h"
#include "codegen/ModuleWriter.h"
#include "codegen/Preparations.h"
#include "codegen/TrainingPlan.h"
#include "passes/MemoryPlan.h"

namespace cnnc {

namespace {

// Every parameter of the library, in the order of its table: the inference
// graph's, then those only training or the layer API read (aux heads).
struct LibraryParams {
    std::vector<const Param *> list;
    std::map<std::string, int> index;
    explicit LibraryParams(const Graph &inference) { add(inference); }
    void add(const Graph &g) {
        for (const Param *p : g.parameters())
            if (index.emplace(p->name, int(list.size())).second) list.push_back(p);
    }
    std::function<int(const std::string &)> indexer() const {
        return [this](const std::string &name) { return index.at(name); };
    }
};

// The plan-memory pass's result where it ran, else a plan made now.
MemoryPlan memoryPlan(const Graph &graph, const std::vector<KernelSpec> &partition) {
    if (graph.arenaFloats < 0) return planMemory(graph, partition, arenaExempt(graph));
    verifyMemoryPlan(graph);
    MemoryPlan plan;
    plan.arenaFloats = graph.arenaFloats;
    for (auto &n : graph.nodes)
        if (n.arenaOffset >= 0) plan.offset[n.id] = n.arenaOffset;
    return plan;
}

} // namespace

// Phases, in order: the weights to embed checked (before any kernel
// compiles, which can take minutes); the inference kernels' schedules,
// targets and arguments; the training and layer plans' kernels; the
// parameter table; the derived parameters' prepare kernels; compiling what
// the cache lacks; the memory plan; the C glue; the link.
CodegenStats compileToSharedLibrary(const Graph &graph, const CodegenOptions &options) {
    ScratchDir scratch(options.keepTemps);
    const EmbeddedFile weights = embedFile(options.embeddedWeights, scratch.path());

    const KernelTargets targets = kernelTargets();
    KernelCache cache(options.cacheDir, options.noCache, scratch.path());
    KernelSet kernels(cache);
    const std::vector<KernelSpec> partition = partitionKernels(graph);
    CodegenStats stats;
    stats.kernels = int(partition.size());
    InferenceKernels inference = planInferenceKernels(graph, partition, targets, options, kernels, stats);

    LibraryParams params(graph);
    KernelCounts planned; // training and layer kernels
    std::unique_ptr<TrainingPlan> training;
    std::vector<std::string> trainFns, trainPortableFns;
    if (options.training) {
        params.add(*options.training);
        training = std::make_unique<TrainingPlan>(planTraining(*options.training, params.indexer(),
                                                               targets.portable, targets.wide));
        if (options.dumpTrainingPlan)
            *options.dumpTrainingPlan << "// ----- IR Dump After plan-training (forward in training mode, losses, "
                                         "backward) -----\n"
                                      << printTrainingPlan(*training) << "\n";
        for (const PlannedKernel &k : training->kernels) {
            trainFns.push_back(kernels.add(k.signature, k.target, k.build, planned));
            trainPortableFns.push_back(k.target != targets.portable
                                           ? kernels.add(k.signature, targets.portable, k.build, planned)
                                           : std::string());
        }
    }
    std::unique_ptr<LayerPlan> layers;
    std::vector<std::string> layerFns;
    if (options.layers) {
        params.add(*options.layers);
        layers = std::make_unique<LayerPlan>(
            planLayers(*options.layers, params.indexer(), targets.portable, options.training != nullptr));
        for (const auto *table : {&layers->kernels, &layers->gradientKernels})
            for (const PlannedKernel &k : *table) layerFns.push_back(kernels.add(k.signature, k.target, k.build, planned));
        stats.layerKernels = int(layers->kernels.size() + layers->gradientKernels.size());
    }
    stats.uniqueKernels += planned.distinct;
    stats.cachedKernels += planned.cached;
    // After every other parameter, so that the runtime computes their sources first.
    for (auto &[name, p] : inference.preparedParams) params.list.push_back(&p);
    KernelCounts prepareCounts;
    const std::vector<Preparation> preparations =
        planPreparations(graph, params.list, inference.preparedFrom, targets.portable, kernels, prepareCounts);
    stats.prepareKernels = prepareCounts.distinct;

    kernels.compileMissing(options.jobs > 0 ? options.jobs : int(std::max(1u, std::thread::hardware_concurrency())),
                           options.progress);
    const MemoryPlan plan = memoryPlan(graph, partition);
    stats.arenaFloatsPerSample = plan.arenaFloats;

    LinkInputs link{graph.name,
                    moduleSource(ModuleContents{graph, partition, inference.instances, preparations, plan,
                                                options.ignoredParams, params.list, targets, weights, training.get(),
                                                std::move(trainFns), std::move(trainPortableFns), layers.get(),
                                                std::move(layerFns)}),
                    {},
                    options.embeddedWeights,
                    scratch.path()};
    for (auto &[fn, object] : kernels.objects()) link.objects.push_back(object);
    link.objects.push_back(cache.runtimeObject(targets.portable));
    linkLibrary(link, options.outputPath);
    return stats;
}

} // namespace cnnc
