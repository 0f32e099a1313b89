// cnnc tune: time each kernel's candidate schedules on this machine and record
// the fastest in the tuning database.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "codegen/ScheduleChoice.h"
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
    int runs = 5;                   // timed runs per batch (the fastest counts), after one warm-up
    bool retune = false;            // time kernels the database already has, too
    std::string note;               // prefix of each entry's note (the model's name)
    std::function<void(const TuneProgress &)> progress;
    std::function<void()> kernelDone; // e.g. save the database, so an interrupted run keeps its work
};

struct TunedKernel {
    std::string label;
    ScheduleChoice best;
    double bestMicros = 0, defaultMicros = 0; // per sample, summed over the batches
    int candidates = 0;
    bool fromDatabase = false; // already tuned, not timed again
};

// Tunes every distinct kernel of `graph` (after the inference passes) that has
// more than one candidate schedule, records the winners in `db` (not saved).
std::vector<TunedKernel> tuneKernels(const Graph &graph, TuningDb &db, const TuneOptions &options);

// Time per sample (microseconds) of one kernel with one schedule, JIT compiled
// for this machine: the fastest of `runs` runs at each batch of `batches`, summed.
double timeKernel(const Graph &graph, const struct KernelSpec &spec, const ScheduleChoice &choice,
                  const std::vector<int> &batches, int runs);

} // namespace cnnc
