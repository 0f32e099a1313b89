#include "codegen/InferenceKernels.h"

#include <algorithm>
#include <optional>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "codegen/TuningDb.h"

namespace cnnc {

namespace {

// The target a kernel compiles for, where this CPU has a wide one: the wide
// one, unless the tuning database has entries for the kernel's portable form
// and none for its wide form, or ones at least as fast (per sample, summed over
// the tuned batches: `cnnc tune` times both forms in one run). Entries are
// this CPU's only (TuningDb's key), so the comparison is of one CPU's times.
Halide::Target chooseTarget(const KernelSpec &spec, const KernelTargets &targets, const CodegenOptions &options) {
    if (!targets.hasWide()) return targets.portable;
    if (targets.everyKernelWide || !options.tuning || options.forcedSchedule) return targets.wide;
    auto recorded = [&](const Halide::Target &t) { // summed over the batch variants; 0: none
        double micros = 0;
        for (const TuningEntry &e : options.tuning->variants(spec.signature, t)) micros += e.microsPerSample;
        return micros;
    };
    const double wide = recorded(targets.wide), portable = recorded(targets.portable);
    return portable > 0 && (wide == 0 || portable <= wide) ? targets.portable : targets.wide;
}

// The schedules a kernel compiles with, each for the batches from its
// minBatch to the next one's: the tuning database's choices (one, or one per
// batch variant) where they are still in the op's schedule space, else the
// op's default for the kernel's vector width.
std::vector<KernelInstance> kernelInstances(const Graph &graph, const std::vector<KernelSpec> &kernels, size_t k,
                                            const KernelTargets &targets, const CodegenOptions &options) {
    const KernelSpec &spec = kernels[k];
    KernelInstance instance;
    instance.spec = k;
    instance.target = chooseTarget(spec, targets, options);
    instance.build.autoscheduler = options.autoscheduler;
    if (!options.autoscheduler.empty()) return {instance};
    struct Wanted {
        int minBatch;
        std::optional<ScheduleChoice> choice; // nullopt: the default
    };
    std::vector<Wanted> wanted;
    if (options.forcedSchedule) wanted.push_back({1, *options.forcedSchedule});
    else if (options.tuning)
        for (const TuningEntry &e : options.tuning->variants(spec.signature, instance.target))
            wanted.push_back({e.minBatch, e.choice});
    if (wanted.empty() || wanted.front().minBatch > 1) wanted.insert(wanted.begin(), {1, std::nullopt});
    const ScheduleChoice untuned = defaultSchedule(graph, spec, instance.target.natural_vector_size<float>());
    std::vector<ScheduleChoice> space = scheduleSpace(graph, spec);
    std::vector<KernelInstance> instances;
    for (const Wanted &w : wanted) {
        const bool tuned = w.choice && std::find(space.begin(), space.end(), *w.choice) != space.end();
        const ScheduleChoice &valid = tuned ? *w.choice : untuned;
        if (!instances.empty() && instances.back().build.choice == valid) continue; // same code: one range
        if (!instances.empty()) instances.back().maxBatch = w.minBatch - 1;
        instance.build.choice = valid;
        instance.tuned = tuned;
        instance.minBatch = w.minBatch;
        instances.push_back(instance);
    }
    if (instances.size() == 1) instances[0].minBatch = 0; // every batch
    return instances;
}

} // namespace

InferenceKernels planInferenceKernels(const Graph &graph, const std::vector<KernelSpec> &partition,
                                      const KernelTargets &targets, const CodegenOptions &options, KernelSet &kernels,
                                      CodegenStats &stats) {
    InferenceKernels result;
    KernelCounts counts;
    std::set<std::string> countedTuned;
    // What each kernel reads: parameters, or forms of them its schedule wants
    // prepared (named after their source: "conv1.weight.winograd").
    std::map<std::string, Param> &preparedParams = result.preparedParams;
    for (size_t k = 0; k < partition.size(); ++k)
        for (KernelInstance &instance : kernelInstances(graph, partition, k, targets, options)) {
            const KernelBuildOptions &build = instance.build;
            for (const KernelParam &kp : kernelParams(graph, partition[k], build.choice)) {
                if (!kp.prepared) {
                    instance.args.push_back(kp.param);
                    continue;
                }
                // Batch variants of one kernel may read different forms of a
                // parameter (F(2x2) and F(4x4) filters): a later one is named by its shape too.
                auto taken = [&](const std::string &n) {
                    auto it = preparedParams.find(n);
                    return it != preparedParams.end() && (it->second.decl.shape != kp.prepared->shape ||
                                                          it->second.decl.derivation != kp.prepared->derivation);
                };
                const std::string base = kp.param->name + "." + kp.prepared->suffix;
                std::string name = base;
                if (taken(name)) name = base + "." + fmt::format("{}", fmt::join(kp.prepared->shape, "x"));
                for (int n = 2; taken(name); ++n) name = base + "." + std::to_string(n);
                const Param &prepared = preparedParams.emplace(name, Param{name, *kp.prepared}).first->second;
                result.preparedFrom[&prepared] = kp.param;
                instance.args.push_back(&prepared);
            }
            const std::string text = partition[k].signature + "|" + build.choice.str() + "|" + build.autoscheduler;
            auto compile = [&graph, &partition, k, build](const Halide::Target &t) {
                return buildKernel(graph, partition[k], t, build);
            };
            instance.fn = kernels.add(text, instance.target, compile, counts);
            if (instance.target != targets.portable)
                instance.portableFn = kernels.add(text, targets.portable, compile, counts);
            if (instance.tuned && !countedTuned.count(instance.fn)) {
                countedTuned.insert(instance.fn);
                ++stats.tunedKernels;
            }
            result.instances.push_back(instance);
        }
    if (options.forcedSchedule && stats.tunedKernels == 0)
        throw std::runtime_error("schedule '" + options.forcedSchedule->str() +
                                 "' is not a candidate of any kernel of this model (see 'cnnc tune')");
    stats.uniqueKernels += counts.distinct;
    stats.cachedKernels += counts.cached;
    return result;
}

} // namespace cnnc
