// cnnc tune: time each kernel's candidate schedules on this machine and record
// the fastest in the tuning database.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <Halide.h>

#include "lowering/ScheduleChoice.h"
#include "codegen/TuningDb.h"
#include "ir/Graph.h"

namespace cnnc {

struct TuneProgress {
    int kernel = 0, kernels = 0;       // kernel being tuned (1-based) of all to tune
    std::string label;                 // "%12 relu layer1.0.conv1"
    int candidate = 0, candidates = 0; // candidates timed so far for this kernel
    double bestMicros = 0;             // best so far for this kernel, per sample
    double secondsLeft = 0;            // estimate for the whole run
    ScheduleChoice last;               // the candidate just timed, and its time per sample
    double lastMicros = 0;
};

struct TuneOptions {
    std::vector<int> batches{1, 8}; // a candidate's score: the sum of its time per sample at each
    int runs = 5;                   // timed runs per batch (their median counts), after one warm-up
    bool retune = false;            // time kernels the database already has, too
    bool retime = false;            // time the database's schedules again (no search) and record their times
    std::string note;               // prefix of each entry's note (the model's name)
    std::function<void(const TuneProgress &)> progress;
    std::function<void()> kernelDone; // e.g. save the database, so an interrupted run keeps its work
};

struct TunedKernel {
    std::string label;
    ScheduleChoice best;
    double bestMicros = 0, defaultMicros = 0; // per sample, summed over the batches
    // Set: from batch largeBatchFrom on (the largest tuned), this choice
    // instead of `best`, which was the fastest at the smaller batches.
    std::optional<ScheduleChoice> largeBatch;
    int largeBatchFrom = 0;
    int candidates = 0;
    double compileSeconds = 0, timingSeconds = 0; // wall time spent on its candidates
    bool fromDatabase = false; // already tuned: not tuned again
    bool retimed = false;      // ... but its schedules timed again (beside the other width's tuning)
};

// Tunes every distinct kernel of `graph` (after the inference passes) that has
// more than one candidate schedule, at each kernel target (KernelTargets: the
// portable one, and the wide one where this CPU has it), records the winners in `db` (not saved):
// the fastest summed over the batches or, when the candidate fastest at the
// largest batch is clearly faster there than the one fastest at the others,
// both (a batch variant, TuningDb.h).
std::vector<TunedKernel> tuneKernels(const Graph &graph, TuningDb &db, const TuneOptions &options);

// What tuning records for one kernel, from its candidates' times per sample:
// times[c][b] is candidate c's at batches[b] (infinite: rejected); candidate
// 0 is the default, the incumbent.
struct ScheduleDecision {
    size_t choice = 0;                      // for every batch, or those below largeBatchFrom
    double micros = 0;                      // per sample, summed over the batches (with the variant's)
    double smallMicros = 0;                 // `choice`'s, summed over the batches it is for
    std::optional<size_t> largeBatchChoice; // from largeBatchFrom (the largest batch) on
    int largeBatchFrom = 0;
    double largeMicros = 0;                 // its time at that batch
    double defaultMicros = 0;               // the default's, summed over the batches
};
// The fastest candidate summed over the batches; a candidate replaces the
// default (candidate 0) only when 3% faster. Or, when the fastest at the largest
// batch is at least 20% faster there than the fastest at the others and saves
// at least 200 us per call, both.
ScheduleDecision decideSchedules(const std::vector<int> &batches, const std::vector<std::vector<double>> &times);

// The candidates of one width's search that the other width's search times
// (besides its own default): the default (candidate 0), the kFinalists fastest
// summed over the batches and the kLargeBatchFinalists fastest at the largest
// batch (the last), which may win a batch variant; in index order. times[c][b]:
// candidate c's time per sample at the b-th batch, infinite where rejected.
// The second search then compiles a few candidates instead of every one, on
// the premise that the schedules that lead at one width lead at the other (a
// candidate that wins only at the second width is missed).
constexpr size_t kFinalists = 4, kLargeBatchFinalists = 2;
std::vector<size_t> searchFinalists(const std::vector<std::vector<double>> &times);

// Time per sample (microseconds) of one kernel with one schedule, JIT compiled
// for `target`: the median of `runs` runs at each batch of `batches`, summed.
double timeKernel(const Graph &graph, const struct KernelSpec &spec, const ScheduleChoice &choice,
                  const std::vector<int> &batches, int runs, const Halide::Target &target);
// The same, per batch of `batches`.
std::vector<double> timeKernelPerBatch(const Graph &graph, const struct KernelSpec &spec,
                                       const ScheduleChoice &choice, const std::vector<int> &batches, int runs,
                                       const Halide::Target &target);

} // namespace cnnc
