// The tuning database: which schedule `cnnc tune` found fastest for a kernel on
// a target. A plain text file, one kernel per line, so it diffs and merges well:
//
//   # comment
//   <signature hash> <Halide target>@<CPU> <schedule> <microseconds per sample> [# note]
//   9c1f0e2a4b7d3360 x86-64-linux-avx-avx2-f16c-fma-sse41@l1d=48K,l2=1M tile_c=6,tile_x=2 412.7 # conv layer1.0.conv1
//   9c1f0e2a4b7d3360 x86-64-linux-avx-avx2-f16c-fma-sse41@l1d=48K,l2=1M winograd=1 301.2 batch>=8 # conv layer1.0.conv1
//
// Kernels are keyed by the hash of their signature (KernelSpec::signature:
// everything that determines the generated code), the target (the ISA) and
// the CPU it was tuned on (its per-core cache sizes, hostCpuKey()), so an
// entry applies to every model with the same layer on a like CPU, and never
// to another CPU, where other tiles win. A line without "@<CPU>" names no CPU:
// it is kept but matches none. A kernel may have a variant for
// large batches (`batch>=N`): the library then holds both and the runtime picks
// by the batch of each call (ResNet-18's 7x7x512 convs: direct at batch 1,
// where Winograd's 37 MB of transformed filters make it memory-bound; Winograd
// at batch 8, 2.4x faster).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <Halide.h>

#include "lowering/ScheduleChoice.h"

namespace cnnc {

struct TuningEntry {
    ScheduleChoice choice;
    double microsPerSample = 0; // the time tuning measured
    std::string note;           // what the kernel is, for people reading the file
    int minBatch = 1;           // the entry applies to calls with at least this batch
};

class TuningDb {
public:
    // An empty database at `path`, whose lookups and records are for the CPU
    // `cpu` (default: this host's); load() reads it.
    explicit TuningDb(std::string path = "", std::string cpu = hostCpuKey())
        : path_(std::move(path)), cpu_(std::move(cpu)) {}

    // "l1d=48K,l2=1M": what tells this host's CPU apart for tuning, its
    // per-core data cache sizes (the shared L3's size is what a virtual
    // machine is given, not the chip's); "unknown" where unreadable.
    static std::string hostCpuKey();

    // The database at $CNNC_TUNING_DB, else the one versioned with cnnc
    // (tuning/default.tdb in the source tree).
    static std::string defaultPath();

    // Reads path(); a missing file is an empty database. Throws
    // std::runtime_error("file:line: ...") on a malformed line.
    void load();
    // Writes atomically (temporary file, then rename).
    void save() const;

    // The entry for every batch (minBatch 1), if any.
    std::optional<TuningEntry> lookup(const std::string &signature, const Halide::Target &target) const;
    // Every entry of the kernel, by increasing minBatch: the first (if any) is
    // lookup()'s, each later one takes over from its minBatch on.
    std::vector<TuningEntry> variants(const std::string &signature, const Halide::Target &target) const;
    // Replaces the entry with the same minBatch.
    void record(const std::string &signature, const Halide::Target &target, TuningEntry entry);
    // Removes every entry of the kernel (before recording a new tuning of it).
    void forget(const std::string &signature, const Halide::Target &target);

    const std::string &path() const { return path_; }
    size_t size() const { return entries_.size(); }

private:
    std::string key(const std::string &signature, const Halide::Target &target) const;
    std::string path_, cpu_;
    std::map<std::pair<std::string, int>, TuningEntry> entries_; // ("hash target@cpu", minBatch) -> entry
};

} // namespace cnnc
