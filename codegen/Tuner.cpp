#include "codegen/Tuner.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <set>
#include <unistd.h>

#include <Halide.h>

#include "codegen/Codegen.h"
#include "codegen/KernelBuilder.h"
#include "ir/Kernels.h"

using namespace Halide;

namespace cnnc {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Deterministic values in [-1, 1): timing never depends on the data, but
// denormals and NaNs could, so fill every buffer.
void fillRandom(float *data, size_t count, uint32_t seed) {
    for (size_t i = 0; i < count; ++i) {
        seed = seed * 1664525u + 1013904223u;
        data[i] = float(seed >> 8) / float(1 << 23) - 1.0f;
    }
}

// Inside a network a kernel reads its input activations warm (the kernel
// before just wrote them) and its weights cold: the layers in between have
// evicted them. Timed in a loop instead, weights stay in cache and memory-bound
// candidates look better than they are (ResNet-18's 7x7x512 Winograd, 16 MB
// of transformed filters: 1.3 ms per call at batch 1 in the loop, 3.1 ms in
// the network, against 1.6 ms for the direct conv). So before each timed run
// the caches are flushed and the activations read back in.
class CacheState {
public:
    CacheState() {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        size_t bytes = size_t(std::clamp<long>(l3 > 0 ? 2 * l3 : 64l << 20, 16l << 20, 256l << 20));
        scratch_.assign(bytes / sizeof(float), 0.0f);
    }
    void prepare(const std::vector<Buffer<float>> &warm) {
        for (float &v : scratch_) v += 1.0f; // read and write every line: evicts everything else
        float sum = 0;
        for (const Buffer<float> &b : warm)
            for (size_t i = 0; i < b.number_of_elements(); i += 16) sum += b.data()[i];
        sink_ = sum;
    }

private:
    std::vector<float> scratch_;
    volatile float sink_ = 0;
};

} // namespace

double timeKernel(const Graph &graph, const KernelSpec &spec, const ScheduleChoice &choice,
                  const std::vector<int> &batches, int runs) {
    Target target = kernelTarget();
    KernelBuildOptions options;
    options.choice = choice;
    BuiltKernel kernel = buildKernel(graph, spec, target, options);
    kernel.pipeline.compile_jit(target.without_feature(Target::NoRuntime));
    static CacheState cache;
    double total = 0;
    for (int batch : batches) {
        std::vector<Buffer<float>> inputs;
        for (size_t i = 0; i < kernel.inputs.size(); ++i) {
            std::vector<int> extents;
            if (i < spec.externals.size()) {
                const TensorType &t = graph.node(spec.externals[i]).type;
                extents = {int(t.width()), int(t.height()), int(t.channels()), batch};
            } else {
                const std::vector<int64_t> &shape = kernel.params[i - spec.externals.size()].shape();
                for (auto d = shape.rbegin(); d != shape.rend(); ++d) extents.push_back(int(*d));
            }
            inputs.emplace_back(extents);
            fillRandom(inputs.back().data(), inputs.back().number_of_elements(), uint32_t(i + 1));
            kernel.inputs[i].set(inputs.back());
        }
        const TensorType &t = graph.node(spec.nodes.back()).type;
        int W = int(t.width()), H = int(t.height()), C = int(t.channels());
        int sampleStride = spec.outputSampleStride ? int(spec.outputSampleStride) : W * H * C;
        std::vector<float> storage(size_t(sampleStride) * size_t(batch));
        halide_dimension_t shape[4] = {{0, W, 1}, {0, H, W}, {0, C, W * H}, {0, batch, sampleStride}};
        Buffer<float> output(storage.data(), 4, shape);
        kernel.pipeline.realize(output); // warm-up: thread pool, page faults
        std::vector<Buffer<float>> activations(inputs.begin(), inputs.begin() + long(spec.externals.size()));
        activations.push_back(output);
        // The fastest of the runs (at least `runs`, and at least 20 ms of them,
        // up to 100 runs): other work on the machine only ever adds time, so
        // the minimum is the steadiest estimate for ranking candidates.
        double best = 1e30, spent = 0;
        for (int r = 0; r < std::max(1, runs) || (spent < 0.02 && r < 100); ++r) {
            cache.prepare(activations);
            auto start = Clock::now();
            kernel.pipeline.realize(output);
            double t = secondsSince(start);
            best = std::min(best, t), spent += t;
        }
        total += best * 1e6 / batch;
    }
    return total;
}

std::vector<TunedKernel> tuneKernels(const Graph &graph, TuningDb &db, const TuneOptions &options) {
    Target target = kernelTarget();
    struct Work {
        const KernelSpec *spec;
        std::vector<ScheduleChoice> space;
    };
    std::vector<KernelSpec> kernels = partitionKernels(graph);
    std::vector<Work> work;
    std::vector<TunedKernel> results;
    std::set<std::string> seen;
    for (const KernelSpec &k : kernels) {
        if (!seen.insert(k.signature).second) continue; // identical layers share a kernel
        std::vector<ScheduleChoice> space = scheduleSpace(graph, k);
        if (space.size() < 2) continue;
        if (!options.retune) {
            if (std::optional<TuningEntry> e = db.lookup(k.signature, target)) {
                results.push_back({kernelLabel(graph, k), e->choice, e->microsPerSample, 0, 0, true});
                continue;
            }
        }
        work.push_back({&k, std::move(space)});
    }

    int totalCandidates = 0, timed = 0;
    for (const Work &w : work) totalCandidates += int(w.space.size());
    auto start = Clock::now();
    for (size_t i = 0; i < work.size(); ++i) {
        const KernelSpec &spec = *work[i].spec;
        TunedKernel result;
        result.label = kernelLabel(graph, spec);
        result.candidates = int(work[i].space.size());
        TuneProgress progress{int(i + 1), int(work.size()), result.label, 0, result.candidates, 0, 0};
        for (const ScheduleChoice &choice : work[i].space) {
            double micros;
            try {
                micros = timeKernel(graph, spec, choice, options.batches, options.runs);
            } catch (const Halide::Error &e) {
                // A candidate Halide rejects for this kernel's shape loses the
                // race instead of ending the tuning; the default never may.
                if (choice.isDefault()) throw;
                micros = std::numeric_limits<double>::infinity();
            }
            if (choice.isDefault()) result.defaultMicros = micros;
            if (result.best.isDefault() && result.bestMicros == 0) result.bestMicros = micros, result.best = choice;
            // A candidate replaces the default only when clearly faster, so
            // noise does not churn the database.
            double margin = result.best.isDefault() ? 0.97 : 1.0;
            if (micros < result.bestMicros * margin) result.bestMicros = micros, result.best = choice;
            ++timed;
            progress.candidate++;
            progress.bestMicros = result.bestMicros;
            progress.last = choice, progress.lastMicros = micros;
            progress.secondsLeft = secondsSince(start) / timed * (totalCandidates - timed);
            if (options.progress) options.progress(progress);
        }
        std::string note = (options.note.empty() ? "" : options.note + " ") + result.label;
        db.record(spec.signature, target, TuningEntry{result.best, result.bestMicros, note});
        results.push_back(result);
        if (options.kernelDone) options.kernelDone();
    }
    return results;
}

} // namespace cnnc
