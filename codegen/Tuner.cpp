#include "codegen/Tuner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>

#include <immintrin.h>

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
// the weights' cache lines are flushed (clflush: every cache level, every
// core) and the activations read back in. Flushing only the weights costs a
// fraction of evicting the whole cache by sweeping a buffer twice its size,
// which took most of a search's time on kernels of 0.1-1 ms.
volatile float touchedSum = 0; // keeps the reads of prepareCaches

void prepareCaches(const std::vector<Buffer<float>> &cold, const std::vector<Buffer<float>> &warm) {
    for (const Buffer<float> &b : cold) {
        const char *bytes = reinterpret_cast<const char *>(b.data());
        for (size_t i = 0; i < b.size_in_bytes(); i += 64) _mm_clflush(bytes + i);
    }
    _mm_mfence();
    float sum = 0;
    for (const Buffer<float> &b : warm)
        for (size_t i = 0; i < b.number_of_elements(); i += 16) sum += b.data()[i];
    touchedSum = sum;
}

// The index of the fastest candidate by `scores`; a candidate replaces the
// default (the first) only when clearly faster, so noise does not churn the
// database.
size_t pickFastest(const std::vector<double> &scores) {
    size_t best = 0;
    for (size_t c = 1; c < scores.size(); ++c) {
        double margin = best == 0 ? 0.97 : 1.0;
        if (scores[c] < scores[best] * margin) best = c;
    }
    return best;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    size_t m = values.size() / 2;
    return values.size() % 2 ? values[m] : 0.5 * (values[m - 1] + values[m]);
}

double sum(const std::vector<double> &values) {
    double total = 0;
    for (double v : values) total += v;
    return total;
}

// A kernel gets a variant for large batches only when it is this much faster
// there and saves this much per call: each variant is one more kernel to
// compile and, for Winograd, one more set of prepared filters in memory.
constexpr double kVariantGain = 0.8;
constexpr double kVariantMinSavingMicros = 200;

// "%12 relu layer1.0.conv1", with " @512-bit" (the target's vectors) where
// kernels are tuned at two widths.
std::string tunedLabel(const Graph &graph, const KernelSpec &spec, const Target &target, bool twoWidths) {
    std::string label = kernelLabel(graph, spec);
    if (twoWidths) label += " @" + std::to_string(target.natural_vector_size<float>() * 32) + "-bit";
    return label;
}

} // namespace

namespace {

BuiltKernel compileCandidate(const Graph &graph, const KernelSpec &spec, const ScheduleChoice &choice,
                             const Target &target) {
    KernelBuildOptions options;
    options.choice = choice;
    BuiltKernel kernel = buildKernel(graph, spec, target, options);
    kernel.pipeline.compile_jit(target.without_feature(Target::NoRuntime));
    return kernel;
}

// Whether a candidate's timed calls so far at a batch put it out of the race
// against the fastest candidate's median call there (seconds both): a
// first call over 2x it, or a median of three over 1.3x (a winner must beat
// the default by 3%, and the finalists are the 4 fastest). Such a candidate
// is timed by those calls alone. (The warm-up call before them is not
// judged: it may take several times longer, its scratch pages fresh.)
// Timing took 80% of VGG-16's search, whose first conv had candidates at
// 30-140x the fastest (0.1-0.46 s per sample), each timed for seconds.
bool outOfTheRace(const std::vector<double> &calls, double fastest) {
    if (calls.size() == 1) return calls[0] > 2 * fastest;
    if (calls.size() == 3) return median(calls) > 1.3 * fastest;
    return false;
}

// Time per sample of a JIT-compiled kernel at each of `batches`. `fastest`
// (optional): the fastest candidate's times so far, per batch (see
// outOfTheRace).
std::vector<double> timeCompiled(BuiltKernel &kernel, const Graph &graph, const KernelSpec &spec,
                                 const std::vector<int> &batches, int runs,
                                 const std::vector<double> *fastest = nullptr) {
    std::vector<double> perSample;
    for (size_t b = 0; b < batches.size(); ++b) {
        const int batch = batches[b];
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
        std::vector<Buffer<float>> weights(inputs.begin() + long(spec.externals.size()), inputs.end());
        activations.push_back(output);
        // The median of the runs (at least `runs`, and at least 20 ms of them,
        // up to 100 runs). The fastest run ranked candidates by their best
        // case, and some kernels' best case is rare: ResNet-18's layer2.0.conv1
        // channel-blocked at batch 8 had a fastest call of 8.7-17 ms in the
        // network and a median of 15-29, where the direct conv it had beaten
        // ran 11-12.6 every time (two libraries alternating, CNNRT_PROFILE).
        std::vector<double> times;
        double spent = 0;
        for (int r = 0; r < std::max(1, runs) || (spent < 0.02 && r < 100); ++r) {
            prepareCaches(weights, activations);
            auto start = Clock::now();
            kernel.pipeline.realize(output);
            double t = secondsSince(start);
            times.push_back(t), spent += t;
            if (fastest && outOfTheRace(times, (*fastest)[b] * batch / 1e6)) break;
        }
        perSample.push_back(median(times) * 1e6 / batch);
    }
    return perSample;
}

// A candidate compiled, or why Halide refused it.
struct Compiled {
    std::optional<BuiltKernel> kernel;
    std::string error;
};

// Compiles the candidates on `workers` threads (Halide's compiler is
// thread-safe for pipelines that share no Funcs; each candidate builds its
// own). Timing must have the cores to itself, so every candidate is compiled
// first and timed after, one by one.
std::vector<Compiled> compileCandidates(const Graph &graph, const KernelSpec &spec,
                                        const std::vector<ScheduleChoice> &space, const Target &target,
                                        int workers) {
    std::vector<Compiled> compiled(space.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t c; (c = next++) < space.size();) {
            try {
                compiled[c].kernel = compileCandidate(graph, spec, space[c], target);
            } catch (const std::exception &e) { // Halide::Error is one
                compiled[c].error = e.what();
            }
        }
    };
    std::vector<std::thread> threads;
    for (int w = 1; w < std::min<int>(workers, int(space.size())); ++w) threads.emplace_back(work);
    work();
    for (std::thread &t : threads) t.join();
    return compiled;
}

// Threads compiling candidates: one per core, at most one per 1 GiB of memory
// (a Halide compile of a conv kernel takes 100-300 MB).
int compileWorkers() {
    const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
    const long memoryMiB = pages > 0 && pageSize > 0 ? long((uint64_t(pages) * uint64_t(pageSize)) >> 20) : 0;
    const long memoryWorkers = std::max(1l, memoryMiB / 1024);
    return int(std::clamp<long>(long(std::thread::hardware_concurrency()), 1, memoryWorkers));
}

} // namespace

std::vector<double> timeKernelPerBatch(const Graph &graph, const KernelSpec &spec, const ScheduleChoice &choice,
                                       const std::vector<int> &batches, int runs, const Target &target) {
    BuiltKernel kernel = compileCandidate(graph, spec, choice, target);
    return timeCompiled(kernel, graph, spec, batches, runs);
}

std::vector<size_t> searchFinalists(const std::vector<std::vector<double>> &times) {
    std::vector<size_t> order(times.size());
    for (size_t c = 0; c < order.size(); ++c) order[c] = c;
    auto finite = [&](size_t c) { return sum(times[c]) < std::numeric_limits<double>::infinity(); };
    std::vector<size_t> finalists{0};
    auto take = [&](auto &&score, size_t count) {
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score(a) < score(b); });
        for (size_t k = 0, taken = 0; k < order.size() && taken < count; ++k) {
            if (!finite(order[k])) break;
            if (std::find(finalists.begin(), finalists.end(), order[k]) == finalists.end())
                finalists.push_back(order[k]);
            ++taken;
        }
    };
    take([&](size_t c) { return sum(times[c]); }, kFinalists);
    take([&](size_t c) { return times[c].empty() ? 0.0 : times[c].back(); }, kLargeBatchFinalists);
    std::sort(finalists.begin(), finalists.end());
    return finalists;
}

double timeKernel(const Graph &graph, const KernelSpec &spec, const ScheduleChoice &choice,
                  const std::vector<int> &batches, int runs, const Target &target) {
    return sum(timeKernelPerBatch(graph, spec, choice, batches, runs, target));
}

ScheduleDecision decideSchedules(const std::vector<int> &batches, const std::vector<std::vector<double>> &times) {
    const int largest = batches.empty() ? 0 : *std::max_element(batches.begin(), batches.end());
    auto score = [&](auto &&counts) { // per candidate, the sum over the batches `counts` takes
        std::vector<double> scores;
        for (const std::vector<double> &t : times) {
            double total = 0;
            for (size_t b = 0; b < t.size(); ++b) total += counts(batches[b]) ? t[b] : 0;
            scores.push_back(total);
        }
        return scores;
    };
    const std::vector<double> all = score([](int) { return true; });
    const std::vector<double> small = score([&](int b) { return b < largest; });
    const std::vector<double> large = score([&](int b) { return b == largest; });
    ScheduleDecision d;
    if (!all.empty()) d.defaultMicros = all[0];
    // A variant for the largest batch when what is fastest there is clearly
    // faster than what is fastest at the smaller batches.
    const size_t forSmall = pickFastest(small), forLarge = pickFastest(large);
    const double savedPerCall = (large[forSmall] - large[forLarge]) * largest;
    if (largest > 1 && small[forSmall] > 0 && large[forLarge] < kVariantGain * large[forSmall] &&
        savedPerCall >= kVariantMinSavingMicros) {
        d.choice = forSmall, d.smallMicros = small[forSmall];
        d.largeBatchChoice = forLarge, d.largeBatchFrom = largest, d.largeMicros = large[forLarge];
        d.micros = small[forSmall] + large[forLarge];
    } else {
        d.choice = pickFastest(all);
        d.micros = d.smallMicros = all[d.choice];
    }
    return d;
}

namespace {

// Times the database's schedules for one kernel at `target` again and records
// the new times (the same choices): the entry for small batches over the
// batches below the largest, a large-batch variant at the largest.
TunedKernel retimeEntries(const Graph &graph, const KernelSpec &spec, const Target &target, TuningDb &db,
                          const TuneOptions &options) {
    std::vector<TuningEntry> entries = db.variants(spec.signature, target);
    const int largest = *std::max_element(options.batches.begin(), options.batches.end());
    TunedKernel known;
    known.label = tunedLabel(graph, spec, target, true);
    known.fromDatabase = known.retimed = true;
    db.forget(spec.signature, target);
    for (size_t i = 0; i < entries.size(); ++i) {
        TuningEntry e = entries[i];
        const bool variant = entries.size() > 1;
        std::vector<int> batches;
        for (int b : options.batches)
            if (!variant || (i == 0 ? b < largest : b == largest)) batches.push_back(b);
        if (batches.empty()) batches = {largest};
        e.microsPerSample = timeKernel(graph, spec, e.choice, batches, options.runs, target);
        if (i == 0) known.best = e.choice;
        else known.largeBatch = e.choice, known.largeBatchFrom = e.minBatch;
        known.bestMicros += e.microsPerSample;
        db.record(spec.signature, target, e);
    }
    if (options.kernelDone) options.kernelDone();
    return known;
}

} // namespace

std::vector<TunedKernel> tuneKernels(const Graph &graph, TuningDb &db, const TuneOptions &options) {
    // Each kernel at each target: the library takes, per kernel, the target
    // whose best schedule is faster (codegen/Codegen.cpp).
    const KernelTargets targets = kernelTargets();
    // The wide target first where this CPU has one (its FMAs measured
    // faster, so most kernels take it): its search covers every candidate;
    // the other width's then covers its default and the first's finalists.
    std::vector<Target> tuned{targets.portable};
    if (targets.hasWide()) tuned.insert(tuned.begin(), targets.wide);
    // In kernel order, each kernel's targets one after the other: a search
    // of the candidates, or the known entries timed again (`retime`).
    struct Work {
        const KernelSpec *spec;
        std::vector<ScheduleChoice> space;
        Target target;
        bool retime;
    };
    std::vector<KernelSpec> kernels = partitionKernels(graph);
    std::vector<Work> work;
    std::vector<TunedKernel> results;
    std::set<std::string> seen;
    for (const KernelSpec &k : kernels) {
        if (!seen.insert(k.signature).second) continue; // identical layers share a kernel
        std::vector<ScheduleChoice> space = scheduleSpace(graph, k);
        if (space.size() < 2) continue;
        for (const Target &target : tuned) {
            std::optional<TuningEntry> known = options.retune ? std::nullopt : db.lookup(k.signature, target);
            if (!known) {
                // The untuned default first: the incumbent a candidate must clearly beat.
                std::vector<ScheduleChoice> ordered = space;
                const ScheduleChoice untuned = defaultSchedule(graph, k, target.natural_vector_size<float>());
                auto it = std::find(ordered.begin(), ordered.end(), untuned);
                if (it != ordered.end()) std::rotate(ordered.begin(), it, it + 1);
                work.push_back({&k, ordered, target, false});
                continue;
            }
            // The library compares the two widths' recorded times (chooseTarget
            // in Codegen.cpp): a known entry is timed again right beside a new
            // one at the other width, so that both come from this CPU and
            // these minutes (on a shared machine the load changes by the minute).
            const bool otherIsNew = std::any_of(tuned.begin(), tuned.end(), [&](const Target &t) {
                return t != target && !db.lookup(k.signature, t);
            });
            if (options.retime || otherIsNew) {
                work.push_back({&k, {}, target, true});
                continue;
            }
            TunedKernel result;
            result.label = tunedLabel(graph, k, target, tuned.size() > 1);
            result.best = known->choice, result.bestMicros = known->microsPerSample;
            result.fromDatabase = true;
            std::vector<TuningEntry> all = db.variants(k.signature, target);
            if (all.size() > 1) result.largeBatch = all.back().choice, result.largeBatchFrom = all.back().minBatch;
            results.push_back(result);
        }
    }

    int totalCandidates = 0, timed = 0;
    std::set<std::string> searched;
    for (const Work &w : work) // a second width's search: its default and the first's finalists
        totalCandidates += searched.insert(w.spec->signature).second ? int(w.space.size()) : int(1 + kFinalists + kLargeBatchFinalists);
    // Per kernel, the first width's finalists, which the other width's search times.
    std::map<std::string, std::vector<ScheduleChoice>> finalistsOfFirstWidth;
    auto start = Clock::now();
    for (size_t i = 0; i < work.size(); ++i) {
        const KernelSpec &spec = *work[i].spec;
        std::vector<ScheduleChoice> space = work[i].space;
        if (auto first = finalistsOfFirstWidth.find(spec.signature); first != finalistsOfFirstWidth.end()) {
            const std::vector<ScheduleChoice> &finalists = first->second;
            space.erase(std::remove_if(space.begin() + 1, space.end(),
                                       [&](const ScheduleChoice &c) {
                                           return std::find(finalists.begin(), finalists.end(), c) == finalists.end();
                                       }),
                        space.end());
        }
        const Target &target = work[i].target;
        if (work[i].retime) {
            results.push_back(retimeEntries(graph, spec, target, db, options));
            continue;
        }
        TunedKernel result;
        result.label = tunedLabel(graph, spec, target, tuned.size() > 1);
        result.candidates = int(space.size());
        TuneProgress progress{int(i + 1), int(work.size()), result.label, 0, result.candidates, 0, 0};
        // Every candidate compiled, then timed. times[c][b]: candidate c's
        // time per sample at options.batches[b], infinite where Halide
        // rejected the candidate for this kernel's shape: it loses the race
        // instead of ending the tuning (the default never may).
        auto compileStart = Clock::now();
        std::vector<Compiled> compiled = compileCandidates(graph, spec, space, target, compileWorkers());
        result.compileSeconds = secondsSince(compileStart);
        auto timingStart = Clock::now();
        std::vector<std::vector<double>> times(space.size(), std::vector<double>(options.batches.size(),
                                                                               std::numeric_limits<double>::infinity()));
        std::vector<double> fastest(options.batches.size(), std::numeric_limits<double>::infinity());
        for (size_t c = 0; c < space.size(); ++c) {
            if (!compiled[c].kernel && c == 0)
                throw std::runtime_error(progress.label + ": the default schedule does not compile: " + compiled[c].error);
            if (compiled[c].kernel) {
                times[c] = timeCompiled(*compiled[c].kernel, graph, spec, options.batches, options.runs,
                                        c == 0 ? nullptr : &fastest);
                compiled[c].kernel.reset(); // its JIT code and buffers
                for (size_t b = 0; b < fastest.size(); ++b) fastest[b] = std::min(fastest[b], times[c][b]);
            }
            ++timed;
            progress.candidate++;
            progress.last = space[c], progress.lastMicros = sum(times[c]);
            progress.bestMicros = progress.candidate == 1 ? progress.lastMicros
                                                          : std::min(progress.bestMicros, progress.lastMicros);
            progress.secondsLeft = secondsSince(start) / timed * (totalCandidates - timed);
            if (options.progress) options.progress(progress);
        }
        result.timingSeconds = secondsSince(timingStart);
        std::vector<ScheduleChoice> &finalists = finalistsOfFirstWidth[spec.signature];
        for (size_t c : searchFinalists(times)) finalists.push_back(space[c]);
        ScheduleDecision decision = decideSchedules(options.batches, times);
        result.best = space[decision.choice], result.bestMicros = decision.micros;
        result.defaultMicros = decision.defaultMicros;
        db.forget(spec.signature, target);
        std::string note = (options.note.empty() ? "" : options.note + " ") + kernelLabel(graph, spec);
        db.record(spec.signature, target, TuningEntry{result.best, decision.smallMicros, note, 1});
        if (decision.largeBatchChoice) {
            result.largeBatch = space[*decision.largeBatchChoice], result.largeBatchFrom = decision.largeBatchFrom;
            db.record(spec.signature, target,
                      TuningEntry{*result.largeBatch, decision.largeMicros,
                                  note + " at batch >= " + std::to_string(decision.largeBatchFrom), decision.largeBatchFrom});
        }
        results.push_back(result);
        if (options.kernelDone) options.kernelDone();
    }
    return results;
}

} // namespace cnnc
