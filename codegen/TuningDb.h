// The tuning database: which schedule `cnnc tune` found fastest for a kernel on
// a target. A plain text file, one kernel per line, so it diffs and merges well:
//
//   # comment
//   <signature hash> <Halide target> <schedule> <microseconds per sample> [# note]
//   9c1f0e2a4b7d3360 x86-64-linux-avx-avx2-f16c-fma-sse41 tile_c=6,tile_x=2 412.7 # conv layer1.0.conv1
//
// Kernels are keyed by the hash of their signature (KernelSpec::signature:
// everything that determines the generated code) and the target, so an entry
// applies to every model with the same layer.
#pragma once
#include <map>
#include <optional>
#include <string>

#include <Halide.h>

#include "codegen/ScheduleChoice.h"

namespace cnnc {

struct TuningEntry {
    ScheduleChoice choice;
    double microsPerSample = 0; // the time tuning measured
    std::string note;           // what the kernel is, for people reading the file
};

class TuningDb {
public:
    // An empty database at `path`; load() reads it.
    explicit TuningDb(std::string path = "") : path_(std::move(path)) {}

    // The database at $CNNC_TUNING_DB, else the one versioned with cnnc
    // (tuning/default.tdb in the source tree).
    static std::string defaultPath();

    // Reads path(); a missing file is an empty database. Throws
    // std::runtime_error("file:line: ...") on a malformed line.
    void load();
    // Writes atomically (temporary file, then rename).
    void save() const;

    std::optional<TuningEntry> lookup(const std::string &signature, const Halide::Target &target) const;
    void record(const std::string &signature, const Halide::Target &target, TuningEntry entry);

    const std::string &path() const { return path_; }
    size_t size() const { return entries_.size(); }

private:
    static std::string key(const std::string &signature, const Halide::Target &target);
    std::string path_;
    std::map<std::string, TuningEntry> entries_; // "hash target" -> entry
};

} // namespace cnnc
