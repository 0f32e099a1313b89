#include "codegen/Codegen.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <Halide.h>
#include <fmt/format.h>

#include "codegen/KernelBuilder.h"
#include "codegen/KernelCache.h"
#include "codegen/LayerPlan.h"
#include "codegen/ModuleWriter.h"
#include "codegen/Parallel.h"
#include "codegen/Preparations.h"
#include "codegen/Toolchain.h"
#include "codegen/TrainingPlan.h"
#include "codegen/TuningDb.h"
#include "passes/MemoryPlan.h"

namespace fs = std::filesystem;

namespace cnnc {

namespace {

// Runs a program with arguments (no shell); throws with its name on failure.
void run(const std::vector<std::string> &argv) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("cannot start " + argv[0]);
    if (pid == 0) {
        std::vector<char *> args;
        for (auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string cmd;
        for (auto &a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        throw std::runtime_error("command failed (status " + std::to_string(WEXITSTATUS(status)) + "): " + cmd);
    }
}

std::string envOr(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

// The file `source` as an EmbeddedFile linked from `scratch`; none for "".
EmbeddedFile embedFile(const std::string &source, const std::string &scratch) {
    if (source.empty()) return {};
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) throw std::runtime_error("cannot read weights '" + source + "'");
    EmbeddedFile file{scratch + "/weights.safetensors", uint64_t(fs::file_size(source))};
    fs::create_symlink(fs::absolute(source), file.path);
    return file;
}

// Creates a model from the library just linked, so that embedded weights the
// runtime would refuse (names, shapes, a damaged file) fail the compile
// rather than every <name>_create() of the user's program.
void checkEmbeddedWeights(const std::string &library, const std::string &network, const std::string &source) {
    void *handle = dlopen(fs::absolute(library).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(std::string("cannot load the library to check its weights: ") + dlerror());
    auto create = reinterpret_cast<void *(*)()>(dlsym(handle, (network + "_create").c_str()));
    auto destroy = reinterpret_cast<void (*)(void *)>(dlsym(handle, (network + "_destroy").c_str()));
    auto lastError = reinterpret_cast<const char *(*)()>(dlsym(handle, (network + "_last_error").c_str()));
    std::string error = create && destroy && lastError ? "" : "the library lacks " + network + "_create";
    if (error.empty()) {
        if (void *model = create()) destroy(model);
        else error = lastError();
    }
    dlclose(handle);
    if (!error.empty()) throw std::runtime_error("weights '" + source + "': " + error);
}

std::string makeScratchDir() {
    std::string tmpl = envOr("TMPDIR", "/tmp") + "/cnnc-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("cannot create a scratch directory in " + envOr("TMPDIR", "/tmp"));
    return buf.data();
}

void writeFile(const std::string &path, const std::string &text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f.good()) throw std::runtime_error("cannot write " + path);
}

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

CodegenStats compileToSharedLibrary(const Graph &graph, const CodegenOptions &options) {
    std::string scratch = makeScratchDir();
    struct Cleanup {
        std::string dir;
        bool keep;
        ~Cleanup() {
            std::error_code ec;
            if (!keep) fs::remove_all(dir, ec);
        }
    } cleanup{scratch, options.keepTemps};
    // Checked before any kernel compiles, which can take minutes.
    const EmbeddedFile weights = embedFile(options.embeddedWeights, scratch);

    const KernelTargets targets = kernelTargets();
    KernelCache cache(options.cacheDir, options.noCache, scratch);
    std::vector<KernelSpec> kernels = partitionKernels(graph);

    CodegenStats stats;
    stats.kernels = int(kernels.size());
    std::vector<KernelInstance> instances;
    std::map<std::string, std::string> objects; // function name -> object path
    std::vector<std::function<void()>> jobs;
    std::set<std::string> countedTuned;
    // Adds the kernel `text` compiled for `target` to the library (once:
    // identical layers share one kernel) and returns its function's name;
    // counts it in `distinct` (and `cached`, where the cache has it).
    auto addKernelCounted = [&](int &distinct, int &cached, const std::string &text, const Halide::Target &target,
                                std::function<BuiltKernel(const Halide::Target &)> build) {
        std::string key = KernelCache::key(text, target);
        std::string fn = KernelCache::functionName(key);
        if (objects.count(fn)) return fn;
        objects[fn] = cache.objectPath(key);
        ++distinct;
        if (cache.has(key)) ++cached;
        else jobs.push_back([&cache, target, key, build] { cache.compile([&] { return build(target); }, target, key); });
        return fn;
    };
    auto addKernel = [&](const std::string &text, const Halide::Target &target,
                         std::function<BuiltKernel(const Halide::Target &)> build) {
        return addKernelCounted(stats.uniqueKernels, stats.cachedKernels, text, target, std::move(build));
    };
    int cachedPrepareKernels = 0;
    auto addPrepareKernel = [&](const std::string &text, const Halide::Target &target,
                                std::function<BuiltKernel(const Halide::Target &)> build) {
        return addKernelCounted(stats.prepareKernels, cachedPrepareKernels, text, target, std::move(build));
    };
    // What each kernel reads: parameters, or forms of them its schedule wants
    // prepared (named after their source: "conv1.weight.winograd").
    std::map<std::string, Param> preparedParams;
    std::map<const Param *, const Param *> preparedFrom;
    for (size_t k = 0; k < kernels.size(); ++k)
        for (KernelInstance &instance : kernelInstances(graph, kernels, k, targets, options)) {
            const KernelBuildOptions &build = instance.build;
            for (const KernelParam &kp : kernelParams(graph, kernels[k], build.choice)) {
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
                preparedFrom[&prepared] = kp.param;
                instance.args.push_back(&prepared);
            }
            const std::string text = kernels[k].signature + "|" + build.choice.str() + "|" + build.autoscheduler;
            auto compile = [&graph, &kernels, k, build](const Halide::Target &t) {
                return buildKernel(graph, kernels[k], t, build);
            };
            instance.fn = addKernel(text, instance.target, compile);
            if (instance.target != targets.portable) instance.portableFn = addKernel(text, targets.portable, compile);
            if (instance.tuned && !countedTuned.count(instance.fn)) {
                countedTuned.insert(instance.fn);
                ++stats.tunedKernels;
            }
            instances.push_back(instance);
        }
    if (options.forcedSchedule && stats.tunedKernels == 0)
        throw std::runtime_error("schedule '" + options.forcedSchedule->str() +
                                 "' is not a candidate of any kernel of this model (see 'cnnc tune')");
    // Every parameter of the library: the inference graph's, then those only
    // training uses (aux heads).
    std::vector<const Param *> params = graph.parameters();
    std::map<std::string, int> paramIndex;
    for (size_t i = 0; i < params.size(); ++i) paramIndex[params[i]->name] = int(i);
    std::unique_ptr<TrainingPlan> training;
    std::vector<std::string> trainFns, trainPortableFns;
    if (options.training) {
        for (const Param *p : options.training->parameters())
            if (!paramIndex.count(p->name)) {
                paramIndex[p->name] = int(params.size());
                params.push_back(p);
            }
        training = std::make_unique<TrainingPlan>(
            planTraining(*options.training, [&](const std::string &name) { return paramIndex.at(name); },
                         targets.portable, targets.wide));
        if (options.dumpTrainingPlan)
            *options.dumpTrainingPlan << "// ----- IR Dump After plan-training (forward in training mode, losses, "
                                         "backward) -----\n"
                                      << printTrainingPlan(*training) << "\n";
        for (const PlannedKernel &k : training->kernels) {
            trainFns.push_back(addKernel(k.signature, k.target, k.build));
            trainPortableFns.push_back(k.target != targets.portable ? addKernel(k.signature, targets.portable, k.build)
                                                                    : std::string());
        }
    }
    std::unique_ptr<LayerPlan> layers;
    std::vector<std::string> layerFns;
    if (options.layers) {
        for (const Param *p : options.layers->parameters())
            if (!paramIndex.count(p->name)) {
                paramIndex[p->name] = int(params.size());
                params.push_back(p);
            }
        layers = std::make_unique<LayerPlan>(planLayers(
            *options.layers, [&](const std::string &name) { return paramIndex.at(name); }, targets.portable,
            options.training != nullptr));
        for (const auto *table : {&layers->kernels, &layers->gradientKernels})
            for (const PlannedKernel &k : *table) layerFns.push_back(addKernel(k.signature, k.target, k.build));
        stats.layerKernels = int(layers->kernels.size() + layers->gradientKernels.size());
    }
    // After every other parameter, so that the runtime computes their sources first.
    for (auto &[name, p] : preparedParams) params.push_back(&p);
    const std::vector<Preparation> preparations =
        planPreparations(graph, params, preparedFrom, targets.portable, addPrepareKernel);
    int workers = options.jobs > 0 ? options.jobs : int(std::max(1u, std::thread::hardware_concurrency()));
    runInParallel(jobs, workers, options.progress);

    // Use the plan-memory pass's result when it ran, else plan now.
    MemoryPlan plan;
    if (graph.arenaFloats >= 0) {
        verifyMemoryPlan(graph);
        plan.arenaFloats = graph.arenaFloats;
        for (auto &n : graph.nodes)
            if (n.arenaOffset >= 0) plan.offset[n.id] = n.arenaOffset;
    } else {
        plan = planMemory(graph, kernels, arenaExempt(graph));
    }
    stats.arenaFloatsPerSample = plan.arenaFloats;

    std::string glue = scratch + "/" + graph.name + "_model.c";
    writeFile(glue, moduleSource(ModuleContents{graph, kernels, instances, preparations, plan, options.ignoredParams,
                                                params, targets, weights, training.get(), std::move(trainFns),
                                                std::move(trainPortableFns), layers.get(), std::move(layerFns)}));
    std::string versionScript = scratch + "/exports.map";
    writeFile(versionScript, "{\n  global: " + graph.name + "_*;\n  local: *;\n};\n");

    std::string cc = envOr("CC", "cc"), cxx = envOr("CXX", "c++");
    const ToolchainPaths &toolchain = toolchainPaths();
    run({cc, "-O2", "-fPIC", "-fvisibility=hidden", "-I" + toolchain.includeDir, "-c", glue, "-o", glue + ".o"});

    std::string tmpOut = options.outputPath + ".tmp." + std::to_string(getpid());
    std::vector<std::string> link = {cxx, "-shared", "-o", tmpOut, glue + ".o"};
    for (auto &[fn, obj] : objects) link.push_back(obj);
    link.push_back(cache.runtimeObject(targets.portable));
    // -Xlinker passes a path whole, where -Wl would split it at its commas.
    link.insert(link.end(), {toolchain.runtimeLibrary, "-Xlinker", "--version-script=" + versionScript, "-Xlinker",
                             "-soname", "-Xlinker", fs::path(options.outputPath).filename().string()});
#ifdef CNNC_SANITIZER_LINK
    // A sanitized build's runtime: the sanitizers' own symbols come from the
    // (sanitized) process that loads the library.
    link.push_back(CNNC_SANITIZER_LINK);
#else
    link.push_back("-Wl,--no-undefined");
#endif
    link.insert(link.end(), {"-lpthread", "-ldl", "-lm"});
    try {
        run(link);
        if (!weights.path.empty()) checkEmbeddedWeights(tmpOut, graph.name, options.embeddedWeights);
    } catch (...) {
        std::error_code ec;
        fs::remove(tmpOut, ec);
        throw;
    }
    fs::rename(tmpOut, options.outputPath);
    return stats;
}

} // namespace cnnc
